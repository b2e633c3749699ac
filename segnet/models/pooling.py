"""SegNet's pooling pair: 2x2/stride-2 max-pooling that remembers where each maximum came from, and the
max-unpooling that puts decoder values back there. Two interchangeable modes, bit-exact with each other:

- "indices": `F.max_pool2d(return_indices=True)` + `F.max_unpool2d(output_size=...)`. The natural
  PyTorch form, used for training. Exports to a two-output MaxPool and MaxUnpool/ScatterND, which
  TensorRT cannot parse.
- "switch": the index-free form (docs/design.md, "Pooling indices without indices"). The four strided phases
  of the input, x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2] (scan
  order), give the pooled value as their elementwise max; the switch is a one-hot over the phases marking
  the FIRST phase equal to it (PyTorch's CPU tie-break, first in scan order). Unpooling multiplies the
  value by each phase's switch and interleaves the phases back with pixel_shuffle. Exports to plain
  Slice/Max/Equal/And/Or/Not/Cast/Mul/Concat/Reshape/DepthToSpace (odd sizes add a Concat of zeros).

Odd sizes: floor-mode pooling ignores the last row/column and `max_unpool2d(output_size)` leaves zeros
there; the switch form slices to even size before pooling and zero-pads after unpooling, so both agree.

Exactness limits (switch vs indices): outputs agree bit for bit (`torch.equal`) for finite inputs. The
gradient w.r.t. the unpooled value always agrees; the gradient w.r.t. the pool's input agrees when each
window's maximum is unique - on exact ties `torch.maximum` splits the gradient between the tied phases,
where max_pool2d routes it all to the first (after a ReLU the usual ties are zeros, whose gradient the
ReLU discards anyway). Train in "indices" mode. Non-finite values: a NaN in a window makes the pooled
value NaN in both modes but the switch then marks the last phase; an infinite decoder value gives
inf * 0 = NaN in the switch form's empty positions. Neither happens in a healthy network.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from segnet.errors import SegnetError

POOL_MODES = ("indices", "switch")
Size2 = Tuple[int, int]  # a run-time alias: tuple[...] needs Python 3.9


def check_pool_mode(mode: str) -> str:
    """Return `mode` if it is a known pooling mode, else raise a SegnetError listing the valid ones."""
    if mode not in POOL_MODES:
        raise SegnetError(f"unknown pool_mode {mode!r}: use one of {', '.join(POOL_MODES)}")
    return mode


def pool_switch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index-free 2x2 max-pool: (pooled N x C x H/2 x W/2, switches N x C x 4 x H/2 x W/2 one-hot in x's dtype)."""
    height, width = x.shape[-2], x.shape[-1]
    if height % 2 or width % 2:  # floor mode: the last odd row/column never wins a window
        x = x[..., : height - height % 2, : width - width % 2]
    p0, p1 = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    p2, p3 = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    pooled = torch.maximum(torch.maximum(p0, p1), torch.maximum(p2, p3))
    s0 = torch.eq(p0, pooled)
    s1 = torch.logical_and(torch.eq(p1, pooled), torch.logical_not(s0))
    taken = torch.logical_or(s0, s1)
    s2 = torch.logical_and(torch.eq(p2, pooled), torch.logical_not(taken))
    s3 = torch.logical_not(torch.logical_or(taken, s2))
    switches = torch.stack((s0, s1, s2, s3), dim=2).to(x.dtype)
    return pooled, switches


def unpool_switch(x: torch.Tensor, switches: torch.Tensor, output_size: Size2) -> torch.Tensor:
    """Inverse of `pool_switch`: put each value of `x` at its window's switch position, zeros elsewhere."""
    if switches.dim() != 5:
        raise SegnetError("switch-mode unpooling got index switches: set_pool_mode() must switch pool and unpool together")
    batch, channels, height, width = x.shape
    phases = (x.unsqueeze(2) * switches).reshape(batch, channels * 4, height, width)
    out = F.pixel_shuffle(phases, 2)
    pad_h, pad_w = output_size[0] - 2 * height, output_size[1] - 2 * width
    if pad_h:  # zero rows/columns by concatenation, not F.pad: opset 18's Pad does not convert down to 17
        out = torch.cat((out, out.new_zeros(batch, channels, pad_h, out.shape[-1])), dim=2)
    if pad_w:
        out = torch.cat((out, out.new_zeros(batch, channels, out.shape[-2], pad_w)), dim=3)
    return out


def pool_indices(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's 2x2 max-pool with flat argmax indices into each H x W plane."""
    pooled, indices = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
    return pooled, indices


def unpool_indices(x: torch.Tensor, indices: torch.Tensor, output_size: Size2) -> torch.Tensor:
    """PyTorch's max-unpool: values back at their argmax positions, zeros elsewhere."""
    if indices.dim() != 4:
        raise SegnetError("indices-mode unpooling got switches: set_pool_mode() must switch pool and unpool together")
    return F.max_unpool2d(x, indices, kernel_size=2, stride=2, output_size=list(output_size))


class MaxPool2x2(nn.Module):
    """2x2/stride-2 max-pool returning (pooled, switches); the switches feed the paired MaxUnpool2x2."""

    def __init__(self, mode: str = "indices") -> None:
        super().__init__()
        self.mode = check_pool_mode(mode)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "switch":
            return pool_switch(x)
        return pool_indices(x)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class MaxUnpool2x2(nn.Module):
    """Max-unpool (values, switches, output_size) -> output_size map, inverse of MaxPool2x2 in the same mode."""

    def __init__(self, mode: str = "indices") -> None:
        super().__init__()
        self.mode = check_pool_mode(mode)

    def forward(self, x: torch.Tensor, switches: torch.Tensor, output_size: Size2) -> torch.Tensor:
        if self.mode == "switch":
            return unpool_switch(x, switches, output_size)
        return unpool_indices(x, switches, output_size)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def pool_modules(model: nn.Module) -> Iterable[MaxPool2x2 | MaxUnpool2x2]:
    """Every pool and unpool module in `model`."""
    return (m for m in model.modules() if isinstance(m, (MaxPool2x2, MaxUnpool2x2)))


def set_pool_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every pool/unpool pair of `model` to `mode` in place ("switch" before ONNX export for
    TensorRT); weights and state dict are unchanged. Returns the model for chaining."""
    check_pool_mode(mode)
    for module in pool_modules(model):
        module.mode = mode
    return model


def get_pool_mode(model: nn.Module) -> str:
    """The pooling mode of `model`'s pool/unpool pairs (SegnetError if mixed or there are none)."""
    modes = {module.mode for module in pool_modules(model)}
    if len(modes) != 1:
        raise SegnetError(f"model has pooling modes {sorted(modes)}; call set_pool_mode(model, mode)")
    return modes.pop()
