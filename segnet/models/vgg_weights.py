"""Initialise a SegNet encoder from a local torchvision VGG16 state dict (vgg16 or vgg16_bn `.pth`),
as the paper does from ImageNet VGG16. No downloads: the user passes the file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from segnet.errors import SegnetError
from segnet.models.blocks import ConvBNAct

# torchvision's VGG16 `features` layout: conv widths with "M" for max-pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
BN_PARAMS = ("weight", "bias", "running_mean", "running_var")


def vgg16_conv_keys(batch_norm: bool) -> list[tuple[str, str]]:
    """(conv prefix, BN prefix or "") for VGG16's 13 convs in torchvision's `features` numbering."""
    keys, index = [], 0
    for item in VGG16_LAYOUT:
        if item == "M":
            index += 1
            continue
        keys.append((f"features.{index}", f"features.{index + 1}" if batch_norm else ""))
        index += 3 if batch_norm else 2
    return keys


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from `path` (torch.load with weights_only=True), or a SegnetError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SegnetError(f"{path}: VGG16 weights file not found; pass a local torchvision vgg16/vgg16_bn .pth file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch.load raises many types for foreign or corrupt files)
        detail = (str(exc).splitlines() or [""])[0].split(". ")[0]
        raise SegnetError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {detail})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SegnetError(f"{path}: expected a state dict of tensors (torchvision vgg16 or vgg16_bn weights)")
    return state


def _take(state: dict[str, torch.Tensor], key: str, shape: torch.Size, path: Path) -> torch.Tensor:
    """state[key] checked against `shape`, with a SegnetError that says which file and key is wrong."""
    if key not in state:
        raise SegnetError(f"{path}: no {key!r}; expected torchvision VGG16 weights (features.0.weight, ...)")
    tensor = state[key]
    if tensor.shape != shape:
        raise SegnetError(
            f"{path}: {key} has shape {tuple(tensor.shape)} but the model needs {tuple(shape)} "
            "(VGG16 weights need width=1.0 and a VGG16-shaped encoder: segnet_vgg16 or segnet_lite)"
        )
    return tensor


def encoder_units(model: nn.Module) -> list[ConvBNAct]:
    """The model's encoder conv units, in forward order."""
    return [unit for stage in model.encoder.stages for unit in stage.convs]  # type: ignore[union-attr]


@torch.no_grad()
def load_vgg16_encoder(model: nn.Module, path: str | Path) -> None:
    """Copy VGG16's conv weights (and BN statistics for vgg16_bn) into the model's encoder convs. With a
    1-channel model the first conv's RGB weights are averaged."""
    path = Path(path)
    state = load_state_dict_file(path)
    batch_norm = "features.1.weight" in state
    units = encoder_units(model)
    keys = vgg16_conv_keys(batch_norm)
    if len(units) > len(keys):
        raise SegnetError(f"{path}: this model has {len(units)} encoder convs, more than VGG16's {len(keys)}")
    for position, (unit, (conv_key, bn_key)) in enumerate(zip(units, keys)):
        weight_shape = unit.conv.weight.shape
        if position == 0 and weight_shape[1] == 1:  # grayscale: average the RGB filters
            rgb_shape = torch.Size((weight_shape[0], 3, *weight_shape[2:]))
            weight = _take(state, f"{conv_key}.weight", rgb_shape, path).mean(dim=1, keepdim=True)
        else:
            weight = _take(state, f"{conv_key}.weight", weight_shape, path)
        unit.conv.weight.copy_(weight)
        unit.conv.bias.copy_(_take(state, f"{conv_key}.bias", unit.conv.bias.shape, path))
        if bn_key:
            for name in BN_PARAMS:
                target = getattr(unit.bn, name)
                target.copy_(_take(state, f"{bn_key}.{name}", target.shape, path))
