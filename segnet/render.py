"""Drawing results: class map -> colours (lookup table), overlay on the frame, legend and HUD text.

All per-pixel work is done by OpenCV or numpy in C (cv2.LUT, cv2.addWeighted, np.copyto), never in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

VISUALIZE_MODES = ("overlay", "mask")
FONT = cv2.FONT_HERSHEY_SIMPLEX
_OUTLINE = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))  # 1 px around the strokes, as thickness 3 around 1


def color_lut(palette: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """A 256-entry BGR lookup table (1 x 256 x 3 uint8) from an RGB palette; unknown labels are black."""
    if len(palette) > 256:
        raise ValueError(f"a class map holds at most 256 labels, the palette has {len(palette)}")
    lut = np.zeros((1, 256, 3), np.uint8)
    for label, (r, g, b) in enumerate(palette):
        lut[0, label] = (b, g, r)
    return lut


def buffer(buffers: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...],
           dtype: type = np.uint8) -> np.ndarray | None:
    """The reusable array `name` of `buffers` at this shape (made on first use or a shape change), or
    None without `buffers`; lets per-frame drawing run without allocating a frame-sized array each time."""
    if buffers is None:
        return None
    found = buffers.get(name)
    if found is None or found.shape != shape or found.dtype != dtype:
        found = buffers[name] = np.empty(shape, dtype)
    return found


def colorize(class_map: np.ndarray, lut: np.ndarray, buffers: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """HxW uint8 class map -> HxWx3 BGR image of the class colours (into `buffers` when given)."""
    labels = np.ascontiguousarray(class_map, dtype=np.uint8)
    shape = (*labels.shape[:2], 3)
    merged = cv2.merge((labels, labels, labels), dst=buffer(buffers, "labels3", shape))
    return cv2.LUT(merged, lut, dst=buffer(buffers, "colors", shape))


def overlay(frame: np.ndarray, class_map: np.ndarray, lut: np.ndarray, alpha: float = 0.5,
            ignore: int | None = None, colors: np.ndarray | None = None,
            buffers: dict[str, np.ndarray] | None = None, name: str = "overlay") -> np.ndarray:
    """Blend class colours over the frame (alpha = colour weight); pixels of class `ignore` stay untouched.
    A class map of another size is scaled to the frame (nearest neighbour). `colors`: the class map already
    colourised at the frame's size (compose reuses it for the mask panel instead of colourising twice).
    With `buffers`, every frame-sized array is reused from there (the result is `buffers[name]`)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    frame = as_bgr(frame)
    height, width = frame.shape[:2]
    if class_map.shape[:2] != (height, width):
        class_map = cv2.resize(class_map, (width, height), dst=buffer(buffers, "scaled_labels", (height, width)),
                               interpolation=cv2.INTER_NEAREST)
        colors = None
    if colors is None:
        colors = colorize(class_map, lut, buffers)
    blended = cv2.addWeighted(frame, 1.0 - alpha, colors, alpha, 0.0, dst=buffer(buffers, name, frame.shape))
    if ignore is not None:
        keep = cv2.compare(class_map, ignore, cv2.CMP_EQ, dst=buffer(buffers, "ignore", (height, width)))
        cv2.copyTo(frame, keep, blended)
    return blended


def class_counts(class_map: np.ndarray, num_labels: int) -> np.ndarray:
    """Pixels per label 0..num_labels-1 of a uint8 class map (OpenCV's histogram: no frame-sized
    temporary, unlike np.bincount, which widens the map to int64 first)."""
    labels = np.ascontiguousarray(class_map, dtype=np.uint8)
    hist = cv2.calcHist([labels.reshape(labels.shape[0], -1)], [0], None, [256], [0, 256])
    return hist.ravel()[:num_labels].astype(np.int64)


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
            alpha: float = 0.5, ignore: int | None = None,
            buffers: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The picture a sink shows: overlay and/or colour mask, side by side in the order given (into
    `buffers` when given)."""
    if class_map.shape[:2] != frame.shape[:2]:
        class_map = cv2.resize(class_map, frame.shape[1::-1], dst=buffer(buffers, "scaled_labels", frame.shape[:2]),
                               interpolation=cv2.INTER_NEAREST)
    colors = colorize(class_map, lut, buffers)  # once, shared by both panels
    panels = [overlay(frame, class_map, lut, alpha, ignore, colors, buffers) if mode == "overlay" else colors
              for mode in modes]
    return side_by_side(panels, buffers)


def side_by_side(panels: Sequence[np.ndarray], buffers: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """One panel as it is, several next to each other (into `buffers` when given)."""
    if len(panels) == 1:
        return panels[0]
    height = panels[0].shape[0]
    width = sum(p.shape[1] for p in panels)
    return cv2.hconcat(list(panels), dst=buffer(buffers, "panels", (height, width, 3)))


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
        draw_text(image, names[label], (x0 + line, y + line - 8), scale, (255, 255, 255))
        y += line
    return image


def draw_hud(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw status text (FPS, latency) in the top-left corner with an outline so it reads on any scene."""
    scale = max(0.4, min(image.shape[0], image.shape[1]) / 800.0)
    step = int(24 * scale / 0.5)
    for i, text in enumerate(lines):
        draw_text(image, text, (8, 8 + step * (i + 1) - step // 4), scale, (0, 255, 0))
    return image


def draw_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, color: tuple[int, int, int],
              outline: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Draw `text` (bottom-left at `origin`) in `color` with an `outline` around every stroke, in place.

    Drawing the outline as a thicker putText of its own does not work: Hershey glyphs advance further the
    thicker they are drawn, so the fill drifts off its outline letter by letter. Instead the text is drawn
    once, as an anti-aliased mask at the fill's thickness, the outline is that mask dilated, and both are
    blended in, outline first: every fill pixel lies inside its outline. Only the text's box is touched."""
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, 1)
    pad = 3 + int(2 * scale)  # the outline, anti-aliasing and strokes past the nominal box ('j' at the left)
    x, y = origin
    left, top = max(0, x - pad), max(0, y - height - pad)
    right, bottom = min(image.shape[1], x + width + pad), min(image.shape[0], y + baseline + pad)
    if right <= left or bottom <= top:
        return image
    roi = image[top:bottom, left:right]
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.putText(mask, text, (x - left, y - top), FONT, scale, 255, 1, cv2.LINE_AA)
    _blend(roi, cv2.dilate(mask, _OUTLINE), outline)
    _blend(roi, mask, color)
    return image


def _blend(roi: np.ndarray, alpha: np.ndarray, color: tuple[int, ...]) -> None:
    """roi = color * alpha + roi * (1 - alpha) in place, alpha an HxW uint8 mask (255 = opaque); in OpenCV."""
    channels = 1 if roi.ndim == 2 else roi.shape[2]
    color = (tuple(color) + (0,) * channels)[:channels]
    paint = [cv2.convertScaleAbs(alpha, alpha=c / 255.0) for c in color]
    keep = cv2.bitwise_not(alpha)
    if channels > 1:
        paint, keep = cv2.merge(paint), cv2.merge((keep,) * channels)
    else:
        paint, keep = paint[0], keep.reshape(roi.shape)
    roi[...] = cv2.add(paint, cv2.multiply(roi, keep, scale=1.0 / 255.0)).reshape(roi.shape)
