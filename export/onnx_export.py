"""ONNX export of a SegNet checkpoint that TensorRT parses, verified against PyTorch before it is written.

TensorRT's ONNX parser rejects MaxPool's Indices output and MaxUnpool, and PyTorch exports SegNet's
pooling as exactly those (a two-output MaxPool and ScatterND). The "switch" pool form (segnet.models
pooling, bit-exact with the indices form) exports to plain Slice/Max/Equal/Mul/DepthToSpace instead.
`pool_form="scatter"` keeps PyTorch's own export of the indices form (what a user gets today), for the
ONNX Runtime comparison in benchmarks/scripts/export_report.py.

Files: `<out>.onnx` with the model spec and the artifact description in its metadata_props
(segnet.spec.SPEC_KEY / ARTIFACT_KEY), and the sidecar `<stem>.json` (segnet.spec.write_sidecar). Both are
written atomically, and only after verification passed (export/verify.py).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet import artifacts, atomic
from segnet.errors import SegnetError
from segnet.export import inputs, verify
from segnet.lazy import require
from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, FramePath, ModelSpec, write_sidecar

DEFAULT_OPSET = 17  # the newest opset TensorRT 8.6 (JetPack 6.0) parses; 10.x parses 9-20
MIN_OPSET = 16  # measured: torch 2.13's exporter (opset 18 + onnx version converter) reaches 16, not 15
TARGETS = ("tensorrt", "onnxruntime")
POOL_FORMS = ("switch", "scatter")
# Pool form for --target onnxruntime: measured with benchmarks/scripts/export_report.py on this 2-core x86 CPU,
# the switch graph ran as fast as or faster than the ScatterND graph for every preset (see README).
ORT_POOL_FORM = "switch"
VERIFY_RANDOM_IMAGES = 4
VERIFY_DATA_IMAGES = 4
DYNAMIC_VERIFY_BATCHES = (1, 3)



def output_names(argmax: bool, keep_logits: bool) -> list[str]:
    """Names of the exported graph's outputs, in order."""
    if not argmax:
        return ["logits"]
    return ["labels", "logits"] if keep_logits else ["labels"]


def default_output(checkpoint: str | Path) -> Path:
    """`<stem>.onnx` beside the checkpoint (segnet.artifacts.stem: lite_w0.25.pt -> lite_w0.25.onnx)."""
    return artifacts.sibling(checkpoint, "onnx")


def variant_path(onnx_path: str | Path, precision: str) -> Path:
    """The `precision` ("int8" | "fp16") ONNX beside `onnx_path`: model.onnx -> model.int8.onnx, model.fp16.onnx
    (they share the sidecar model.json)."""
    return artifacts.sibling(onnx_path, artifacts.kind_of("onnx", precision))


def export_onnx(checkpoint: str | Path, out_path: str | Path | None = None,
                imgsz: tuple[int, int] | None = None, batch: int = 1, dynamic_batch: bool = False,
                opset: int = DEFAULT_OPSET, target: str = "tensorrt", embed_preprocess: bool = False,
                argmax: bool = False, keep_logits: bool = False, simplify: bool = False,
                verify_data: str | Path | None = None, pool_form: str | None = None,
                check_rewrite: bool = True, frame: FramePath | None = None,
                log: Callable[[str], None] | None = None) -> Path:
    """Export the checkpoint at `checkpoint` to ONNX (default: beside it, named after its stem), verify
    it against PyTorch (and, with `check_rewrite`, against PyTorch's own ScatterND export under ONNX
    Runtime) and write it with its sidecar. Returns the ONNX path."""
    from segnet.train.checkpoint import load_model

    out = Path(out_path) if out_path is not None else default_output(checkpoint)
    check_writable(out)
    model, spec = load_model(checkpoint, pool_mode="indices")
    return export_model(model, spec, out, imgsz=imgsz, batch=batch, dynamic_batch=dynamic_batch, opset=opset,
                        target=target, embed_preprocess=embed_preprocess, argmax=argmax,
                        keep_logits=keep_logits, simplify=simplify, verify_data=verify_data,
                        pool_form=pool_form, source=str(checkpoint), check_rewrite=check_rewrite, frame=frame,
                        log=log)


@dataclasses.dataclass
class _Options:
    imgsz: tuple[int, int]
    batch: int
    dynamic_batch: bool
    opset: int
    target: str
    embed_preprocess: bool
    argmax: bool
    keep_logits: bool
    pool_form: str


def check_options(spec: ModelSpec, imgsz: Sequence[int] | None, batch: int, dynamic_batch: bool, opset: int,
                  target: str, embed_preprocess: bool, argmax: bool, keep_logits: bool,
                  pool_form: str | None) -> _Options:
    """Validate the export options (SegnetError naming the bad value) and fill in the defaults."""
    if target not in TARGETS:
        raise SegnetError(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise SegnetError(f"opset {opset} is too old: the export needs opset >= {MIN_OPSET} "
                          f"(default {DEFAULT_OPSET}, the newest TensorRT 8.6 parses)")
    form = pool_form or ("switch" if target == "tensorrt" else ORT_POOL_FORM)
    if form not in POOL_FORMS:
        raise SegnetError(f"unknown pool form {form!r}: use one of {', '.join(POOL_FORMS)}")
    if form == "scatter" and target == "tensorrt":
        raise SegnetError("pool form 'scatter' (MaxPool indices + ScatterND) cannot be parsed by TensorRT: "
                          "use target onnxruntime for it")
    if keep_logits and not argmax:
        raise SegnetError("--keep-logits only applies with --argmax (without it the output is the logits)")
    if batch < 1:
        raise SegnetError(f"batch size must be at least 1, got {batch}")
    size = tuple(int(v) for v in (imgsz or spec.input_size))
    if len(size) != 2 or min(size) < 1:
        raise SegnetError(f"image size must be two positive numbers HEIGHT WIDTH, got {imgsz}")
    return _Options(imgsz=(size[0], size[1]), batch=batch, dynamic_batch=dynamic_batch, opset=opset,
                    target=target, embed_preprocess=embed_preprocess, argmax=argmax,
                    keep_logits=keep_logits, pool_form=form)


def check_writable(out: Path) -> None:
    """SegnetError when `out` cannot be written (its folder missing and not creatable, or read-only)."""
    folder = out.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise SegnetError(f"{out}: cannot write the export there, {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SegnetError(f"{out}: cannot write the export there, folder {existing} is not writable; "
                          "choose another path with -o")
    if out.is_dir():
        raise SegnetError(f"{out} is a folder: give the output file name, e.g. -o {out / 'model.onnx'}")


def export_model(model: Any, spec: ModelSpec, out_path: str | Path, imgsz: Sequence[int] | None = None,
                 batch: int = 1, dynamic_batch: bool = False, opset: int = DEFAULT_OPSET,
                 target: str = "tensorrt", embed_preprocess: bool = False, argmax: bool = False,
                 keep_logits: bool = False, simplify: bool = False, verify_data: str | Path | None = None,
                 pool_form: str | None = None, source: str | None = None, check_rewrite: bool = True,
                 frame: FramePath | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Export an in-memory model (any pool mode; it is not modified) with its spec; see `export_onnx`.
    `check_rewrite` also exports PyTorch's own ScatterND graph and requires the switch graph to give the
    same outputs under ONNX Runtime (it doubles the export time). `frame`: put the frame path in the graph
    (export/frame_export.py); it replaces embed_preprocess / argmax / keep_logits."""
    out = Path(out_path)
    check_writable(out)
    if frame is not None and (embed_preprocess or argmax or keep_logits or simplify):
        raise SegnetError("a frame-path export (--frame-size) takes frames and chooses its outputs with --outputs: "
                          "drop --embed-preprocess, --argmax, --keep-logits and --simplify")
    opts = check_options(spec, imgsz, batch, dynamic_batch, opset, target, embed_preprocess, argmax,
                         keep_logits, pool_form)
    spec = dataclasses.replace(spec, input_size=opts.imgsz)
    if frame is not None:
        from segnet.export.frame_export import export_frame_model

        return export_frame_model(model, spec, out, frame, opts, verify_data, source, log)
    reference, graph, twin_graph = _prepare(model, spec, opts)
    proto = _torch_export(graph, spec, opts)
    twin, skipped = None, None
    if check_rewrite and opts.pool_form == "switch":  # PyTorch's own (ScatterND) export, for comparison
        try:
            twin = _torch_export(twin_graph, spec, opts)
        except SegnetError as exc:  # e.g. a shape PyTorch's own export cannot take: check what we can
            skipped = f"rewrite check skipped: PyTorch's ScatterND export failed ({exc})"
            if log:
                log(skipped)
    if simplify:
        proto = _simplify(proto)
    problems = verify.pooling_nodes(proto)
    if opts.target == "tensorrt" and problems:
        raise SegnetError(f"{out}: the exported graph still has nodes TensorRT cannot parse: {', '.join(problems)}")
    artifact = Artifact(
        file=out.name, format="onnx", precision="fp32", input_name="input",
        input_layout="NHWC" if opts.embed_preprocess else "NCHW",
        input_dtype="uint8" if opts.embed_preprocess else "float32",
        embedded_preprocess=opts.embed_preprocess, output_names=output_names(opts.argmax, opts.keep_logits),
        batch=None if opts.dynamic_batch else opts.batch,
        details={"opset": opts.opset, "target": opts.target, "pool_form": opts.pool_form,
                 "simplified": bool(simplify), "torch": _torch_version(), "source": source},
    )
    verify.check_graph(proto, str(out))
    results = _verify(proto, reference, spec, opts, verify_data, log, twin)
    if skipped:
        results["rewrite_check"] = skipped
    artifact.details["verification"] = results
    set_metadata(proto, spec, artifact)
    save_model(proto, out)
    write_sidecar(out, spec, artifact)
    return out


def _prepare(model: Any, spec: ModelSpec, opts: _Options) -> tuple[Any, Any, Any]:
    """(reference model in indices mode, ExportGraph around a copy in the export's pool form, ExportGraph
    around the reference)."""
    from segnet.export.graph_io import ExportGraph
    from segnet.models import set_pool_mode

    reference = set_pool_mode(copy.deepcopy(model), "indices").eval()
    exported = set_pool_mode(copy.deepcopy(model), "switch" if opts.pool_form == "switch" else "indices").eval()
    flags = (opts.embed_preprocess, opts.argmax, opts.keep_logits)
    return reference, ExportGraph(exported, spec, *flags).eval(), ExportGraph(reference, spec, *flags).eval()


def example_input(spec: ModelSpec, opts: _Options) -> np.ndarray:
    """An input batch of the export's shape and dtype (uint8 NHWC or float NCHW)."""
    count = 2 if opts.dynamic_batch else opts.batch  # batch 1 would be specialised by torch.export
    images = np.stack(inputs.random_images(count, opts.imgsz, spec.in_channels, seed=1))
    return images if opts.embed_preprocess else inputs.normalize(images, spec)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporter's progress prints, warnings and log records (errors still raise)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def _torch_export(graph: Any, spec: ModelSpec, opts: _Options) -> Any:
    """torch.onnx.export (dynamo) of the wrapped model at `opts.opset`; returns the ModelProto."""
    torch = require("torch", "ONNX export")
    dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=4096)}} if opts.dynamic_batch else None
    proto = torch_export(graph, (torch.from_numpy(example_input(spec, opts)),), ["input"],
                         output_names(opts.argmax, opts.keep_logits), opts.opset, dynamic, spec.arch)
    if opts.dynamic_batch:
        _name_batch_dims(proto)
    return proto


def torch_export(graph: Any, args: tuple[Any, ...], input_names: list[str], outputs: list[str], opset: int,
                 dynamic: dict[str, Any] | None, arch: str) -> Any:
    """torch.onnx.export (dynamo) of `graph` called with `args`; returns the ModelProto at `opset`."""
    torch = require("torch", "ONNX export")
    require("onnxscript", "ONNX export")
    with torch.no_grad():
        graph(*args)  # surfaces the model's own input errors (e.g. an image size it cannot take)
    try:
        with quiet(), torch.no_grad():
            program = torch.onnx.export(graph, args, None, input_names=input_names, output_names=outputs,
                                        opset_version=opset, dynamo=True, dynamic_shapes=dynamic,
                                        optimize=True, verbose=False)
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:  # report the exporter's first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SegnetError(f"torch.onnx.export failed for {arch}: {first[:300]}") from None
    proto = program.model_proto
    got = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != opset:
        raise SegnetError(f"could not convert the graph to opset {opset} (the exporter produced opset "
                          f"{got}); use --opset {got} or the default {DEFAULT_OPSET}")
    return proto


def _name_batch_dims(proto: Any) -> None:
    """Call every graph input's and output's dynamic first dimension "batch"."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.dim_param = "batch"


def _simplify(proto: Any) -> Any:
    """onnxslim's constant folding and fusion (shape-preserving)."""
    onnxslim = require("onnxslim", "--simplify")
    with quiet():
        return onnxslim.slim(proto)


def _torch_version() -> str:
    torch = require("torch", "ONNX export")
    return str(torch.__version__)


def set_metadata(proto: Any, spec: ModelSpec, artifact: Artifact) -> None:
    """Write the spec and artifact JSON into the model's metadata_props (replacing old entries)."""
    keep = [p for p in proto.metadata_props if p.key not in (SPEC_KEY, ARTIFACT_KEY)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for key, value in ((SPEC_KEY, spec.to_json()), (ARTIFACT_KEY, json.dumps(artifact.to_dict(), sort_keys=True))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def save_variant(proto: Any, spec: ModelSpec, source: Artifact, out: Path, precision: str,
                 details: dict[str, Any]) -> Path:
    """Write a precision variant of `source` (metadata, file, sidecar entry): the INT8 and FP16 exports' last step."""
    variant = dataclasses.replace(source, file=out.name, precision=precision, details=details)
    set_metadata(proto, spec, variant)
    save_model(proto, out)
    write_sidecar(out, spec, variant)
    return out


def read_metadata(proto: Any, name: str) -> tuple[ModelSpec, Artifact]:
    """The spec and artifact a segnet export carries; SegnetError naming `name` otherwise."""
    props = {p.key: p.value for p in proto.metadata_props}
    if SPEC_KEY not in props or ARTIFACT_KEY not in props:
        raise SegnetError(f"{name}: not a segnet ONNX export (no {SPEC_KEY} metadata); export it with `segnet export`")
    return ModelSpec.from_json(props[SPEC_KEY]), Artifact.from_dict(json.loads(props[ARTIFACT_KEY]))


def save_model(proto: Any, out: Path) -> None:
    """Write the ModelProto atomically."""
    atomic.write_bytes(out, proto.SerializeToString())


def verification_batches(spec: ModelSpec, opts: _Options | Any, data: str | Path | None,
                         batch_sizes: Sequence[int]) -> dict[str, list[np.ndarray]]:
    """Image batches to verify on: "random" always, "data" (real images) when a dataset is given."""
    sets = {"random": inputs.random_images(VERIFY_RANDOM_IMAGES, opts.imgsz, spec.in_channels)}
    if data is not None:
        sets["data"] = inputs.dataset_images(data, opts.imgsz, spec, VERIFY_DATA_IMAGES)
    return {name: inputs.batches(images, batch_sizes) for name, images in sets.items()}


def torch_runner(model: Any) -> verify.Runner:
    """A function normalised NCHW batch -> {"logits": ...} running a PyTorch model without gradients."""
    torch = require("torch", "ONNX export")

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {"logits": model(torch.from_numpy(batch)).numpy()}

    return run


def _verify(proto: Any, reference: Any, spec: ModelSpec, opts: _Options, data: str | Path | None,
            log: Callable[[str], None] | None, twin: Any = None) -> dict[str, Any]:
    """Compare the ONNX under ONNX Runtime with PyTorch (fp32 tolerance) and, when given, with `twin` -
    PyTorch's own export of the indices form - under the same ONNX Runtime numerics (rewrite tolerance).
    SegnetError when either is out of tolerance."""
    sizes = DYNAMIC_VERIFY_BATCHES if opts.dynamic_batch else (opts.batch,)
    candidate = verify.ort_runner(proto.SerializeToString())

    def normalize(batch: np.ndarray) -> np.ndarray:
        return inputs.normalize(batch, spec)

    feed = (lambda b: b) if opts.embed_preprocess else normalize
    references = {"PyTorch": (torch_runner(reference), normalize, verify.TOLERANCES["fp32"])}
    if twin is not None:
        references["PyTorch's ScatterND export (ORT)"] = (verify.ort_runner(twin.SerializeToString()), feed,
                                                          verify.TOLERANCES["rewrite"])
    results: dict[str, Any] = {"reference": "pytorch, indices pooling", "batch_sizes": list(sizes)}
    for name, batches in verification_batches(spec, opts, data, sizes).items():
        for label, (run, reference_feed, tolerance) in references.items():
            result = verify.compare(run, candidate, batches, spec.num_classes, tolerance, feed=feed,
                                    reference_feed=reference_feed)
            results[name if label == "PyTorch" else f"{name}, vs scatter export"] = result.to_dict()
            if log:
                log(f"verify ({name} images) vs {label}: {result.describe()}")
            if not result.passed:
                raise SegnetError(f"the ONNX export does not match {label} on {name} images ({result.describe()}); "
                                  "nothing was written")
    return results
