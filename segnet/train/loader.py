"""DataLoader over segnet.data datasets: numpy samples -> normalised tensors, deterministic in every respect.

Each sample's augmentation draws from its own generator seeded by (seed, epoch, index), and the shuffle
order comes from (seed, epoch) through a DistributedSampler (one replica when not distributed). So the
batches of an epoch do not depend on worker count, process restarts or earlier epochs: a resumed run
sees exactly the data an uninterrupted one would. The sampler hands workers (epoch, index) keys, so workers
can be persistent and started with "spawn": forking a process that already runs OpenMP/OpenCV thread pools
can deadlock a worker (seen here in a long CPU run).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from segnet.evaluate import normalize
from segnet.spec import ModelSpec
from segnet.train.rng import sample_seed


class TorchSegDataset(Dataset):
    """Adapter: `dataset[(epoch, i)]` -> (float C x H x W normalised image, int64 H x W mask), augmented with
    the draws of that epoch and sample."""

    def __init__(self, dataset: Any, spec: ModelSpec, transform: Any, seed: int) -> None:
        self.dataset = dataset
        self.spec = spec
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        image, mask = self.dataset[index]
        rng = np.random.default_rng(sample_seed(self.seed, epoch, index))
        image, mask = self.transform(image, mask, rng=rng)
        tensor = torch.from_numpy(normalize(image[None], self.spec)[0])
        return tensor, torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64))


class EpochSampler(Sampler):
    """A DistributedSampler (this rank's shuffled shard) whose indices come tagged with the epoch."""

    def __init__(self, dataset: TorchSegDataset, seed: int, rank: int, world_size: int) -> None:
        self.shard = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.shard.set_epoch(epoch)

    def indices(self) -> list[int]:
        """This rank's sample indices for the current epoch, in order."""
        return [int(i) for i in self.shard]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.indices()])

    def __len__(self) -> int:
        return len(self.shard)


def _init_worker(worker_id: int) -> None:
    """Seed a worker's global generators from its torch seed and keep OpenCV single-threaded in it."""
    import random

    import cv2

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    cv2.setNumThreads(1)


def train_loader(dataset: TorchSegDataset, batch_size: int, workers: int, seed: int, rank: int = 0,
                 world_size: int = 1) -> DataLoader:
    """Shuffled batches of this rank's shard; call `set_epoch(loader, epoch)` before each epoch."""
    sampler = EpochSampler(dataset, seed, rank, world_size)
    extra: dict[str, Any] = {}
    if workers > 0:
        extra = {"multiprocessing_context": "spawn", "persistent_workers": True, "worker_init_fn": _init_worker}
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      drop_last=len(sampler) >= batch_size, generator=torch.Generator().manual_seed(seed),
                      pin_memory=torch.cuda.is_available(), **extra)


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Select epoch `epoch`'s shuffle order and augmentation draws."""
    loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
