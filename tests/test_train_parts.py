"""Training building blocks: class weights, losses, schedules, config, RNG state, checkpoints, weight EMA."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segnet.errors import SegnetError
from segnet.spec import ModelSpec
from segnet.train.checkpoint import load_checkpoint, load_model, save_checkpoint
from segnet.train.class_weights import median_frequency_weights, parse_class_weights
from segnet.train.config import TrainConfig
from segnet.train.ema import WeightEma
from segnet.train.losses import build_loss
from segnet.train.optim import build_optimizer, build_scheduler, lr_factor
from segnet.train.rng import capture_rng_state, restore_rng_state


def test_median_frequency_weights_hand_example():
    # mask a: class 0 x3, class 1 x1 (4 labelled px); mask b: class 0, class 2 x2, one ignored pixel (3 labelled)
    a = np.array([[0, 0], [0, 1]])
    b = np.array([[0, 2], [2, 255]])
    # freq0 = 4 / (4 + 3) = 4/7, freq1 = 1/4, freq2 = 2/3; median = 4/7
    weights = median_frequency_weights([a, b], 3, ignore_index=255)
    assert weights == pytest.approx([1.0, 16 / 7, 6 / 7])


def test_median_frequency_absent_class_gets_zero_and_empty_masks_fail():
    weights = median_frequency_weights([np.array([[0, 1], [1, 1]])], 3)
    assert weights[2] == 0.0 and weights[0] > weights[1] > 0
    with pytest.raises(SegnetError, match="no labelled pixel"):
        median_frequency_weights([np.full((2, 2), 255)], 3, ignore_index=255)


def test_parse_class_weights():
    assert parse_class_weights("none", 3) is None
    assert parse_class_weights("1,2.5,0", 3) == [1.0, 2.5, 0.0]
    with pytest.raises(SegnetError, match="2 values but the dataset has 3"):
        parse_class_weights("1,2", 3)
    with pytest.raises(SegnetError, match="comma-separated"):
        parse_class_weights("1,x,3", 3)


def test_cross_entropy_uses_weights_and_ignore_index():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    target = torch.randint(0, 3, (2, 4, 5))
    target[0, 0, :3] = 255
    loss = build_loss(3, [1.0, 2.0, 0.5], ignore_index=255)(logits, target)
    keep = target != 255
    log_p = F.log_softmax(logits, 1).permute(0, 2, 3, 1)[keep]
    labels = target[keep]
    w = torch.tensor([1.0, 2.0, 0.5])[labels]
    expected = -(w * log_p[torch.arange(len(labels)), labels]).sum() / w.sum()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_binary_loss_is_weighted_bce_over_labelled_pixels():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]])
    target = torch.tensor([[[1, 0], [255, 0]]])
    loss = build_loss(1, [1.0, 3.0], ignore_index=255)(logits, target)
    bce = [math.log1p(math.exp(-2.0)), math.log1p(math.exp(-1.0)), math.log1p(math.exp(3.0))]  # y=1, y=0, y=0
    expected = (3.0 * bce[0] + bce[1] + bce[2]) / (3.0 + 1.0 + 1.0)
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_schedules_closed_form():
    assert lr_factor("poly", 0, 100) == 1.0 and lr_factor("poly", 100, 100) == 0.0
    assert lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert [lr_factor("step", s, 90) for s in (0, 29, 30, 60)] == pytest.approx([1, 1, 0.1, 0.01])
    assert lr_factor("none", 77, 100) == 1.0
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer("sgd", model.parameters(), 0.1, 0.9, 0.0)
    scheduler = build_scheduler("poly", optimizer, 10)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**0.9)
    with pytest.raises(SegnetError, match="unknown schedule"):
        build_scheduler("linear", optimizer, 10)


def test_config_resume_overrides():
    config = TrainConfig(data="d", epochs=2)
    longer, notes = config.with_overrides({"epochs": 5, "lr": config.lr})
    assert longer.epochs == 5 and notes == ["epochs: 2 -> 5"]
    with pytest.raises(SegnetError, match="--lr .* only epochs"):
        config.with_overrides({"lr": 1.0})
    with pytest.raises(SegnetError, match="--batch must be at least 1"):
        TrainConfig(data="d", batch=0)


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    torch.save(capture_rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1))
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def _tiny_checkpoint(path):
    from segnet.models import create_model

    spec = ModelSpec(arch="segnet_lite", num_classes=3, arch_args={"width": 0.125, "input_bn": False},
                     class_names=["a", "b", "c"], input_size=(32, 48), ignore_index=255,
                     provenance={"dataset": "unit test"})
    torch.manual_seed(0)
    model = create_model("segnet_lite", 3, width=0.125)
    optimizer = build_optimizer("sgd", model.parameters(), 0.1, 0.9, 0.0)
    save_checkpoint(path, spec=spec, model=model, epoch=4, optimizer=optimizer,
                    scheduler=build_scheduler("poly", optimizer, 10), rng=capture_rng_state(),
                    metrics={"best_miou": 0.5}, config={"data": "x"})
    return model, spec


def test_checkpoint_is_weights_only_and_carries_the_spec(tmp_path):
    model, spec = _tiny_checkpoint(tmp_path / "ckpt.pt")
    raw = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert set(raw) >= {"spec", "model", "optimizer", "scheduler", "epoch", "rng", "metrics", "format_version"}
    assert ModelSpec.from_dict(raw["spec"]) == spec and raw["epoch"] == 4
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"
    loaded, loaded_spec = load_model(tmp_path / "ckpt.pt", pool_mode="switch")
    assert loaded_spec == spec and not loaded.training
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


@pytest.mark.parametrize("content", [b"\x00\x13garbage" * 50, b"just some text\n", None])
def test_bad_checkpoints_raise_segnet_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, path)  # a torch file, but no spec
    else:
        path.write_bytes(content)
    with pytest.raises(SegnetError, match=r"bad\.pt: not a segnet checkpoint"):
        load_checkpoint(path)
    with pytest.raises(SegnetError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt")


def test_label_smoothing_spreads_the_target_and_leaves_ignored_pixels_out():
    logits = torch.tensor([[[[4.0]], [[0.0]], [[0.0]]]])  # 1 x 3 x 1 x 1, class 0 confident
    target = torch.tensor([[[0]]])
    plain, smooth = build_loss(3)(logits, target), build_loss(3, label_smoothing=0.3)(logits, target)
    expected = F.cross_entropy(logits, target, label_smoothing=0.3)
    assert smooth > plain and torch.isclose(smooth, expected)


def test_augmentation_strength_and_smoothing_are_checked_and_travel_in_the_config():
    config = TrainConfig(data="d", aug_scale=(0.5, 1.5), aug_jitter=0.4, aug_blur=0.3, label_smoothing=0.1)
    data = config.to_dict()
    assert data["aug_scale"] == [0.5, 1.5] and TrainConfig.from_dict(data) == config
    for bad, match in (({"aug_scale": (1.5, 0.5)}, "--aug-scale"), ({"aug_jitter": 1.0}, "--aug-jitter"),
                       ({"aug_blur": 1.5}, "--aug-blur"),
                       ({"label_smoothing": -0.1}, "--label-smoothing")):
        with pytest.raises(SegnetError, match=match):
            TrainConfig(data="d", **bad)


def test_average_follows_the_ramped_decay_and_copies_batch_counts():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = WeightEma(model, decay=0.5)
    expected = {k: v.clone().float() for k, v in model.state_dict().items()}
    for step in range(4):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        model.train()(torch.randn(5, 3))  # moves BatchNorm's running statistics and its batch count
        ema.update(model)
        decay = 0.0 if step == 0 else min(0.5, (1 + step) / (10 + step))  # the first update copies
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                expected[key] = decay * expected[key] + (1 - decay) * value
        assert ema.updates == step + 1
    averaged = ema.module.state_dict()
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(averaged[key], expected[key], atol=1e-6), key
        else:
            assert torch.equal(averaged[key], value), key  # num_batches_tracked is a count, not averaged
    # (1+n)/(10+n) keeps the early decays below 0.5, so the average is 0.4 behind the last weights, not 0.5+
    assert torch.allclose(model[0].weight - averaged["0.weight"], torch.full((2, 3), 0.3986), atol=1e-4)


def test_load_restores_the_average_and_its_ramp_position():
    model = torch.nn.Linear(2, 2)
    ema = WeightEma(model, decay=0.99)
    for _ in range(3):
        ema.update(model)
    copy = WeightEma(torch.nn.Linear(2, 2), decay=0.99)
    copy.load(ema.module.state_dict(), ema.updates)
    assert copy.updates == 3 and torch.equal(copy.module.weight, ema.module.weight)


def test_decay_outside_zero_one_is_refused_in_the_config():
    with pytest.raises(SegnetError, match="--ema"):
        TrainConfig(data="d", ema=1.0)
