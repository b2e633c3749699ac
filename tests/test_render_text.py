"""HUD and legend text: every fill pixel sits inside its outline (no fill drifting off onto the bare scene)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segnet import render

# Neither the outline (black), the fills (green, white) nor any blend of them with it: a pixel of exactly this
# colour is untouched scene.
BACKGROUND = (60, 110, 170)
HUD_LINES = ["end-to-end 29.7 FPS  network 118.4 FPS", "latency p50 31 ms  p99 47 ms"]
NAMES = ["road", "sky", "pedestrian", "bicyclist", "sign/symbol"]
PALETTE = [(128, 64, 128), (70, 130, 180), (220, 20, 60), (0, 128, 192), (192, 128, 128)]


def _scene(height: int, width: int) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BACKGROUND
    return image


def _fill_touches_scene(image: np.ndarray, is_fill: np.ndarray) -> tuple[int, int]:
    """(fill pixels, fill pixels with untouched scene among their 8 neighbours). `is_fill`: the pixels mostly
    fill colour; each holds well over half of it (anti-aliased edges blend it with the outline), so its
    outline must cover all its neighbours as well: none of them may be the bare scene."""
    scene = (image == BACKGROUND).all(axis=2).astype(np.uint8)
    near_scene = cv2.dilate(scene, np.ones((3, 3), np.uint8)).astype(bool)
    return int(is_fill.sum()), int((is_fill & near_scene).sum())


def _green(image: np.ndarray) -> np.ndarray:
    return image[..., 1] >= 200  # the scene has 110 there, the outline 0: at least 60 % HUD green


def _white(image: np.ndarray) -> np.ndarray:
    return image.min(axis=2) >= 200  # the scene's blue is 60, the outline's 0: at least 70 % legend white


@pytest.mark.parametrize("size", [(240, 320), (480, 640), (1080, 1920)])
def test_hud_fill_lies_within_its_outline(size):
    image = _scene(*size)
    assert render.draw_hud(image, HUD_LINES) is image, "draws in place"
    fill, outside = _fill_touches_scene(image, _green(image))
    assert fill > 100, "the HUD text is drawn"
    assert (image == 0).all(axis=2).any(), "with a black outline"
    assert outside == 0, f"{outside} of {fill} fill pixels sit next to the bare scene, off their outline"
    assert (image[size[0] // 2:] == BACKGROUND).all(), "only the text's box is touched"


@pytest.mark.parametrize("size", [(240, 320), (480, 640), (1080, 1920)])
def test_legend_text_fill_lies_within_its_outline(size):
    image = _scene(*size)
    assert render.draw_legend(image, NAMES, PALETTE) is image, "draws in place"
    fill, outside = _fill_touches_scene(image, _white(image))
    assert fill > 50, "the class names are drawn"
    assert outside == 0, f"{outside} of {fill} fill pixels sit next to the bare scene, off their outline"
    r, g, b = PALETTE[2]
    assert (image == (b, g, r)).all(axis=2).any(), "the swatches are still drawn"
    assert (image[:, : size[1] // 2] == BACKGROUND).all(), "only the legend's corner is touched"


def test_text_clipped_at_the_frame_edge_draws_what_fits():
    image = _scene(20, 60)
    render.draw_text(image, "clipped text", (-5, 12), 0.6, (255, 255, 255))
    render.draw_text(image, "gone", (100, 100), 0.6, (255, 255, 255))
    fill, outside = _fill_touches_scene(image, _white(image))
    assert fill > 0 and outside == 0
