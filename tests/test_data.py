"""Datasets: CamVid, folder layout (colour/grayscale, index/binary masks), Pascal VOC, bad-data errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segnet.cli import main
from segnet.data import camvid, detect_format, open_dataset
from segnet.errors import DataError, SegnetError


def write_pair(root: Path, split: str, stem: str, image: np.ndarray, mask: np.ndarray, ext: str = ".png") -> Path:
    """Write one image (RGB or gray) and its mask into the folder layout; returns the image path."""
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    (root / split / "masks").mkdir(parents=True, exist_ok=True)
    path = root / split / "images" / f"{stem}{ext}"
    cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / split / "masks" / f"{stem}.png"), mask)
    return path


def index_masks(n: int, values=(0, 1, 2, 3), size=(12, 16), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(values, size=size).astype(np.uint8) for _ in range(n)]


@pytest.fixture()
def colour_folder(tmp_path: Path) -> Path:
    """train: 3 colour images with class-index masks 0..3 plus an ignored (255) patch; val: 2 images."""
    rng = np.random.default_rng(1)
    for split, n in (("train", 3), ("val", 2)):
        for i, mask in enumerate(index_masks(n, seed=n)):
            mask[:2, :2] = 255
            write_pair(tmp_path, split, f"img{i}", rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), mask)
    return tmp_path


# --- CamVid ----------------------------------------------------------------------------------------------

def test_camvid_splits_shapes_and_void_as_ignore(camvid_root: Path):
    assert detect_format(camvid_root) == "camvid"
    train, val = open_dataset(camvid_root, "train"), open_dataset(camvid_root, "val", fmt="camvid")
    assert (len(train), len(val)) == (367, 101)
    assert train.num_classes == 11 and train.class_names[3] == "Road" and len(train.palette) == 11
    assert train.ignore_index == 255 and train.in_channels == 3
    assert train.class_weights == list(camvid.CLASS_WEIGHTS) and len(camvid.CLASS_WEIGHTS) == 11
    image, mask = train[0]
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert mask.shape == (360, 480) and mask.dtype == np.int64
    raw = cv2.imread(str(train.mask_paths[0]), cv2.IMREAD_UNCHANGED)
    assert (raw == 11).any(), "first CamVid mask is expected to have void pixels"
    np.testing.assert_array_equal(mask == 255, raw == 11)  # void -> ignore, nothing else
    np.testing.assert_array_equal(mask[raw != 11], raw[raw != 11])
    expected_rgb = cv2.cvtColor(cv2.imread(str(train.image_paths[0])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, expected_rgb)


def test_camvid_missing_split_names_folder(camvid_root: Path):
    with pytest.raises(DataError, match=r"camvid/test: folder not found"):
        open_dataset(camvid_root, "test")


# --- folder layout -----------------------------------------------------------------------------------------

def test_folder_colour_index_masks(colour_folder: Path):
    assert detect_format(colour_folder) == "folder"
    ds = open_dataset(colour_folder, "train")
    assert len(ds) == 3 and ds.num_classes == 4 and ds.in_channels == 3
    assert ds.class_names == ["class0", "class1", "class2", "class3"] and len(ds.palette) == 4
    image, mask = ds[1]
    assert image.shape == (12, 16, 3) and image.dtype == np.uint8
    assert mask.dtype == np.int64 and set(np.unique(mask)) <= {0, 1, 2, 3, 255}
    assert (mask[:2, :2] == 255).all()
    raw = cv2.imread(str(ds.mask_paths[1]), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, raw)
    assert ds.spec_fields()["num_classes"] == 4 and ds.spec_fields()["ignore_index"] == 255


def test_folder_class_count_scans_every_split(tmp_path: Path):
    """Class 5 only occurs in val: train still gets 6 classes, so both splits agree."""
    write_pair(tmp_path, "train", "a", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    val_mask = np.zeros((8, 8), np.uint8)
    val_mask[0, 0] = 5
    write_pair(tmp_path, "val", "b", np.zeros((8, 8, 3), np.uint8), val_mask)
    assert open_dataset(tmp_path, "train").num_classes == 6
    assert open_dataset(tmp_path, "val").num_classes == 6


def test_folder_grayscale_binary_masks(tmp_path: Path):
    rng = np.random.default_rng(0)
    for i in range(2):
        mask = np.where(rng.random((10, 14)) < 0.5, 255, 0).astype(np.uint8)
        write_pair(tmp_path, "train", f"g{i}", rng.integers(0, 255, (10, 14), dtype=np.uint8), mask, ext=".jpg")
    ds = open_dataset(tmp_path, "train")
    assert ds.in_channels == 1 and ds.num_classes == 1
    assert ds.class_names == ["background", "foreground"] and len(ds.palette) == 2
    image, mask = ds[0]
    assert image.shape == (10, 14, 1) and image.dtype == np.uint8
    raw = cv2.imread(str(ds.mask_paths[0]), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask, (raw == 255).astype(np.int64))


def test_folder_classes_json(tmp_path: Path):
    mask = np.array([[0, 1], [2, 7]], np.uint8)
    write_pair(tmp_path, "train", "a", np.zeros((2, 2, 3), np.uint8), mask)
    names = ["bg", "road", "car"]
    (tmp_path / "classes.json").write_text(json.dumps(
        {"names": names, "palette": [[0, 0, 0], [128, 64, 128], [0, 0, 142]], "ignore_index": 7}))
    ds = open_dataset(tmp_path, "train")
    assert ds.class_names == names and ds.palette[2] == (0, 0, 142) and ds.ignore_index == 7
    np.testing.assert_array_equal(ds[0][1], mask)


def test_classes_json_binary_flag(tmp_path: Path):
    """A binary dataset declared in classes.json: 255 is foreground (not ignored), other values are errors."""
    write_pair(tmp_path, "train", "a", np.zeros((2, 2, 3), np.uint8), np.array([[0, 255], [255, 0]], np.uint8))
    write_pair(tmp_path, "train", "b", np.zeros((2, 2, 3), np.uint8), np.array([[0, 1], [255, 0]], np.uint8))
    (tmp_path / "classes.json").write_text(json.dumps({"names": ["background", "lane"], "binary": True}))
    ds = open_dataset(tmp_path, "train")
    assert ds.num_classes == 1 and ds.class_names == ["background", "lane"]
    np.testing.assert_array_equal(ds[0][1], [[0, 1], [1, 0]])
    with pytest.raises(DataError, match=r"masks/b\.png: mask value\(s\) 1 outside .*binary mask holds only 0 and 255"):
        ds[1]


def test_classes_json_invalid_names_file(tmp_path: Path):
    write_pair(tmp_path, "train", "a", np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8))
    (tmp_path / "classes.json").write_text(json.dumps({"names": ["a", "b"], "palette": [[0, 0, 0]]}))
    with pytest.raises(DataError, match=r"classes\.json: \"palette\" needs one"):
        open_dataset(tmp_path, "train")


# --- Pascal VOC --------------------------------------------------------------------------------------------

def make_voc(parent: Path) -> Path:
    """A tiny VOCdevkit/VOC2012 tree: 3 JPEGs, palette-PNG masks with indices 0..20 and 255 borders."""
    Image = pytest.importorskip("PIL.Image")  # Pillow is the `train` extra: the torch-free runtime venv lacks it

    from segnet.data.voc import PALETTE

    voc = parent / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True)
    flat = [c for rgb in PALETTE for c in rgb] + [224, 224, 192] * (256 - len(PALETTE))
    ids = ["2007_000032", "2007_000039", "2007_000063"]
    for k, name in enumerate(ids):
        cv2.imwrite(str(voc / "JPEGImages" / f"{name}.jpg"), np.full((20, 30, 3), 40 * k, np.uint8))
        mask = np.zeros((20, 30), np.uint8)
        mask[5:15, 5:25] = 15 + k  # person, pottedplant, sheep
        mask[5, 5:25] = 255
        png = Image.fromarray(mask, mode="P")
        png.putpalette(flat)
        png.save(voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids[:2]) + "\n")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text(ids[2] + "\n")
    return voc


def test_voc_reads_palette_indices_from_any_root(tmp_path: Path):
    voc = make_voc(tmp_path)
    for root in (voc, voc.parent, tmp_path):
        assert detect_format(root) == "voc"
    ds = open_dataset(voc.parent, "train")
    assert len(ds) == 2 and ds.num_classes == 21 and ds.class_names[15] == "person" and ds.ignore_index == 255
    image, mask = ds[1]
    assert image.shape == (20, 30, 3)
    assert set(np.unique(mask)) == {0, 16, 255}  # palette indices, not colours
    assert len(open_dataset(voc, "val", fmt="voc")) == 1


def test_voc_missing_mask_and_split(tmp_path: Path):
    voc = make_voc(tmp_path)
    (voc / "SegmentationClass" / "2007_000039.png").unlink()
    with pytest.raises(DataError, match=r"2007_000039\.jpg: no mask"):
        open_dataset(voc, "train")
    with pytest.raises(DataError, match=r"Segmentation/test\.txt: split list not found"):
        open_dataset(voc, "test")


# --- errors ------------------------------------------------------------------------------------------------

def test_unknown_layout_lists_accepted_layouts(tmp_path: Path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(SegnetError, match=r"unrecognised dataset layout.*folder.*camvid.*voc"):
        open_dataset(tmp_path, "train")
    with pytest.raises(DataError, match=r"nope: dataset folder not found"):
        open_dataset(tmp_path / "nope", "train")


def test_missing_split_names_folder(colour_folder: Path):
    with pytest.raises(DataError, match=r"test/images: folder not found"):
        open_dataset(colour_folder, "test")


def test_image_without_mask_fails_at_open(colour_folder: Path):
    (colour_folder / "train" / "masks" / "img1.png").unlink()
    with pytest.raises(DataError, match=r"train/images/img1\.png: no mask"):
        open_dataset(colour_folder, "train")


def test_size_mismatch_names_mask(colour_folder: Path):
    cv2.imwrite(str(colour_folder / "train" / "masks" / "img2.png"), np.zeros((6, 16), np.uint8))
    ds = open_dataset(colour_folder, "train")
    ds[0]  # other items still load: checked lazily per item
    with pytest.raises(DataError, match=r"masks/img2\.png: mask is 16x6 but its image img2\.png is 16x12"):
        ds[2]


def test_label_out_of_range_names_mask(tmp_path: Path):
    write_pair(tmp_path, "train", "a", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8))
    write_pair(tmp_path, "train", "b", np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 9, np.uint8))
    (tmp_path / "classes.json").write_text(json.dumps({"names": ["x", "y", "z"]}))
    ds = open_dataset(tmp_path, "train")
    assert ds[0][1].max() == 0
    with pytest.raises(DataError, match=r"masks/b\.png: mask value\(s\) 9 outside the 3 classes \(valid values are 0\.\.2, 255\)"):
        ds[1]


def test_camvid_label_above_void_names_mask(tmp_path: Path):
    for folder in ("train", "trainannot"):
        (tmp_path / folder).mkdir()
    cv2.imwrite(str(tmp_path / "train" / "f.png"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "trainannot" / "f.png"), np.full((4, 4), 12, np.uint8))
    with pytest.raises(DataError, match=r"trainannot/f\.png: mask value\(s\) 12 outside the 11 classes"):
        open_dataset(tmp_path, "train")[0]


def test_corrupt_files_name_the_file(colour_folder: Path):
    (colour_folder / "train" / "images" / "img2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (colour_folder / "train" / "masks" / "img1.png").write_bytes(b"garbage")
    for split in ("train", "val"):  # without classes.json the class scan reads every split's masks
        with pytest.raises(DataError, match=r"train/masks/img1\.png: cannot read mask"):
            open_dataset(colour_folder, split)
    (colour_folder / "classes.json").write_text(json.dumps({"names": ["a", "b", "c", "d"]}))  # no scan now
    ds = open_dataset(colour_folder, "train")
    assert ds[0][0].shape == (12, 16, 3)  # checked per item: the good ones still load
    with pytest.raises(DataError, match=r"masks/img1\.png: cannot read mask"):
        ds[1]
    with pytest.raises(DataError, match=r"images/img2\.png: cannot read image"):
        ds[2]


def test_colour_mask_is_rejected(tmp_path: Path):
    mask = np.zeros((4, 4, 3), np.uint8)
    mask[..., 0] = 128  # an RGB-coloured annotation instead of class indices
    write_pair(tmp_path, "train", "a", np.zeros((4, 4, 3), np.uint8), mask)
    (tmp_path / "classes.json").write_text(json.dumps({"names": ["a", "b"]}))
    with pytest.raises(DataError, match=r"masks/a\.png: mask is a colour image"):
        open_dataset(tmp_path, "train")[0]


def test_cli_prints_data_errors_without_traceback(tmp_path: Path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("occupied")
    assert main(["synth", str(tmp_path / "x"), "--train", "1", "--val", "0", "--test", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segnet synth: error: ") and "already exists" in err and "Traceback" not in err
