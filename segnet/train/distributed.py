"""Single-process or DistributedDataParallel training, chosen by the environment `torchrun` sets.

`torchrun --nproc_per_node N -m segnet train ...` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR;
then every process trains on its shard, gradients are averaged by DDP, validation confusion matrices and
losses are summed across ranks, and only rank 0 prints and writes files. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from segnet.errors import MissingDependencyError, SegnetError


@dataclass
class DistContext:
    """Where this process sits: its rank among `world_size` processes and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(requested: str, local_rank: int = 0) -> str:
    """`auto` -> cuda when available else cpu; `cuda` -> this process's GPU; errors for missing CUDA."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MissingDependencyError(f"--device {requested}: this torch build sees no CUDA GPU; "
                                         "use --device cpu or install a CUDA build of torch")
        return f"cuda:{local_rank}" if requested == "cuda" else requested
    if requested != "cpu":
        raise SegnetError(f"--device {requested!r}: expected auto, cpu, cuda or cuda:N")
    return "cpu"


def setup(requested_device: str) -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else train in this process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=resolve_device(requested_device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(requested_device, local_rank)
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (if this run joined one)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (e.g. while rank 0 writes files the others then read)."""
    if ctx.distributed:
        dist.barrier()


def all_reduce_sum(ctx: DistContext, values: np.ndarray) -> np.ndarray:
    """Sum an array over all ranks (float64 or int64; exact for counts)."""
    if not ctx.distributed:
        return values
    tensor = torch.from_numpy(np.ascontiguousarray(values))
    if ctx.device.startswith("cuda"):
        tensor = tensor.to(ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().numpy()


def sync_buffers(ctx: DistContext, module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, so all ranks validate the model
    rank 0 saves (DDP only broadcasts them at the start of each training forward)."""
    if ctx.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
