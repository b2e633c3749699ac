"""Datasets: folder layout, CamVid, Pascal VOC 2012, synthetic road scenes. numpy/OpenCV only."""
