"""FP16 variant of an exported model (for TensorRT 11, which takes precision from the ONNX: strongly typed).

onnxconverter-common's float16 conversion with FP32 inputs/outputs kept (`keep_io_types`), so callers feed
and read the same tensors as the FP32 model. ArgMax stays FP32 (ONNX Runtime's CPU ArgMax has no FP16
kernel) besides the converter's default block list; the uint8 input cast and the class-map casts keep their
integer ends (their float sides become FLOAT16, see `retype_float_producers`). Verified against the FP32 model under ONNX Runtime within verify.TOLERANCES["fp16"].
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from segnet.errors import SegnetError
from segnet.export import verify
from segnet.export.onnx_export import (
    read_metadata,
    save_variant,
    variant_path,
)
from segnet.lazy import require

FP16_BLOCK_EXTRA = ["ArgMax"]


def retype_float_producers(model: Any, source: Any) -> None:
    """Make the model's own float-producing Cast and ConstantOfShape nodes produce FLOAT16, as the tensors
    around them now are (the converter retypes tensors and attribute tensors, but not Cast targets, nor
    ConstantOfShape's implicit FP32 zero), and drop the converter's stale value_info."""
    onnx = require("onnx", "FP16 conversion")
    own = {n.name for n in source.graph.node if n.op_type in ("Cast", "ConstantOfShape")}
    for node in model.graph.node:
        if node.name not in own:
            continue
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == onnx.TensorProto.FLOAT:
                    attr.i = onnx.TensorProto.FLOAT16
        elif not any(attr.name == "value" for attr in node.attribute):  # default value: FP32 zero
            zero = onnx.helper.make_tensor("value", onnx.TensorProto.FLOAT16, [1], [0.0])
            node.attribute.append(onnx.helper.make_attribute("value", zero))
    del model.graph.value_info[:]


def convert_fp16(onnx_in: str | Path, onnx_out: str | Path | None = None,
                 log: Callable[[str], None] | None = None) -> Path:
    """Write the FP16 variant of the segnet ONNX export `onnx_in` (default MODEL.fp16.onnx) and its
    sidecar entry, after checking it against the FP32 model. Returns the output path."""
    onnx = require("onnx", "FP16 conversion")
    float16 = require("onnxconverter_common.float16", "FP16 conversion")
    onnx_in = Path(onnx_in)
    out = Path(onnx_out) if onnx_out is not None else variant_path(onnx_in, "fp16")
    source = onnx.load(str(onnx_in))
    spec, artifact = read_metadata(source, str(onnx_in))
    blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + FP16_BLOCK_EXTRA
    model = float16.convert_float_to_float16(source, keep_io_types=True, op_block_list=blocked)
    retype_float_producers(model, source)
    verify.check_graph(model, str(out))
    comparison = verify.compare_onnx(source, model, spec, artifact.embedded_preprocess, artifact.batch,
                                     verify.TOLERANCES["fp16"])
    if log:
        log(f"verify FP16 vs FP32 model: {comparison.describe()}")
    if comparison.passed is False:
        raise SegnetError(f"{out}: the FP16 model drifts too far from the FP32 one ({comparison.describe()}); "
                          "nothing was written")
    details = dict(artifact.details, fp16={"block_list": FP16_BLOCK_EXTRA, "keep_io_types": True},
                   verification={"reference": onnx_in.name, "random": comparison.to_dict()})
    return save_variant(model, spec, artifact, out, "fp16", details)
