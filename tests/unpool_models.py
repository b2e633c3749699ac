"""Small ONNX models with max-unpooling for the check / rewrite-unpool tests (torch only to export them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8  # ONNX Runtime 1.31 reads IR <= 13; onnx.helper would write the newest


def save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def save_unchecked(model: onnx.ModelProto, path: Path) -> Path:
    """Save without onnx.checker (which wants a shape on every graph input and output)."""
    model.ir_version = IR_VERSION
    onnx.save(model, str(path))
    return path


def run_ort(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def run_reference(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(str(path)).run(None, feeds)[0]


def tied_input(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Small integers as floats: most 2x2 windows hold ties, which exercise the first-in-scan-order rule."""
    return np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float32)


# --- PyTorch models, exported with torch.onnx.export(dynamo=True) ------------------------------------------
def segnet_like(width: int = 8, classes: int = 5):
    """A two-level SegNet: conv + max_pool2d(return_indices) down, max_unpool2d(output_size) + conv up."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SegNetLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1 = nn.Conv2d(3, width, 3, padding=1)
            self.enc2 = nn.Conv2d(width, 2 * width, 3, padding=1)
            self.dec2 = nn.Conv2d(2 * width, width, 3, padding=1)
            self.dec1 = nn.Conv2d(width, classes, 3, padding=1)

        def forward(self, x):
            e1 = F.relu(self.enc1(x))
            p1, i1 = F.max_pool2d(e1, 2, 2, return_indices=True)
            e2 = F.relu(self.enc2(p1))
            p2, i2 = F.max_pool2d(e2, 2, 2, return_indices=True)
            d2 = F.max_unpool2d(p2, i2, 2, 2, output_size=e2.shape[-2:])
            d2 = F.relu(self.dec2(d2))
            d1 = F.max_unpool2d(d2, i1, 2, 2, output_size=e1.shape[-2:])
            return self.dec1(d1)

    torch.manual_seed(0)
    return SegNetLike().eval()


def segnet_overlapping(width: int = 4, classes: int = 3):
    """A SegNet whose pools overlap (3x3, stride 2, padding 1) and unpool with max_unpool2d to the input size."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SegNetOverlapping(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Conv2d(3, width, 3, padding=1)
            self.mid = nn.Conv2d(width, width, 3, padding=1)
            self.dec = nn.Conv2d(width, classes, 3, padding=1)

        def forward(self, x):
            e = F.relu(self.enc(x))
            p, i = F.max_pool2d(e, 3, 2, 1, return_indices=True)
            d = F.max_unpool2d(F.relu(self.mid(p)), i, 3, 2, 1, output_size=e.shape[-2:])
            return self.dec(d)

    torch.manual_seed(0)
    return SegNetOverlapping().eval()


def enet_like(classes: int = 4):
    """ENet in miniature: initial block (conv || maxpool, concatenated), a downsampling bottleneck whose main
    branch is max_pool2d(return_indices) + zero channel padding, a regular bottleneck, and an upsampling
    bottleneck whose main branch is a 1x1 conv + max_unpool2d with those indices."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Down(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.pad = cout - cin
            self.ext = nn.Sequential(nn.Conv2d(cin, cin // 2, 2, stride=2), nn.PReLU(),
                                     nn.Conv2d(cin // 2, cin // 2, 3, padding=1), nn.PReLU(),
                                     nn.Conv2d(cin // 2, cout, 1))

        def forward(self, x):
            main, indices = F.max_pool2d(x, 2, 2, return_indices=True)
            main = torch.cat([main, torch.zeros_like(main)[:, :self.pad]], dim=1)  # zero channel padding
            return F.relu(main + self.ext(x)), indices

    class Regular(nn.Module):
        def __init__(self, ch: int) -> None:
            super().__init__()
            self.ext = nn.Sequential(nn.Conv2d(ch, ch // 2, 1), nn.PReLU(), nn.Conv2d(ch // 2, ch, 3, padding=1))

        def forward(self, x):
            return F.relu(x + self.ext(x))

    class Up(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.main = nn.Conv2d(cin, cout, 1)
            self.ext = nn.Sequential(nn.Conv2d(cin, cin // 2, 1), nn.PReLU(),
                                     nn.ConvTranspose2d(cin // 2, cout, 2, stride=2))

        def forward(self, x, indices, size):
            main = F.max_unpool2d(self.main(x), indices, 2, 2, output_size=size)
            return F.relu(main + self.ext(x))

    class ENetLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.initial = nn.Conv2d(3, 13, 3, stride=2, padding=1)
            self.down = Down(16, 32)
            self.regular = Regular(32)
            self.up = Up(32, 16)
            self.head = nn.ConvTranspose2d(16, classes, 2, stride=2)

        def forward(self, x):
            x = torch.cat([self.initial(x), F.max_pool2d(x, 2, 2)], dim=1)
            skip = x
            x, indices = self.down(x)
            x = self.regular(x)
            x = self.up(x, indices, skip.shape[-2:])
            return self.head(x)

    torch.manual_seed(0)
    return ENetLike().eval()


def export_dynamo(module, shape: Sequence[int], path: Path, opset: int = 17, dynamic_batch: bool = False) -> Path:
    import torch

    example = torch.randn(*shape)
    dynamic = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    torch.onnx.export(module, (example,), str(path), dynamo=True, opset_version=opset, input_names=["input"],
                      output_names=["logits"], optimize=True, verbose=False, dynamic_axes=dynamic)
    model = onnx.load(str(path))
    return save(model, path)


# --- hand-built ONNX graphs with MaxUnpool (what torch's TorchScript exporter emitted before 2.x) ----------
def _conv(name: str, cin: int, cout: int, rng: np.random.Generator, inits: list) -> onnx.NodeProto:
    weight = (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)
    inits.append(numpy_helper.from_array(weight, f"{name}.w"))
    inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), f"{name}.b"))
    return helper.make_node("Conv", [f"{name}.in", f"{name}.w", f"{name}.b"], [f"{name}.out"], name=name,
                            pads=[1, 1, 1, 1], kernel_shape=[3, 3])


def onnx_segnet_maxunpool(shape: Sequence[int], with_output_shape: bool, convs: bool = True,
                          opset: int = 17) -> onnx.ModelProto:
    """conv -> MaxPool(2x2, Indices) -> conv -> MaxUnpool(with/without output_shape) -> conv, as ONNX nodes."""
    rng = np.random.default_rng(1)
    n, c, h, w = shape
    nodes, inits = [], []
    current = "input"

    def conv(name: str, cin: int, cout: int) -> None:
        nonlocal current
        node = _conv(name, cin, cout, rng, inits)
        node.input[0] = current
        nodes.append(node)
        current = node.output[0]

    if convs:
        conv("enc", c, 4)
    channels = 4 if convs else c
    source = current
    nodes.append(helper.make_node("MaxPool", [source], ["pooled", "indices"], name="pool1",
                                  kernel_shape=[2, 2], strides=[2, 2]))
    current = "pooled"
    if convs:
        conv("mid", channels, channels)
    unpool_inputs = [current, "indices"]
    if with_output_shape:
        inits.append(numpy_helper.from_array(np.array([n, channels, h, w], np.int64), "out_shape"))
        unpool_inputs.append("out_shape")
    nodes.append(helper.make_node("MaxUnpool", unpool_inputs, ["unpooled"], name="unpool1",
                                  kernel_shape=[2, 2], strides=[2, 2]))
    current = "unpooled"
    if convs:
        conv("dec", channels, 3)
    out_c = 3 if convs else channels
    out_hw = [h, w] if with_output_shape else [h // 2 * 2, w // 2 * 2]
    graph = helper.make_graph(nodes, "segnet_maxunpool", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, [n, out_c] + out_hw)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def onnx_single_unpool(x_shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                       output_shape: Sequence[int] | None, pads: Sequence[int] | None = None,
                       opset: int = 17) -> onnx.ModelProto:
    """One MaxUnpool node with values X and indices I as graph inputs (indices from anywhere)."""
    inputs = ["X", "I"]
    inits = []
    if output_shape is not None:
        inits.append(numpy_helper.from_array(np.array(output_shape, np.int64), "output_shape"))
        inputs.append("output_shape")
    attrs = {"kernel_shape": list(kernel), "strides": list(strides)}
    if pads:
        attrs["pads"] = list(pads)
    node = helper.make_node("MaxUnpool", inputs, ["Y"], name="unpool_single", **attrs)
    begin, end = (list(pads[:2]), list(pads[2:])) if pads else ([0, 0], [0, 0])
    y_shape = list(output_shape) if output_shape is not None else list(x_shape[:2]) + [
        (d - 1) * s + k - b - e for d, s, k, b, e in zip(x_shape[2:], strides, kernel, begin, end)]
    graph = helper.make_graph([node], "single_unpool",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape)),
                               helper.make_tensor_value_info("I", TensorProto.INT64, list(x_shape))],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort_version() -> tuple[int, int]:
    import onnxruntime

    major, minor = onnxruntime.__version__.split(".")[:2]
    return int(major), int(minor)


# ONNX Runtime before 1.20 (the newest for Python 3.8, as on JetPack 5) sizes ceil_mode pools whose last window
# starts in the padding one larger, and has no uint8 Equal kernel: the exact-Indices tests follow 1.20+
OLD_ONNXRUNTIME = _ort_version() < (1, 20)
OLD_ONNXRUNTIME_REASON = "ONNX Runtime < 1.20: other ceil_mode output sizes and no uint8 Equal (docs/foreign-models.md)"
