"""Locating a VOST-layout dataset and its sequences.

Layout: ``<root>/ImageSets/<split>.txt`` lists the sequences, ``<root>/Annotations/<seq>/<frame>.png``
holds the ground truth of the annotated frames.
"""
from __future__ import annotations

from pathlib import Path

from evaluation.errors import EvaluationError

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
"""The folder above ``evaluation/``, against which the official dataset keys are resolved."""

DATASET_KEYS = {"vost": Path("datasets/VOST"), "long_videos": Path("datasets/long_videos")}
"""The official ``--dataset_path`` keys and the folders, under the repository root, they stand for."""


def resolve_dataset_root(dataset_path: str | Path) -> Path:
    """The dataset folder: an existing path as given, else one of the official keys."""
    given = Path(dataset_path)
    if given.is_dir():
        return given
    key = str(dataset_path)
    if key in DATASET_KEYS:
        resolved = REPOSITORY_ROOT / DATASET_KEYS[key]
        if resolved.is_dir():
            return resolved
        raise EvaluationError(f"dataset key {key!r} stands for {resolved}, which does not exist")
    keys = ", ".join(DATASET_KEYS)
    raise EvaluationError(f"dataset path {key!r} does not exist and is not one of the keys {keys}")


def read_sequence_names(root: Path, split: str) -> list[str]:
    """Sequence names of ``ImageSets/<split>.txt`` in file order, without blank lines or repeats."""
    list_path = root / "ImageSets" / f"{split}.txt"
    if not list_path.is_file():
        raise EvaluationError(f"{list_path}: sequence list of split {split!r} not found")
    names = [line.strip() for line in list_path.read_text().splitlines()]
    unique_names = list(dict.fromkeys(name for name in names if name))
    if not unique_names:
        raise EvaluationError(f"{list_path}: lists no sequences")
    return unique_names


def annotation_paths(root: Path, sequence: str) -> list[Path]:
    """The ground-truth PNGs of a sequence, sorted by name (the annotated frames, in order)."""
    folder = root / "Annotations" / sequence
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: annotation folder of sequence {sequence!r} not found")
    # Like the official glob, hidden files are not frames.
    paths = sorted(
        (path for path in folder.glob("*.png") if not path.name.startswith(".")),
        key=lambda path: path.name,
    )
    if len(paths) < 3:
        raise EvaluationError(
            f"{folder}: {len(paths)} annotated frame(s); at least 3 are needed "
            "because the first and the last annotated frames are not scored"
        )
    return paths
