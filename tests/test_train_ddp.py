"""DistributedDataParallel training on CPU: two processes on the gloo backend, set up from the same
environment variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from segnet.data import open_dataset
from segnet.data.synthetic import generate_dataset
from segnet.evaluate import evaluate_model
from segnet.train.checkpoint import load_model
from segnet.train.config import TrainConfig
from segnet.train.trainer import train

WORLD = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, port: int, data: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    config = TrainConfig(data=data, out=out, imgsz=(32, 48), width=0.125, batch=2, epochs=1, optimizer="adamw",
                         lr=0.01, workers=0, device="cpu")
    result = train(config)
    Path(out, f"rank{rank}.json").write_text(json.dumps({"seen": result.seen_indices, "history": result.history}))


def test_two_process_gloo_training_shards_data_and_reduces_metrics(tmp_path):
    data, out = tmp_path / "synth", tmp_path / "run"
    generate_dataset(data, 12, 5, 0, size=(32, 48), seed=3)
    mp.spawn(_rank_main, args=(_free_port(), str(data), str(out)), nprocs=WORLD, join=True)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD)]
    shards = [set(rank["seen"][0]) for rank in ranks]
    assert shards[0].isdisjoint(shards[1]) and shards[0] | shards[1] == set(range(12))
    same = [json.dumps({k: v for k, v in rank["history"][0].items() if k != "epoch_time_s"}) for rank in ranks]
    assert same[0] == same[1], "losses and metrics must be reduced across ranks"
    model, spec = load_model(out / "last.pt")
    assert torch.load(out / "last.pt", weights_only=True)["spec"]["provenance"]["recipe"]["world_size"] == WORLD
    # each rank scored half of the 5 val images; the summed counts equal one pass over all of them
    full = evaluate_model(model, open_dataset(data, "val"), spec)
    assert full["miou"] == pytest.approx(ranks[0]["history"][-1]["miou"], abs=1e-12)
    assert full["pixels"] == ranks[0]["history"][-1]["pixels"] == 5 * 32 * 48
