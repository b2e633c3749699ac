"""The training loop: data, model, loss, optimiser, per-epoch validation, checkpoints, logs, resume, DDP.

`train(config)` runs a whole training; `resume=` continues a checkpoint exactly (same weights, optimiser and
scheduler state, RNG states, data order), so interrupted + resumed equals uninterrupted bit for bit on CPU.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segnet import __version__
from segnet.errors import DataError, SegnetError
from segnet.evaluate import (
    confusion_matrix,
    model_predictor,
    resize_image,
    resize_labels,
    summary,
)
from segnet.lazy import require
from segnet.metrics import ConfusionMatrix, format_table
from segnet.spec import ModelSpec
from segnet.train import distributed, reports
from segnet.train.checkpoint import save_checkpoint
from segnet.train.class_weights import median_frequency_weights, parse_class_weights
from segnet.train.config import TrainConfig
from segnet.train.distributed import DistContext
from segnet.train.ema import WeightEma
from segnet.train.loader import TorchSegDataset, set_epoch, train_loader
from segnet.train.losses import build_loss
from segnet.train.optim import build_optimizer, build_scheduler
from segnet.train.rng import capture_rng_state, restore_rng_state, seed_everything

GRID_SAMPLES = 4


@dataclass
class TrainResult:
    """What a finished run produced: checkpoint paths, per-epoch history, and what this rank trained on."""

    out: Path
    last: Path
    best: Path
    history: list[dict[str, Any]]
    best_epoch: int
    seen_indices: list[list[int]] = field(default_factory=list)  # per epoch, this rank's training samples


def train(config: TrainConfig, resume: dict[str, Any] | None = None) -> TrainResult:
    """Train (or continue the checkpoint dict `resume`) with `config`; DDP when launched by torchrun."""
    ctx = distributed.setup(config.device)
    try:
        return Trainer(config, ctx).run(resume)
    finally:
        distributed.teardown(ctx)


class Trainer:
    """One training run on one process (one rank of a DDP run)."""

    def __init__(self, config: TrainConfig, ctx: DistContext) -> None:
        self.config = config
        self.ctx = ctx
        self.out = Path(config.out)

    def log(self, message: str) -> None:
        """Print on rank 0 only."""
        if self.ctx.is_main:
            print(message, flush=True)

    # ---- setup ------------------------------------------------------------------------------------------
    def open_data(self) -> tuple[Any, Any, str]:
        """Train and val splits (generating the synthetic dataset first when asked) and the data root used."""
        from segnet.data import open_dataset

        cfg = self.config
        root, fmt = Path(cfg.data).expanduser(), cfg.format
        if cfg.data == "synthetic" or fmt == "synthetic":
            root = self.out / "synthetic" if cfg.data == "synthetic" else root
            fmt = "folder"
            if not (root / "train").is_dir():
                if self.ctx.is_main:
                    self.generate_synthetic(root)
                distributed.barrier(self.ctx)
        masks = cfg.masks()
        train_set, val_set = open_dataset(root, "train", fmt, masks), open_dataset(root, "val", fmt, masks)
        for name, dataset in (("train", train_set), ("val", val_set)):
            if len(dataset) == 0:
                raise DataError(f"{root}: the {name} split is empty; training needs images in train and val")
            if cfg.in_channels is not None:
                dataset.in_channels = cfg.in_channels
            if cfg.ignore_index is not None:
                dataset.set_ignore_index(cfg.ignore_index)
        if train_set.num_classes != val_set.num_classes:
            raise DataError(f"{root}: train has {train_set.num_classes} classes but val {val_set.num_classes}")
        train_set, val_set = self.honest_split(train_set, val_set)
        return train_set, val_set, str(root)

    def honest_split(self, train_set: Any, val_set: Any) -> tuple[Any, Any]:
        """With --val-groups: validate on those whole groups of train+val, train on the rest. Without:
        warn when val images share groups with, or nearly duplicate, training images."""
        from segnet.data import groups

        cfg = self.config
        if cfg.val_groups:
            train_set, val_set = groups.hold_out(groups.concat(train_set, val_set), cfg.groups(), cfg.group_by)
            self.log(f"val: groups {cfg.val_groups} held out ({len(val_set)} images; {len(train_set)} train "
                     f"images from the other groups of train+val)")
        elif self.ctx.is_main:
            for warning in groups.leakage_warnings(train_set, val_set, cfg.group_by):
                self.log(f"warning: {warning}")
        return train_set, val_set

    def generate_synthetic(self, root: Path) -> None:
        from segnet.data import synthetic

        count = self.config.synthetic_count
        n_val = max(8, count // 4)
        self.log(f"generating synthetic road scenes in {root}: {count} train, {n_val} val, {n_val} test")
        synthetic.generate_dataset(root, count, n_val, n_val, size=self.config.imgsz, seed=self.config.seed)

    def make_spec(self, train_set: Any, data_root: str) -> ModelSpec:
        cfg = self.config
        arch_args: dict[str, Any] = {"width": cfg.width, "input_bn": cfg.input_bn}
        return ModelSpec(arch=cfg.model, num_classes=train_set.num_classes, in_channels=train_set.in_channels,
                         arch_args=arch_args, class_names=list(train_set.class_names),
                         palette=[tuple(c) for c in train_set.palette], input_size=cfg.imgsz,
                         ignore_index=train_set.ignore_index,
                         provenance={"dataset": data_root, "dataset_format": getattr(train_set, "name", cfg.format),
                                     "train_images": len(train_set), "toolkit_version": __version__})

    def make_model(self, spec: ModelSpec) -> torch.nn.Module:
        from segnet.models import create_model, input_multiple

        cfg = self.config
        multiple = input_multiple(spec.arch)
        if min(spec.input_size) < multiple:
            raise SegnetError(f"--imgsz {spec.input_size[0]} {spec.input_size[1]} is too small for {spec.arch}: "
                              f"height and width must be at least {multiple} (ideally multiples of it)")
        model = create_model(spec.arch, spec.num_classes, in_channels=spec.in_channels, width=cfg.width,
                             input_bn=cfg.input_bn, vgg16_weights=cfg.vgg16_weights)
        return model.to(self.ctx.device)

    def class_weights(self, train_set: Any, spec: ModelSpec) -> list[float] | None:
        text = self.config.class_weights
        if text.strip().lower() != "median":
            return parse_class_weights(text, spec.num_labels)
        load_mask = getattr(train_set, "load_mask", None)
        masks = (load_mask(i) if load_mask else train_set[i][1] for i in range(len(train_set)))
        weights = median_frequency_weights(masks, spec.num_labels, spec.ignore_index)
        self.log("median-frequency class weights: " + ", ".join(
            f"{name} {w:.3f}" for name, w in zip(spec.class_names, weights)))
        return weights

    # ---- the run ----------------------------------------------------------------------------------------
    def run(self, resume: dict[str, Any] | None) -> TrainResult:
        cfg, ctx = self.config, self.ctx
        seed_everything(cfg.seed)
        train_set, val_set, data_root = self.open_data()
        spec = self.make_spec(train_set, data_root)
        weights = resume["metrics"].get("class_weights") if resume else self.class_weights(train_set, spec)
        model = self.make_model(spec)
        if resume:  # with --ema, "model" holds the average and "train_model" the weights training continues
            model.load_state_dict(resume.get("train_model") or resume["model"])
        ema = WeightEma(model, cfg.ema) if cfg.ema else None
        if ema and resume:
            ema.load(resume["model"], int(resume.get("ema_updates", 0)))
        if ctx.distributed:
            device_ids = [ctx.device] if ctx.device.startswith("cuda") else None
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        transform = self.train_transform(spec)
        loader = train_loader(TorchSegDataset(train_set, spec, transform, cfg.seed), cfg.batch, cfg.workers,
                              cfg.seed, ctx.rank, ctx.world_size)
        if len(loader) == 0:
            raise DataError(f"{data_root}: {len(train_set)} training images give no batch of {cfg.batch}")
        loss_fn = build_loss(spec.num_classes, weights, self.ignore_label(spec), cfg.label_smoothing)
        optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
        scheduler = build_scheduler(cfg.schedule, optimizer, cfg.epochs * len(loader))
        use_amp = cfg.amp and ctx.device.startswith("cuda")
        if cfg.amp and not use_amp:
            self.log("note: --amp needs a CUDA device; training in float32 on the CPU")
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        history: list[dict[str, Any]] = []
        start_epoch, best_epoch, best_miou = 0, 0, -1.0
        if resume:
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
            if resume.get("scaler") and use_amp:
                scaler.load_state_dict(resume["scaler"])
            history = list(resume["metrics"].get("history", []))
            start_epoch = int(resume["epoch"])
            best_epoch = int(resume["metrics"].get("best_epoch", 0))
            best_miou = float(resume["metrics"].get("best_miou", -1.0))
            restore_rng_state(resume["rng"])
            self.log(f"resuming after epoch {start_epoch} of {cfg.epochs}")
        self.describe(spec, model, train_set, val_set, len(loader))
        seen: list[list[int]] = []
        last, best = self.out / "last.pt", self.out / "best.pt"
        epoch = saved = start_epoch
        try:
            for epoch in range(start_epoch, cfg.epochs):
                started = time.perf_counter()
                set_epoch(loader, epoch)
                seen.append(loader.sampler.indices())
                train_loss = self.train_epoch(model, loader, loss_fn, optimizer, scheduler, scaler, use_amp, epoch,
                                              ema=ema)
                scored = ema.module if ema else model  # what is validated and saved as the checkpoint's model
                metrics = self.validate(scored, val_set, spec)
                row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"],
                       **metrics, "epoch_time_s": round(time.perf_counter() - started, 2)}
                history.append(row)
                improved = metrics["miou"] > best_miou
                if improved:
                    best_epoch, best_miou = epoch + 1, float(metrics["miou"])
                self.log(f"epoch {epoch + 1}/{cfg.epochs}  loss {train_loss:.4f}  {summary(metrics)}"
                         f"{'  (best)' if improved else ''}")
                self.log(format_table(metrics, spec.class_names))
                if ctx.is_main:
                    state = {"history": history, "best_epoch": best_epoch, "best_miou": best_miou,
                             "class_weights": weights, "val": metrics, "train_loss": train_loss}
                    spec.provenance.update(self.provenance(epoch + 1, metrics, weights))
                    save_checkpoint(last, spec=spec, model=scored, epoch=epoch + 1, optimizer=optimizer,
                                    scheduler=scheduler, scaler=scaler, rng=capture_rng_state(), metrics=state,
                                    config=cfg.to_dict(), train_model=model if ema else None,
                                    ema_updates=ema.updates if ema else None)
                    saved = epoch + 1
                    if improved:
                        save_checkpoint(best, spec=spec, model=scored, epoch=epoch + 1, metrics=state,
                                        config=cfg.to_dict())
                    reports.write_history(self.out, history, spec.class_names)
                distributed.barrier(ctx)
        except KeyboardInterrupt:
            if ctx.is_main:
                where = (f"{last} holds epoch {saved} and is intact; continue with:\n"
                         f"  segnet train --resume {last}") if saved else "no epoch finished, nothing saved"
                print(f"\ninterrupted during epoch {epoch + 1}: {where}", file=sys.stderr, flush=True)
            raise
        if ctx.is_main:
            self.write_plots(history, val_set, best, best_epoch)
        self.log(f"done: best mIoU {100 * best_miou:.2f} at epoch {best_epoch}; checkpoints {best} and {last}")
        return TrainResult(self.out, last, best, history, best_epoch, seen)

    @staticmethod
    def ignore_label(spec: ModelSpec) -> int:
        """The label the loss skips: the dataset's ignore index, else 255 (what crop padding is filled with)."""
        return 255 if spec.ignore_index is None else spec.ignore_index

    def train_transform(self, spec: ModelSpec) -> Any:
        from segnet.data.transforms import EvalTransform, TrainTransform

        if self.config.augment:
            return TrainTransform(spec.input_size, scale=self.config.aug_scale, jitter=self.config.aug_jitter,
                                  blur=self.config.aug_blur, ignore_index=self.ignore_label(spec))
        return NoAugment(EvalTransform(spec.input_size))

    def describe(self, spec: ModelSpec, model: torch.nn.Module, train_set: Any, val_set: Any, steps: int) -> None:
        cfg = self.config
        params = sum(p.numel() for p in model.parameters())
        ranks = f" x {self.ctx.world_size} processes" if self.ctx.distributed else ""
        self.log(f"{cfg.model} width {cfg.width}: {params / 1e6:.3f}M parameters, {spec.num_labels} labels, "
                 f"input {spec.input_size[0]}x{spec.input_size[1]}x{spec.in_channels}, device {self.ctx.device}"
                 f"{ranks}")
        self.log(f"data: {len(train_set)} train / {len(val_set)} val images, {steps} steps of batch {cfg.batch} "
                 f"per epoch; {cfg.optimizer} lr {cfg.lr} ({cfg.schedule}); output {self.out}")

    def provenance(self, epochs: int, metrics: dict[str, Any], weights: list[float] | None) -> dict[str, Any]:
        cfg = self.config
        return {"epochs": epochs, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "val_metrics": {k: metrics[k] for k in ("global_acc", "class_avg_acc", "miou", "per_class_iou")},
                "recipe": {"optimizer": cfg.optimizer, "lr": cfg.lr, "schedule": cfg.schedule, "batch": cfg.batch,
                           "epochs_planned": cfg.epochs, "class_weights": weights, "seed": cfg.seed,
                           "augment": cfg.augment, "ema": cfg.ema, "world_size": self.ctx.world_size}}

    # ---- one epoch --------------------------------------------------------------------------------------
    def train_epoch(self, model: torch.nn.Module, loader: Any, loss_fn: Any, optimizer: Any, scheduler: Any,
                    scaler: Any, use_amp: bool, epoch: int, ema: WeightEma | None = None) -> float:
        """One pass over this rank's shard (folding each step into `ema`); the mean loss over all ranks' samples."""
        tqdm = require("tqdm", "training progress bar").tqdm
        model.train()
        device = self.ctx.device
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="batch", leave=False,
                   disable=not self.ctx.is_main, mininterval=1.0 if sys.stderr.isatty() else 30.0,
                   dynamic_ncols=True)
        for images, masks in bar:
            images = images.to(device, non_blocking=True)
            masks = masks.to(device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                logits = model(images)
            loss = loss_fn(logits, masks)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if ema:
                ema.update(model)
            total += float(loss.detach()) * len(images)
            count += len(images)
            bar.set_postfix(loss=f"{total / count:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}", refresh=False)
        summed = distributed.all_reduce_sum(self.ctx, np.array([total, count], dtype=np.float64))
        return float(summed[0] / summed[1])

    def validate(self, model: torch.nn.Module, val_set: Any, spec: ModelSpec) -> dict[str, Any]:
        """Metrics on the whole val split: each rank scores every world_size-th image, counts are summed."""
        net = getattr(model, "module", model)
        net.eval()
        distributed.sync_buffers(self.ctx, net)
        shard = range(self.ctx.rank, len(val_set), self.ctx.world_size)
        matrix = ConfusionMatrix(spec.num_labels, spec.ignore_index)
        if len(shard):
            predict = model_predictor(net, spec, self.ctx.device)
            matrix = confusion_matrix(predict, val_set, spec, spec.input_size, self.config.batch, indices=shard)
        matrix.matrix = distributed.all_reduce_sum(self.ctx, matrix.matrix)
        return matrix.compute()

    def write_plots(self, history: list[dict[str, Any]], val_set: Any, best: Path, best_epoch: int) -> None:
        """curves.png (loss, validation metrics per epoch) and predictions.png (best.pt on a few val images)."""
        from segnet.train.checkpoint import load_model

        reports.plot_curves(self.out / "curves.png", history)
        model, spec = load_model(best)
        picks = np.linspace(0, len(val_set) - 1, min(GRID_SAMPLES, len(val_set))).round().astype(int)
        samples = [val_set[int(i)] for i in picks]
        predict = model_predictor(model.to(self.ctx.device), spec, self.ctx.device)
        predicted = predict(np.stack([resize_image(image, spec.input_size) for image, _ in samples]))
        reports.prediction_grid(self.out / "predictions.png", [image for image, _ in samples],
                                [mask for _, mask in samples],
                                [resize_labels(p, mask.shape) for p, (_, mask) in zip(predicted, samples)],
                                spec.palette, title=f"best.pt (epoch {best_epoch}) on val images")


class NoAugment:
    """The training transform of `--no-augment`: resize only (a class, so spawned workers can pickle it)."""

    def __init__(self, resize: Any) -> None:
        self.resize = resize

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return self.resize(image, mask)


def resume_source(value: str, out: str) -> Path:
    """`auto` -> OUT/last.pt; otherwise the given path (which must exist)."""
    path = Path(out) / "last.pt" if value == "auto" else Path(value)
    if not path.is_file():
        raise SegnetError(f"--resume {value}: {path} does not exist"
                          + ("; nothing to resume in this --out folder" if value == "auto" else ""))
    return path
