"""The YouTube-VOS layout (2018 and 2019 under ``<root>/<year>/``; MOSE uses it under ``<root>/``)::

    <split>/JPEGImages/<video>/<frame>.jpg      the frames the server scores (every 5th frame)
    <split>/Annotations/<video>/<frame>.png     each object's mask on the frame where it first appears
    <split>/meta.json                           {"videos": {<video>: {"objects": {<id>: {"frames": [...]}}}}}
    <split>_all_frames/JPEGImages/<video>/...   every frame of the videos (optional)

Evaluation, as the official ``YOUTUBEVOS_Test`` and ``YOUTUBEVOS_DenseTest``: ``meta.json`` lists each
object with the frames it appears in, the first of which carries its mask. The video's frames are the
union of its objects' frames; when ``<split>_all_frames`` exists the model reads every frame of it from
the first of them to the last instead. An object that appears later is added on its first frame (a
reference at that position: predicted, then its mask pasted over the prediction). Only the frames of
``meta.json`` (those of ``<split>/JPEGImages``) are written, as ``Annotations/<video>/<frame>.png``: the
first as a copy of its mask, a later object's first frame as the prediction with the object pasted in.

Without a meta file (MOSE may come without one; only ``meta_required=False`` allows it) every video of
``<split>/JPEGImages`` is read whole, each annotation PNG is a reference, and every frame is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import DatasetError
from .protocol import VideoTask
from .sequences import (
    DEFAULT_GAP_RULE,
    GapRule,
    check_name,
    folder_names,
    list_frames,
    name_problem,
    read_json,
    select_names,
)
from .vost import check_no_gaps

logger = logging.getLogger(__name__)

FRAMES_FOLDER = "JPEGImages"
ANNOTATIONS_FOLDER = "Annotations"
META_FILE = "meta.json"
DENSE_SUFFIX = "_all_frames"
SPLIT_ALIASES = {"val": "valid"}
META_WHAT = "meta file (it lists each video's objects and the frames they appear in)"
WEBSITE = "https://youtube-vos.org/dataset/"

Meta = Mapping[str, Mapping[int, tuple[str, ...]]]
"""Video -> object id -> the frames (file stems) it appears in, the first carrying its mask."""


def read_meta(path: Path) -> dict[str, dict[int, tuple[str, ...]]]:
    """The videos and objects of a YouTube-VOS ``meta.json``, checked."""
    data = read_json(path, META_WHAT)
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict) or not videos:
        raise DatasetError(f'{path}: expected {{"videos": {{<video>: {{"objects": {{<id>: {{"frames": [...]}}}}}}}}}}')
    meta: dict[str, dict[int, tuple[str, ...]]] = {}
    for video, entry in videos.items():
        check_name(video, f"{path}: video")
        objects = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objects, dict) or not objects:
            raise DatasetError(f"{path}: video {video!r} lists no objects")
        parsed: dict[int, tuple[str, ...]] = {}
        for key, item in objects.items():
            obj_id = int(key) if str(key).isdigit() else -1
            if not 1 <= obj_id <= 254:
                raise DatasetError(f"{path}: video {video!r}: object key {key!r} is not an object id 1..254")
            frames = item.get("frames") if isinstance(item, dict) else None
            if (
                not isinstance(frames, list)
                or not frames
                or not all(isinstance(f, str) and not name_problem(f) for f in frames)
            ):
                raise DatasetError(f"{path}: video {video!r}: object {key} needs a list of frame names under 'frames'")
            parsed[obj_id] = tuple(frames)
        meta[video] = parsed
    return meta


def youtubevos_tasks(
    root: str | Path,
    split: str,
    names: Sequence[str] | None = None,
    *,
    year: int | None = None,
    gap_rule: GapRule = DEFAULT_GAP_RULE,
    allow_gaps: bool = False,
    meta_required: bool = True,
    other_meta_names: Sequence[str] = (),
    what: str = "YouTube-VOS",
    website: str = WEBSITE,
) -> list[VideoTask]:
    """The videos of ``<root>[/<year>]/<split>`` in sorted order (or only ``names``).

    ``other_meta_names``: file names under ``root`` (``{split}`` is replaced) tried after
    ``<split>/meta.json``, e.g. MOSE's ``meta_{split}.json``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: dataset folder not found; download {what} from {website} and put it there, or pass --data-root"
        )
    split = SPLIT_ALIASES.get(split, split)
    split_dir = root / str(year) / split if year is not None else root / split
    if not split_dir.is_dir():
        raise DatasetError(
            f"{split_dir}: folder of split {split!r} not found "
            f"(expected {FRAMES_FOLDER}/, {ANNOTATIONS_FOLDER}/, {META_FILE})"
        )
    candidates = [split_dir / META_FILE, *(root / name.format(split=split) for name in other_meta_names)]
    meta_path = next((path for path in candidates if path.is_file()), None)
    if meta_path is None:
        if meta_required:
            raise DatasetError(f"{candidates[0]}: {META_WHAT} not found")
        folder = split_dir / FRAMES_FOLDER
        listed = select_names(folder_names(folder), names, folder)
        logger.info("%s: no meta file; every frame of each video is read and written", split_dir)
        return [_listed_task(split_dir, video, gap_rule, allow_gaps) for video in listed]
    meta = read_meta(meta_path)
    dense_dir = split_dir.with_name(split_dir.name + DENSE_SUFFIX) / FRAMES_FOLDER
    dense = dense_dir if dense_dir.is_dir() else None
    listed = select_names(sorted(meta), names, meta_path)
    if dense is not None:
        logger.info("%s: reading every frame of %s, writing the frames of %s", split, dense, meta_path.name)
    return [_meta_task(split_dir, dense, video, meta[video], meta_path, gap_rule, allow_gaps) for video in listed]


def _meta_task(
    split_dir: Path,
    dense_dir: Path | None,
    video: str,
    objects: Mapping[int, tuple[str, ...]],
    meta_path: Path,
    gap_rule: GapRule,
    allow_gaps: bool,
) -> VideoTask:
    sparse_dir = split_dir / FRAMES_FOLDER / video
    sparse = sorted({stem for frames in objects.values() for stem in frames})
    for stem in sparse:
        if not (sparse_dir / f"{stem}.jpg").is_file():
            raise DatasetError(
                f"{meta_path}: video {video!r} lists frame {stem}, but {sparse_dir / stem}.jpg does not exist"
            )
    if dense_dir is None:
        folder = sparse_dir
        frames = [sparse_dir / f"{stem}.jpg" for stem in sparse]
    else:
        folder = dense_dir / video
        every = list_frames(folder, video)
        index = {path.stem: i for i, path in enumerate(every)}
        absent = [stem for stem in sparse if stem not in index]
        if absent:
            raise DatasetError(
                f"{folder}: frame {absent[0]} of video {video!r} ({meta_path.name}) is not among the frames read"
            )
        frames = every[index[sparse[0]] : index[sparse[-1]] + 1]
    position = {path.stem: i for i, path in enumerate(frames)}
    references: dict[int, Path] = {}
    for obj_id, obj_frames in sorted(objects.items()):
        first = obj_frames[0]
        if first not in position:
            raise DatasetError(
                f"{meta_path}: video {video!r}: object {obj_id} first appears on frame {first}, "
                f"which is not among the frames read from {folder}"
            )
        mask = split_dir / ANNOTATIONS_FOLDER / video / f"{first}.png"
        if not mask.is_file():
            raise DatasetError(f"{mask}: mask of object {obj_id} of video {video!r} (its first frame) not found")
        references[position[first]] = mask
    if 0 not in references:
        raise DatasetError(f"{meta_path}: video {video!r}: no object appears on its first frame {frames[0].stem}")
    if dense_dir is not None and not allow_gaps:
        check_no_gaps(folder, list(position))
    written = tuple(position[stem] for stem in sparse)
    return VideoTask(video, tuple(frames), references, written, gap_rule(len(frames)))


def _listed_task(split_dir: Path, video: str, gap_rule: GapRule, allow_gaps: bool) -> VideoTask:
    folder = split_dir / FRAMES_FOLDER / video
    frames = list_frames(folder, video)
    position = {path.stem: i for i, path in enumerate(frames)}
    label_dir = split_dir / ANNOTATIONS_FOLDER / video
    first_mask = label_dir / f"{frames[0].stem}.png"
    if not first_mask.is_file():
        raise DatasetError(f"{first_mask}: first-frame annotation of video {video!r} not found")
    references: dict[int, Path] = {}
    for mask in sorted(p for p in label_dir.glob("*.png") if not p.name.startswith(".")):
        if mask.stem not in position:
            raise DatasetError(f"{mask}: the annotated frame has no image {folder / mask.stem}.jpg")
        references[position[mask.stem]] = mask
    if not allow_gaps:
        check_no_gaps(folder, list(position))
    return VideoTask(video, tuple(frames), references, tuple(range(len(frames))), gap_rule(len(frames)))
