"""The PyTorch eager baseline of `segnet bench` (the only part of the benchmarks that imports torch).

Loads a training checkpoint with its spec, and times `model(x)` under `torch.inference_mode()` on a fixed
normalised input, with the network's native pooling (max_pool2d indices + max_unpool2d) unless told to
use the index-free switch form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segnet.benchmarks.harness import Runner
from segnet.lazy import require


class TorchRunner(Runner):
    """PyTorch eager on the CPU (or CUDA when asked and present)."""

    def __init__(self, checkpoint: str | Path, batch: int = 1, imgsz: tuple[int, int] | None = None,
                 threads: int | None = None, device: str = "cpu", pool_mode: str = "indices",
                 name: str = "pytorch", seed: int = 0) -> None:
        super().__init__(name, Path(checkpoint), batch)
        self.imgsz, self.threads, self.device, self.pool_mode, self.seed = imgsz, threads, device, pool_mode, seed
        self.model: Any = None
        self.spec: Any = None
        self.input: Any = None
        self._predict: Any = None

    def setup(self) -> None:
        torch = require("torch", "the PyTorch format")
        from segnet.evaluate import model_predictor
        from segnet.train.checkpoint import load_model

        if self.threads:
            torch.set_num_threads(int(self.threads))
        device = "cuda" if self.device == "cuda" else "cpu"
        self.model, self.spec = load_model(self.file, pool_mode=self.pool_mode)
        self.model.to(device)
        height, width = self.imgsz or self.spec.input_size
        generator = torch.Generator().manual_seed(self.seed)
        self.input = torch.randn(self.batch, self.spec.in_channels, height, width, generator=generator).to(device)
        self._predict = model_predictor(self.model, self.spec, device)
        self._sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self._inference_mode = torch.inference_mode

    def run(self) -> None:
        with self._inference_mode():
            self.model(self.input)
        self._sync()

    def predict(self, images: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return self._predict(images)

    def teardown(self) -> None:
        self.model = self.input = self._predict = None
