"""Synthetic videos written in the exact VOST layout, for tests, the quickstart and smoke training.

A generated root holds::

    JPEGImages_10fps/<video>/frame0000.jpg, frame0001.jpg, ...   every frame
    JPEGImages/<video>/frame0000.jpg, frame0002.jpg, ...         every second frame
    Annotations/<video>/frame0000.png, frame0002.png, ...        the same frames as palette PNGs
    ImageSets/train.txt, ImageSets/val.txt                       one video name per line

Each video shows 1-3 textured objects (ids 1..K, all present in the first annotation) on a textured,
panning background. The objects move, scale, rotate, deform and occlude each other in a fixed depth
order. In the second half of a video an object may undergo a VOST-like state change, named in the
video name (``0003_split_cut``):

- ``split``: the object breaks into 3-4 pieces that drift apart and keep its id;
- ``cut``: a knife crosses the object along a line and the two halves drift apart;
- ``recolor``: the object's colours and texture change into new ones.

Around a break the annotation carries an ignore region (id 255, about 10% of the object's area) where
the image is blurred: the crack in the middle of a splitting object, the knife tip of a cut. Apart from
that region, a mask is exactly the set of pixels where the object is drawn after occlusion. Layouts are
resampled until every object covers at least ``MIN_VISIBLE_FRACTION`` of every annotated frame and
is clearly visible in frame 0 (after ``LAYOUT_TRIES`` tries the most visible layout is kept).

Every file depends only on the arguments: the same seed writes byte-identical files, and video ``i``
is the same whatever the number of videos.

Run ``python -m aot_plus.data.synthetic --out datasets/SynthVOST`` to write the default set; with
``--layout davis2017|youtubevos|longvideos|lvos`` the same kind of scenes are written in another benchmark's
layout (``aot_plus.data.synthetic_layouts``: objects that appear later, sparse annotations, single objects).
"""

from __future__ import annotations

import argparse
import colorsys
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from aot_plus.errors import ConfigError, RunError, run_command
from aot_plus.labels import IGNORE_ID
from evaluation.palette import save_index_png

SPLIT, CUT, RECOLOR = "split", "cut", "recolor"
NO_EVENT_NAME = "move"
EVENT_CYCLE: tuple[tuple[str, ...], ...] = (
    (SPLIT,),
    (CUT,),
    (RECOLOR,),
    (SPLIT, CUT),
    (CUT, RECOLOR),
    (SPLIT, RECOLOR),
    (),
)
"""The state changes of video ``i`` are ``EVENT_CYCLE[i % len(EVENT_CYCLE)]``."""

LAYOUT_FOLDERS = ("JPEGImages_10fps", "JPEGImages", "Annotations", "ImageSets")
JPEG_QUALITY = 95

MIN_VISIBLE_FRACTION = 0.005
"""Every object covers at least this fraction of the frame in every annotated frame (``_choose_scene``)."""
FIRST_FRAME_VISIBLE_FRACTION = 0.7
"""In frame 0 every object shows at least this fraction of its nominal area (pi * radius^2)."""
LAYOUT_TRIES = 30

PATTERNS = ("stripes", "checker", "dots", "rings", "spots")
IGNORE_RADIUS = 0.3  # of the object radius; keeps the ignore area near 9% of the object
MAX_SEPARATION = 0.35  # how far pieces drift from their place, in object radii
NOISE_GRID = 32
CRACK_FRAMES = 3  # frames a split's crack stays blurred and ignored
KNIFE_FRAMES = 4  # frames a knife takes to cross an object


@dataclass(frozen=True)
class Wave:
    """The value ``mean + amplitude * sin(omega * t + phase)`` at frame ``t``."""

    mean: float
    amplitude: float
    omega: float
    phase: float

    def __call__(self, t: float) -> float:
        return float(self.mean + self.amplitude * math.sin(self.omega * t + self.phase))


@dataclass(frozen=True)
class Appearance:
    """How an object is painted: a pattern in object coordinates mixing two RGB colours."""

    colours: np.ndarray  # (2, 3) float32 RGB in 0..255
    pattern: str
    frequency: float
    angle: float
    noise: np.ndarray  # (NOISE_GRID, NOISE_GRID) smooth noise in 0..1, read by the "spots" pattern

    def colour(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(n, 3) colours at object coordinates ``u``, ``v`` (1-D arrays, in object radii)."""
        mix = _pattern_value(self, u, v)
        return self.colours[0] + (self.colours[1] - self.colours[0]) * mix[:, None]


@dataclass(frozen=True)
class Recolor:
    """The object's appearance blends into ``target`` over frames ``start .. start + frames``."""

    start: int
    frames: int
    target: Appearance

    def weight(self, t: int) -> float:
        x = min(max((t - self.start) / self.frames, 0.0), 1.0)
        return x * x * (3.0 - 2.0 * x)


def _separation(t: int, drift_start: int) -> float:
    """How far (in object radii) the pieces have drifted apart at frame ``t``."""
    if t < drift_start:
        return 0.0
    return MAX_SEPARATION * (1.0 - math.exp(-(t - drift_start + 1) / 3.0))


@dataclass(frozen=True)
class Split:
    """The object breaks into equal angular sectors at ``start``; each drifts outwards."""

    start: int
    pieces: int
    first_angle: float

    @property
    def directions(self) -> np.ndarray:
        sector = 2 * math.pi / self.pieces
        angles = self.first_angle + sector * (np.arange(self.pieces) + 0.5)
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)

    def piece_index(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        sector = 2 * math.pi / self.pieces
        turned = np.mod(np.arctan2(v, u) - self.first_angle, 2 * math.pi)
        return np.minimum((turned / sector).astype(np.int64), self.pieces - 1)

    def separation(self, t: int) -> float:
        return _separation(t, self.start)

    def ignore_centre(self, t: int) -> tuple[float, float] | None:
        """Object coordinates of the blurred, unannotatable crack, or None outside the event."""
        return (0.0, 0.0) if self.start <= t < self.start + CRACK_FRAMES else None


@dataclass(frozen=True)
class Cut:
    """A knife crosses the object along the line ``normal . q = offset``; then the halves drift apart."""

    start: int
    knife_frames: int
    normal: tuple[float, float]
    offset: float

    @property
    def directions(self) -> np.ndarray:
        nx, ny = self.normal
        return np.array([[-nx, -ny], [nx, ny]])

    def piece_index(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        nx, ny = self.normal
        return (u * nx + v * ny >= self.offset).astype(np.int64)

    def separation(self, t: int) -> float:
        return _separation(t, self.start + self.knife_frames)

    def ignore_centre(self, t: int) -> tuple[float, float] | None:
        """Object coordinates of the knife tip, whose blurred surroundings are not annotated."""
        if not self.start <= t < self.start + self.knife_frames:
            return None
        progress = (t - self.start + 0.5) / self.knife_frames
        along = -1.2 + 2.4 * progress
        nx, ny = self.normal
        return (self.offset * nx - along * ny, self.offset * ny + along * nx)


@dataclass(frozen=True)
class Pose:
    """Where an object is at one frame."""

    centre: tuple[float, float]  # (x, y) in pixels
    angle: float
    axes: tuple[float, float]  # pixels per object radius along the object's own x and y axes
    harmonics: np.ndarray  # amplitudes of the shape's orders 2, 3, 4


@dataclass(frozen=True)
class SceneObject:
    """One annotated object: a deforming star-shaped blob with its motion, look and state change."""

    obj_id: int
    radius: float
    x: Wave
    y: Wave
    scale: Wave
    stretch: Wave
    initial_angle: float
    spin: float  # radians per frame
    harmonics: tuple[Wave, ...]  # amplitudes of the outline's orders 2, 3 and 4
    harmonic_phases: np.ndarray
    appearance: Appearance
    recolor: Recolor | None
    breakup: Split | Cut | None

    def pose(self, t: int) -> Pose:
        size = self.radius * self.scale(t)
        stretch = self.stretch(t)
        return Pose(
            centre=(self.x(t), self.y(t)),
            angle=self.initial_angle + self.spin * t,
            axes=(size * (1 + stretch), size * (1 - stretch)),
            harmonics=np.array([wave(t) for wave in self.harmonics]),
        )

    def boundary(self, pose: Pose, cos_phi: np.ndarray, sin_phi: np.ndarray) -> np.ndarray:
        """Radius of the outline (in object radii) in the direction (cos_phi, sin_phi)."""
        # cos/sin of 2, 3 and 4 times the angle by multiple-angle formulas: no trigonometric calls per pixel.
        cos2, sin2 = cos_phi * cos_phi - sin_phi * sin_phi, 2 * cos_phi * sin_phi
        cos3, sin3 = cos2 * cos_phi - sin2 * sin_phi, sin2 * cos_phi + cos2 * sin_phi
        cos4, sin4 = cos2 * cos2 - sin2 * sin2, 2 * sin2 * cos2
        result = np.ones_like(cos_phi)
        for (cos_k, sin_k), amplitude, phase in zip(
            ((cos2, sin2), (cos3, sin3), (cos4, sin4)), pose.harmonics, self.harmonic_phases
        ):
            # a * cos(k * phi + phase), expanded
            result += float(amplitude * math.cos(phase)) * cos_k - float(amplitude * math.sin(phase)) * sin_k
        return result


@dataclass(frozen=True)
class Background:
    """A large static texture seen through a panning window, under a slowly changing light."""

    texture: np.ndarray  # (height + 2 * margin, width + 2 * margin, 3) float32 RGB
    pan_x: Wave
    pan_y: Wave
    light: Wave


@dataclass(frozen=True)
class Scene:
    """Everything that defines one video."""

    name: str
    frames: int
    height: int
    width: int
    background: Background
    objects: tuple[SceneObject, ...]  # in depth order, back to front


@dataclass(frozen=True)
class Layer:
    """One object drawn at one frame, inside the pixel box ``box`` of the image."""

    obj_id: int
    box: tuple[slice, slice]
    mask: np.ndarray  # bool, the object's pixels (before occlusion by objects in front)
    u: np.ndarray  # float32 object coordinates of each pixel, for the texture
    v: np.ndarray
    rim: np.ndarray  # float32, 0 at the object's centre, 1 on its outline
    ignore: np.ndarray | None  # bool, pixels annotated 255 and blurred


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32) * 255


def _pixel_unit(height: int, width: int) -> float:
    """Sizes and speeds are tuned for a 120-pixel short side; this scales them to the actual image."""
    return min(height, width) / 120


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Fractal value noise in 0..1 of shape (height, width); ``cells`` sets the coarsest scale."""
    total = np.zeros((height, width), np.float32)
    for octave in range(3):
        across = cells * 2**octave
        down = max(2, round(across * height / width))
        grid = rng.random((down, across), dtype=np.float32)
        total += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) / 2**octave
    return (total - total.min()) / max(float(total.max() - total.min()), 1e-6)


def _pattern_value(look: Appearance, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The pattern's mixing weight in 0..1 at object coordinates ``u``, ``v``."""
    along = u * math.cos(look.angle) + v * math.sin(look.angle)
    across = -u * math.sin(look.angle) + v * math.cos(look.angle)
    k = look.frequency
    if look.pattern == "stripes":
        return 0.5 + 0.5 * np.sin(2 * math.pi * k * along)
    if look.pattern == "checker":
        return 0.5 + 0.5 * np.tanh(4 * np.sin(math.pi * k * along) * np.sin(math.pi * k * across))
    if look.pattern == "dots":
        du = k * along - np.round(k * along)
        dv = k * across - np.round(k * across)
        return np.clip((0.32 - np.hypot(du, dv)) / 0.08, 0.0, 1.0)
    if look.pattern == "rings":
        return 0.5 + 0.5 * np.sin(2 * math.pi * k * np.hypot(u, v))
    if look.pattern == "spots":
        scale = NOISE_GRID / 4
        coords = np.stack([across * scale * k / 2, along * scale * k / 2])
        value = ndimage.map_coordinates(look.noise, coords, order=1, mode="grid-wrap")
        return np.clip((value - 0.5) * 4 + 0.5, 0.0, 1.0)
    raise ValueError(f"unknown pattern {look.pattern!r}")


def _appearance(rng: np.random.Generator, hue: float, pattern: str) -> Appearance:
    bright = _rgb(hue, rng.uniform(0.6, 0.9), rng.uniform(0.8, 1.0))
    dark = _rgb(hue + rng.uniform(-0.06, 0.06), rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.55))
    return Appearance(
        colours=np.stack([bright, dark]),
        pattern=pattern,
        frequency=float(rng.uniform(1.2, 2.2)),
        angle=float(rng.uniform(0, 2 * math.pi)),
        noise=_smooth_noise(rng, NOISE_GRID, NOISE_GRID, 3),
    )


def _wave(rng: np.random.Generator, mean: float, amplitude: float, omega: tuple[float, float]) -> Wave:
    return Wave(mean, amplitude, float(rng.uniform(*omega)), float(rng.uniform(0, 2 * math.pi)))


def _axis_motion(rng: np.random.Generator, extent: int, unit: float) -> Wave:
    """Motion along one image axis: the centre stays inside the middle 76% of ``extent``."""
    mean = rng.uniform(0.3, 0.7) * extent
    amplitude = rng.uniform(0.4, 1.0) * min(mean - 0.12 * extent, 0.88 * extent - mean)
    speed = rng.uniform(0.6, 1.6) * unit  # peak pixels per frame
    return Wave(mean, amplitude, speed / max(amplitude, 1e-6), float(rng.uniform(0, 2 * math.pi)))


def _event_start(rng: np.random.Generator, frames: int) -> int:
    """A state change begins in the second half of the video."""
    first = frames // 2
    return int(rng.integers(first, max(first, int(0.7 * frames)) + 1))


def _scene_object(
    rng: np.random.Generator,
    obj_id: int,
    hue: float,
    pattern: str,
    events: set[str],
    frames: int,
    height: int,
    width: int,
) -> SceneObject:
    unit = _pixel_unit(height, width)
    harmonic_means = rng.uniform(0.0, 0.08, 3)
    harmonic_swings = rng.uniform(0.02, 0.05, 3)
    harmonics = tuple(_wave(rng, m, s, (0.05, 0.2)) for m, s in zip(harmonic_means, harmonic_swings))
    look = _appearance(rng, hue, pattern)
    recolor = None
    if RECOLOR in events:
        new_pattern = PATTERNS[(PATTERNS.index(pattern) + int(rng.integers(1, len(PATTERNS)))) % len(PATTERNS)]
        target = _appearance(rng, hue + 0.5 + rng.uniform(-0.1, 0.1), new_pattern)
        recolor = Recolor(_event_start(rng, frames), max(2, round(0.1 * frames)), target)
    breakup: Split | Cut | None = None
    if SPLIT in events:
        breakup = Split(_event_start(rng, frames), int(rng.integers(3, 5)), float(rng.uniform(0, 2 * math.pi)))
    elif CUT in events:
        angle = rng.uniform(0, 2 * math.pi)
        normal = (math.cos(angle), math.sin(angle))
        breakup = Cut(_event_start(rng, frames), KNIFE_FRAMES, normal, float(rng.uniform(-0.2, 0.2)))
    return SceneObject(
        obj_id=obj_id,
        radius=float(rng.uniform(0.12, 0.18) * min(height, width)),
        x=_axis_motion(rng, width, unit),
        y=_axis_motion(rng, height, unit),
        scale=_wave(rng, rng.uniform(0.9, 1.1), rng.uniform(0.05, 0.15), (0.03, 0.08)),
        stretch=_wave(rng, 0.0, rng.uniform(0.03, 0.1), (0.05, 0.15)),
        initial_angle=float(rng.uniform(0, 2 * math.pi)),
        spin=float(rng.uniform(-0.05, 0.05)),
        harmonics=harmonics,
        harmonic_phases=rng.uniform(0, 2 * math.pi, 3),
        appearance=look,
        recolor=recolor,
        breakup=breakup,
    )


def _background(rng: np.random.Generator, height: int, width: int) -> Background:
    unit = _pixel_unit(height, width)
    margin = math.ceil(0.1 * max(height, width))
    big_h, big_w = height + 2 * margin, width + 2 * margin
    hue = rng.random()
    low = _rgb(hue, rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.45))
    high = _rgb(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.3), rng.uniform(0.55, 0.7))
    blend = _smooth_noise(rng, big_h, big_w, 4)[..., None]
    texture = low + (high - low) * blend
    # Grain that moves with the background, so the texture is not a smooth gradient a model could ignore.
    grain_angle = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:big_h, 0:big_w].astype(np.float32)
    across_grain = (xs * math.cos(grain_angle) + ys * math.sin(grain_angle)) / unit
    streaks = np.sin(0.5 * across_grain + 6 * blend[..., 0])
    texture *= (1 + 0.06 * streaks)[..., None]
    texture += rng.normal(0, 5, (big_h, big_w, 1)).astype(np.float32)
    travel = margin - 1  # at least 3 pixels, as both sides are at least 32
    return Background(
        texture=texture.astype(np.float32),
        pan_x=_wave(rng, margin, travel * rng.uniform(0.3, 1.0), (0.5 * unit / travel, 0.5 * unit / travel)),
        pan_y=_wave(rng, margin, travel * rng.uniform(0.3, 1.0), (0.4 * unit / travel, 0.4 * unit / travel)),
        light=_wave(rng, 1.0, rng.uniform(0.02, 0.06), (0.05, 0.15)),
    )


def video_name(index: int) -> str:
    """The folder name of video ``index``: the index and the state changes that happen in it."""
    events = EVENT_CYCLE[index % len(EVENT_CYCLE)]
    return f"{index:04d}_{'_'.join(events) if events else NO_EVENT_NAME}"


def _sample_scene(rng: np.random.Generator, index: int, frames: int, height: int, width: int) -> Scene:
    events = EVENT_CYCLE[index % len(EVENT_CYCLE)]
    breakups = [event for event in events if event in (SPLIT, CUT)]
    count = int(rng.integers(max(1, len(breakups)), 4))
    first_hue = rng.random()
    hues = [first_hue + k / count + rng.uniform(-0.05, 0.05) for k in range(count)]
    patterns = rng.permutation(PATTERNS)[:count]
    events_of: list[set[str]] = [set() for _ in range(count)]
    for event, holder in zip(breakups, rng.permutation(count)):
        events_of[holder].add(event)
    if RECOLOR in events:
        events_of[int(rng.integers(count))].add(RECOLOR)
    objects = [
        _scene_object(rng, k + 1, hues[k], str(patterns[k]), events_of[k], frames, height, width) for k in range(count)
    ]
    depth_order = rng.permutation(count)
    return Scene(
        name=video_name(index),
        frames=frames,
        height=height,
        width=width,
        background=_background(rng, height, width),
        objects=tuple(objects[k] for k in depth_order),
    )


def _to_object(pose: Pose, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = xs - pose.centre[0], ys - pose.centre[1]
    c, s = math.cos(pose.angle), math.sin(pose.angle)
    return (c * dx + s * dy) / pose.axes[0], (c * dy - s * dx) / pose.axes[1]


def _to_image(pose: Pose, u: float, v: float) -> tuple[float, float]:
    c, s = math.cos(pose.angle), math.sin(pose.angle)
    a, b = u * pose.axes[0], v * pose.axes[1]
    return pose.centre[0] + c * a - s * b, pose.centre[1] + s * a + c * b


def _object_layer(obj: SceneObject, t: int, height: int, width: int) -> Layer | None:
    """Rasterise one object at frame ``t``; None when it lies wholly outside the image."""
    pose = obj.pose(t)
    separation = 0.0 if obj.breakup is None else obj.breakup.separation(t)
    reach = (1 + float(np.abs(pose.harmonics).sum()) + separation) * max(pose.axes) + 4
    x0, x1 = max(0, math.floor(pose.centre[0] - reach)), min(width, math.ceil(pose.centre[0] + reach) + 1)
    y0, y1 = max(0, math.floor(pose.centre[1] - reach)), min(height, math.ceil(pose.centre[1] + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    u, v = _to_object(pose, xs, ys)
    mask = np.zeros(u.shape, bool)
    tex_u, tex_v, rim = (np.zeros(u.shape, np.float32) for _ in range(3))
    breakup = obj.breakup
    directions = np.zeros((1, 2)) if breakup is None else breakup.directions
    for piece, (du, dv) in enumerate(directions):
        pu, pv = u - float(separation * du), v - float(separation * dv)
        distance = np.maximum(np.hypot(pu, pv), 1e-6)
        relative = distance / obj.boundary(pose, pu / distance, pv / distance)
        inside = (relative <= 1.0) & ~mask
        if breakup is not None:
            inside &= breakup.piece_index(pu, pv) == piece
        mask |= inside
        tex_u[inside], tex_v[inside], rim[inside] = pu[inside], pv[inside], relative[inside]
    ignore = None
    centre = None if breakup is None else breakup.ignore_centre(t)
    if centre is not None:
        cx, cy = _to_image(pose, *centre)
        radius = IGNORE_RADIUS * (pose.axes[0] + pose.axes[1]) / 2
        near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
        ignore = near & ((xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2)
    return Layer(obj.obj_id, (slice(y0, y1), slice(x0, x1)), mask, tex_u, tex_v, rim, ignore)


def _layers(scene: Scene, t: int) -> list[Layer]:
    """The objects' layers at frame ``t``, back to front."""
    drawn = (_object_layer(obj, t, scene.height, scene.width) for obj in scene.objects)
    return [layer for layer in drawn if layer is not None]


def _labels(layers: list[Layer], height: int, width: int) -> np.ndarray:
    """The annotation: each pixel takes the id (or 255) of the front-most layer covering it."""
    labels = np.zeros((height, width), np.uint8)
    for layer in layers:
        region = labels[layer.box]
        region[layer.mask] = layer.obj_id
        if layer.ignore is not None:
            region[layer.ignore] = IGNORE_ID
    return labels


def _visibility_score(scene: Scene) -> float:
    """>= 1 when every object is visible enough in every annotated frame, and clearly shown in frame 0."""
    frame_area = scene.height * scene.width
    worst = math.inf
    for t in range(0, scene.frames, 2):
        counts = np.bincount(_labels(_layers(scene, t), scene.height, scene.width).ravel(), minlength=256)
        for obj in scene.objects:
            worst = min(worst, counts[obj.obj_id] / (MIN_VISIBLE_FRACTION * frame_area))
            if t == 0:
                nominal = math.pi * (obj.radius * obj.scale(0)) ** 2
                worst = min(worst, counts[obj.obj_id] / (FIRST_FRAME_VISIBLE_FRACTION * nominal))
    return worst


def _choose_scene(rng: np.random.Generator, index: int, frames: int, height: int, width: int) -> Scene:
    """The first sampled scene whose objects stay visible; after LAYOUT_TRIES, the most visible one."""
    best, best_score = None, -math.inf
    for _ in range(LAYOUT_TRIES):
        scene = _sample_scene(rng, index, frames, height, width)
        score = _visibility_score(scene)
        if score >= 1.0:
            return scene
        if score > best_score:
            best, best_score = scene, score
    assert best is not None
    return best


def _cast_shadow(canvas: np.ndarray, layer: Layer, shift: int, strength: float) -> None:
    """Darken the canvas under a blurred copy of the layer's mask moved down-right by ``shift``."""
    height, width = canvas.shape[:2]
    alpha = cv2.GaussianBlur(layer.mask.astype(np.float32), (0, 0), max(1.0, shift / 2))
    top, left = layer.box[0].start + shift, layer.box[1].start + shift
    bottom, right = min(height, top + alpha.shape[0]), min(width, left + alpha.shape[1])
    if bottom <= top or right <= left:
        return
    canvas[top:bottom, left:right] *= (1 - strength * alpha[: bottom - top, : right - left])[..., None]


def _paint(canvas: np.ndarray, layer: Layer, obj: SceneObject, t: int) -> None:
    region = canvas[layer.box]
    inside = layer.mask
    u, v = layer.u[inside], layer.v[inside]
    colour = obj.appearance.colour(u, v)
    if obj.recolor is not None and (weight := obj.recolor.weight(t)) > 0:
        colour = (1 - weight) * colour + weight * obj.recolor.target.colour(u, v)
    shade = 1.05 - 0.4 * layer.rim[inside] ** 3
    region[inside] = colour * shade[:, None]
    if layer.ignore is not None and layer.ignore.any():
        blurred = cv2.GaussianBlur(region, (0, 0), 1.5)
        region[layer.ignore] = blurred[layer.ignore]


def _render(scene: Scene, t: int, noise: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` as (RGB uint8 image, uint8 label map)."""
    height, width = scene.height, scene.width
    back = scene.background
    pan = np.array([[1, 0, -back.pan_x(t)], [0, 1, -back.pan_y(t)]], np.float32)
    canvas = cv2.warpAffine(
        back.texture, pan, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    ) * back.light(t)
    layers = _layers(scene, t)
    objects = {obj.obj_id: obj for obj in scene.objects}
    shift = max(1, round(min(height, width) / 60))
    for layer in layers:
        _cast_shadow(canvas, layer, shift, 0.35)
        _paint(canvas, layer, objects[layer.obj_id], t)
    canvas += 2.5 * noise.standard_normal(canvas.shape, dtype=np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, _labels(layers, height, width)


def _write_video(root: Path, scene: Scene, rng: np.random.Generator) -> None:
    every = root / "JPEGImages_10fps" / scene.name
    sparse = root / "JPEGImages" / scene.name
    annotations = root / "Annotations" / scene.name
    for folder in (every, sparse, annotations):
        folder.mkdir(parents=True)
    for t in range(scene.frames):
        image, labels = _render(scene, t, rng)
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"{every}: OpenCV could not encode frame {t} as JPEG")
        name = f"frame{t:04d}"
        (every / f"{name}.jpg").write_bytes(encoded.tobytes())
        if t % 2 == 0:
            (sparse / f"{name}.jpg").write_bytes(encoded.tobytes())
            save_index_png(annotations / f"{name}.png", labels)


def _video_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))


def _split_names(names: list[str], seed: int, val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, val) video names; both non-empty when there are at least two videos."""
    if len(names) < 2:
        return list(names), []
    count = min(len(names) - 1, max(1, round(len(names) * val_fraction)))
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, len(names)))).permutation(len(names))
    val = sorted(names[i] for i in order[:count])
    return sorted(set(names) - set(val)), val


def _validate(videos: int, frames: int, seed: int, height: int, width: int, val_fraction: float) -> None:
    checks = (
        (videos >= 1, f"videos must be >= 1, got {videos}"),
        (frames >= 4, f"frames must be >= 4, got {frames}"),
        (seed >= 0, f"seed must be >= 0, got {seed}"),
        (height >= 32, f"height must be >= 32, got {height}"),
        (width >= 32, f"width must be >= 32, got {width}"),
        (0 < val_fraction < 1, f"val_fraction must be in (0, 1), got {val_fraction}"),
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _check_target(
    root: Path, overwrite: bool, folders: tuple[str, ...] = LAYOUT_FOLDERS, kind: str = "VOST-layout"
) -> None:
    """Refuse a target that holds anything, unless told to replace a dataset this module could have written
    (one holding only the layout's ``folders``)."""
    if root.exists() and not root.is_dir():
        raise RunError(f"{root}: exists and is not a folder")
    if not root.exists():
        return
    entries = sorted(entry.name for entry in root.iterdir())
    if not entries:
        return
    if not overwrite:
        raise RunError(f"{root}: folder is not empty; pass overwrite=True (--overwrite) to replace it")
    foreign = [name for name in entries if name not in folders]
    if foreign:
        raise RunError(f"{root}: holds {foreign[:3]}, so it is not a {kind} dataset; not replacing it")


def _move_into_place(built: Path, root: Path) -> None:
    """Rename the finished temp folder to ``root``; an old ``root`` is moved aside first, then deleted."""
    if not root.exists():
        built.rename(root)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
    root.rename(aside / root.name)
    built.rename(root)
    shutil.rmtree(aside)


def generate_dataset(
    out: str | Path,
    videos: int = 8,
    frames: int = 40,
    seed: int = 0,
    height: int = 120,
    width: int = 160,
    val_fraction: float = 0.25,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic VOST-layout dataset to ``out`` and return its root.

    ``frames`` is the number of 10 fps frames per video; every second one is annotated. About
    ``val_fraction`` of the videos (at least one, at most all but one) go to ``val.txt``; a single
    video goes to ``train.txt``. The dataset is built in a temporary sibling folder and renamed into
    place, so a failed run leaves no partial dataset. ``out`` must be absent or empty unless
    ``overwrite`` is set, and even then it may only hold the VOST layout folders.
    """
    _validate(videos, frames, seed, height, width, val_fraction)
    root = Path(out).absolute()
    _check_target(root, overwrite)
    root.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        built.chmod(0o755)
        names = []
        for index in range(videos):
            rng = _video_rng(seed, index)
            scene = _choose_scene(rng, index, frames, height, width)
            _write_video(built, scene, rng)
            names.append(scene.name)
        (built / "ImageSets").mkdir()
        for split, members in zip(("train", "val"), _split_names(names, seed, val_fraction)):
            (built / "ImageSets" / f"{split}.txt").write_text("".join(f"{name}\n" for name in members))
        _move_into_place(built, root)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return root


def main(argv: list[str] | None = None) -> int:
    from .synthetic_layouts import LAYOUTS, generate_layout

    parser = argparse.ArgumentParser(description="Write a synthetic dataset in the VOST layout or another benchmark's.")
    parser.add_argument("--out", required=True, help="dataset root to create, e.g. datasets/SynthVOST")
    parser.add_argument(
        "--layout",
        choices=("vost", *LAYOUTS),
        default="vost",
        help="on-disk layout (default: vost); see aot_plus.data.synthetic_layouts for the others",
    )
    parser.add_argument(
        "--step",
        type=int,
        default=5,
        help="other layouts: every STEP-th frame is annotated (long videos, LVOS) or in valid/ (YouTube-VOS)",
    )
    parser.add_argument(
        "--no-late-objects",
        action="store_true",
        help="YouTube-VOS and LVOS layouts: every object is in the first frame (by default one appears later)",
    )
    parser.add_argument("--videos", type=int, default=8, help="number of videos")
    parser.add_argument("--frames", type=int, default=40, help="10 fps frames per video (every second is annotated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--val-fraction", type=float, default=0.25, help="share of videos listed in val.txt")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing generated dataset")
    args = parser.parse_args(argv)

    def write() -> None:
        if args.layout != "vost":
            root = generate_layout(
                args.layout,
                args.out,
                videos=args.videos,
                frames=args.frames,
                seed=args.seed,
                height=args.height,
                width=args.width,
                step=args.step,
                late_objects=not args.no_late_objects,
                overwrite=args.overwrite,
            )
            print(
                f"wrote {args.videos} videos x {args.frames} frames ({args.height}x{args.width}) "
                f"in the {args.layout} layout to {root}"
            )
            return
        root = generate_dataset(
            args.out, args.videos, args.frames, args.seed, args.height, args.width, args.val_fraction, args.overwrite
        )
        sets = root / "ImageSets"
        train = (sets / "train.txt").read_text().split()
        val = (sets / "val.txt").read_text().split()
        print(
            f"wrote {args.videos} videos x {args.frames} frames ({args.height}x{args.width}) to {root}: "
            f"{len(train)} in ImageSets/train.txt, {len(val)} in ImageSets/val.txt"
        )

    return run_command(write)


if __name__ == "__main__":
    sys.exit(main())
