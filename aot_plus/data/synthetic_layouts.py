"""Synthetic videos (the scenes of ``aot_plus.data.synthetic``) written in the layouts of the other
benchmarks, small enough for end-to-end tests of every reader::

    davis2017    JPEGImages/{480p,Full-Resolution}/<seq>/00000.jpg, Annotations/{480p,Full-Resolution}/...
                 (every frame annotated; test-dev only the first), ImageSets/2017/{train,val,test-dev}.txt,
                 ImageSets/2016/{train,val}.txt; Full-Resolution frames are twice the size
    youtubevos   valid/JPEGImages/<video>/00000.jpg (every STEP-th frame), valid_all_frames/JPEGImages/
                 (every frame), valid/Annotations/<video>/<frame>.png (each object's first frame only, holding
                 the objects that first appear there), valid/meta.json; the MOSE layout too
    longvideos   JPEGImages/480p/, Annotations/480p/ (every STEP-th frame), ImageSets/2017/val.txt; one
                 object per video, no ignore regions (a split's crack is annotated as the object)
    lvos         valid/valid/JPEGImages/<seq>/00000000.jpg, valid/valid/Annotations/ (every STEP-th frame,
                 every object from its start frame), valid/valid/valid_meta.json

In the YouTube-VOS and LVOS layouts the object with the highest id of video 0 (which then has at least two
objects) appears later, on an annotated frame near the middle (``late_objects=False``: every object is in
the first frame). Before that frame it is not drawn at all. Every file depends only on the arguments.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from aot_plus.errors import ConfigError
from aot_plus.labels import IGNORE_ID
from evaluation.palette import save_index_png

from .synthetic import (
    JPEG_QUALITY,
    Scene,
    _check_target,
    _choose_scene,
    _move_into_place,
    _render,
    _validate,
    video_name,
)

LAYOUTS = ("davis2017", "youtubevos", "longvideos", "lvos")
STEP_LAYOUTS = ("youtubevos", "longvideos", "lvos")
"""The layouts whose ``step`` sets the annotated (or sparse) frames."""
SCENE_TRIES = 50
CATEGORY = "shape"


@dataclass(frozen=True)
class Options:
    videos: int
    frames: int
    seed: int
    height: int
    width: int
    step: int
    late_objects: bool


def _scene(options: Options, index: int, scale: int = 1, min_objects: int = 1) -> tuple[Scene, np.random.Generator]:
    """Video ``index``'s scene at ``scale`` times the size, resampled until it has ``min_objects``."""
    scene, rng = None, None
    for attempt in range(SCENE_TRIES):
        seq = np.random.SeedSequence(options.seed, spawn_key=(2, scale, index, attempt))
        rng = np.random.default_rng(seq)
        scene = _choose_scene(rng, index, options.frames, options.height * scale, options.width * scale)
        if len(scene.objects) >= min_objects:
            break
    assert scene is not None and rng is not None
    return scene, rng


def _single_object(scene: Scene) -> Scene:
    """The scene with only its object 1."""
    return replace(scene, objects=tuple(obj for obj in scene.objects if obj.obj_id == 1))


def _frames(scene: Scene, rng: np.random.Generator, starts: dict[int, int]) -> Iterator[tuple[bytes, np.ndarray]]:
    """(JPEG bytes, label map) of every frame; an object with a start frame is not drawn before it."""
    for t in range(scene.frames):
        visible = replace(scene, objects=tuple(obj for obj in scene.objects if starts.get(obj.obj_id, 0) <= t))
        image, labels = _render(visible, t, rng)
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode frame {t} of {scene.name} as JPEG")
        yield encoded.tobytes(), labels


def _late_start(options: Options) -> int:
    """The annotated frame near the middle where a late object first appears (never frame 0)."""
    annotated = list(range(0, options.frames, options.step))
    return annotated[max(1, (len(annotated) - 1) // 2)]


def _starts(options: Options, index: int, scene: Scene) -> dict[int, int]:
    """Object id -> its first frame (objects absent from the mapping start on frame 0)."""
    if not options.late_objects or index != 0:
        return {}
    return {max(obj.obj_id for obj in scene.objects): _late_start(options)}


def _write_list(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}\n" for name in names))


def _write_davis_video(
    root: Path,
    resolution: str,
    scene: Scene,
    rng: np.random.Generator,
    annotated: Callable[[int], bool],
    no_ignore: bool = False,
) -> None:
    """One video in the DAVIS layout; ``no_ignore``: ignore pixels are annotated as object 1."""
    images = root / "JPEGImages" / resolution / scene.name
    labels = root / "Annotations" / resolution / scene.name
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for t, (jpeg, label) in enumerate(_frames(scene, rng, {})):
        (images / f"{t:05d}.jpg").write_bytes(jpeg)
        if annotated(t):
            save_index_png(labels / f"{t:05d}.png", np.where(label == IGNORE_ID, 1, label) if no_ignore else label)


def _davis2017(built: Path, options: Options) -> None:
    """Video 0 in train, the last in test-dev (first frame annotated only), the others in val."""
    names = [video_name(i) for i in range(options.videos)]
    for scale, resolution in ((1, "480p"), (2, "Full-Resolution")):
        for index in range(options.videos):
            scene, rng = _scene(options, index, scale)
            test_dev = index == options.videos - 1
            _write_davis_video(built, resolution, scene, rng, (lambda t: t == 0) if test_dev else (lambda t: True))
    splits = {"train": names[:1], "val": names[1:-1], "test-dev": names[-1:]}
    for split, members in splits.items():
        _write_list(built / "ImageSets" / "2017" / f"{split}.txt", members)
    for split in ("train", "val"):
        _write_list(built / "ImageSets" / "2016" / f"{split}.txt", splits[split])


def _longvideos(built: Path, options: Options) -> None:
    names = []
    for index in range(options.videos):
        scene, rng = _scene(options, index)
        scene = _single_object(scene)
        _write_davis_video(built, "480p", scene, rng, lambda t: t % options.step == 0, no_ignore=True)
        names.append(scene.name)
    _write_list(built / "ImageSets" / "2017" / "val.txt", names)


def _youtubevos(built: Path, options: Options) -> None:
    videos = {}
    for index in range(options.videos):
        scene, rng = _scene(options, index, min_objects=2 if options.late_objects and index == 0 else 1)
        starts = _starts(options, index, scene)
        first = {obj.obj_id: starts.get(obj.obj_id, 0) for obj in scene.objects}
        sparse_dir = built / "valid" / "JPEGImages" / scene.name
        dense_dir = built / "valid_all_frames" / "JPEGImages" / scene.name
        label_dir = built / "valid" / "Annotations" / scene.name
        for folder in (sparse_dir, dense_dir, label_dir):
            folder.mkdir(parents=True)
        for t, (jpeg, label) in enumerate(_frames(scene, rng, starts)):
            (dense_dir / f"{t:05d}.jpg").write_bytes(jpeg)
            if t % options.step == 0:
                (sparse_dir / f"{t:05d}.jpg").write_bytes(jpeg)
            new = [obj_id for obj_id, start in first.items() if start == t]
            if new:
                save_index_png(label_dir / f"{t:05d}.png", np.where(np.isin(label, new), label, 0).astype(np.uint8))
        sparse = list(range(0, options.frames, options.step))
        videos[scene.name] = {
            "objects": {
                str(obj_id): {"category": CATEGORY, "frames": [f"{t:05d}" for t in sparse if t >= start]}
                for obj_id, start in sorted(first.items())
            }
        }
    (built / "valid" / "meta.json").write_text(json.dumps({"videos": videos}, indent=1, sort_keys=True) + "\n")


def _lvos(built: Path, options: Options) -> None:
    split_dir = built / "valid" / "valid"
    videos = {}
    for index in range(options.videos):
        scene, rng = _scene(options, index, min_objects=2 if options.late_objects and index == 0 else 1)
        starts = _starts(options, index, scene)
        first = {obj.obj_id: starts.get(obj.obj_id, 0) for obj in scene.objects}
        images = split_dir / "JPEGImages" / scene.name
        labels = split_dir / "Annotations" / scene.name
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for t, (jpeg, label) in enumerate(_frames(scene, rng, starts)):
            (images / f"{t:08d}.jpg").write_bytes(jpeg)
            if t % options.step == 0:
                save_index_png(labels / f"{t:08d}.png", label)
        annotated = list(range(0, options.frames, options.step))
        videos[scene.name] = {
            "objects": {
                str(obj_id): {
                    "frame_range": {
                        "start": start,
                        "end": annotated[-1],
                        "frame_nums": len([t for t in annotated if t >= start]),
                    }
                }
                for obj_id, start in sorted(first.items())
            }
        }
    (split_dir / "valid_meta.json").write_text(json.dumps({"videos": videos}, indent=1, sort_keys=True) + "\n")


WRITERS: dict[str, tuple[Callable[[Path, Options], None], tuple[str, ...]]] = {
    "davis2017": (_davis2017, ("JPEGImages", "Annotations", "ImageSets")),
    "youtubevos": (_youtubevos, ("valid", "valid_all_frames")),
    "longvideos": (_longvideos, ("JPEGImages", "Annotations", "ImageSets")),
    "lvos": (_lvos, ("valid",)),
}
"""Layout -> (writer, the top-level folders it writes)."""


def generate_layout(
    layout: str,
    out: str | Path,
    videos: int = 3,
    frames: int = 11,
    seed: int = 0,
    height: int = 120,
    width: int = 160,
    step: int = 5,
    late_objects: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic dataset in ``layout`` (one of `LAYOUTS`) to ``out`` and return its root.

    Built in a temporary sibling folder and renamed into place, as `synthetic.generate_dataset`; ``out``
    must be absent or empty unless ``overwrite`` is set, and even then hold only the layout's folders.
    """
    if layout not in WRITERS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of vost, {', '.join(LAYOUTS)}")
    _validate(videos, frames, seed, height, width, 0.5)
    if step < 1 or (layout in STEP_LAYOUTS and step >= frames):
        raise ConfigError(f"step must be in 1..frames-1 ({frames - 1}), got {step}")
    if layout == "davis2017" and videos < 3:
        raise ConfigError(f"the davis2017 layout needs at least 3 videos (train, val, test-dev), got {videos}")
    write, folders = WRITERS[layout]
    root = Path(out).absolute()
    _check_target(root, overwrite, folders, f"{layout}-layout")
    root.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        built.chmod(0o755)
        write(built, Options(videos, frames, seed, height, width, step, late_objects))
        _move_into_place(built, root)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return root
