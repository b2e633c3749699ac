"""Synthetic road scenes: determinism, class coverage, continuous sequences, dataset writing, `segnet synth`."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segnet.cli import main
from segnet.data import open_dataset
from segnet.data.synthetic import (
    CLASS_NAMES,
    PALETTE,
    SceneSequence,
    generate_dataset,
    render_scene,
)
from segnet.errors import DataError

SIZE = (72, 96)


def test_render_scene_is_deterministic_and_well_formed():
    image, mask = render_scene(np.random.default_rng(3), SIZE)
    again_image, again_mask = render_scene(np.random.default_rng(3), SIZE)
    other_image, _ = render_scene(np.random.default_rng(4), SIZE)
    assert image.shape == (72, 96, 3) and image.dtype == np.uint8
    assert mask.shape == (72, 96) and mask.max() < len(CLASS_NAMES)
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(mask, again_mask)
    assert not np.array_equal(image, other_image)
    assert len(PALETTE) == len(CLASS_NAMES) == 8


def test_scenes_cover_every_class_with_textured_pixels():
    counts = np.zeros(len(CLASS_NAMES), np.int64)
    for seed in range(6):
        image, mask = render_scene(np.random.default_rng(seed), (120, 160))
        counts += np.bincount(mask.ravel(), minlength=len(CLASS_NAMES))
        road = image[mask == CLASS_NAMES.index("road")]
        assert road.std() > 2  # texture and light: the road is not one flat colour
    assert (counts > 0).all(), dict(zip(CLASS_NAMES, counts.tolist()))


def test_labels_follow_the_image_content():
    """A per-pixel nearest-class-colour guess (class means of the scene itself) beats the majority class: image and mask
    are rendered together. It stays far from perfect: colours alone do not give the labels away."""
    image, mask = render_scene(np.random.default_rng(11), (120, 160))
    pixels, labels = image.reshape(-1, 3).astype(float), mask.ravel()
    present = np.unique(labels)
    means = np.stack([pixels[labels == c].mean(0) for c in present])
    guess = present[((pixels[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)]
    accuracy = (guess == labels).mean()
    majority = np.bincount(labels).max() / labels.size
    assert majority < accuracy < 0.97


def test_scene_sequence_is_continuous_and_repeatable():
    sequence = SceneSequence(SIZE, seed=2, length=12)
    frames = list(sequence)
    assert len(frames) == len(sequence) == 12
    frame, mask = frames[0]
    assert frame.shape == (72, 96, 3) and frame.dtype == np.uint8 and mask.shape == (72, 96)
    again = list(SceneSequence(SIZE, seed=2, length=12))
    for (a, ma), (b, mb) in zip(frames, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ma, mb)
    step = np.mean([(frames[i][1] != frames[i + 1][1]).mean() for i in range(11)])
    other = next(iter(SceneSequence(SIZE, seed=3)))[1]
    assert 0 < step < 0.5 * (frames[0][1] != other).mean()  # moving, but frame to frame a small change
    endless = SceneSequence(SIZE, seed=2)
    assert len(list(itertools.islice(endless, 3))) == 3
    with pytest.raises(TypeError):
        len(endless)


def test_generate_dataset_writes_readable_folder_layout(tmp_path: Path):
    root = tmp_path / "synth"
    counts = generate_dataset(root, 3, 2, 1, size=(48, 64), seed=5)
    assert counts == {"train": 3, "val": 2, "test": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]  # no temporary folder left behind
    doc = json.loads((root / "classes.json").read_text())
    assert doc["names"] == CLASS_NAMES and doc["ignore_index"] == 255
    ds = open_dataset(root, "train")
    assert len(ds) == 3 and ds.num_classes == 8 and ds.class_names == CLASS_NAMES
    image, mask = ds[0]
    expected_image, expected_mask = render_scene(np.random.default_rng([5, 0, 0]), (48, 64))
    np.testing.assert_array_equal(image, expected_image)  # lossless PNG round trip
    np.testing.assert_array_equal(mask, expected_mask)
    assert len(open_dataset(root, "test")) == 1


def test_generate_dataset_refuses_to_clobber_unless_asked(tmp_path: Path):
    root = tmp_path / "synth"
    generate_dataset(root, 1, 0, 0, size=(32, 32), seed=0)
    first = (root / "train" / "images" / "00000.png").read_bytes()
    with pytest.raises(DataError, match=r"synth: already exists"):
        generate_dataset(root, 1, 0, 0, size=(32, 32), seed=1)
    generate_dataset(root, 2, 0, 0, size=(32, 32), seed=1, overwrite=True)
    assert len(list((root / "train" / "images").iterdir())) == 2
    assert (root / "train" / "images" / "00000.png").read_bytes() != first
    with pytest.raises(DataError, match="not all zero"):
        generate_dataset(tmp_path / "none", 0, 0, 0)


def test_synth_command(tmp_path: Path, capsys):
    out = tmp_path / "data"
    assert main(["synth", str(out), "--train", "2", "--val", "1", "--test", "0", "--imgsz", "40", "56",
                 "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 images (train 2, val 1) of 56x40" in printed
    assert open_dataset(out, "val")[0][0].shape == (40, 56, 3)
    assert not (out / "test").exists()


def test_data_package_is_torch_free():
    code = ("import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError('torch blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import segnet.data, segnet.data.synthetic, segnet.data.transforms\n"
            "next(iter(segnet.data.synthetic.SceneSequence((32, 48))))\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr
