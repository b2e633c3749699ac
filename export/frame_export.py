"""Export with the frame path inside the graph (`segnet export --frame-size`), verified before it is written.

Two checks, both under ONNX Runtime: the network alone against PyTorch (as every export), then the frame
graph against the host path around that network (export/frame_verify.py) at the frame size, or at the
smallest, a middle and the largest size of a dynamic range. Nothing is written unless both pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segnet.errors import SegnetError
from segnet.export import frame_verify, onnx_export, verify
from segnet.lazy import require
from segnet.spec import (
    FRAME_CHANNELS,
    FRAME_OUTPUTS,
    FRAME_RESIZES,
    FRAME_UPSAMPLES,
    LABEL_SIZES,
    Artifact,
    FramePath,
    ModelSpec,
    write_sidecar,
)

VERIFY_ALPHA = 0.5
MAX_FRAME_SIDE = 8192


def check_frame(path: FramePath) -> FramePath:
    """Validate the frame options (SegnetError naming the bad value)."""
    for value, allowed, what in ((path.channels, FRAME_CHANNELS, "--frame-channels"),
                                 (path.resize, FRAME_RESIZES, "--frame-resize"),
                                 (path.upsample, FRAME_UPSAMPLES, "--upsample"),
                                 (path.labels_size, LABEL_SIZES, "--labels-size")):
        if value not in allowed:
            raise SegnetError(f"{what} takes {', '.join(allowed)}, got {value!r}")
    bad = [o for o in path.outputs if o not in FRAME_OUTPUTS]
    if not path.outputs or bad or len(set(path.outputs)) != len(path.outputs):
        raise SegnetError(f"--outputs takes a comma-separated choice of {', '.join(FRAME_OUTPUTS)} (each once), "
                          f"got {','.join(path.outputs) or 'nothing'}")
    sizes = [s for s in (path.size, path.min_size, path.max_size) if s is not None]
    if any(min(s) < 1 or max(s) > MAX_FRAME_SIDE for s in sizes):
        raise SegnetError(f"frame sizes must be within 1..{MAX_FRAME_SIDE}, got {sizes}")
    if path.size is None:
        if path.min_size is None or path.max_size is None:
            raise SegnetError("a dynamic frame size needs --frame-min H W and --frame-max H W")
        if path.min_size[0] > path.max_size[0] or path.min_size[1] > path.max_size[1]:
            raise SegnetError(f"--frame-min {path.min_size} is larger than --frame-max {path.max_size}")
        if path.resize == "area":
            raise SegnetError("--frame-resize area needs a fixed --frame-size H W (its weights depend on the "
                              "frame size); use --frame-resize linear for a dynamic frame size")
    elif path.min_size is not None or path.max_size is not None:
        raise SegnetError("--frame-min/--frame-max apply to --frame-size dynamic only")
    return path


def verify_sizes(path: FramePath) -> list[tuple[int, int]]:
    """Frame sizes the export is checked at."""
    if path.size is not None:
        return [path.size]
    lo, hi = path.min_size, path.max_size
    assert lo is not None and hi is not None
    mid = ((lo[0] + hi[0]) // 2 | 1, (lo[1] + hi[1]) // 2 | 1)  # odd: the awkward case for every resize
    return list(dict.fromkeys([lo, (min(mid[0], hi[0]), min(mid[1], hi[1])), hi]))


def default_alpha(spec: ModelSpec, alpha: float = VERIFY_ALPHA, ignore: int | None = None) -> np.ndarray:
    """The "alpha" input: `alpha` for every class, 0 for `ignore`."""
    weights = np.full(spec.num_labels, alpha, np.float32)
    if ignore is not None and 0 <= ignore < spec.num_labels:
        weights[ignore] = 0.0
    return weights


def export_frame_model(model: Any, spec: ModelSpec, out: Path, path: FramePath, opts: Any,
                       verify_data: str | Path | None, source: str | None,
                       log: Callable[[str], None] | None) -> Path:
    """Export `model` with the frame path `path` to `out` (opts: onnx_export's checked options, plain form)."""
    from segnet.export.frame_graph import FrameGraph

    torch = require("torch", "ONNX export")
    check_frame(path)
    if opts.batch != 1 and not opts.dynamic_batch:
        raise SegnetError(f"a frame-path export takes one frame per inference (the runtime streams them one by one): "
                          f"drop --batch {opts.batch}, or use --dynamic-batch")
    reference, network, _twin = onnx_export._prepare(model, spec, opts)
    net_proto = onnx_export._torch_export(network, spec, opts)
    results = onnx_export._verify(net_proto, reference, spec, opts, verify_data, log)
    graph = FrameGraph(network.model, spec, path).eval()
    args, input_names, outputs, dynamic = _example(spec, path, opts, torch)
    proto = onnx_export.torch_export(graph, args, input_names, outputs, opts.opset, dynamic, spec.arch)
    problems = verify.pooling_nodes(proto)
    if opts.target == "tensorrt" and problems:
        raise SegnetError(f"{out}: the exported graph still has nodes TensorRT cannot parse: {', '.join(problems)}")
    verify.check_graph(proto, str(out))
    results["frame_path"] = _verify_frames(proto, net_proto, spec, path, verify_data, log)
    artifact = Artifact(
        file=out.name, format="onnx", precision="fp32", input_name="frame", input_layout="NHWC",
        input_dtype="uint8", embedded_preprocess=True, output_names=list(path.outputs),
        batch=None if opts.dynamic_batch else opts.batch, frame=path.to_dict(),
        details={"opset": opts.opset, "target": opts.target, "pool_form": opts.pool_form, "simplified": False,
                 "torch": onnx_export._torch_version(), "source": source, "verification": results},
    )
    onnx_export.set_metadata(proto, spec, artifact)
    onnx_export.save_model(proto, out)
    write_sidecar(out, spec, artifact)
    return out


def _example(spec: ModelSpec, path: FramePath, opts: Any, torch: Any) -> tuple[Any, ...]:
    """(args, input names, output names, dynamic shapes) for torch.onnx.export of the frame graph."""
    sizes = verify_sizes(path)
    size = sizes[len(sizes) // 2]  # a fixed size, or the middle of a dynamic range
    count = 2 if opts.dynamic_batch else opts.batch
    frames = torch.from_numpy(np.stack(frame_verify.test_frames(spec, path, size, count=count)[:count]))
    args: tuple[Any, ...] = (frames,)
    names = ["frame"]
    if "overlay" in path.outputs:
        args += (torch.from_numpy(default_alpha(spec)),)
        names.append("alpha")
    dims: dict[int, Any] = {}
    if opts.dynamic_batch:
        dims[0] = torch.export.Dim("batch", min=1, max=4096)
    if path.size is None:
        lo, hi = path.min_size, path.max_size
        dims[1] = torch.export.Dim("height", min=lo[0], max=hi[0]) if lo[0] < hi[0] else None
        dims[2] = torch.export.Dim("width", min=lo[1], max=hi[1]) if lo[1] < hi[1] else None
        dims = {k: v for k, v in dims.items() if v is not None}
    dynamic = None
    if dims:
        dynamic = {"frames": dims}
        if "overlay" in path.outputs:
            dynamic["alpha"] = None
    return args, names, list(path.outputs), dynamic


def _verify_frames(proto: Any, net_proto: Any, spec: ModelSpec, path: FramePath, data: str | Path | None,
                   log: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """The frame graph against the host path at every verification size; SegnetError when one fails."""
    graph = verify.ort_runner(proto.SerializeToString())
    network = verify.ort_runner(net_proto.SerializeToString())
    alpha = default_alpha(spec, ignore=spec.num_labels - 1)  # one class left untouched, as --ignore-class does
    results = []
    for size in verify_sizes(path):
        frames = frame_verify.test_frames(spec, path, size, data)
        result = frame_verify.compare(graph, network, frames, alpha, spec, path)
        results.append(result.to_dict())
        if log:
            log(f"verify frame path vs host path: {result.describe()}")
        if not result.passed:
            raise SegnetError(f"the frame path does not match the host path ({result.describe()}); nothing was "
                              "written")
    return results
