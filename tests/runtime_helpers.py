"""Helpers shared by the runtime and pipeline tests: tiny ONNX models, test videos and images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def scene(index: int, height: int = 64, width: int = 96) -> np.ndarray:
    """A BGR test frame with structure (gradient, shapes) that changes with `index`."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, (index * 17) % 255)], -1)
    frame = frame.astype(np.uint8)
    cv2.circle(frame, ((index * 5) % width, height // 2), height // 4, (40, 200, 90), -1)
    cv2.rectangle(frame, (width // 8, height // 8), (width // 3, height // 3), (220, 30, 30), -1)
    return frame


def write_video(path: Path, frames: int = 20, height: int = 64, width: int = 96, fourcc: str = "MJPG",
                fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for i in range(frames):
        writer.write(scene(i, height, width))
    writer.release()
    return path


def corrupt_mjpeg(path: Path, frames: list[int]) -> Path:
    """Overwrite the JPEG data of the given frames of an MJPG avi (right after each JPEG start marker)."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for k in frames:
        start = starts[k]
        for j in range(start + 2, min(start + 600, len(data))):
            data[j] = 0xFF if j % 3 == 0 else 0x00
    path.write_bytes(bytes(data))
    return path


def count_video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"cannot open {path}"
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count
