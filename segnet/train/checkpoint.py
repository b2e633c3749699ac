"""Training checkpoints: weights + model spec + optimiser/scheduler/RNG state, loadable weights-only.

Layout (`format_version` 1): {"spec": ModelSpec.to_dict(), "model": state_dict, "optimizer", "scheduler",
"scaler", "epoch" (epochs completed), "rng", "metrics", "config" (training options), "format_version"}; a run
with --ema adds "train_model" (the raw weights it resumes from; "model" is their average) and "ema_updates".
Only tensors, plain containers, numbers and strings inside, so `torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from segnet import atomic
from segnet.errors import SegnetError
from segnet.spec import ModelSpec

FORMAT_VERSION = 1


def state_dict_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights, unwrapped from DistributedDataParallel if needed."""
    return getattr(model, "module", model).state_dict()


def save_checkpoint(path: str | Path, *, spec: ModelSpec, model: torch.nn.Module, epoch: int,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None, scaler: Any = None,
                    rng: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                    config: dict[str, Any] | None = None, train_model: torch.nn.Module | None = None,
                    ema_updates: int | None = None) -> Path:
    """Write a checkpoint atomically: the file at `path` is the old one or the new one, never half of one.
    With `train_model` (training with --ema), `model` is the weight average and `train_model` what resumes."""
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "spec": spec.to_dict(),
        "model": state_dict_of(model),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "epoch": int(epoch),
        "rng": rng,
        "metrics": metrics or {},
        "config": config or {},
    }
    if train_model is not None:
        checkpoint["train_model"] = state_dict_of(train_model)
        checkpoint["ema_updates"] = int(ema_updates or 0)
    with atomic.atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (weights-only, on CPU); anything else raises SegnetError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SegnetError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - arbitrary bytes fail in arbitrary ways inside the unpickler
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SegnetError(f"{path}: not a segnet checkpoint (torch cannot read it: {reason[:160]})") from None
    if not isinstance(checkpoint, dict) or "spec" not in checkpoint or "model" not in checkpoint:
        raise SegnetError(f"{path}: not a segnet checkpoint (no model spec inside); "
                          "train one with `segnet train` or pass a file it wrote")
    version = checkpoint.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise SegnetError(f"{path}: checkpoint format {version} is newer than this toolkit understands "
                          f"({FORMAT_VERSION}); upgrade segnet")
    return checkpoint


def load_model(path: str | Path, pool_mode: str = "indices") -> tuple[torch.nn.Module, ModelSpec]:
    """The model of a checkpoint in eval mode with its pooling in `pool_mode`, and its spec."""
    from segnet import models

    checkpoint = load_checkpoint(path)
    spec = ModelSpec.from_dict(checkpoint["spec"])
    model = models.model_from_spec(spec)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise SegnetError(f"{path}: weights do not fit the {spec.arch} described in its spec ({first})") from None
    models.set_pool_mode(model, pool_mode)
    return model.eval(), spec
