"""Drawing results: class map -> colours (lookup table), overlay on the frame, legend and HUD text.

All per-pixel work is done by OpenCV or numpy in C (cv2.LUT, cv2.addWeighted, np.copyto), never in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

VISUALIZE_MODES = ("overlay", "mask")
FONT = cv2.FONT_HERSHEY_SIMPLEX


def color_lut(palette: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """A 256-entry BGR lookup table (1 x 256 x 3 uint8) from an RGB palette; unknown labels are black."""
    if len(palette) > 256:
        raise ValueError(f"a class map holds at most 256 labels, the palette has {len(palette)}")
    lut = np.zeros((1, 256, 3), np.uint8)
    for label, (r, g, b) in enumerate(palette):
        lut[0, label] = (b, g, r)
    return lut


def colorize(class_map: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """HxW uint8 class map -> HxWx3 BGR image of the class colours."""
    labels = np.ascontiguousarray(class_map, dtype=np.uint8)
    return cv2.LUT(cv2.merge((labels, labels, labels)), lut)


def overlay(frame: np.ndarray, class_map: np.ndarray, lut: np.ndarray, alpha: float = 0.5,
            ignore: int | None = None, colors: np.ndarray | None = None) -> np.ndarray:
    """Blend class colours over the frame (alpha = colour weight); pixels of class `ignore` stay untouched.
    A class map of another size is scaled to the frame (nearest neighbour). `colors`: the class map already
    colourised at the frame's size (compose reuses it for the mask panel instead of colourising twice)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    frame = as_bgr(frame)
    height, width = frame.shape[:2]
    if class_map.shape[:2] != (height, width):
        class_map = cv2.resize(class_map, (width, height), interpolation=cv2.INTER_NEAREST)
        colors = None
    if colors is None:
        colors = colorize(class_map, lut)
    blended = cv2.addWeighted(frame, 1.0 - alpha, colors, alpha, 0.0)
    if ignore is not None:
        np.copyto(blended, frame, where=(class_map == ignore)[..., None])
    return blended


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel BGR view of a grayscale (HxW or HxWx1) or BGR image."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def parse_visualize(text: str) -> tuple[str, ...]:
    """'overlay', 'mask' or 'overlay,mask' -> the modes in order (side by side when several)."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in VISUALIZE_MODES]
    if not modes or bad:
        raise ValueError(f"--visualize takes {' or '.join(VISUALIZE_MODES)} (comma-separated), got {text!r}")
    return modes


def compose(frame: np.ndarray, class_map: np.ndarray, lut: np.ndarray, modes: Sequence[str] = ("overlay",),
            alpha: float = 0.5, ignore: int | None = None) -> np.ndarray:
    """The picture a sink shows: overlay and/or colour mask, side by side in the order given."""
    colors = colorize(class_map, lut)  # once, shared by both panels
    panels = [overlay(frame, class_map, lut, alpha, ignore, colors) if mode == "overlay" else colors
              for mode in modes]
    return panels[0] if len(panels) == 1 else cv2.hconcat(panels)


def draw_legend(image: np.ndarray, names: Sequence[str], palette: Sequence[tuple[int, int, int]],
                labels: Sequence[int] | None = None) -> np.ndarray:
    """Draw colour swatches and class names in the top-right corner (only `labels` when given), in place."""
    shown = list(labels) if labels is not None else list(range(len(names)))
    scale = max(0.35, min(image.shape[0], image.shape[1]) / 900.0)
    line = int(22 * scale / 0.5)
    text_w = max((cv2.getTextSize(names[i], FONT, scale, 1)[0][0] for i in shown if i < len(names)), default=0)
    x0 = max(0, image.shape[1] - text_w - line - 12)
    y = 6
    for label in shown:
        if label >= len(names) or y + line > image.shape[0]:
            continue
        r, g, b = palette[label]
        cv2.rectangle(image, (x0, y), (x0 + line - 4, y + line - 4), (b, g, r), -1)
        cv2.putText(image, names[label], (x0 + line, y + line - 8), FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, names[label], (x0 + line, y + line - 8), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += line
    return image


def draw_hud(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw status text (FPS, latency) in the top-left corner with an outline so it reads on any scene."""
    scale = max(0.4, min(image.shape[0], image.shape[1]) / 800.0)
    step = int(24 * scale / 0.5)
    for i, text in enumerate(lines):
        origin = (8, 8 + step * (i + 1) - step // 4)
        cv2.putText(image, text, origin, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, origin, FONT, scale, (0, 255, 0), 1, cv2.LINE_AA)
    return image
