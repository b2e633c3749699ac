"""The frame path as part of the exported graph: camera frame in, class map / overlay at the frame's size out.

Every per-pixel step of a frame runs inside TensorRT / ONNX Runtime (plain ONNX ops, no plugin): cast, colour
conversion, resize to the network, normalisation, the network, ArgMax, the class map back to the frame
(nearest: integer index arithmetic + Gather, exactly OpenCV's INTER_NEAREST; linear: bilinear logits, then
ArgMax), palette Gather and the alpha blend with the frame. Resize to the network: "linear" (ONNX Resize,
half-pixel, = OpenCV's INTER_LINEAR; any frame size) or "area" (OpenCV's INTER_AREA, exact in float, as two
MatMuls with the periodic area weights; fixed frame sizes). Like the host path, "area" shrinks with area
weights and enlarges bilinearly. `alpha` (one weight per class) is a graph input, so `segnet run --alpha`
and `--ignore-class` need no re-export.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from segnet import preprocess
from segnet.export.graph_io import as_labels, class_index
from segnet.spec import FramePath, ModelSpec

GRAY_WEIGHTS_BGR = (0.114, 0.587, 0.299)  # OpenCV's BGR2GRAY coefficients (ITU-R BT.601)


def area_weights(src: int, dst: int) -> np.ndarray:
    """OpenCV's INTER_AREA weights along one axis for shrinking `src` to `dst` pixels, as the period
    block: a (p, q) matrix with src = g*p, dst = g*q; output pixel j of block b reads input b*p + i with
    weight W[i, j] (the overlap of the input pixel with the output pixel's footprint, divided by src/dst)."""
    g = math.gcd(src, dst)
    p, q = src // g, dst // g
    scale = p / q
    weights = np.zeros((p, q), np.float64)
    for j in range(q):
        lo, hi = j * scale, (j + 1) * scale
        for i in range(math.floor(lo), min(p, math.ceil(hi))):
            overlap = min(hi, i + 1) - max(lo, i)
            if overlap > 0:
                weights[i, j] = overlap / scale
    return weights.astype(np.float32)


class AreaResize(nn.Module):
    """N x C x H x W -> N x C x h x w with INTER_AREA weights (h <= H, w <= W), as reshape + MatMul per axis:
    each input pixel is multiplied by the q weights of its block, never a dense H x h matrix."""

    def __init__(self, src: tuple[int, int], dst: tuple[int, int]) -> None:
        super().__init__()
        self.src, self.dst = src, dst
        self.register_buffer("rows", torch.from_numpy(area_weights(src[0], dst[0])), persistent=False)
        self.register_buffer("cols", torch.from_numpy(area_weights(src[1], dst[1])), persistent=False)

    def _axis(self, x: torch.Tensor, weights: torch.Tensor, dst: int) -> torch.Tensor:
        """Resize the last axis of x (..., S) to (..., dst)."""
        p, _ = weights.shape
        lead = x.shape[:-1]
        blocks = x.reshape(*lead, x.shape[-1] // p, p)
        return torch.matmul(blocks, weights).reshape(*lead, dst)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.src[1] != self.dst[1]:
            x = self._axis(x, self.cols, self.dst[1])
        if self.src[0] != self.dst[0]:
            x = self._axis(x.transpose(2, 3), self.rows, self.dst[0]).transpose(2, 3)
        return x


def nearest_indices(size: torch.Tensor | int, src: int) -> torch.Tensor:
    """floor(i * src / size) for i < size, in integers: OpenCV's INTER_NEAREST source index (exact)."""
    return torch.div(torch.arange(size, dtype=torch.int64) * src, size, rounding_mode="floor")


class FrameGraph(nn.Module):
    """uint8 N x H x W x C frames (and per-class alpha) -> the outputs `frame.outputs`, in that order."""

    def __init__(self, model: nn.Module, spec: ModelSpec, frame: FramePath) -> None:
        super().__init__()
        self.model, self.frame = model, frame
        self.num_classes = spec.num_classes
        self.net_size = spec.input_size
        self.in_channels = spec.in_channels
        self.flip = frame.channels != "gray" and spec.in_channels == 3 and (
            frame.channels.upper() != spec.color_order)
        scale, shift = (torch.from_numpy(v).view(1, -1, 1, 1) for v in preprocess.normalization(spec))
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)
        gray = GRAY_WEIGHTS_BGR if frame.channels == "bgr" else GRAY_WEIGHTS_BGR[::-1]
        self.register_buffer("gray", torch.tensor(gray, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        palette = np.asarray(spec.palette[:spec.num_labels], np.float32)
        if frame.channels != "rgb":
            palette = palette[:, ::-1].copy()  # overlay and mask follow the frame (BGR, or BGR for gray frames)
        self.register_buffer("palette", torch.from_numpy(palette), persistent=False)
        shrink = frame.size is not None and frame.size[0] >= self.net_size[0] and frame.size[1] >= self.net_size[1]
        self.area = AreaResize(frame.size, self.net_size) if frame.resize == "area" and shrink else None  # type: ignore[arg-type]

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """float N x C x H x W frame pixels (0..255) -> the normalised network input at the network size
        (channel reorder after the resize, on the small tensor: resizing is per channel)."""
        if self.in_channels == 1 and x.shape[1] == 3:
            x = (x * self.gray).sum(dim=1, keepdim=True)
        if self.area is not None:
            x = self.area(x)
        else:
            x = F.interpolate(x, size=self.net_size, mode="bilinear", align_corners=False)
        if self.in_channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif self.flip:
            x = torch.flip(x, dims=[1])
        return x * self.scale + self.shift

    def forward(self, frames: torch.Tensor, alpha: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        pixels = frames.to(torch.float32).permute(0, 3, 1, 2)
        logits = self.model(self.network_input(pixels))
        wanted = self.frame.outputs
        index = None  # int32 class indices at the frame's size (uint8 only at the outputs: TensorRT wants it so)
        if "overlay" in wanted or "mask" in wanted or ("labels" in wanted and self.frame.labels_size == "frame"):
            index = self.index_at(logits, frames.shape[1], frames.shape[2])
        results = []
        for name in wanted:
            if name == "labels":
                at_frame = self.frame.labels_size == "frame"
                results.append(as_labels(index, self.num_classes) if at_frame else
                               as_labels(class_index(logits, self.num_classes), self.num_classes))
            elif name == "logits":
                results.append(logits)
            elif name == "probs":
                results.append(torch.sigmoid(logits) if self.num_classes == 1 else torch.softmax(logits, dim=1))
            elif name == "mask":
                results.append(self.lookup(self.palette, index).to(torch.uint8))
            elif name == "overlay":
                results.append(self.overlay(frames, index, alpha))
        return tuple(results)

    def index_at(self, logits: torch.Tensor, height: torch.Tensor | int, width: torch.Tensor | int) -> torch.Tensor:
        """int32 N x H x W class indices at the frame's size (nearest on the labels, or bilinear logits)."""
        if self.frame.upsample == "linear":
            return class_index(F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False),
                           self.num_classes).to(torch.int32)
        index = class_index(logits, self.num_classes).to(torch.int32)  # half the bytes to move at frame size
        rows = nearest_indices(height, self.net_size[0])
        cols = nearest_indices(width, self.net_size[1])
        return index.index_select(1, rows).index_select(2, cols)

    @staticmethod
    def lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """table[index] for a K x 3 table: N x H x W x 3, as one Gather on the flat index (GatherND, what
        advanced indexing exports to, is several times slower in ONNX Runtime)."""
        return table.index_select(0, index.reshape(-1)).reshape(*index.shape, 3)

    def overlay(self, frames: torch.Tensor, index: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """round(frame * (1 - alpha[class]) + colour * alpha[class]) as uint8 (gray frames replicated): two
        per-class K x 3 tables, so each pixel costs two Gathers, a Mul and an Add, no broadcasting."""
        base = frames.to(torch.float32)
        if base.shape[3] == 1:
            base = base.expand(-1, -1, -1, 3)
        weight = alpha.reshape(-1, 1).expand(-1, 3)
        keep, paint = self.lookup(1.0 - weight, index), self.lookup(self.palette * weight, index)
        return (base * keep + paint).round().to(torch.uint8)
