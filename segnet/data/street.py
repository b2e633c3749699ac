"""A procedural street in 3-D (layout, appearance, moving cars and people) and the camera that sees it.

World coordinates in metres: X to the right, Y up, Z forward along the street; the camera looks down +Z
from height `camera.height`, so a point projects to u = cx + f (X - cam_x) / d, v = horizon + f (h - Y) / d
with d = Z - cam_z. segnet.data.street_render draws it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SKY, BUILDING, ROAD, SIDEWALK, LANE_MARKING, VEGETATION, CAR, PERSON = range(8)
CLASS_NAMES = ["sky", "building", "road", "sidewalk", "lane_marking", "vegetation", "car", "person"]
PALETTE = [(70, 130, 180), (70, 70, 70), (128, 64, 128), (244, 35, 232), (255, 255, 0), (107, 142, 35),
           (0, 0, 142), (220, 20, 60)]
FAR = 160.0  # metres drawn ahead of the camera
NEAR = 0.8  # metres: nearer geometry is clipped or skipped
BUILDING_COLORS = [(200, 185, 160), (160, 80, 60), (130, 130, 135), (225, 220, 210), (95, 90, 95), (180, 150, 110)]
CAR_COLORS = [(200, 200, 205), (30, 30, 35), (150, 20, 25), (25, 50, 120), (120, 125, 130), (230, 230, 225),
              (40, 90, 60), (200, 150, 40)]
SKIN_COLORS = [(225, 190, 160), (190, 140, 100), (120, 80, 55), (90, 60, 40)]
PAVING_COLORS = [(165, 160, 150), (185, 175, 160), (150, 110, 100), (140, 140, 135)]


def jitter(rng: np.random.Generator, base: Sequence[int] | np.ndarray, spread: float) -> tuple[int, int, int]:
    """`base` RGB with every channel moved by up to +-spread (clipped to 0..255)."""
    r, g, b = np.clip(np.asarray(base, dtype=np.float64) + rng.uniform(-spread, spread, 3), 0, 255)
    return int(r), int(g), int(b)


def _pick(rng: np.random.Generator, options: Sequence[tuple[int, int, int]]) -> tuple[int, int, int]:
    return options[int(rng.integers(len(options)))]


@dataclass
class Camera:
    """Pinhole camera looking along +Z; `x`, `z` (and `cx` for panning) move, the rest is fixed."""

    focal: float
    cx: float
    horizon: float
    height: float
    x: float = 0.0
    z: float = 0.0

    def project(self, points: Sequence[tuple[float, float, float]]) -> np.ndarray:
        """Nx2 int32 pixel coordinates of a few world points beyond the near plane (plain Python: for a
        handful of points several times faster than numpy)."""
        f, cx, horizon, h, x0, z0 = self.focal, self.cx, self.horizon, self.height, self.x, self.z
        return np.array([(round(cx + f * (x - x0) / (z - z0)), round(horizon + f * (h - y) / (z - z0)))
                         for x, y, z in points], dtype=np.int32)

    def project_many(self, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
        """(..., 2) int32 pixel coordinates of arrays of world points (vectorised, for many points)."""
        depth = zs - self.z
        u = self.cx + self.focal * (xs - self.x) / depth
        v = self.horizon + self.focal * (self.height - ys) / depth
        return np.stack([u, v], axis=-1).round().astype(np.int32)

    def scale(self, z: float) -> float:
        """Pixels per metre at world depth `z`."""
        return self.focal / (z - self.z)

    def ground_point(self, x: float, z: float) -> tuple[float, float]:
        """Pixel position of the ground point (x, 0, z)."""
        s = self.scale(z)
        return self.cx + s * (x - self.x), self.horizon + s * self.height


@dataclass
class Building:
    side: int  # -1 left, +1 right
    z0: float
    z1: float
    height: float
    color: tuple[int, int, int]
    window: tuple[int, int, int]
    floors: int
    columns: int
    window_z: np.ndarray = field(init=False, repr=False)  # (N, 4) corner depths of the window quads
    window_y: np.ndarray = field(init=False, repr=False)  # (N, 4) corner heights

    def __post_init__(self) -> None:
        col, floor = (self.z1 - self.z0) / self.columns, self.height / self.floors
        za, ya = np.meshgrid(self.z0 + col * (np.arange(self.columns) + 0.25), floor * (np.arange(self.floors) + 0.3))
        za, ya = za.ravel(), ya.ravel()
        zb, yb = za + col * 0.5, ya + floor * 0.5
        self.window_z = np.stack([za, zb, zb, za], axis=1)
        self.window_y = np.stack([ya, ya, yb, yb], axis=1)


@dataclass
class Tree:
    x: float
    z: float
    trunk: float
    crown: float
    color: tuple[int, int, int]
    bark: tuple[int, int, int]


@dataclass
class Car:
    x: float
    z: float  # the face nearest the camera
    speed: float  # m/s along Z
    width: float
    height: float
    length: float
    color: tuple[int, int, int]
    parked: bool = False


@dataclass
class Person:
    x: float
    z: float
    vx: float
    vz: float
    height: float
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    phase: float


@dataclass
class Street:
    """The whole scene: layout, appearance and objects. Built by `Street.random`, grown by `extend_to`."""

    rng: np.random.Generator
    road_half: float
    sidewalk: float
    setback: float
    road_color: tuple[int, int, int]
    sidewalk_color: tuple[int, int, int]
    grass_color: tuple[int, int, int]
    line_color: tuple[int, int, int]
    centre_color: tuple[int, int, int]
    sky_top: tuple[int, int, int]
    sky_bottom: tuple[int, int, int]
    sunny: bool
    sun_side: int
    light: float
    centre_line: bool
    buildings: list[Building] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)
    cars: list[Car] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    built_to: dict[int, float] = field(default_factory=lambda: {-1: -20.0, 1: -20.0})

    @property
    def facade(self) -> float:
        """Distance of the building fronts from the street's centre line."""
        return self.road_half + self.sidewalk + self.setback

    @classmethod
    def random(cls, rng: np.random.Generator) -> Street:
        """A street with random width, colours, weather and density of buildings, trees, cars, people."""
        sunny = bool(rng.random() < 0.6)
        if sunny:
            sky_top, sky_bottom = jitter(rng, (70, 120, 200), 25), jitter(rng, (175, 205, 235), 20)
        else:
            grey = int(rng.uniform(150, 215))
            sky_top, sky_bottom = jitter(rng, (grey, grey, grey + 8), 10), jitter(rng, (grey + 25,) * 3, 10)
        asphalt = int(rng.uniform(55, 115))
        white = jitter(rng, (225, 225, 220), 25)
        street = cls(
            rng=rng, road_half=float(rng.uniform(3.5, 7.0)), sidewalk=float(rng.uniform(1.8, 4.0)),
            setback=float(rng.uniform(1.0, 5.0)) if rng.random() < 0.35 else 0.0,
            road_color=jitter(rng, (asphalt, asphalt, asphalt + 4), 6),
            sidewalk_color=jitter(rng, _pick(rng, PAVING_COLORS), 15), grass_color=jitter(rng, (85, 125, 50), 20),
            line_color=white, centre_color=jitter(rng, (220, 180, 40), 20) if rng.random() < 0.4 else white,
            sky_top=sky_top, sky_bottom=sky_bottom, sunny=sunny, sun_side=int(rng.choice([-1, 1])),
            light=float(rng.uniform(0.65, 1.25)), centre_line=bool(rng.random() < 0.85),
        )
        street.extend_to(FAR + 40.0)
        street.cars += [street.new_car(float(rng.uniform(4.0, 70.0))) for _ in range(int(rng.integers(2, 9)))]
        # pedestrians biased towards the camera, where they are more than a few pixels tall
        street.people += [street.new_person(3.0 + 35.0 * float(rng.random()) ** 1.5)
                          for _ in range(int(rng.integers(4, 14)))]
        return street

    def extend_to(self, z_end: float) -> None:
        """Add buildings (with trees and parked cars in front) on both sides up to `z_end`."""
        for side in (-1, 1):
            while self.built_to[side] < z_end:
                self._add_block(side, self.built_to[side] + float(self.rng.uniform(0.0, 6.0)) * (self.rng.random() < 0.4))

    def _add_block(self, side: int, start: float) -> None:
        """One building from `start`, the trees in front of it and maybe a parked car."""
        rng = self.rng
        length = float(rng.uniform(8.0, 28.0))
        floors = int(rng.integers(2, 8))
        self.buildings.append(Building(
            side, start, start + length, float(floors * rng.uniform(3.0, 3.6) + rng.uniform(0, 2)),
            jitter(rng, _pick(rng, BUILDING_COLORS), 18), jitter(rng, (45, 60, 80), 20), floors,
            max(2, int(length / rng.uniform(2.5, 4.0)))))
        self.built_to[side] = start + length
        for z in np.arange(start, start + length, rng.uniform(7.0, 16.0)):
            if rng.random() < 0.55:
                self.trees.append(Tree(
                    side * (self.road_half + self.sidewalk * float(rng.uniform(0.55, 0.85))),
                    float(z + rng.uniform(0, 3)), float(rng.uniform(1.8, 3.2)), float(rng.uniform(1.2, 2.6)),
                    jitter(rng, (60, 105, 45), 25), jitter(rng, (80, 60, 45), 15)))
        if rng.random() < 0.35:
            car = self.new_car(float(start + rng.uniform(0, length)))
            car.x, car.speed, car.parked = side * (self.road_half - car.width / 2 - 0.3), 0.0, True
            self.cars.append(car)

    def new_car(self, z: float) -> Car:
        """A moving car at depth `z`: same direction in the right lane, oncoming in the left one."""
        rng = self.rng
        lane = 1 if rng.random() < 0.5 else -1
        return Car(x=lane * self.road_half / 2 + float(rng.uniform(-0.4, 0.4)), z=z,
                   speed=float(rng.uniform(6.0, 14.0)) * lane, width=float(rng.uniform(1.65, 2.0)),
                   height=float(rng.uniform(1.35, 1.8)), length=float(rng.uniform(3.8, 4.9)),
                   color=jitter(rng, _pick(rng, CAR_COLORS), 20))

    def new_person(self, z: float) -> Person:
        """A pedestrian at depth `z`: walking along a sidewalk, or (sometimes) crossing the road."""
        rng = self.rng
        side = 1 if rng.random() < 0.5 else -1
        crossing = rng.random() < 0.3
        x = float(rng.uniform(-self.road_half, self.road_half)) if crossing else \
            side * (self.road_half + float(rng.uniform(0.4, self.sidewalk - 0.3)))
        speed = float(rng.uniform(0.8, 1.6))
        return Person(x=x, z=z, vx=speed * side if crossing else 0.0, vz=0.0 if crossing else speed * side,
                      height=float(rng.uniform(1.5, 1.95)), shirt=jitter(rng, rng.integers(20, 235, 3), 0),
                      trousers=jitter(rng, rng.integers(20, 160, 3), 0), skin=jitter(rng, _pick(rng, SKIN_COLORS), 12),
                      phase=float(rng.uniform(0, 2 * math.pi)))

    def step(self, dt: float, camera: Camera, camera_speed: float) -> None:
        """Move cars and people by `dt` seconds; replace those that left the visible stretch."""
        lo, hi = camera.z - 10.0, camera.z + FAR
        self.cars = [c for c in self.cars if not (c.parked and c.z + c.length < lo)]
        for i, car in enumerate(self.cars):
            if car.parked:
                continue
            if abs(car.x - camera.x) < 1.6 and 0 < car.z - camera.z < 10 and car.speed < camera_speed:
                car.speed = camera_speed * 1.15  # a car in the camera's lane pulls away instead of being run over
            car.z += car.speed * dt
            if not lo < car.z < hi:
                self.cars[i] = self.new_car(camera.z + float(self.rng.uniform(40.0, 90.0)))
        for i, person in enumerate(self.people):
            person.x += person.vx * dt
            person.z += person.vz * dt
            person.phase += dt * 6.0
            if not lo < person.z < camera.z + 60.0 or abs(person.x) > self.facade:
                self.people[i] = self.new_person(camera.z + float(self.rng.uniform(20.0, 50.0)))
        self.buildings = [b for b in self.buildings if b.z1 > lo]
        self.trees = [t for t in self.trees if t.z > lo]
        self.extend_to(camera.z + FAR + 40.0)
