"""Runner for the exported formats (ONNX FP32/INT8/FP16, TensorRT engines), torch-free.

A `SegmenterRunner` opens a model with the runtime's `Segmenter` (the code `segnet run` uses), prepares
one input batch from random frames with the Segmenter's own preprocessing, and times the backend's
`infer` on it: model latency, as trtexec reports it, with the backend's h2d/compute/d2h split when it
has one. `predict` feeds real images through `Segmenter.predict_batch` for the mIoU column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segnet.benchmarks.harness import Runner

STAGES = ("h2d", "compute", "d2h")


class SegmenterRunner(Runner):
    """Times one model file on one backend ("auto", "onnxruntime" or "tensorrt")."""

    def __init__(self, name: str, model_path: str | Path, backend: str = "auto", device: str = "cpu",
                 batch: int = 1, imgsz: tuple[int, int] | None = None, threads: int | None = None,
                 seed: int = 0, layout: str | None = None, input_range: str | None = None,
                 **backend_options: Any) -> None:
        super().__init__(name, Path(model_path), batch)
        self.layout, self.input_range = layout, input_range
        self.backend_name, self.device, self.threads = backend, device, threads
        self.imgsz, self.seed = imgsz, seed
        self.backend_options = backend_options
        self.segmenter: Any = None
        self.feed: dict[str, np.ndarray] = {}

    def setup(self) -> None:
        from segnet.runtime.segmenter import Segmenter

        self.segmenter = Segmenter(self.file, backend=self.backend_name, device=self.device,
                                   input_size=self.imgsz, threads=self.threads, log=None, layout=self.layout,
                                   input_range=self.input_range, **self.backend_options)
        io = self.segmenter.io
        self.batch = io.batch or self.batch
        rng = np.random.default_rng(self.seed)
        if io.frame is not None:  # the frame path is in the graph: time it on one frame of its (largest) size
            height, width = io.frame.size or io.frame.max_size or io.input_size
            slot = self.segmenter.load(None, rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))
            self.feed = self.segmenter.frame_feed(slot)
            return
        height, width = io.input_size
        frames = rng.integers(0, 256, size=(self.batch, height, width, 3), dtype=np.uint8)
        self.feed = {io.input_name: self.segmenter.preprocess(list(frames))}

    @property
    def spec(self) -> Any:
        return self.segmenter.spec

    @property
    def input_size(self) -> tuple[int, int]:
        return self.segmenter.input_size

    def run(self) -> None:
        self.segmenter.backend.infer(self.feed)

    def timing_split(self) -> dict[str, float]:
        timing = self.segmenter.backend.last_timing
        # only a device backend's split says something; a CPU backend's "compute" is the whole call
        return {k: timing[k] for k in STAGES if k in timing} if "h2d" in timing else {}

    def predict(self, images: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """N x H x W x C uint8 RGB -> N x H x W class maps (the Segmenter takes BGR frames)."""
        frames = [image[..., ::-1] if image.shape[-1] == 3 else image[..., 0] for image in images]
        return np.stack(self.segmenter.predict_batch(frames))

    def teardown(self) -> None:
        if self.segmenter is not None:
            self.segmenter.close()
            self.segmenter = None
