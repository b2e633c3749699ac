"""Colour-coded and one-hot masks: every form reads back to the same class indices; palette discovery,
unknown colours, tolerance, overlap/empty policies, the class-map cache; CamVid in its colour form."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_helpers import FORMS, convert_dataset, to_color

from segnet.cli import main
from segnet.data import camvid, open_dataset
from segnet.data.color_masks import ColorDecoder
from segnet.data.mask_options import MaskOptions
from segnet.errors import DataError

NAMES = ["road", "car", "tree", "sky"]
PALETTE = [(128, 64, 128), (0, 0, 142), (107, 142, 35), (70, 130, 180)]


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own mask cache folder (never the user's)."""
    monkeypatch.setenv("SEGNET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "masks"


@pytest.fixture()
def index_root(tmp_path) -> Path:
    """train (3) and val (2) images with index masks 0..3 and an ignored (255) patch."""
    rng = np.random.default_rng(0)
    root = tmp_path / "index"
    for split, count in (("train", 3), ("val", 2)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(count):
            labels = rng.integers(0, 4, (12, 16)).astype(np.uint8)
            labels[:2, :3] = 255
            cv2.imwrite(str(root / split / "images" / f"{i}.png"), rng.integers(0, 256, (12, 16, 3), np.uint8))
            cv2.imwrite(str(root / split / "masks" / f"{i}.png"), labels)
    (root / "classes.json").write_text(json.dumps({"names": NAMES, "palette": [list(c) for c in PALETTE]}))
    return root


def labels_of(root: Path, split: str = "train", **options) -> list[np.ndarray]:
    ds = open_dataset(root, split, masks=MaskOptions(**options))
    return [ds[i][1] for i in range(len(ds))]


@pytest.mark.parametrize("form", FORMS)
def test_every_mask_form_reads_back_to_the_index_labels(index_root, tmp_path, form):
    converted = convert_dataset(index_root, tmp_path / form, form, NAMES, PALETTE)
    for split in ("train", "val"):
        expected = labels_of(index_root, split)
        got = labels_of(converted, split)
        assert all(np.array_equal(a, b) for a, b in zip(expected, got)), form
        ds = open_dataset(converted, split)
        assert (ds.num_classes, ds.class_names, ds.ignore_index) == (4, NAMES, 255)
        assert ds.decoder is not None and ds.decoder.kind == ("color" if form == "color" else "onehot")


def test_colours_are_discovered_printed_and_written_to_classes_json(index_root, tmp_path, capsys):
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE, classes_json=False)
    ds = open_dataset(root, "val")
    err = capsys.readouterr().err
    written = json.loads((root / "classes.json").read_text())
    # black (the ignored patch) is a colour too: the user moves it to "ignore_colors"
    colours = sorted([(0, 0, 0)] + PALETTE, key=lambda c: (c[0] << 16) | (c[1] << 8) | c[2])
    assert written["palette"] == [list(c) for c in colours]
    assert written["names"] == [f"rgb_{r}_{g}_{b}" for r, g, b in colours]
    assert written["mask_format"] == "color" and written["source"]["discovered_from"] == "train/masks"
    assert f"5 colours found in {root / 'train' / 'masks'}, written to {root / 'classes.json'}" in err
    assert "rgb_128_64_128" in err and not list(root.glob(".classes*"))  # no temporary file left
    order = {c: i for i, c in enumerate(colours)}
    expected = [order[PALETTE[v]] if v < 4 else order[(0, 0, 0)] for v in labels_of(index_root, "val")[0].ravel()]
    assert np.array_equal(ds[0][1].ravel(), expected)
    # the user names the classes and marks black as void: that file is used from then on
    written.update(names=["void", "car", "sky", "tree", "road"], ignore_colors=[[0, 0, 0]])
    black = written["palette"].index([0, 0, 0])
    del written["palette"][black], written["names"][0]
    (root / "classes.json").write_text(json.dumps(written))
    ds = open_dataset(root, "val")
    assert ds.class_names == ["car", "sky", "tree", "road"] and ds.num_classes == 4
    assert (ds[0][1] == 255).sum() == (labels_of(index_root, "val")[0] == 255).sum()


def test_an_unknown_colour_names_the_file_the_colour_and_its_pixels(index_root, tmp_path, capsys):
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE)
    mask = root / "train" / "masks" / "1.png"
    bgr = cv2.imread(str(mask))
    bgr[5:7, 5:9] = (1, 2, 250)  # RGB (250, 2, 1) on 8 pixels
    cv2.imwrite(str(mask), bgr)
    with pytest.raises(DataError, match=rf"{mask}: colour \(250, 2, 1\) on 8 pixel\(s\) is not in the palette; "
                                        r"add it .* or map near colours with --mask-tolerance N"):
        open_dataset(root, "train")[1]
    # through the CLI: one line, no traceback (median class weights read every training mask first)
    pytest.importorskip("torch", reason="segnet train needs torch")
    assert main(["train", "--data", str(root), "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("segnet train: error: ") and "(250, 2, 1) on 8 pixel(s)" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_tolerance_maps_jpeg_damaged_masks_and_is_off_by_default(index_root, tmp_path):
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE)
    expected = labels_of(root, "train")
    for mask in sorted((root / "train" / "masks").glob("*.png")):
        rgb = cv2.imread(str(mask)).astype(np.int16)
        noise = np.random.default_rng(1).integers(-6, 7, rgb.shape)
        cv2.imwrite(str(mask), np.clip(rgb + noise, 0, 255).astype(np.uint8))
    with pytest.raises(DataError, match=r"train/masks/0\.png: colour \(\d+, \d+, \d+\) on \d+ pixel\(s\) is not in "
                                        r"the palette \(and \d+ more unknown colour\(s\)\)"):
        labels_of(root, "train")
    got = labels_of(root, "train", tolerance=6)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    with pytest.raises(DataError, match=r"--mask-tolerance 5 found no palette colour that close"):
        labels_of(root, "train", tolerance=5)


def test_tolerance_accepts_real_jpeg_masks(index_root, tmp_path):
    """Real JPEG files: colours shift by a little inside uniform 16x16 blocks (mapped with a tolerance); with
    4:2:0 chroma subsampling, colours blend across class edges and stay an error (docs/masks.md)."""
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE)
    flat = np.zeros((32, 48), np.uint8)
    flat[:, 32:] = 1
    flat[16:, :] = 3
    for stale in (root / "val" / "masks").glob("*.png"):
        stale.unlink()
    chroma = {0: [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444], 1: []}
    for i in range(2):
        cv2.imwrite(str(root / "val" / "images" / f"{i}.png"), np.zeros((32, 48, 3), np.uint8))
        cv2.imwrite(str(root / "val" / "masks" / f"{i}.jpg"), cv2.cvtColor(to_color(flat, PALETTE), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90] + chroma[i])
    decoded = cv2.imread(str(root / "val" / "masks" / "0.jpg"))[..., ::-1]
    assert not np.array_equal(decoded, to_color(flat, PALETTE))  # the damage is real
    with pytest.raises(DataError, match=r"val/images/0\.png: no mask for this image"):
        open_dataset(root, "val")  # JPEG masks are not even paired without a tolerance
    ds = open_dataset(root, "val", masks=MaskOptions(tolerance=4))
    assert np.array_equal(ds[0][1], flat)
    with pytest.raises(DataError, match=r"val/masks/1\.jpg: colour .* is not in the palette .*--mask-tolerance 20 "
                                        r"found no palette colour that close"):
        open_dataset(root, "val", masks=MaskOptions(tolerance=20))[1]


def test_a_tolerance_reaching_two_palette_colours_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"--mask-tolerance 10 is too large .* only 20 apart; use at most 9"):
        ColorDecoder([(0, 0, 0), (20, 0, 0)], tolerance=10, source=tmp_path / "classes.json")
    with pytest.raises(DataError, match=r"colour \(1, 2, 3\) is listed twice"):
        ColorDecoder([(1, 2, 3)], ignore_colors=[(1, 2, 3)])


def test_class_maps_are_cached_outside_the_dataset_and_invalidated_when_a_mask_changes(
        index_root, tmp_path, cache_home, monkeypatch, capsys):
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE)
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    calls = []
    original = ColorDecoder.__call__
    monkeypatch.setattr(ColorDecoder, "__call__", lambda self, path: calls.append(path) or original(self, path))
    first = labels_of(root)
    assert len(calls) == 3 and len(list(cache_home.rglob("*.npy"))) == 3
    assert f"cached in {cache_home}" in capsys.readouterr().err  # it says where
    second = labels_of(root)  # a second epoch: no conversion
    assert len(calls) == 3 and all(np.array_equal(a, b) for a, b in zip(first, second))
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before  # nothing written into the dataset
    mask = root / "train" / "masks" / "2.png"
    changed = np.full((12, 16), 2, np.uint8)
    cv2.imwrite(str(mask), cv2.cvtColor(to_color(changed, PALETTE), cv2.COLOR_RGB2BGR))
    os.utime(mask, ns=(1, 1))  # even an mtime from the past: size/mtime/inode stamp differs
    third = labels_of(root)
    assert len(calls) == 4 and np.array_equal(third[2], changed)
    assert len(list(cache_home.rglob("*.npy"))) == 3  # the stale entry was replaced, not kept
    # another conversion setting is another entry; --mask-cache off writes nothing
    elsewhere = tmp_path / "elsewhere"
    labels_of(root, cache=str(elsewhere))
    labels_of(root, cache="off")
    assert len(list(elsewhere.rglob("*.npy"))) == 3 and len(calls) == 4 + 3 + 3


def test_an_unwritable_cache_is_reported_once_and_conversion_still_works(index_root, tmp_path, capsys):
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    got = labels_of(root, cache=str(blocker / "sub"))
    assert all(np.array_equal(a, b) for a, b in zip(labels_of(index_root), got))
    assert capsys.readouterr().err.count("mask cache: cannot write") == 1


def onehot_root(tmp_path: Path, planes: np.ndarray) -> Path:
    root = tmp_path / "onehot"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "masks").mkdir(parents=True)
    cv2.imwrite(str(root / "train" / "images" / "a.png"), np.zeros(planes.shape[1:] + (3,), np.uint8))
    np.save(root / "train" / "masks" / "a.npy", np.moveaxis(planes, 0, 2))
    (root / "classes.json").write_text(json.dumps({"names": ["a", "b", "c"]}))
    return root


def test_onehot_overlap_and_empty_pixels_follow_the_chosen_policy(tmp_path):
    planes = np.zeros((3, 2, 3), np.uint8)
    planes[0, 0, :] = 1
    planes[1, 1, :2] = 1
    planes[2, :, 0] = 1  # (0, 0) is in classes 0 and 2, (1, 0) in 1 and 2; (1, 2) in none
    root = onehot_root(tmp_path, planes)
    assert labels_of(root)[0].tolist() == [[255, 0, 0], [255, 1, 255]]  # default: ignore
    assert labels_of(root, overlap="first")[0].tolist() == [[0, 0, 0], [1, 1, 255]]
    with pytest.raises(DataError, match=r"a\.npy: 2 pixel\(s\) in more than one class; choose --mask-overlap"):
        labels_of(root, overlap="error")
    with pytest.raises(DataError, match=r"a\.npy: 1 pixel\(s\) in no class"):
        labels_of(root, overlap="first", empty="error")
    document = json.loads((root / "classes.json").read_text())
    (root / "classes.json").write_text(json.dumps(dict(document, ignore_index=None)))
    with pytest.raises(DataError, match=r"in more than one class and there is no ignore index"):
        labels_of(root)


def test_onehot_without_classes_json_and_bad_onehot_files(tmp_path):
    planes = np.zeros((3, 4, 5), np.uint8)
    planes[np.random.default_rng(0).integers(0, 3, (4, 5)), np.arange(4)[:, None], np.arange(5)] = 1
    root = onehot_root(tmp_path, planes)
    (root / "classes.json").unlink()
    ds = open_dataset(root, "train")
    assert ds.class_names == ["class0", "class1", "class2"] and np.array_equal(ds[0][1], planes.argmax(0))
    np.save(root / "train" / "masks" / "a.npy", np.zeros((4, 5), np.uint8))
    with pytest.raises(DataError, match=r"a\.npy: a one-hot \.npy mask has 3 axes"):
        ds[0]
    (root / "classes.json").write_text(json.dumps({"names": ["a", "b"]}))
    np.save(root / "train" / "masks" / "a.npy", np.moveaxis(planes, 0, 2))
    with pytest.raises(DataError, match=r"a\.npy: one-hot mask of shape \(4, 5, 3\) has no axis of 2 classes"):
        open_dataset(root, "train")[0]


def test_png_per_class_folders_by_name_and_their_errors(tmp_path):
    root = tmp_path / "pngs"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "masks" / "a").mkdir(parents=True)
    cv2.imwrite(str(root / "train" / "images" / "a.png"), np.zeros((2, 2, 3), np.uint8))
    (root / "classes.json").write_text(json.dumps({"names": ["road", "car", "sky"]}))
    cv2.imwrite(str(root / "train" / "masks" / "a" / "sky.png"), np.array([[255, 0], [0, 0]], np.uint8))
    cv2.imwrite(str(root / "train" / "masks" / "a" / "road.png"), np.array([[0, 255], [255, 255]], np.uint8))
    assert labels_of(root)[0].tolist() == [[2, 0], [0, 0]]  # no car.png: no car in this image
    cv2.imwrite(str(root / "train" / "masks" / "a" / "truck.png"), np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match=r"a/truck\.png: name it after a class index \(0\.\.2\) or a class name"):
        labels_of(root)


def test_a_colour_mask_with_a_classes_json_without_palette_says_what_to_do(index_root, tmp_path):
    root = convert_dataset(index_root, tmp_path / "c", "color", NAMES, PALETTE)
    (root / "classes.json").write_text(json.dumps({"names": NAMES}))
    with pytest.raises(DataError, match=r"0\.png: mask is a colour image but .*classes\.json has no \"palette\""):
        open_dataset(root, "train")


def test_mask_format_in_classes_json_overrides_detection(index_root, tmp_path):
    """An all-gray colour mask (CamVid's Sky is (128, 128, 128)) looks like an index mask: classes.json says."""
    root = convert_dataset(index_root, tmp_path / "c", "color", ["sky", "road"], [(128, 128, 128), (128, 64, 128)],
                           splits=("train",), limit=1, read=lambda _: np.zeros((12, 16), np.uint8))
    with pytest.raises(DataError, match=r"mask value\(s\) 128 outside the 2 classes"):
        labels_of(root)
    document = json.loads((root / "classes.json").read_text())
    (root / "classes.json").write_text(json.dumps(dict(document, mask_format="color")))
    assert labels_of(root)[0].max() == 0


def test_camvid_in_its_colour_form_reads_back_to_the_same_labels(camvid_root, tmp_path, capsys):
    """CamVid annotations (indices, void 11) converted back to colours (the tutorial's palette, void black)."""
    reference = {s: open_dataset(camvid_root, s, "camvid") for s in ("train", "val")}
    root = convert_dataset(camvid_root, tmp_path / "camvid_colour", "color", camvid.CLASS_NAMES, camvid.PALETTE,
                           limit=6, read=lambda path: reference["train" if "trainannot" in str(path) else "val"]
                           .lut[cv2.imread(str(path), cv2.IMREAD_UNCHANGED)].astype(np.uint8))
    for split in ("train", "val"):
        ds = open_dataset(root, split)
        assert ds.decoder.kind == "color" and ds.class_names == camvid.CLASS_NAMES
        for i in range(len(ds)):
            expected = reference[split].load_mask(reference[split].image_paths.index(
                camvid_root / split / ds.image_paths[i].name))
            assert np.array_equal(ds[i][1], expected), ds.mask_paths[i]
    # without classes.json: the colours of the training masks (classes present, black for void) are discovered
    present = set()
    for path in reference["train"].image_paths[:6]:
        present.update(np.unique(reference["train"].load_mask(reference["train"].image_paths.index(path))).tolist())
    expected = sorted(tuple(camvid.PALETTE[v]) if v < 11 else (0, 0, 0) for v in present)
    (root / "classes.json").unlink()
    open_dataset(root, "val")
    discovered = json.loads((root / "classes.json").read_text())["palette"]
    assert sorted(map(tuple, discovered)) == expected
    assert f"{len(expected)} colours found" in capsys.readouterr().err


def test_camvid_colour_onehot_form(camvid_root, tmp_path):
    """The same CamVid labels as one-hot .npy and as a PNG per class."""
    ref = open_dataset(camvid_root, "val", "camvid")
    for form in ("npy", "pngdir"):
        root = convert_dataset(camvid_root, tmp_path / form, form, camvid.CLASS_NAMES, camvid.PALETTE,
                               splits=("val",), limit=2,
                               read=lambda path: ref.lut[cv2.imread(str(path), cv2.IMREAD_UNCHANGED)].astype(np.uint8))
        ds = open_dataset(root, "val")
        for i in range(2):
            assert np.array_equal(ds[i][1], ref.load_mask(i)), form


def test_the_mask_decode_benchmark_runs(camvid_root, capsys):
    from segnet.benchmarks.scripts import mask_decode

    assert mask_decode.main(["--data", str(camvid_root), "--images", "3"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ms per" not in line]
    assert len(rows) == 4 and all(float(row.rsplit("|", 2)[1]) > 0 for row in rows)
