"""`segnet demo`: the whole toolkit in one run, each step calling the library of the part that owns it.

data (synthetic road scenes, or --data) -> train (segnet.train) -> evaluate (segnet.evaluate) -> export
ONNX for TensorRT + lint (segnet.export) -> INT8 (segnet.export.quantize) -> bench (this package: PyTorch,
ONNX, INT8, TensorRT when present) -> stream a synthetic video through the runtime's Pipeline ->
summary.md / summary.json. A step that fails is recorded with its reason; steps that need its output are
skipped with that reason, the others still run. Needs torch (training).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from segnet import atomic
from segnet.errors import SegnetError
from segnet.lazy import require


@dataclass
class DemoConfig:
    """Sizes of a demo run. `fast()` is the smoke-test flavour (seconds, not minutes)."""

    out: Path
    data: Path | None = None
    data_format: str = "auto"
    imgsz: tuple[int, int] = (96, 128)
    n_train: int = 160
    n_val: int = 40
    model: str = "segnet_lite"
    width: float = 0.25
    epochs: int = 30
    batch: int = 8
    lr: float = 0.05
    calib_images: int = 32
    eval_images: int | None = None  # None: the whole val split
    video_frames: int = 150
    bench_warmup: int = 5
    bench_iterations: int = 30
    bench_min_time: float = 2.0
    threads: int | None = None
    seed: int = 0

    @classmethod
    def fast(cls, out: Path, data: Path | None = None) -> DemoConfig:
        return cls(out=out, data=data, imgsz=(48, 64), n_train=16, n_val=8, width=0.125, epochs=1, batch=8,
                   calib_images=8, eval_images=8, video_frames=12, bench_warmup=2, bench_iterations=10,
                   bench_min_time=0.2)


@dataclass
class Step:
    name: str
    status: str = "pending"  # ok | failed: ... | skipped: ...
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


class Demo:
    """Runs the steps in order; `run()` returns the summary dict (also written to summary.json)."""

    STEPS = ("data", "train", "evaluate", "export", "int8", "bench", "video", "grid")
    NEEDS: ClassVar[dict[str, str]] = {"train": "data", "evaluate": "train", "export": "train", "int8": "export", "bench": "export",
             "video": "export", "grid": "export"}

    def __init__(self, config: DemoConfig, log: Callable[[str], None] | None = None) -> None:
        self.cfg = config
        self.out = Path(config.out)
        self.log = log or (lambda message: print(f"demo: {message}", flush=True))
        self.steps = {name: Step(name) for name in self.STEPS}
        self.files: dict[str, Path] = {}
        self.data_root: Path | None = None
        self.data_format = config.data_format
        self.checkpoint: Path | None = None
        self.spec: Any = None
        self.onnx: Path | None = None
        self.int8: Path | None = None
        self.bench: dict[str, Any] | None = None

    # -- driving ----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.cfg.threads is None:
            self.cfg.threads = busy_machine_threads()
            if self.cfg.threads:
                self.log(f"the machine is busy (load average {os.getloadavg()[0]:.1f} on {_usable_cpus()} CPUs): "
                         "using 1 thread, which is faster than oversubscribed OpenMP here (--threads overrides)")
        start = time.perf_counter()
        for index, name in enumerate(self.STEPS, 1):
            step = self.steps[name]
            need = self.NEEDS.get(name)
            if need and self.steps[need].status != "ok":
                step.status = f"skipped: needs the {need} step, which {self.steps[need].status.split(':')[0]}"
                self.log(f"[{index}/{len(self.STEPS)}] {name}: {step.status}")
                continue
            self.log(f"[{index}/{len(self.STEPS)}] {name} ...")
            began = time.perf_counter()
            try:
                getattr(self, f"step_{name}")(step)
                step.status = "ok" if step.status == "pending" else step.status
            except SegnetError as exc:
                step.status = f"failed: {exc}"
            except Exception as exc:  # noqa: BLE001 - the demo reports a broken step and carries on
                step.status = f"failed: {type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
            step.seconds = time.perf_counter() - began
            self.log(f"[{index}/{len(self.STEPS)}] {name}: {step.status} ({step.seconds:.1f} s)")
        summary = self.summary(time.perf_counter() - start)
        self.write_summary(summary)
        return summary

    # -- the steps --------------------------------------------------------------------------------------
    def step_data(self, step: Step) -> None:
        if self.cfg.data is not None:
            from segnet.data import open_dataset

            self.data_root = Path(self.cfg.data)
            train, val = (open_dataset(self.data_root, split, self.data_format) for split in ("train", "val"))
            step.detail = {"root": str(self.data_root), "train": len(train), "val": len(val), "source": "--data"}
            return
        from segnet.data import synthetic

        root = self.out / "data"
        if (root / "classes.json").is_file():
            self.log(f"reusing the synthetic dataset in {root}")
        else:
            self.log(f"generating {self.cfg.n_train} + {self.cfg.n_val} synthetic road scenes "
                     f"({self.cfg.imgsz[0]}x{self.cfg.imgsz[1]}) in {root}")
            synthetic.generate_dataset(root, self.cfg.n_train, self.cfg.n_val, 0, size=self.cfg.imgsz,
                                       seed=self.cfg.seed, overwrite=True)
        self.data_root, self.data_format = root, "folder"
        step.detail = {"root": str(root), "train": self.cfg.n_train, "val": self.cfg.n_val, "source": "synthetic"}

    def step_train(self, step: Step) -> None:
        from segnet.train.config import TrainConfig
        from segnet.train.trainer import train

        cfg = self.cfg
        if cfg.threads:
            require("torch", "training").set_num_threads(cfg.threads)
        config = TrainConfig(data=str(self.data_root), format=self.data_format, out=str(self.out / "train"),
                             model=cfg.model, width=cfg.width, imgsz=cfg.imgsz, epochs=cfg.epochs, batch=cfg.batch,
                             lr=cfg.lr, workers=0, seed=cfg.seed, device="cpu")
        self.log(f"training {cfg.model} (width {cfg.width}) at {cfg.imgsz[0]}x{cfg.imgsz[1]} for {cfg.epochs} "
                 f"epoch(s) on the CPU")
        result = train(config)
        self.checkpoint = Path(result.best)
        best = result.history[result.best_epoch - 1] if result.history else {}
        step.detail = {"checkpoint": str(self.checkpoint), "best_epoch": result.best_epoch,
                       "epochs": len(result.history), "val_miou": _metric(best, "miou")}
        for name, target in (("curves.png", "training_curves.png"), ("predictions.png", "train_predictions.png")):
            source = Path(result.out) / name
            if source.is_file():
                self.files[target] = _copy(source, self.out / target)

    def step_evaluate(self, step: Step) -> None:
        from segnet.data import open_dataset
        from segnet.evaluate import confusion_matrix, model_predictor
        from segnet.metrics import format_table
        from segnet.train.checkpoint import load_model

        assert self.checkpoint is not None and self.data_root is not None
        model, self.spec = load_model(self.checkpoint)
        val = open_dataset(self.data_root, "val", self.data_format)
        count = len(val) if self.cfg.eval_images is None else min(len(val), self.cfg.eval_images)
        metrics = confusion_matrix(model_predictor(model, self.spec), val, self.spec, self.spec.input_size,
                                   indices=range(count)).compute()
        self.log("PyTorch on val:\n" + format_table(metrics, self.spec.class_names))
        step.detail = {"images": count, "global_acc": metrics["global_acc"],
                       "class_avg_acc": metrics["class_avg_acc"], "miou": metrics["miou"]}

    def step_export(self, step: Step) -> None:
        from segnet.export.onnx_export import export_onnx
        from segnet.export.trt_lint import check_onnx

        assert self.checkpoint is not None
        self.onnx = Path(export_onnx(self.checkpoint, self.out / "model.onnx", target="tensorrt",
                                     verify_data=self.data_root, log=self.log))
        self.files["model.onnx"] = self.onnx
        report = check_onnx(self.onnx)
        step.detail = {"onnx": str(self.onnx), "trt_check_ok": report.ok,
                       "trt_versions": list(report.versions), "failing_versions": report.failing_versions()}
        self.log(report.format().splitlines()[-1])
        if not report.ok:
            step.status = f"failed: TensorRT check fails for {', '.join(report.failing_versions())}"

    def step_int8(self, step: Step) -> None:
        from segnet.export.onnx_export import variant_path
        from segnet.export.quantize import quantize_int8

        assert self.onnx is not None and self.data_root is not None
        target = variant_path(self.onnx, "int8")
        self.int8 = Path(quantize_int8(self.onnx, target, self.data_root, self.cfg.calib_images, target="cpu"))
        self.files[self.int8.name] = self.int8
        step.detail = {"onnx": str(self.int8), "calibration_images": self.cfg.calib_images, "flavour": "cpu"}

    def step_bench(self, step: Step) -> None:
        from segnet.benchmarks.harness import TimingSettings
        from segnet.benchmarks.suite import BenchRequest, run_bench

        assert self.onnx is not None
        cfg = self.cfg
        formats = ["pytorch", "onnx"] + (["onnx-int8"] if self.int8 else []) + ["engine"]
        request = BenchRequest(model=self.onnx, checkpoint=self.checkpoint, formats=formats,
                               out_dir=self.out / "bench", data=self.data_root, data_format=self.data_format,
                               max_images=cfg.eval_images, calib=self.data_root, calib_images=cfg.calib_images,
                               threads=cfg.threads, peak_time=0.5 if cfg.bench_min_time < 1 else 1.0,
                               timing=TimingSettings(cfg.bench_warmup, cfg.bench_iterations, cfg.bench_min_time),
                               command="segnet demo")
        self.bench = run_bench(request, log=self.log)
        print(self.bench["markdown"], flush=True)
        for kind, name in (("markdown", "benchmark.md"), ("png", "benchmark.png"), ("json", "benchmark.json")):
            if kind in self.bench["paths"]:  # no chart without matplotlib
                self.files[name] = _copy(self.bench["paths"][kind], self.out / name)
        step.detail = {"formats": {r.name: _format_row(r) for r in self.bench["run"].results}}

    def step_video(self, step: Step) -> None:
        from segnet.runtime.pipeline import Pipeline
        from segnet.runtime.segmenter import Segmenter
        from segnet.runtime.sinks import open_sink
        from segnet.runtime.sources import open_source

        model, backend = self._deployed_model()
        height, width = self.spec.input_size if self.spec else self.cfg.imgsz
        uri = f"synthetic://?frames={self.cfg.video_frames}&size={2 * height}x{2 * width}&seed={self.cfg.seed + 1}"
        target = self.out / "overlay.mp4"
        self.log(f"streaming {uri} through {model.name} ({backend}) into {target}")
        with Segmenter(model, backend=backend, threads=self.cfg.threads, log=None) as segmenter:
            source, sink = open_source(uri), open_sink(str(target), fps=15)
            try:
                stats = Pipeline(segmenter, source, [sink], legend=True, hud=True, status_stream=None).run()
            finally:
                sink.close()
                source.close()
        self.files["overlay.mp4"] = target
        snapshot = stats.snapshot()
        step.detail = {"model": model.name, "backend": backend, "source": uri, "frames": snapshot["frames_out"],
                       "end_to_end_fps": snapshot["end_to_end_fps"], "network_fps": snapshot["network_fps"],
                       "latency_p50_ms": snapshot["latency_p50_ms"], "latency_p99_ms": snapshot["latency_p99_ms"]}

    def step_grid(self, step: Step) -> None:
        """Ground truth next to the deployed model's predictions (ONNX Runtime, through the Segmenter)."""
        from segnet.data import open_dataset
        from segnet.runtime.segmenter import Segmenter
        from segnet.train.reports import prediction_grid

        assert self.data_root is not None
        model, backend = self._deployed_model()
        val = open_dataset(self.data_root, "val", self.data_format)
        picks = sorted({round(i * (len(val) - 1) / 3) for i in range(4)}) if len(val) > 1 else [0]
        samples = [val[i] for i in picks]
        with Segmenter(model, backend=backend, threads=self.cfg.threads, log=None) as segmenter:
            frames = [image[..., ::-1] if image.shape[-1] == 3 else image[..., 0] for image, _ in samples]
            predicted = segmenter.predict_batch(frames)
            palette = segmenter.spec.palette
        target = prediction_grid(self.out / "predictions.png", [image for image, _ in samples],
                                 [mask for _, mask in samples], predicted, palette,
                                 title=f"{model.name} ({backend}) on val images")
        self.files["predictions.png"] = Path(target)
        step.detail = {"model": model.name, "images": len(samples)}

    def _deployed_model(self) -> tuple[Path, str]:
        """The TensorRT engine when the bench built and ran one, else the FP32 ONNX on ONNX Runtime."""
        if self.bench:
            engine = next((r for r in self.bench["run"].results if r.name == "engine" and r.ok), None)
            if engine is not None and engine.file:
                return Path(engine.file), "tensorrt"
        assert self.onnx is not None
        return self.onnx, "onnxruntime"

    # -- the summary ------------------------------------------------------------------------------------
    def summary(self, seconds: float) -> dict[str, Any]:
        steps = {name: {"status": s.status, "seconds": round(s.seconds, 2), **s.detail}
                 for name, s in self.steps.items()}
        engine = steps.get("bench", {}).get("formats", {}).get("engine")
        return {
            "ok": all(s.status == "ok" for s in self.steps.values()),
            "seconds": round(seconds, 1),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.cfg).items()},
            "steps": steps,
            "tensorrt": engine["status"] if engine else "not benchmarked",
            "files": {name: str(path) for name, path in sorted(self.files.items())},
        }

    def write_summary(self, summary: dict[str, Any]) -> None:
        self.files["summary.json"] = self.out / "summary.json"
        self.files["summary.md"] = self.out / "summary.md"
        summary["files"] = {name: str(path) for name, path in sorted(self.files.items())}
        atomic.write_text(self.out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
        atomic.write_text(self.out / "summary.md", summary_markdown(summary))


def busy_machine_threads() -> int | None:
    """1 when the machine is already loaded (load average >= usable CPUs), else None (libraries' default).
    Measured on a shared 2-core machine at load 9: a 2-thread OpenMP PyTorch trained 8x slower than 1
    thread (every parallel region waits for a descheduled thread)."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on this platform
        return None
    return 1 if load >= _usable_cpus() else None


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def summary_markdown(summary: dict[str, Any]) -> str:
    """The human summary: what ran, the headline numbers, the files."""
    steps = summary["steps"]
    lines = ["# segnet demo", "", f"Total time: {summary['seconds']:.0f} s", "", "| step | status | time s |",
             "|---|---|---|"]
    lines += [f"| {name} | {s['status']} | {s['seconds']:.1f} |" for name, s in steps.items()]
    lines += ["", "## Numbers (measured in this run)", ""]
    ev = steps.get("evaluate", {})
    if "miou" in ev:
        lines.append(f"- PyTorch on {ev['images']} val images: mIoU {100 * ev['miou']:.1f}%, global accuracy "
                     f"{100 * ev['global_acc']:.1f}%, class-average accuracy {100 * ev['class_avg_acc']:.1f}%")
    for name, row in steps.get("bench", {}).get("formats", {}).items():
        if row["status"] == "ok":
            miou = f", mIoU {100 * row['miou']:.1f}%" if row.get("miou") is not None else ""
            lines.append(f"- {name}: latency p50 {row['p50_ms']:.2f} ms, {row['fps']:.1f} FPS (from the mean "
                         f"latency){miou}")
        else:
            lines.append(f"- {name}: {row['status']}")
    video = steps.get("video", {})
    if "frames" in video:
        lines.append(f"- streaming pipeline ({video['model']}, {video['backend']}): {video['frames']} frames, "
                     f"{video['end_to_end_fps']:.1f} FPS end to end, network {video['network_fps']:.1f} FPS, "
                     f"latency p50 {video['latency_p50_ms']:.1f} ms")
    lines += ["", "## Files", ""] + [f"- {name}: `{path}`" for name, path in summary["files"].items()]
    return "\n".join(lines) + "\n"


def _format_row(result: Any) -> dict[str, Any]:
    latency = result.latency() if result.ok and result.stats.count else {}
    return {"status": result.status_text, "p50_ms": latency.get("p50"), "p99_ms": latency.get("p99"),
            "fps": result.fps if latency else None, "miou": result.miou, "file": result.file}


def _metric(row: dict[str, Any], key: str) -> Any:
    value = row.get(key, row.get(f"val_{key}"))
    return value if isinstance(value, (int, float)) else None


def _copy(source: Path, target: Path) -> Path:
    """Copy a result file into the demo folder atomically."""
    with atomic.atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target
