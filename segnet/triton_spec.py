"""How a segnet spec travels in a Triton model configuration: as string parameters, JSON valued.

`segnet.spec` and `segnet.artifact` are the same JSON the ONNX metadata carries (segnet.spec), so a client
resolves a served model exactly as a local file; `segnet.class_names` and `segnet.palette` repeat the
classes and colours as plain JSON lists for clients that are not segnet. Written by `segnet deploy triton`
(config.pbtxt) and `segnet serve`; read by the Triton backend. Torch-free, no Triton import.
"""

from __future__ import annotations

import json
from typing import Any

from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, ModelSpec

CLASS_NAMES_KEY = "segnet.class_names"
PALETTE_KEY = "segnet.palette"
PARAMETER_KEYS = (SPEC_KEY, ARTIFACT_KEY, CLASS_NAMES_KEY, PALETTE_KEY)


def parameters(spec: ModelSpec, artifact: Artifact) -> dict[str, str]:
    """The config parameters (key -> string_value) describing `artifact` of `spec`."""
    return {SPEC_KEY: spec.to_json(), ARTIFACT_KEY: json.dumps(artifact.to_dict(), sort_keys=True),
            CLASS_NAMES_KEY: json.dumps(spec.class_names), PALETTE_KEY: json.dumps([list(c) for c in spec.palette])}


def metadata(config_parameters: dict[str, Any]) -> dict[str, str]:
    """The segnet metadata (SPEC_KEY, ARTIFACT_KEY) from a model config's parameters, as Triton returns
    them in JSON (`{"key": {"string_value": "..."}}`); empty when the model carries no segnet spec."""
    found = {}
    for key in (SPEC_KEY, ARTIFACT_KEY):
        value = config_parameters.get(key)
        if isinstance(value, dict) and value.get("string_value"):
            found[key] = str(value["string_value"])
    return found
