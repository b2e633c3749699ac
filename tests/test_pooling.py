"""The pooling pair: PyTorch's tie-break, bit-exactness of the "switch" form against the "indices" form
(values and gradients, ties, odd sizes) and the switch form's ONNX export (no MaxUnpool/ScatterND)."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from segnet.errors import SegnetError
from segnet.models.pooling import (
    MaxPool2x2,
    MaxUnpool2x2,
    get_pool_mode,
    pool_indices,
    pool_switch,
    set_pool_mode,
    unpool_indices,
    unpool_switch,
)

SIZES = [(8, 10), (9, 7), (5, 5), (2, 2), (3, 2), (45, 60)]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _random(shape, gen):
    return torch.randn(shape, generator=gen)


def _relu(shape, gen):  # about half the windows hold ties at zero
    return torch.relu(torch.randn(shape, generator=gen) - 0.5)


def _small_integers(shape, gen):
    return torch.randint(0, 3, shape, generator=gen).float()


def _zeros(shape, gen):
    return torch.zeros(shape)


def _repeated(shape, gen):  # every window holds the same value
    return torch.randn(shape[:2] + (1, 1), generator=gen).expand(shape).contiguous()


INPUTS: dict[str, Callable] = {
    "random": _random,
    "relu": _relu,
    "small_integers": _small_integers,
    "zeros": _zeros,
    "repeated": _repeated,
}


def test_pytorch_tie_break_is_first_in_scan_order():
    """For every set of tied maxima in a 2x2 window, max_pool2d picks the first in scan order, and so
    does the switch form."""
    windows, expected = [], []
    for count in range(1, 5):
        for tied in itertools.combinations(range(4), count):
            window = torch.full((4,), -1.0)
            window[list(tied)] = 2.0
            windows.append(window.reshape(2, 2))
            expected.append(tied[0])
    x = torch.stack(windows).unsqueeze(0)  # 1 x 15 x 2 x 2: one window per channel
    _, indices = pool_indices(x)
    assert indices.flatten().tolist() == expected  # flat index in a 2x2 plane == scan-order phase
    _, switches = pool_switch(x)
    assert switches.flatten(2).argmax(dim=2).flatten().tolist() == expected
    assert torch.equal(switches.sum(dim=2), torch.ones(1, 15, 1, 1))


def test_tie_break_on_all_zero_planes_is_top_left():
    _, indices = pool_indices(torch.zeros(1, 1, 6, 8))
    rows, cols = torch.meshgrid(torch.arange(0, 6, 2), torch.arange(0, 8, 2), indexing="ij")
    assert torch.equal(indices[0, 0], rows * 8 + cols)


@pytest.mark.parametrize("kind", sorted(INPUTS))
@pytest.mark.parametrize("size", SIZES)
def test_switch_matches_indices_forward(kind, size):
    gen = torch.Generator().manual_seed(zlib.crc32(f"{kind}{size}".encode()))
    x = INPUTS[kind]((2, 3) + size, gen)
    pooled_i, indices = pool_indices(x)
    pooled_s, switches = pool_switch(x)
    assert torch.equal(pooled_i, pooled_s)
    assert switches.shape == (2, 3, 4) + pooled_s.shape[-2:]
    values = torch.randn(pooled_i.shape, generator=gen)
    out_i = unpool_indices(values, indices, size)
    out_s = unpool_switch(values, switches, size)
    assert out_i.shape == out_s.shape == (2, 3) + size
    assert torch.equal(out_i, out_s)
    # floor mode: an odd last row/column stays zero after unpooling
    if size[0] % 2:
        assert not out_s[..., -1, :].any()
    if size[1] % 2:
        assert not out_s[..., :, -1].any()


def _pool_unpool_grads(mode, x, values):
    x = x.clone().requires_grad_(True)
    values = values.clone().requires_grad_(True)
    pool, unpool = MaxPool2x2(mode), MaxUnpool2x2(mode)
    pooled, switches = pool(x)
    out = unpool(pooled * values, switches, tuple(x.shape[-2:]))
    weights = torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape).sin()
    (out * weights).sum().backward()
    return out, x.grad, values.grad


@pytest.mark.parametrize("size", SIZES)
def test_switch_matches_indices_gradients_without_ties(size):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn((2, 3) + size, generator=gen, dtype=torch.float64)
    values = torch.randn((2, 3, size[0] // 2, size[1] // 2), generator=gen, dtype=torch.float64)
    out_i, gx_i, gv_i = _pool_unpool_grads("indices", x, values)
    out_s, gx_s, gv_s = _pool_unpool_grads("switch", x, values)
    assert torch.equal(out_i, out_s)
    assert torch.equal(gx_i, gx_s)
    assert torch.equal(gv_i, gv_s)


@pytest.mark.parametrize("kind", ["relu", "small_integers", "zeros"])
def test_switch_matches_indices_value_gradients_with_ties(kind):
    """With ties, the gradient through the unpooled values still agrees exactly."""
    gen = torch.Generator().manual_seed(3)
    x = INPUTS[kind]((2, 3, 9, 12), gen)
    values = torch.randn((2, 3, 4, 6), generator=gen)
    out_i, _, gv_i = _pool_unpool_grads("indices", x, values)
    out_s, _, gv_s = _pool_unpool_grads("switch", x, values)
    assert torch.equal(out_i, out_s)
    assert torch.equal(gv_i, gv_s)


def test_relu_ties_at_zero_give_equal_input_gradients():
    """SegNet pools after a ReLU: ties at zero are common, and the input gradients still agree."""
    gen = torch.Generator().manual_seed(11)
    pre = torch.randn(2, 4, 10, 14, generator=gen) - 0.7
    grads = {}
    for mode in ("indices", "switch"):
        leaf = pre.clone().requires_grad_(True)
        pooled, switches = MaxPool2x2(mode)(torch.relu(leaf))
        out = MaxUnpool2x2(mode)(pooled * 3.0, switches, (10, 14))
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        grads[mode] = leaf.grad
    assert torch.equal(grads["indices"], grads["switch"])
    assert grads["switch"].any()


def test_nan_propagates_to_pooled_value_in_both_modes():
    x = torch.zeros(1, 1, 2, 4)
    x[0, 0, 1, 0] = float("nan")
    for pooled in (pool_indices(x)[0], pool_switch(x)[0]):
        assert torch.isnan(pooled[0, 0, 0, 0]) and pooled[0, 0, 0, 1] == 0


def test_modes_must_match_and_be_known():
    x = torch.randn(1, 2, 4, 4)
    pooled, indices = MaxPool2x2("indices")(x)
    with pytest.raises(SegnetError, match="set_pool_mode"):
        MaxUnpool2x2("switch")(pooled, indices, (4, 4))
    pooled, switches = MaxPool2x2("switch")(x)
    with pytest.raises(SegnetError, match="set_pool_mode"):
        MaxUnpool2x2("indices")(pooled, switches, (4, 4))
    with pytest.raises(SegnetError, match="indices, switch"):
        MaxPool2x2("argmax")


def test_set_pool_mode_switches_every_pair_and_keeps_state():
    model = torch.nn.ModuleDict({"pool": MaxPool2x2(), "unpool": MaxUnpool2x2(), "conv": torch.nn.Conv2d(1, 1, 1)})
    keys = list(model.state_dict())
    assert get_pool_mode(model) == "indices"
    assert set_pool_mode(model, "switch") is model
    assert model["pool"].mode == model["unpool"].mode == "switch"
    assert list(model.state_dict()) == keys
    model["pool"].mode = "indices"
    with pytest.raises(SegnetError, match="mixed|modes"):
        get_pool_mode(model)
    with pytest.raises(SegnetError):
        set_pool_mode(model, "bogus")


class PoolPair(torch.nn.Module):
    """Pool, scale, unpool: the smallest graph holding one pooling pair."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.pool, self.unpool = MaxPool2x2(mode), MaxUnpool2x2(mode)

    def forward(self, x):
        pooled, switches = self.pool(x)
        return self.unpool(pooled * 2.0, switches, (x.shape[-2], x.shape[-1]))


def onnx_op_types(model: torch.nn.Module, example, path: Path) -> set[str]:
    """Export with the dynamo exporter (what torch 2.13 supports best) and list the graph's op types."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=17, verbose=False)
    graph = onnx.load(str(path))
    assert graph.opset_import[0].version == 17  # the down-conversion TensorRT 8.6 needs succeeded
    return {node.op_type for node in graph.graph.node}


FORBIDDEN = {"MaxUnpool", "ScatterND", "ScatterElements", "MaxPool"}
SWITCH_OPS = {"Slice", "Max", "Equal", "And", "Or", "Not", "Cast", "Mul", "Concat", "Unsqueeze", "Reshape",
              "DepthToSpace", "ConstantOfShape", "Constant"}


@pytest.mark.parametrize("size", [(8, 12), (9, 13)])
def test_switch_mode_exports_to_plain_ops_and_runs_exactly(tmp_path, size):
    x = torch.randn((1, 4) + size)
    path = tmp_path / "pair.onnx"
    ops = onnx_op_types(PoolPair("switch").eval(), x, path)
    assert not ops & FORBIDDEN, ops
    assert ops <= SWITCH_OPS, ops - SWITCH_OPS
    assert "DepthToSpace" in ops
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = PoolPair("indices")(x)
    assert torch.equal(torch.from_numpy(got), want)


def test_indices_mode_export_holds_what_tensorrt_rejects(tmp_path):
    """Negative control for the check above: the plain PyTorch form exports MaxPool-with-indices."""
    ops = onnx_op_types(PoolPair("indices").eval(), torch.randn(1, 2, 8, 8), tmp_path / "plain.onnx")
    assert ops & FORBIDDEN
