"""Model family: a registry of SegNet presets (segnet_vgg16, segnet_basic, segnet_lite) and the
pooling pair with its two bit-exact modes ("indices" for training, "switch" for TensorRT export).
Importing this package imports torch."""

from segnet.models import presets as _presets  # noqa: F401  (registers the presets)
from segnet.models.pooling import (
    POOL_MODES,
    MaxPool2x2,
    MaxUnpool2x2,
    get_pool_mode,
    set_pool_mode,
)
from segnet.models.registry import (
    create_model,
    input_multiple,
    list_models,
    model_from_spec,
    register_model,
)
from segnet.models.segnet import SegNet, SegNetConfig

__all__ = [
    "POOL_MODES",
    "MaxPool2x2",
    "MaxUnpool2x2",
    "SegNet",
    "SegNetConfig",
    "create_model",
    "get_pool_mode",
    "input_multiple",
    "list_models",
    "model_from_spec",
    "register_model",
    "set_pool_mode",
]
