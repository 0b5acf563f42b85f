"""The LVOS layout (Hong et al., ICCV 2023), where RMem's ``LVOS_Test`` reads it::

    <split>/<split>/JPEGImages/<seq>/<frame>.jpg    every frame, 8-digit frame numbers
    <split>/<split>/Annotations/<seq>/<frame>.png   ground truth (every 5th frame of each object's range)
    <split>/<split>/<split>_meta.json               {"videos": {<seq>: {"objects": {<id>: {"frame_range":
                                                      {"start": N, "end": N, "frame_nums": N}}}}}}

(``<root>/<split>/`` itself may hold these folders; the doubled folder is how the official code reads it.)

Evaluation: the sequences are the folders of ``Annotations/`` (as the official reader); every frame is
read, predicted and written as ``<out>/<seq>/<frame>.png``, and the first frame's output is a copy of its
annotation. The model gets the first frame's mask and, for each object whose ``frame_range`` starts
later, that start frame's annotation restricted to the object's id, on that frame. (The official
``LVOS_Test`` gives only the first mask, so an object that appears later is never segmented; the LVOS
protocol scores each object from its start frame.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import DatasetError
from .protocol import VideoTask
from .sequences import DEFAULT_GAP_RULE, GapRule, check_name, folder_names, list_frames, read_json, select_names
from .vost import check_no_gaps

FRAMES_FOLDER = "JPEGImages"
ANNOTATIONS_FOLDER = "Annotations"
SPLIT_ALIASES = {"val": "valid"}
WEBSITE = "https://lingyihongfd.github.io/lvos.github.io/"
META_WHAT = "meta file (it lists each video's objects and the frame each one starts on)"


def split_folder(root: Path, split: str) -> Path:
    """``<root>/<split>/<split>`` (the official reader's path) if it exists, else ``<root>/<split>``."""
    doubled = root / split / split
    return doubled if doubled.is_dir() else root / split


def meta_path(split_dir: Path, split: str) -> Path:
    return split_dir / f"{split}_meta.json"


def read_starts(path: Path) -> dict[str, dict[int, int]]:
    """Sequence -> object id -> the frame number its ``frame_range`` starts on, checked."""
    data = read_json(path, META_WHAT)
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict) or not videos:
        raise DatasetError(f'{path}: expected {{"videos": {{<seq>: {{"objects": {{<id>: {{"frame_range": ...}}}}}}}}}}')
    starts: dict[str, dict[int, int]] = {}
    for video, entry in videos.items():
        check_name(video, f"{path}: video")
        objects = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objects, dict) or not objects:
            raise DatasetError(f"{path}: video {video!r} lists no objects")
        starts[video] = {}
        for key, item in objects.items():
            obj_id = int(key) if str(key).isdigit() else -1
            if not 1 <= obj_id <= 254:
                raise DatasetError(f"{path}: video {video!r}: object key {key!r} is not an object id 1..254")
            frame_range = item.get("frame_range") if isinstance(item, dict) else None
            start = frame_range.get("start") if isinstance(frame_range, dict) else None
            if isinstance(start, str) and start.isdigit():
                start = int(start)
            if not isinstance(start, int) or isinstance(start, bool) or start < 0:
                raise DatasetError(f"{path}: video {video!r}: object {key} needs a frame number at frame_range.start")
            starts[video][obj_id] = start
    return starts


def lvos_tasks(
    root: str | Path,
    split: str,
    names: Sequence[str] | None = None,
    *,
    gap_rule: GapRule = DEFAULT_GAP_RULE,
    allow_gaps: bool = False,
) -> list[VideoTask]:
    """The sequences of ``Annotations/`` in sorted order (or only ``names``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: dataset folder not found; download LVOS from {WEBSITE} and put it there, or pass --data-root"
        )
    split = SPLIT_ALIASES.get(split, split)
    split_dir = split_folder(root, split)
    if not split_dir.is_dir():
        raise DatasetError(
            f"{split_dir}: folder of split {split!r} not found (expected {FRAMES_FOLDER}/, {ANNOTATIONS_FOLDER}/, "
            f"{meta_path(split_dir, split).name})"
        )
    meta = meta_path(split_dir, split)
    starts = read_starts(meta)
    label_root = split_dir / ANNOTATIONS_FOLDER
    listed = select_names(folder_names(label_root), names, label_root)
    for name in listed:
        check_name(name, str(label_root))
        if name not in starts:
            raise DatasetError(f"{meta}: does not list sequence {name!r} of {label_root}")
    return [_task(split_dir, name, starts[name], meta, gap_rule, allow_gaps) for name in listed]


def _task(
    split_dir: Path, name: str, starts: Mapping[int, int], meta: Path, gap_rule: GapRule, allow_gaps: bool
) -> VideoTask:
    folder = split_dir / FRAMES_FOLDER / name
    frames = list_frames(folder, name)
    label_dir = split_dir / ANNOTATIONS_FOLDER / name
    first_mask = label_dir / f"{frames[0].stem}.png"
    if not first_mask.is_file():
        raise DatasetError(f"{first_mask}: first-frame annotation of sequence {name!r} not found")
    by_number = {int(path.stem): i for i, path in enumerate(frames) if path.stem.isdigit()}
    references = {0: first_mask}
    added: dict[int, tuple[int, ...]] = {}
    for obj_id, start in sorted(starts.items()):
        position = by_number.get(start)
        if position is None:
            raise DatasetError(
                f"{meta}: sequence {name!r}: object {obj_id} starts on frame {start}, "
                f"which is not among the frames of {folder}"
            )
        if position == 0:
            continue
        mask = label_dir / f"{frames[position].stem}.png"
        if not mask.is_file():
            raise DatasetError(
                f"{mask}: annotation of object {obj_id} of sequence {name!r} (its start frame) not found"
            )
        references[position] = mask
        added[position] = (*added.get(position, ()), obj_id)
    if not allow_gaps:
        check_no_gaps(folder, [frame.stem for frame in frames])
    return VideoTask(
        name, tuple(frames), references, tuple(range(len(frames))), gap_rule(len(frames)), reference_ids=added
    )
