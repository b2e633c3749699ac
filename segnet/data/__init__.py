"""Datasets: folder layout, CamVid, Pascal VOC 2012, synthetic road scenes. numpy/OpenCV only."""

from segnet.data.dataset import SegDataset
from segnet.data.formats import FORMATS, detect_format, open_dataset

__all__ = ["FORMATS", "SegDataset", "detect_format", "open_dataset"]
