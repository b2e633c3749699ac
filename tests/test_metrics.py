import math

import numpy as np
import pytest

from segnet.metrics import ConfusionMatrix, format_table


def test_hand_computed_example():
    target = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(pred, target)
    m = cm.compute()
    assert m["pixels"] == 5
    assert m["global_acc"] == pytest.approx(4 / 5)
    assert m["per_class_acc"] == pytest.approx([0.5, 1.0, 1.0])
    assert m["per_class_iou"] == pytest.approx([1 / 2, 2 / 3, 1.0])
    assert m["miou"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m["class_avg_acc"] == pytest.approx(2.5 / 3)


def test_absent_class_is_left_out_of_means():
    cm = ConfusionMatrix(3)
    cm.update(np.zeros(4), np.zeros(4))
    m = cm.compute()
    assert m["miou"] == 1.0 and math.isnan(m["per_class_iou"][2])


def test_merge_equals_single_update_and_table_lists_classes():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, (2, 50)), rng.integers(0, 4, (2, 50))
    whole = ConfusionMatrix(4)
    whole.update(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
    part1, part2 = ConfusionMatrix(4), ConfusionMatrix(4)
    part1.update(a[0], a[1])
    part2.update(b[0], b[1])
    part1.merge(part2)
    assert (part1.matrix == whole.matrix).all()
    assert "zebra" in format_table(whole.compute(), ["w", "x", "y", "zebra"])


def test_json_safe_turns_nan_and_inf_into_null_at_any_depth():
    import json

    from segnet.metrics import json_safe

    doc = {"miou": float("nan"), "per_class": [1.0, float("inf"), np.float64("nan")], "n": 3}
    assert json.loads(json.dumps(json_safe(doc), allow_nan=False)) == {"miou": None, "per_class": [1.0, None, None], "n": 3}
