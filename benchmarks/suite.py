"""`segnet bench` as a library: pick the formats of a model, make the missing ones, time and score them.

Given a checkpoint, the ONNX variants are exported into the output folder with the export part's own
functions (export_onnx, quantize_int8, convert_fp16; the engine with build_engine). Given an .onnx, it and
its siblings (model.int8.onnx, model.int8-trt.onnx, model.fp16.onnx, model.engine) are used as found, and missing variants are
derived from it where possible. A format that cannot be made here is a skipped row with the reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segnet.artifacts import artifact_path, model_format
from segnet.artifacts import stem as artifact_stem
from segnet.benchmarks.harness import (
    Runner,
    SkippedRunner,
    TimingSettings,
    benchmark,
)
from segnet.errors import MissingDependencyError, SegnetError
from segnet.lazy import require

if TYPE_CHECKING:
    from segnet.data.mask_options import MaskOptions

# each format but pytorch is the segnet.artifacts kind of that name, which names its file (model.int8.onnx,
# model.int8-trt.onnx, ...; the engine is built FP16 into model.engine); all of them share the sidecar model.json
FORMATS = ("pytorch", "onnx", "onnx-int8", "onnx-int8-trt", "onnx-fp16", "engine")
DEFAULT_FORMATS = ("pytorch", "onnx", "onnx-int8", "onnx-fp16", "engine")
INT8_FLAVOURS = {"onnx-int8": "cpu", "onnx-int8-trt": "tensorrt"}


@dataclass
class BenchRequest:
    """Everything `segnet bench` was asked (CLI flags map 1:1 onto these fields)."""

    model: Path
    formats: Sequence[str] = DEFAULT_FORMATS
    out_dir: Path = Path("runs/bench")
    imgsz: tuple[int, int] | None = None
    batch: int = 1
    device: str = "cpu"
    threads: int | None = None
    data: Path | None = None
    split: str = "val"
    data_format: str = "auto"
    max_images: int | None = None
    calib: Path | None = None
    calib_images: int = 32
    timing: TimingSettings = field(default_factory=TimingSettings)
    peak_time: float = 1.0  # seconds for the GEMM peak probe; 0 skips it
    command: str | None = None  # the command line, recorded in results.json
    checkpoint: Path | None = None  # the checkpoint an .onnx came from: enables the pytorch row
    masks: MaskOptions | None = None  # how colour / one-hot masks of --data and --calib are converted
    layout: str | None = None  # NCHW / NHWC of a foreign model's float input and logits (default: from the graph)
    input_range: str | None = None  # a foreign model's input range: 0-1, 0-255 or -1-1 (default: ImageNet mean/std)

    def __post_init__(self) -> None:
        self.model = Path(self.model)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise SegnetError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
        if not self.formats:
            raise SegnetError("no formats asked for: pass e.g. --formats onnx,onnx-int8")
        if self.batch < 1:
            raise SegnetError(f"--batch must be at least 1, got {self.batch}")
        if not self.model.exists():
            raise SegnetError(f"{self.model}: no such model file (give a checkpoint .pt, an .onnx or an .engine)")

    @property
    def kind(self) -> str:
        """checkpoint | onnx | engine, from the file name."""
        kind = model_format(self.model)
        if kind is None:
            raise SegnetError(f"{self.model}: unknown model type {self.model.suffix.lower()!r}; give a checkpoint "
                              "(.pt), an .onnx or an .engine")
        return kind


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    return list(dict.fromkeys(formats))


def variant_path(folder: Path, stem: str, fmt: str) -> Path:
    """`<folder>/<stem>...` of format `fmt` (not pytorch), named by segnet.artifacts: "onnx-int8" -> stem.int8.onnx."""
    return artifact_path(folder, stem, fmt)


def prepare_runners(request: BenchRequest, log: Callable[[str], None]) -> list[Runner]:
    """One runner per asked format, making exported variants as needed; never raises for one format."""
    from segnet.benchmarks.runners import SegmenterRunner

    kind = request.kind
    request.out_dir.mkdir(parents=True, exist_ok=True)
    base_onnx: Path | str | None = None  # the ONNX model, or why it could not be made
    if kind == "checkpoint" and any(f != "pytorch" for f in request.formats):
        try:
            base_onnx = _export_onnx(request, log)
        except SegnetError as exc:
            log(f"onnx: {exc}")
            base_onnx = f"the ONNX export failed: {exc}"
    elif kind == "onnx":
        base_onnx = request.model
    runners: list[Runner] = []
    for fmt in request.formats:
        if fmt == "pytorch":
            runners.append(_pytorch_runner(request))
            continue
        if kind == "engine" and fmt != "engine":
            runners.append(SkippedRunner(fmt, f"needs a checkpoint or an ONNX model; {request.model.name} is "
                                              "a TensorRT engine"))
            continue
        try:
            path = _variant(request, fmt, base_onnx, log)
        except SegnetError as exc:  # includes MissingDependencyError: the format cannot be made here
            runners.append(SkippedRunner(fmt, str(exc)) if isinstance(exc, MissingDependencyError)
                           else _FailedRunner(fmt, str(exc)))
            continue
        backend = "tensorrt" if fmt == "engine" else "onnxruntime"
        runners.append(SegmenterRunner(fmt, path, backend=backend, device=request.device, batch=request.batch,
                                       imgsz=request.imgsz, threads=request.threads, layout=request.layout,
                                       input_range=request.input_range))
    return runners


class _FailedRunner(Runner):
    """A format whose file could not be made (export error): a failed row with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.reason = reason

    def setup(self) -> None:
        raise SegnetError(self.reason)


def _pytorch_runner(request: BenchRequest) -> Runner:
    checkpoint = request.model if request.kind == "checkpoint" else request.checkpoint
    if checkpoint is None:
        return SkippedRunner("pytorch", f"needs a training checkpoint (.pt); {request.model.name} is an "
                                        f"{request.kind} file (add --checkpoint CKPT)")
    from segnet.benchmarks.torch_runner import TorchRunner

    return TorchRunner(checkpoint, batch=request.batch, imgsz=request.imgsz, threads=request.threads,
                       device=request.device)


def _export_onnx(request: BenchRequest, log: Callable[[str], None]) -> Path:
    export = _export_module("onnx_export", "exporting the checkpoint to ONNX")
    out = variant_path(request.out_dir, "model", "onnx")
    log(f"exporting {request.model} -> {out}")
    return Path(export.export_onnx(request.model, out, imgsz=request.imgsz, batch=request.batch,
                                   target="tensorrt", log=log))


def _variant(request: BenchRequest, fmt: str, base_onnx: Path | str | None, log: Callable[[str], None]) -> Path:
    """The file of format `fmt`: a sibling of the given ONNX/engine if present, else made into out_dir."""
    if request.kind == "engine":
        return request.model
    if not isinstance(base_onnx, Path):
        raise SegnetError(base_onnx or "no ONNX model to derive it from")
    stem = artifact_stem(base_onnx)
    if fmt == "onnx":
        return base_onnx
    if request.kind == "onnx":
        sibling = _sibling(base_onnx.parent, stem, fmt, log)
        if sibling is not None:
            return sibling
    target = variant_path(request.out_dir, stem, fmt)
    if fmt == "onnx-fp16":
        log(f"converting {base_onnx.name} -> {target} (FP16)")
        return Path(_export_module("fp16", "FP16 conversion").convert_fp16(base_onnx, target, log=log))
    if fmt in ("onnx-int8", "onnx-int8-trt"):
        return _quantize(request, fmt, base_onnx, target, log)
    return _build_engine(request, base_onnx, target, log)


def _sibling(folder: Path, stem: str, fmt: str, log: Callable[[str], None]) -> Path | None:
    """An existing file of format `fmt` beside the ONNX model. INT8 files are checked for their flavour:
    `segnet export --int8` writes either flavour as STEM.int8.onnx."""
    names = [variant_path(folder, stem, fmt)]
    if fmt == "onnx-int8-trt":
        names.append(variant_path(folder, stem, "onnx-int8"))
    for path in names:
        if not path.is_file():
            continue
        flavour = int8_flavour(path) if fmt in INT8_FLAVOURS else None
        if flavour in (None, INT8_FLAVOURS.get(fmt)):
            return path
        log(f"{path.name} is the {flavour} INT8 flavour, not {fmt}'s")
    return None


def int8_flavour(path: Path) -> str | None:
    """The INT8 flavour ("tensorrt" / "cpu") recorded in a quantized model's sidecar entry, if any."""
    from segnet.spec import read_sidecar

    found = read_sidecar(path)
    details = found[1].details if found and found[1] else {}
    return details.get("int8", {}).get("flavour")


def _quantize(request: BenchRequest, fmt: str, base_onnx: Path, target: Path, log: Callable[[str], None]) -> Path:
    calib = request.calib or request.data
    if calib is None:
        raise MissingDependencyError("INT8 needs calibration images: pass --calib DIR (or --data ROOT)")
    flavour = "tensorrt" if request.device != "cpu" else INT8_FLAVOURS[fmt]
    log(f"quantizing {base_onnx.name} -> {target} (INT8, {flavour} flavour, {request.calib_images} "
        f"calibration images from {calib})")
    quantize = _export_module("quantize", "INT8 quantization")
    return Path(quantize.quantize_int8(base_onnx, target, calib, request.calib_images, target=flavour, log=log,
                                       masks=request.masks))


def _build_engine(request: BenchRequest, base_onnx: Path, target: Path, log: Callable[[str], None]) -> Path:
    from segnet.nvidia.trt_utils import import_tensorrt

    import_tensorrt("building a TensorRT engine")  # before anything slow: the usual reason to skip
    from segnet.nvidia.build_options import BuildOptions

    build = _export_module("tensorrt_build", "building a TensorRT engine")
    log(f"building {target} from {base_onnx.name} (FP16)")
    return Path(build.build_engine(base_onnx, target, BuildOptions(fp16=True)))


def _export_module(name: str, what: str) -> Any:
    """segnet.export.<name>, or a clear error naming the package it is missing."""
    return require(f"segnet.export.{name}", what)


def run_bench(request: BenchRequest, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Prepare, time, score and write everything; returns {"run", "paths", "markdown", "meta"}."""
    from segnet.benchmarks import report
    from segnet.benchmarks.peak import gemm_peak, machine_info

    log = log or (lambda message: print(f"bench: {message}", file=sys.stderr))
    if list(request.formats) == ["engine"]:
        _require_engine_support(request)
    runners = prepare_runners(request, log)
    flops = _flops(request, runners, log)
    peak = None
    if request.peak_time > 0:
        log(f"measuring the float32 GEMM peak ({request.peak_time:g} s)")
        peak = gemm_peak(min_time=request.peak_time, threads=request.threads)
    score = _scorer(request, log) if request.data else None
    log(f"timing {', '.join(r.name for r in runners)} in alternating blocks "
        f"(warmup {request.timing.warmup}, >= {request.timing.iterations} calls and >= {request.timing.min_time:g} s each)")
    run = benchmark(runners, request.timing, log=log, score=score)
    for result in run.results:
        result.gflops = flops.gflops * result.batch if flops is not None and flops.macs else None
    meta = {
        "command": request.command,
        "model": str(request.model), "imgsz": list(request.imgsz) if request.imgsz else None,
        "batch": request.batch, "device": request.device, "threads": request.threads,
        "data": str(request.data) if request.data else None, "split": request.split if request.data else None,
        "machine": machine_info(),
        "gemm_peak": peak.to_dict() if peak else None,
        "flops": flops.to_dict() if flops else None,
    }
    peak_gflops = peak.best_gflops if peak else None
    paths = report.write_outputs(run, request.out_dir, meta, peak_gflops, title=f"segnet bench: {request.model.name}")
    return {"run": run, "paths": paths, "markdown": report.markdown(run, peak_gflops), "meta": meta}


def _require_engine_support(request: BenchRequest) -> None:
    """Only the engine was asked for: without TensorRT there is nothing to measure, say so up front."""
    from segnet.nvidia.trt_utils import import_tensorrt

    try:
        import_tensorrt("the engine format")
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"engine: {exc}; run `segnet doctor` for what this machine has, or "
                                     "bench the ONNX formats (--formats onnx,onnx-int8)") from None


def _flops(request: BenchRequest, runners: Sequence[Runner], log: Callable[[str], None]) -> Any:
    """FLOPs of the FP32 ONNX graph at the benchmark's input size (None without an ONNX model)."""
    from segnet.benchmarks.flops import count_macs

    onnx_file = next((r.file for r in runners if r.name == "onnx" and r.file and r.file.is_file()), None)
    if onnx_file is None and request.kind == "onnx":
        onnx_file = request.model
    if onnx_file is None:
        return None
    try:
        from segnet.spec import read_sidecar

        found = read_sidecar(onnx_file)
        size = request.imgsz or (found[0].input_size if found else None)
        shape = None
        if size is not None:
            channels = found[0].in_channels if found else 3
            embedded = bool(found and found[1] and found[1].embedded_preprocess)
            shape = (request.batch, *size, channels) if embedded else (request.batch, channels, *size)
        report = count_macs(onnx_file, shape)
        return _per_image(report, request.batch)
    except SegnetError as exc:
        log(f"FLOPs not counted: {exc}")
        return None


def _per_image(report: Any, batch: int) -> Any:
    """The FLOP report scaled to one image (the harness multiplies by each format's batch)."""
    report.macs_by_op = {k: v // batch for k, v in report.macs_by_op.items()}
    return report


def _scorer(request: BenchRequest, log: Callable[[str], None]) -> Callable[[Runner], float]:
    """mIoU of a runner's `predict` on --data/--split (at most --max-images images)."""
    from segnet.data import open_dataset
    from segnet.evaluate import confusion_matrix

    assert request.data is not None
    dataset = open_dataset(request.data, request.split, request.data_format, request.masks)
    count = len(dataset) if request.max_images is None else min(len(dataset), request.max_images)

    def score(runner: Runner) -> float:
        spec = runner.spec  # type: ignore[attr-defined]
        if dataset.num_classes != spec.num_classes:
            raise SegnetError(f"{request.data} has {dataset.num_classes} classes, the model {spec.num_classes}")
        size = request.imgsz or getattr(runner, "input_size", None) or spec.input_size
        log(f"{runner.name}: mIoU on {count} {request.split} images")
        matrix = confusion_matrix(runner.predict, dataset, spec, size, batch_size=max(1, request.batch),  # type: ignore[arg-type]
                                  indices=range(count))
        return float(matrix.compute()["miou"])

    return score


def int8_versus_fp32(fp32_onnx: Path, int8_onnx: Path, data: Path, images: int, threads: int = 1,
                     log: Callable[[str], None] | None = None, masks: MaskOptions | None = None) -> str:
    """One line: FP32 vs INT8 mIoU on `data`'s val split (first `images` images) and p50 latency, both under
    ONNX Runtime on this CPU, timed in one alternating run (what `segnet export --int8` prints)."""
    import tempfile

    from segnet.data import open_dataset
    from segnet.spec import read_sidecar

    fmt = {flavour: name for name, flavour in INT8_FLAVOURS.items()}.get(int8_flavour(int8_onnx) or "")
    sibling = _sibling(fp32_onnx.parent, artifact_stem(fp32_onnx), fmt, lambda _: None) if fmt else None
    if sibling is None or sibling.resolve() != int8_onnx.resolve():
        raise SegnetError(f"{int8_onnx}: not an INT8 variant of {fp32_onnx.name} made by segnet export")
    dataset = open_dataset(data, "val", masks=masks)  # no labelled val split, or other classes: say so first
    spec = read_sidecar(fp32_onnx)[0]  # type: ignore[index]
    if dataset.num_classes != spec.num_classes:
        raise SegnetError(f"{data} has {dataset.num_classes} classes, the model {spec.num_classes}")
    count = min(images, len(dataset))
    with tempfile.TemporaryDirectory(prefix="segnet-int8-check-") as tmp:
        request = BenchRequest(model=fp32_onnx, formats=("onnx", fmt), out_dir=Path(tmp), threads=threads,
                               data=data, max_images=count, peak_time=0, masks=masks,
                               timing=TimingSettings(warmup=3, iterations=20, min_time=1.0))
        run = run_bench(request, log or (lambda _: None))["run"]
    fp32, int8 = run.by_name("onnx"), run.by_name(fmt)
    for result in (fp32, int8):
        if not result.ok or result.miou is None:
            raise SegnetError(f"{result.name}: {result.status_text}")
    fp32_ms, int8_ms = fp32.latency()["p50"], int8.latency()["p50"]
    return (f"INT8 vs FP32 on {data} val ({count} images), ONNX Runtime, {threads} thread(s): "
            f"mIoU {100 * int8.miou:.2f}% vs {100 * fp32.miou:.2f}% ({100 * (int8.miou - fp32.miou):+.2f} points), "
            f"p50 {int8_ms:.2f} vs {fp32_ms:.2f} ms ({fp32_ms / int8_ms:.2f}x faster)")
