"""A timm-style registry of named SegNet constructors: `@register_model` adds one, `create_model(name,
...)` builds it with the common options (classes, input channels, width, pooling mode, VGG16 weights)."""

from __future__ import annotations

import math
from typing import Any, Callable  # typing.Callable: ModelFn is evaluated at run time (3.8)

from torch import nn

from segnet.errors import SegnetError
from segnet.models.pooling import check_pool_mode, set_pool_mode
from segnet.spec import ModelSpec

ModelFn = Callable[..., nn.Module]
_MODELS: dict[str, ModelFn] = {}
# Options a constructor understands, i.e. what may appear in ModelSpec.arch_args.
ARCH_ARGS = ("width", "input_bn", "pool_mode", "vgg16_weights")


def register_model(fn: ModelFn) -> ModelFn:
    """Register `fn(num_classes, in_channels, width, input_bn) -> nn.Module` under its function name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is already registered")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_MODELS)


def _constructor(name: str) -> ModelFn:
    if name not in _MODELS:
        raise SegnetError(f"unknown model {name!r}: choose one of {', '.join(list_models())}")
    return _MODELS[name]


def _check_options(num_classes: Any, in_channels: Any, width: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise SegnetError(f"num_classes must be an integer >= 1 (1 = binary), got {num_classes!r}")
    if in_channels not in (1, 3) or isinstance(in_channels, bool):
        raise SegnetError(f"in_channels must be 1 (grayscale) or 3 (colour), got {in_channels!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise SegnetError(f"width multiplier must be a positive number, got {width!r}")


def create_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    width: float = 1.0,
    input_bn: bool = False,
    pool_mode: str = "indices",
    vgg16_weights: str | None = None,
) -> nn.Module:
    """Build the registered model `name`. The model carries `arch`, `arch_args` (what to store in
    ModelSpec.arch_args), `num_classes`, `in_channels` and `input_multiple`."""
    constructor = _constructor(name)
    _check_options(num_classes, in_channels, width)
    check_pool_mode(pool_mode)
    model = constructor(num_classes=num_classes, in_channels=in_channels, width=float(width), input_bn=bool(input_bn))
    if vgg16_weights is not None:
        from segnet.models.vgg_weights import load_vgg16_encoder

        load_vgg16_encoder(model, vgg16_weights)
    set_pool_mode(model, pool_mode)
    model.arch = name
    model.arch_args = {"width": float(width), "input_bn": bool(input_bn)}
    return model


def model_from_spec(spec: ModelSpec | dict[str, Any], pool_mode: str | None = None) -> nn.Module:
    """The (untrained) model a spec describes, ready for its checkpoint's state dict. `vgg16_weights` in
    arch_args is ignored: the checkpoint's weights replace the initialisation anyway."""
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    args = dict(spec.arch_args)
    unknown = sorted(set(args) - set(ARCH_ARGS))
    if unknown:
        raise SegnetError(f"model spec for {spec.arch!r} has unknown arch_args {unknown}; known: {', '.join(ARCH_ARGS)}")
    args.pop("vgg16_weights", None)
    if pool_mode is not None:
        args["pool_mode"] = pool_mode
    return create_model(spec.arch, spec.num_classes, spec.in_channels, **args)


def input_multiple(name: str) -> int:
    """What the input height and width of model `name` should be a multiple of (2 ** pooling stages);
    inputs must also be at least this large."""
    constructor = _constructor(name)
    return int(constructor(num_classes=1, in_channels=3, width=1e-3, input_bn=False).input_multiple)
