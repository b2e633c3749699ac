"""Optimisers (SGD with momentum as in the SegNet paper, AdamW) and per-iteration learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from segnet.errors import SegnetError
from segnet.train.config import OPTIMIZERS, SCHEDULES


def build_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay) or AdamW (decoupled weight decay; `momentum` is beta1)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    raise SegnetError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


def lr_factor(name: str, step: int, total_steps: int) -> float:
    """The learning-rate multiplier after `step` of `total_steps` iterations, in closed form."""
    progress = min(step, total_steps) / max(1, total_steps)
    if name == "poly":
        return (1.0 - progress) ** 0.9
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if name == "step":
        return 0.1 ** int(3 * progress) if progress < 1 else 0.01
    if name == "none":
        return 1.0
    raise SegnetError(f"unknown schedule {name!r}: choose one of {', '.join(SCHEDULES)}")


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A schedule stepped once per iteration: poly (power 0.9, as DeepLab), cosine to 0, step (x0.1 at 1/3
    and 2/3 of training) or none (constant, the SegNet paper's fixed rate). Closed form, so a resumed run
    with more epochs stretches the schedule instead of replaying a stale one."""
    lr_factor(name, 0, total_steps)  # validate the name now, not at the first step

    def factor(step: int) -> float:
        return lr_factor(name, step, total_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
