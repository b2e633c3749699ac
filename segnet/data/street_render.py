"""Drawing a Street (segnet.data.street) through its Camera: exact labels, textured and lit image.

Long things (road, sidewalks, facades) are strips clipped at the near plane; small things (cars, people,
trees) are drawn far to near, so nearer ones occlude farther ones. Every shape is filled into the colour
image and, with its class index, into the label map, so labels are exact. Texture, light, vignetting
and shadows change the image only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from segnet.data.street import (
    BUILDING,
    CAR,
    FAR,
    LANE_MARKING,
    NEAR,
    PERSON,
    ROAD,
    SIDEWALK,
    SKY,
    VEGETATION,
    Building,
    Camera,
    Car,
    Person,
    Street,
    Tree,
)

# Texture strength per class (grey levels of the noise added to the flat colours).
TEXTURE = np.zeros(256, dtype=np.float32)  # a 256-entry table for cv2.LUT
TEXTURE[:8] = [3, 10, 9, 8, 5, 24, 5, 8]
DASH, DASH_PERIOD = 3.0, 9.0  # centre-line dash length and period along Z
SHADOW_LIGHT = 0.55  # light left in shadows


@functools.lru_cache(maxsize=4096)  # the same few colours and factors, every frame
def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """`color` darkened (factor < 1) or brightened."""
    r, g, b = (min(255, int(c * factor)) for c in color)
    return r, g, b


def _rect(u0: float, v0: float, u1: float, v1: float) -> np.ndarray:
    """Pixel rectangle as a polygon."""
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]]).round().astype(np.int32)


@dataclass
class Canvas:
    """The colour image (RGB uint8), label map and shadow map being drawn."""

    image: np.ndarray
    labels: np.ndarray
    shadow: np.ndarray

    def fill(self, polygons: list[np.ndarray], color: tuple[int, int, int], label: int) -> None:
        """Paint convex polygons into image and labels. One call per polygon: cv2.fillPoly with several
        polygons applies the even-odd rule, leaving holes where they overlap."""
        for polygon in polygons:
            cv2.fillConvexPoly(self.image, polygon, color)
            cv2.fillConvexPoly(self.labels, polygon, label)

    def paint(self, polygons: list[np.ndarray], color: tuple[int, int, int], disjoint: bool = False) -> None:
        """Paint detail (windows, lamps) inside an object's outline: image only, the label is already there.
        `disjoint` polygons (never overlapping) go to OpenCV in one call."""
        if disjoint and polygons:
            cv2.fillPoly(self.image, polygons, color)
            return
        for polygon in polygons:
            cv2.fillConvexPoly(self.image, polygon, color)

    def shade(self, polygons: list[np.ndarray]) -> None:
        """Mark polygons as in shadow (darkened after drawing, whatever ends up there)."""
        for polygon in polygons:
            cv2.fillConvexPoly(self.shadow, polygon, 1)

    def ellipse(self, center: tuple[float, float], axes: tuple[float, float], color: tuple[int, int, int],
                label: int) -> None:
        c = (round(center[0]), round(center[1]))
        a = (max(1, round(axes[0])), max(1, round(axes[1])))
        cv2.ellipse(self.image, c, a, 0, 0, 360, color, -1)
        cv2.ellipse(self.labels, c, a, 0, 0, 360, label, -1)


def strip(camera: Camera, x0: float, x1: float, z0: float, z1: float) -> list[np.ndarray]:
    """The ground strip x0..x1 by z0..z1 clipped to the visible depth range ([] when out of view)."""
    z0, z1 = max(z0, camera.z + NEAR), min(z1, camera.z + FAR)
    if z1 <= z0:
        return []
    return [camera.project(((x0, 0.0, z0), (x1, 0.0, z0), (x1, 0.0, z1), (x0, 0.0, z1)))]


def wall(camera: Camera, x: float, z0: float, z1: float, y0: float, y1: float) -> list[np.ndarray]:
    """The vertical wall at x spanning z0..z1 and heights y0..y1, clipped to the visible depth range."""
    z0, z1 = max(z0, camera.z + NEAR), min(z1, camera.z + FAR)
    if z1 <= z0:
        return []
    return [camera.project(((x, y0, z0), (x, y0, z1), (x, y1, z1), (x, y1, z0)))]


def face(camera: Camera, x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    """The rectangle x0..x1 by y0..y1 facing the camera at depth z."""
    return camera.project(((x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)))


class Renderer:
    """Draws a Street through a Camera: flat shapes into a Canvas, then texture, light and shadow."""

    def __init__(self, size: tuple[int, int], rng: np.random.Generator) -> None:
        self.size = (int(size[0]), int(size[1]))
        height, width = self.size
        self.rng = rng
        fine = rng.standard_normal((2 * height, 2 * width)).astype(np.float32)
        blotch = cv2.GaussianBlur(rng.standard_normal((2 * height, 2 * width)).astype(np.float32), (0, 0),
                                  max(1.0, width / 80))
        blotch = blotch / (blotch.std() + 1e-6)
        self.texture = 0.7 * fine + 0.7 * blotch
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        radius = ((xs - width / 2) / width) ** 2 + ((ys - height / 2) / height) ** 2
        self.vignette = (1.0 - 0.45 * radius).astype(np.float32)
        self._sky: dict[tuple[int, int], np.ndarray] = {}

    def camera(self, rng: np.random.Generator) -> Camera:
        """A camera with random focal length, height, horizon and pan for this image size."""
        height, width = self.size
        return Camera(focal=float(width * rng.uniform(0.75, 1.1)),
                      cx=float(width * rng.uniform(0.38, 0.62)), horizon=float(height * rng.uniform(0.36, 0.5)),
                      height=float(rng.uniform(1.2, 1.9)))

    def render(self, street: Street, camera: Camera,
               texture_offset: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 image, uint8 label map) of the street seen by the camera. The texture is a window
        into a noise field twice the image size, at `texture_offset` (row, column) or a random one."""
        height, width = self.size
        canvas = Canvas(np.empty((height, width, 3), np.uint8), np.empty((height, width), np.uint8),
                        np.zeros((height, width), np.uint8))
        self._sky_and_ground(canvas, street, camera)
        self._road(canvas, street, camera)
        self._buildings(canvas, street, camera)
        things: list[tuple[float, Callable[[Canvas, Camera, Any], None], Any]]
        things = [(t.z, self._tree, t) for t in street.trees] + [(c.z, self._car, c) for c in street.cars] + \
                 [(p.z, self._person, p) for p in street.people]
        for z, draw, thing in sorted(things, key=lambda item: -item[0]):
            if NEAR < z - camera.z < FAR:
                draw(canvas, camera, thing)
        return self._photometric(canvas, street, texture_offset), canvas.labels

    def _sky_and_ground(self, canvas: Canvas, street: Street, camera: Camera) -> None:
        """Sky gradient above the horizon, grass below (roads and buildings are drawn over it)."""
        horizon = round(camera.horizon)
        key = (id(street), horizon)
        if key not in self._sky:  # the gradient is fixed for a street and horizon: computed once
            top, bottom = np.array(street.sky_top, np.float32), np.array(street.sky_bottom, np.float32)
            t = np.linspace(0.0, 1.0, max(horizon, 1), dtype=np.float32)[:, None, None]
            gradient = (top + (bottom - top) * t).astype(np.uint8)
            self._sky = {key: np.ascontiguousarray(np.broadcast_to(gradient, (horizon, self.size[1], 3)))}
        canvas.image[:horizon] = self._sky[key]
        canvas.labels[:horizon] = SKY
        canvas.image[horizon:] = street.grass_color
        canvas.labels[horizon:] = VEGETATION

    def _road(self, canvas: Canvas, street: Street, camera: Camera) -> None:
        z0, z1 = camera.z, camera.z + FAR
        r, s = street.road_half, street.sidewalk
        canvas.fill(strip(camera, -r - s, -r, z0, z1) + strip(camera, r, r + s, z0, z1), street.sidewalk_color,
                    SIDEWALK)
        canvas.fill(strip(camera, -r - 0.25, -r, z0, z1) + strip(camera, r, r + 0.25, z0, z1),
                    _shade(street.sidewalk_color, 0.8), SIDEWALK)  # curbs
        canvas.fill(strip(camera, -r, r, z0, z1), street.road_color, ROAD)
        edges = strip(camera, -r + 0.2, -r + 0.45, z0, z1) + strip(camera, r - 0.45, r - 0.2, z0, z1)
        canvas.fill(edges, street.line_color, LANE_MARKING)
        if street.centre_line:
            first = math.floor(z0 / DASH_PERIOD) * DASH_PERIOD
            dashes = [p for k in np.arange(first, z1, DASH_PERIOD) for p in strip(camera, -0.15, 0.15, k, k + DASH)]
            canvas.fill(dashes, street.centre_color, LANE_MARKING)
        if street.sunny:  # the sunny side's buildings shade a band of the far sidewalk and road
            x_out = -street.sun_side * (r + s)
            x_in = x_out + street.sun_side * (s + r * 0.6)
            bands = [p for b in street.buildings if b.side == -street.sun_side
                     for p in strip(camera, min(x_out, x_in), max(x_out, x_in), b.z0, b.z1)]
            canvas.shade(bands)

    def _buildings(self, canvas: Canvas, street: Street, camera: Camera) -> None:
        for b in sorted(street.buildings, key=lambda b: -b.z0):
            if b.z1 < camera.z + NEAR or b.z0 > camera.z + FAR:
                continue
            x = b.side * street.facade
            lit = 1.0 if not street.sunny else (1.1 if b.side == -street.sun_side else 0.72)
            color = _shade(b.color, lit)
            if b.z0 > camera.z + NEAR:  # the end wall, seen across a gap
                end = camera.project(((x, 0.0, b.z0), (x + b.side * 12, 0.0, b.z0),
                                      (x + b.side * 12, b.height, b.z0), (x, b.height, b.z0)))
                canvas.fill([end], _shade(color, 0.85), BUILDING)
            canvas.fill(wall(camera, x, b.z0, b.z1, 0.0, b.height), color, BUILDING)
            canvas.paint(self._windows(camera, b, x), _shade(b.window, lit), disjoint=True)

    def _windows(self, camera: Camera, b: Building, x: float) -> list[np.ndarray]:
        """Window quads of a facade inside the visible depth range; none when they would be tiny."""
        if camera.scale(max(b.z0, camera.z + NEAR)) * (b.z1 - b.z0) / b.columns * 0.5 < 2.0:
            return []
        keep = (b.window_z[:, 0] > camera.z + NEAR) & (b.window_z[:, 1] < camera.z + FAR)
        if not keep.any():
            return []
        zs = b.window_z[keep]
        return list(camera.project_many(np.full(zs.shape, x), b.window_y[keep], zs))

    def _tree(self, canvas: Canvas, camera: Camera, tree: Tree) -> None:
        u, v = camera.ground_point(tree.x, tree.z)
        s = camera.scale(tree.z)
        trunk_w = max(1.0, 0.25 * s)
        canvas.fill([_rect(u - trunk_w / 2, v - tree.trunk * s, u + trunk_w / 2, v)], tree.bark, VEGETATION)
        cy = v - (tree.trunk + tree.crown * 0.7) * s
        canvas.ellipse((u, cy), (tree.crown * s, tree.crown * 1.15 * s), tree.color, VEGETATION)
        canvas.ellipse((u - tree.crown * 0.4 * s, cy + tree.crown * 0.3 * s), (tree.crown * 0.6 * s,) * 2,
                       _shade(tree.color, 0.8), VEGETATION)

    def _car(self, canvas: Canvas, camera: Camera, car: Car) -> None:
        x0, x1 = car.x - car.width / 2, car.x + car.width / 2
        z0, z1 = car.z, car.z + car.length
        belt, body, top = car.height * 0.55, car.color, car.height
        glass = _shade(body, 0.25) if sum(body) > 200 else (25, 30, 40)
        canvas.shade(strip(camera, x0 - 0.25, x1 + 0.25, z0 - 0.4, z1 + 0.2))
        if camera.scale(z0) * car.width < 6:  # a few pixels wide: one box is all that shows
            canvas.fill([face(camera, x0, x1, 0.0, top, z0)], body, CAR)
            return
        side = x1 if x1 < camera.x else (x0 if x0 > camera.x else None)
        if side is not None:  # the side facing the camera, from the near face to the far one
            inset = 0.18 if side == x0 else -0.18
            canvas.fill(wall(camera, side, z0, z1, 0.15, belt), _shade(body, 0.8), CAR)
            canvas.fill(wall(camera, side + inset, z0 + 0.6, z1 - 0.5, belt, top), glass, CAR)
        wheels = [face(camera, a, a + 0.3, 0.0, 0.35, z0 + 0.1) for a in (x0 + 0.05, x1 - 0.35)]
        roof = camera.project(((x0 + 0.3, top, z0 + 0.4), (x1 - 0.3, top, z0 + 0.4), (x1 - 0.3, top, z1 - 0.5),
                               (x0 + 0.3, top, z1 - 0.5)))
        cabin = camera.project(((x0 + 0.18, belt, z0 + 0.4), (x1 - 0.18, belt, z0 + 0.4),
                                (x1 - 0.3, top, z0 + 0.4), (x0 + 0.3, top, z0 + 0.4)))
        lamps = [face(camera, a, a + 0.25, 0.6, 0.75, z0) for a in (x0 + 0.08, x1 - 0.33)]
        canvas.fill(wheels, (20, 20, 20), CAR)
        canvas.fill([face(camera, x0, x1, 0.15, belt, z0)], body, CAR)
        canvas.fill([roof], _shade(body, 1.1), CAR)  # seen only from above; else the cabin covers it
        canvas.fill([cabin], glass, CAR)
        canvas.paint(lamps, (230, 30, 30) if car.speed >= 0 else (240, 235, 200))

    def _person(self, canvas: Canvas, camera: Camera, p: Person) -> None:
        u, v = camera.ground_point(p.x, p.z)
        s = camera.scale(p.z) * p.height
        if s < 4:
            return
        stride = 0.08 * s * math.sin(p.phase)
        leg_w, hip = 0.07 * s, 0.47 * s
        legs = [np.array([[u + dx - leg_w / 2 - off, v], [u + dx + leg_w / 2 - off, v],
                          [u + dx + leg_w / 2, v - hip], [u + dx - leg_w / 2, v - hip]]).round().astype(np.int32)
                for dx, off in ((-0.05 * s, stride), (0.05 * s, -stride))]
        canvas.fill(legs, p.trousers, PERSON)
        torso = _rect(u - 0.12 * s, v - 0.82 * s, u + 0.12 * s, v - hip + 0.02 * s)
        arms = [_rect(u + d - 0.035 * s, v - 0.8 * s, u + d + 0.035 * s, v - 0.5 * s) for d in (-0.15 * s, 0.15 * s)]
        canvas.fill([torso] + arms, p.shirt, PERSON)
        canvas.ellipse((u, v - 0.9 * s), (0.06 * s, 0.075 * s), p.skin, PERSON)

    def _photometric(self, canvas: Canvas, street: Street, offset: tuple[int, int] | None) -> np.ndarray:
        """Texture per class, global light, vignetting and shadows: the image only, labels unchanged."""
        height, width = self.size
        if offset is None:
            offset = (int(self.rng.integers(0, height)), int(self.rng.integers(0, width)))
        oy, ox = offset[0] % height, offset[1] % width
        noise = cv2.multiply(self.texture[oy:oy + height, ox:ox + width], cv2.LUT(canvas.labels, TEXTURE))
        gain = self.vignette * np.float32(street.light)
        gain[canvas.shadow.view(bool)] *= np.float32(SHADOW_LIGHT)
        out = cv2.add(canvas.image, cv2.cvtColor(noise, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_32F)
        out = cv2.multiply(out, cv2.cvtColor(gain, cv2.COLOR_GRAY2RGB))
        return np.clip(out, 0, 255, out=out).astype(np.uint8)
