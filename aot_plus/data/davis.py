"""The DAVIS layout (DAVIS 2017 and 2016; the long videos share it, see ``longvideos``)::

    JPEGImages/<resolution>/<seq>/<frame>.jpg    every frame (resolution 480p or Full-Resolution)
    Annotations/<resolution>/<seq>/<frame>.png   the ground truth (test-dev: the first frame only)
    ImageSets/<year>/<split>.txt                 one sequence per line (2017: train, val, test-dev)

Evaluation, as the official ``DAVIS_Test``: each listed sequence starts from the annotation of its first
frame and every frame is predicted and written as ``<out>/<seq>/<frame>.png``; the first frame's output
is a copy of its annotation. DAVIS 2016 is single-object: every id above 0 of the first mask is the one
object (id 1), and its first output is that binarised mask. The split ``test`` means ``test-dev``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import DatasetError
from .protocol import VideoTask
from .sequences import DEFAULT_GAP_RULE, GapRule, list_frames, read_sequence_list, select_names
from .vost import check_no_gaps

FRAMES_FOLDER = "JPEGImages"
ANNOTATIONS_FOLDER = "Annotations"
SPLITS_FOLDER = "ImageSets"
RESOLUTIONS = ("480p", "Full-Resolution")
SPLIT_ALIASES = {"test": "test-dev"}
WEBSITE = "https://davischallenge.org/davis2017/code.html"


def split_list(root: Path, year: int, split: str) -> Path:
    return root / SPLITS_FOLDER / str(year) / f"{split}.txt"


def check_root(root: Path, what: str, website: str) -> None:
    if not root.is_dir():
        raise DatasetError(
            f"{root}: dataset folder not found; download {what} from {website} and put it there "
            f"({FRAMES_FOLDER}/<resolution>/, {ANNOTATIONS_FOLDER}/<resolution>/, {SPLITS_FOLDER}/<year>/), "
            "or pass --data-root"
        )


def davis_tasks(
    root: str | Path,
    split: str,
    names: Sequence[str] | None = None,
    *,
    year: int = 2017,
    resolution: str = "480p",
    single_object: bool = False,
    gap_rule: GapRule = DEFAULT_GAP_RULE,
    allow_gaps: bool = False,
    what: str = "DAVIS",
    website: str = WEBSITE,
) -> list[VideoTask]:
    """The sequences of ``ImageSets/<year>/<split>.txt`` in sorted order (or only ``names``)."""
    root = Path(root)
    check_root(root, what, website)
    split = SPLIT_ALIASES.get(split, split)
    list_path = split_list(root, year, split)
    listed = select_names(read_sequence_list(list_path, split), names, list_path)
    return [_task(root, name, resolution, single_object, gap_rule, allow_gaps) for name in listed]


def _task(
    root: Path, name: str, resolution: str, single_object: bool, gap_rule: GapRule, allow_gaps: bool
) -> VideoTask:
    folder = root / FRAMES_FOLDER / resolution / name
    frames = list_frames(folder, name)
    first_mask = root / ANNOTATIONS_FOLDER / resolution / name / f"{frames[0].stem}.png"
    if not first_mask.is_file():
        raise DatasetError(f"{first_mask}: first-frame annotation of sequence {name!r} not found")
    if not allow_gaps:
        check_no_gaps(folder, [frame.stem for frame in frames])
    return VideoTask(
        name,
        tuple(frames),
        {0: first_mask},
        tuple(range(len(frames))),
        gap_rule(len(frames)),
        copy_references=not single_object,
        single_object=single_object,
    )
