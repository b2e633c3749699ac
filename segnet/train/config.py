"""Training options as plain data (no torch, so `segnet --help` works without it): built from the command line, stored in every checkpoint, restored on resume.

The SegNet paper / SegNet-Tutorial solvers use SGD, momentum 0.9, weight decay 5e-4 and a fixed learning rate
(0.1 for SegNet-Basic from scratch, 0.001 for the VGG16-initialised SegNet), median-frequency class weights
and horizontal flips (`--optimizer sgd --lr 0.1 --schedule none` reproduces that). The default here is
AdamW at 0.003 with a poly decay, which converged fastest in the short CPU runs we measured; SGD defaults
to 0.01 with the same decay.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from segnet.data.groups import GROUP_RULES, parse_names
from segnet.data.mask_options import MaskOptions
from segnet.errors import SegnetError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("poly", "cosine", "step", "none")
DEFAULT_LR = {"adamw": 0.003, "sgd": 0.01}
# Options a resumed run may change without breaking the schedule it continues.
RESUMABLE_OVERRIDES = ("epochs", "workers", "device", "out", "mask_cache")


@dataclass
class TrainConfig:
    """Everything `segnet train` needs; `to_dict()` goes into the checkpoint under "config"."""

    data: str
    out: str = "runs/train"
    format: str = "auto"
    model: str = "segnet_lite"
    width: float = 1.0
    input_bn: bool = False
    imgsz: tuple[int, int] = (360, 480)
    epochs: int = 30
    batch: int = 8
    optimizer: str = "adamw"
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "poly"
    class_weights: str = "median"
    ignore_index: int | None = None  # None: the dataset's own
    in_channels: int | None = None  # None: the dataset's own
    augment: bool = True
    aug_scale: tuple[float, float] = (0.75, 1.25)  # random scale range (relative to covering the crop)
    aug_jitter: float = 0.2  # brightness/contrast/saturation jitter +-
    aug_blur: float = 0.0  # probability of a Gaussian blur
    label_smoothing: float = 0.0
    ema: float = 0.0  # decay of a weight average that is validated and saved (0: off)
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    vgg16_weights: str | None = None
    synthetic_count: int = 200
    val_groups: str | None = None  # comma-separated groups held out of train+val as the val set
    group_by: str = "prefix"  # how a file's group is read: prefix (name up to '_') or folder
    # colour / one-hot mask conversion (segnet.data.mask_options.MaskOptions, docs/masks.md)
    mask_tolerance: int = 0
    mask_overlap: str = "ignore"
    mask_empty: str = "ignore"
    mask_cache: str = "auto"

    def __post_init__(self) -> None:
        self.imgsz = (int(self.imgsz[0]), int(self.imgsz[1]))
        self.aug_scale = (float(self.aug_scale[0]), float(self.aug_scale[1]))
        if self.lr is None:
            self.lr = DEFAULT_LR.get(self.optimizer, 0.01)
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.batch >= 1, f"--batch must be at least 1, got {self.batch}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (0 <= self.momentum < 1, f"--momentum must be in [0, 1), got {self.momentum}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (self.workers >= 0, f"--workers must be >= 0, got {self.workers}"),
            (self.width > 0, f"--width must be positive, got {self.width}"),
            (min(self.imgsz) >= 8, f"--imgsz must be at least 8x8, got {self.imgsz[0]} {self.imgsz[1]}"),
            (self.optimizer in OPTIMIZERS, f"--optimizer {self.optimizer!r}: choose {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"--schedule {self.schedule!r}: choose {', '.join(SCHEDULES)}"),
            (self.in_channels in (None, 1, 3), f"--in-channels must be 1 or 3, got {self.in_channels}"),
            (self.synthetic_count >= 1, f"--synthetic-count must be at least 1, got {self.synthetic_count}"),
            (0 < self.aug_scale[0] <= self.aug_scale[1], f"--aug-scale needs 0 < LOW <= HIGH, got {self.aug_scale}"),
            (0 <= self.aug_jitter < 1, f"--aug-jitter must be in [0, 1), got {self.aug_jitter}"),
            (0 <= self.aug_blur <= 1, f"--aug-blur is a probability in [0, 1], got {self.aug_blur}"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}"),
            (0 <= self.ema < 1, f"--ema is a decay in [0, 1) (0: off), got {self.ema}"),
            (self.group_by in GROUP_RULES, f"--group-by {self.group_by!r}: choose {' or '.join(GROUP_RULES)}"),
            (self.val_groups is None or bool(self.groups()), f"--val-groups needs group names, got {self.val_groups!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SegnetError(message)
        self.masks()  # validates the mask options

    def masks(self) -> MaskOptions:
        """How colour and one-hot masks are converted."""
        return MaskOptions(tolerance=self.mask_tolerance, overlap=self.mask_overlap, empty=self.mask_empty,
                           cache=self.mask_cache)

    def groups(self) -> list[str]:
        """The --val-groups names."""
        return parse_names(self.val_groups)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["imgsz"] = list(self.imgsz)
        data["aug_scale"] = list(self.aug_scale)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_overrides(self, overrides: dict[str, Any]) -> tuple[TrainConfig, list[str]]:
        """A copy with the given options changed, and a note per change (for resumed runs)."""
        data, notes = self.to_dict(), []
        for key, value in overrides.items():
            if key in ("imgsz", "aug_scale"):
                value = [float(v) for v in value] if key == "aug_scale" else list(value)
            if data[key] == value:
                continue
            if key not in RESUMABLE_OVERRIDES:
                raise SegnetError(f"--{key.replace('_', '-')} {value} differs from the resumed run's {data[key]}: "
                                  f"only {', '.join(RESUMABLE_OVERRIDES)} may change when resuming")
            notes.append(f"{key}: {data[key]} -> {value}")
            data[key] = value
        return TrainConfig.from_dict(data), notes
