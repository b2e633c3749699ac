"""An exponential moving average of a model's weights and BatchNorm statistics (`segnet train --ema DECAY`).

Built on torch.optim.swa_utils.AveragedModel. The decay ramps up as min(DECAY, (1 + n) / (10 + n)) after n
updates (TensorFlow's ExponentialMovingAverage), so the random initial weights fade within the first steps
instead of lingering in a short run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel


class WeightEma:
    """The average of a training model, updated after every optimiser step; `module` is the averaged model."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self._step_decay = 0.0  # this update's ramped decay, computed once per step, not once per tensor
        self.averaged = AveragedModel(model, avg_fn=self._blend, use_buffers=True)

    def _blend(self, average: torch.Tensor, current: torch.Tensor, updates: torch.Tensor) -> torch.Tensor:
        if not average.is_floating_point():  # BatchNorm's num_batches_tracked: a count, not a weight
            return current
        return self._step_decay * average + (1.0 - self._step_decay) * current

    @property
    def module(self) -> torch.nn.Module:
        return self.averaged.module

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights into the average (unwrapping DistributedDataParallel)."""
        n = self.updates
        self._step_decay = min(self.decay, (1.0 + n) / (10.0 + n))
        self.averaged.update_parameters(getattr(model, "module", model))

    def load(self, state: dict[str, Any], updates: int) -> None:
        """Restore an average saved as the module's state_dict after `updates` updates (for resume)."""
        self.module.load_state_dict(state)
        self.averaged.n_averaged.fill_(int(updates))
