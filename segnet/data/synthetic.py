"""Synthetic road scenes with exact labels: a dataset generator and an endless video-like sequence.

Scenes are procedural 3-D streets (segnet.data.street, drawn by segnet.data.street_render): sky, buildings with windows, road with lane
marks, sidewalks, trees and grass, cars and people of varied size and colour, under random light, sun
shadows, texture noise and vignetting; nearer objects occlude farther ones. Everything is deterministic
from the seed. numpy + OpenCV only, so the torch-free runtime can use `SceneSequence` as a video source.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from segnet.data.street import CLASS_NAMES, PALETTE, Street
from segnet.data.street_render import Renderer
from segnet.errors import DataError

__all__ = ["CLASS_NAMES", "IGNORE_INDEX", "PALETTE", "SceneSequence", "generate_dataset", "render_scene"]
IGNORE_INDEX = 255  # never produced by the renderer (every pixel is labelled); declared for the spec
SPLITS = ("train", "val", "test")


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if height < 16 or width < 16:
        raise DataError(f"synthetic scene size must be at least 16x16 (height, width), got {tuple(size)}")
    return height, width


def render_scene(rng: np.random.Generator, size: Sequence[int] = (240, 320)) -> tuple[np.ndarray, np.ndarray]:
    """One random street scene: (HxWx3 RGB uint8 image, HxW uint8 class indices)."""
    size = _check_size(size)
    street = Street.random(rng)
    renderer = Renderer(size, rng)
    camera = renderer.camera(rng)
    camera.x = float(rng.uniform(-0.6, 0.6)) * street.road_half
    return renderer.render(street, camera)


class SceneSequence:
    """Frames `(frame_bgr uint8, mask uint8)` of one continuous street: the camera drives forward and
    drifts sideways, cars and people move. Endless unless `length` is given; every iteration restarts
    the same sequence (same seed, same frames). `fps` sets the simulated time step."""

    def __init__(self, size: Sequence[int] = (240, 320), seed: int = 0, length: int | None = None,
                 fps: float = 30.0, speed: float = 8.0) -> None:
        self.size = _check_size(size)
        self.seed = int(seed)
        self.length = None if length is None else int(length)
        self.fps = float(fps)
        self.speed = float(speed)  # camera speed, m/s

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("an endless SceneSequence has no length")
        return self.length

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        street = Street.random(rng)
        renderer = Renderer(self.size, rng)
        camera = renderer.camera(rng)
        lane = street.road_half / 2
        base_cx, dt = camera.cx, 1.0 / self.fps
        index = 0
        while self.length is None or index < self.length:
            t = index * dt
            camera.z = self.speed * t
            camera.x = lane + 0.6 * math.sin(t / 7.0)  # slow drift inside the right lane
            camera.cx = base_cx + 0.04 * self.size[1] * math.sin(t / 11.0)  # slow pan
            # the texture drifts down the frame with the forward motion instead of jumping every frame
            image, labels = renderer.render(street, camera, texture_offset=(-round(camera.z * 3), 0))
            yield cv2.cvtColor(image, cv2.COLOR_RGB2BGR), labels
            street.step(dt, camera, self.speed)
            index += 1


def classes_document(size: tuple[int, int], seed: int) -> dict[str, object]:
    """The classes.json written with a synthetic dataset (the folder layout's class metadata)."""
    return {"names": list(CLASS_NAMES), "palette": [list(c) for c in PALETTE], "ignore_index": IGNORE_INDEX,
            "source": {"generator": "segnet synth", "seed": seed, "size": list(size)}}


def generate_dataset(root: str | Path, n_train: int, n_val: int, n_test: int,
                     size: Sequence[int] = (240, 320), seed: int = 0, overwrite: bool = False) -> dict[str, int]:
    """Write root/{train,val,test}/{images,masks}/NNNNN.png and root/classes.json; returns the counts.
    Built in a temporary folder beside `root` and renamed into place, so `root` is complete or absent.
    Image i of a split depends only on (seed, split, i): more images extend a dataset, never reshuffle it."""
    root = Path(root)
    size = _check_size(size)
    counts = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
    if any(n < 0 for n in counts.values()) or not any(counts.values()):
        raise DataError(f"image counts must be >= 0 and not all zero, got {counts}")
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise DataError(f"{root}: already exists and is not empty; choose a new folder or replace it "
                        "(segnet synth --force, or overwrite=True)")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for split_index, split in enumerate(SPLITS):
            if not counts[split]:
                continue
            (tmp / split / "images").mkdir(parents=True)
            (tmp / split / "masks").mkdir(parents=True)
            for i in range(counts[split]):
                image, mask = render_scene(np.random.default_rng([seed, split_index, i]), size)
                name = f"{i:05d}.png"
                if not (cv2.imwrite(str(tmp / split / "images" / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                        and cv2.imwrite(str(tmp / split / "masks" / name), mask)):
                    raise DataError(f"{tmp / split}: cannot write images (disk full or not writable?)")
        (tmp / "classes.json").write_text(json.dumps(classes_document(size, seed), indent=2) + "\n",
                                          encoding="utf-8")
        _replace_dir(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {split: n for split, n in counts.items() if n}


def _replace_dir(new: Path, final: Path) -> None:
    """Move the finished folder `new` to `final`, replacing what was there only after `new` is complete."""
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(final)
