"""Compare a TensorRT engine with ONNX Runtime on the same inputs (like `polygraphy run --trt --onnxrt`).

Random inputs always, real images with a dataset; reports max |diff| per float output and the agreement of
the class maps (the `labels` output, or the argmax over the logits' class axis). torch-free.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from segnet.errors import SegnetError
from segnet.spec import FramePath, read_sidecar


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per output: max |diff| (float outputs) and class-map agreement (labels, or argmax over axis 1)."""
    missing = set(reference) - set(candidate)
    if missing:
        raise SegnetError(f"the engine lacks outputs {sorted(missing)} that the ONNX model has")
    result: dict[str, dict[str, float]] = {}
    for name, ref in reference.items():
        got = np.asarray(candidate[name])
        if got.shape != ref.shape:
            raise SegnetError(f"output {name!r}: engine shape {got.shape} differs from ONNX Runtime's {ref.shape}")
        entry: dict[str, float] = {}
        if ref.dtype == np.uint8 and ref.ndim == 4 and ref.shape[3] == 3:  # an overlay or mask: pixels within
            diff = np.abs(got.astype(np.int16) - ref.astype(np.int16)).max(axis=3)  # 1 grey level agree
            entry["max_abs_diff"] = float(diff.max()) if diff.size else 0.0
            entry["agreement"] = float(np.mean(diff <= 1)) if diff.size else 1.0
            result[name] = entry
            continue
        if ref.dtype.kind == "f":
            entry["max_abs_diff"] = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
            ref_map, got_map = (ref.argmax(1), got.argmax(1)) if ref.ndim == 4 and ref.shape[1] > 1 else (ref > 0, got > 0)
        else:
            ref_map, got_map = ref, got
        entry["agreement"] = float(np.mean(ref_map == got_map)) if ref.size else 1.0
        result[name] = entry
    return result


def random_feeds(inputs: list[Any], count: int, seed: int = 0,
                 frame: FramePath | None = None) -> Iterator[dict[str, np.ndarray]]:
    """`count` random feeds for the backend's inputs (dynamic dimensions as 1; a frame-path model's frame at
    its largest size, its alpha within 0..1)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        feed = {}
        for info in inputs:
            shape = tuple(d or 1 for d in info.shape)
            if frame is not None and info.name == "frame":
                shape = (shape[0], *(frame.size or frame.max_size or shape[1:3]), shape[3])
            if frame is not None and info.name == "alpha":
                feed[info.name] = rng.uniform(0, 1, size=shape).astype(info.dtype)
            elif np.dtype(info.dtype).kind == "u":
                feed[info.name] = rng.integers(0, 256, size=shape).astype(info.dtype)
            else:
                feed[info.name] = rng.standard_normal(shape).astype(info.dtype)
        yield feed


def image_feeds(onnx_path: Path, data_root: Path, count: int, batch: int | None) -> Iterator[dict[str, np.ndarray]]:
    """Feeds made from dataset images with the runtime's own preprocessing (Segmenter.preprocess)."""
    from segnet.data import open_dataset
    from segnet.runtime.segmenter import Segmenter

    dataset = None
    for split in ("val", "test", "train"):
        try:
            dataset = open_dataset(data_root, split)
            break
        except SegnetError:
            continue
    if dataset is None:
        raise SegnetError(f"{data_root}: no val/test/train split found to verify with")
    with Segmenter(onnx_path, backend="onnxruntime", log=None) as segmenter:
        for index in range(min(count, len(dataset))):
            image = dataset[index][0]
            frame = image[..., ::-1] if image.ndim == 3 and image.shape[2] == 3 else image
            if segmenter.frame_path is not None:  # the frame itself (at the model's frame size), and alpha
                yield segmenter.frame_feed(segmenter.load(None, np.ascontiguousarray(frame)))
                continue
            tensor = segmenter.preprocess([np.ascontiguousarray(frame)])
            if batch and batch > 1:
                tensor = np.repeat(tensor, batch, axis=0)
            yield {segmenter.io.input_name: tensor}


def verify_engine(engine_path: str | Path, onnx_path: str | Path, data_root: str | Path | None = None,
                  num_images: int = 8, num_random: int = 2, min_agreement: float = 0.99) -> dict[str, Any]:
    """Run the engine and ONNX Runtime (CPU) on the same inputs; `ok` when every class map agrees on at
    least `min_agreement` of the pixels. Returns per-input results and a one-line `summary`."""
    from segnet.runtime.backends import open_backend
    from segnet.runtime.backends.tensorrt import TensorRTBackend

    results: list[dict[str, Any]] = []
    with TensorRTBackend(engine_path) as engine, open_backend(onnx_path, backend="onnxruntime") as ort:
        batch = engine.inputs[0].shape[0] if engine.inputs else None
        found = read_sidecar(engine_path)
        frame = found[1].frame_path if found and found[1] else None
        feeds: list[tuple[str, Iterator[dict[str, np.ndarray]]]] = [
            ("random", random_feeds(engine.inputs, num_random, frame=frame))]
        if data_root is not None:
            feeds.append(("image", image_feeds(Path(onnx_path), Path(data_root), num_images, batch)))
        for kind, source in feeds:
            for feed in source:
                results.append({"input": kind, "outputs": compare_outputs(ort.infer(feed), engine.infer(feed))})
    worst_diff = max((o.get("max_abs_diff", 0.0) for r in results for o in r["outputs"].values()), default=0.0)
    worst_agree = min((o["agreement"] for r in results for o in r["outputs"].values()), default=1.0)
    ok = worst_agree >= min_agreement
    summary = (f"{'PASS' if ok else 'FAIL'}: engine vs ONNX Runtime on {len(results)} inputs: max |diff| "
               f"{worst_diff:.4g}, lowest class-map agreement {worst_agree:.4%} (threshold {min_agreement:.0%})")
    return {"ok": ok, "summary": summary, "max_abs_diff": worst_diff, "min_agreement": worst_agree,
            "results": results}
