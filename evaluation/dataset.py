"""Locating a VOST- or DAVIS-layout dataset and its sequences.

VOST layout: ``<root>/ImageSets/<split>.txt`` lists the sequences, ``<root>/Annotations/<seq>/<frame>.png``
holds the ground truth of the annotated frames.

DAVIS layout: ``<root>/ImageSets/<year>/<split>.txt``, ``<root>/Annotations/<res>/<seq>/<frame>.png`` and
``<root>/JPEGImages/<res>/<seq>/<frame>.jpg`` (every frame; only their names are read).
"""

from __future__ import annotations

from pathlib import Path

from evaluation.errors import EvaluationError

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
"""The folder above ``evaluation/``, against which the official dataset keys are resolved."""

DATASET_KEYS = {"vost": Path("datasets/VOST"), "long_videos": Path("datasets/long_videos")}
"""The official ``--dataset_path`` keys and the folders, under the repository root, they stand for."""

DEFAULT_RESOLUTION = "480p"
"""The DAVIS resolution folder scored by default, as in the DAVIS toolkit."""


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


def resolve_davis_root(davis_path: str | Path) -> Path:
    """The DAVIS folder, which must exist (there are no keys for it)."""
    root = Path(davis_path)
    if not root.is_dir():
        raise EvaluationError(f"{root}: DAVIS folder not found")
    return root


def name_problem(name: str) -> str | None:
    """Why ``name`` from a split list cannot be a sequence folder name, or None if it can.

    A name is joined under ``Annotations/`` and the results folder, so it must not leave them: no path
    separator (``/``, ``\\``; also no leading ``/``), no ``..`` and no leading ``.`` (hidden folders,
    ``.`` itself).
    """
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if ".." in name:
        return "contains '..'"
    if name.startswith("."):
        return "starts with '.'"
    if "\0" in name:
        return "contains a NUL character"
    return None


def read_sequence_names(root: Path, split: str, image_sets: str = "") -> list[str]:
    """Sequence names of ``ImageSets/[<image_sets>/]<split>.txt`` in file order, without blank lines or
    repeats."""
    list_path = root / "ImageSets" / image_sets / f"{split}.txt"
    if not list_path.is_file():
        raise EvaluationError(f"{list_path}: sequence list of split {split!r} not found")
    try:
        text = list_path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise EvaluationError(f"{list_path}: cannot read the sequence list ({err})") from err
    names = [line.strip() for line in text.splitlines()]
    for number, name in enumerate(names, start=1):
        problem = name_problem(name) if name else None
        if problem:
            raise EvaluationError(
                f"{list_path}: line {number}: sequence name {name!r} {problem}; a sequence is a folder "
                "name inside the dataset and the results folder"
            )
    unique_names = list(dict.fromkeys(name for name in names if name))
    if not unique_names:
        raise EvaluationError(f"{list_path}: lists no sequences")
    return unique_names


def annotation_paths(root: Path, sequence: str, resolution: str = "") -> list[Path]:
    """The ground-truth PNGs of a sequence, sorted by name (the annotated frames, in order).

    They are in ``Annotations/<sequence>/``, or ``Annotations/<resolution>/<sequence>/`` (DAVIS).
    """
    folder = root / "Annotations" / resolution / sequence
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


def check_densely_annotated(
    root: Path, sequence: str, resolution: str, annotations: list[Path], benchmark: str
) -> None:
    """Raise unless every frame of ``JPEGImages/<resolution>/<sequence>/`` has an annotation PNG.

    DAVIS scores every frame, so a sequence annotated only every few frames has no DAVIS score; the
    error says so and points to the long-video protocol, which scores the annotated frames only.
    """
    folder = root / "JPEGImages" / resolution / sequence
    frames = sorted(path.stem for path in folder.glob("*.jpg") if not path.name.startswith("."))
    if not frames:
        raise EvaluationError(
            f"{folder}: no JPEG frames for sequence {sequence!r} (needed to check that every frame is annotated)"
        )
    annotated = {path.stem for path in annotations}
    missing = [frame for frame in frames if frame not in annotated]
    if missing:
        raise EvaluationError(
            f"{annotations[0].parent}: sequence {sequence!r} is sparsely annotated ({len(missing)} of the "
            f"{len(frames)} frames in {folder} have no annotation PNG, the first is {missing[0]}); "
            f"--benchmark {benchmark} scores every frame, use --benchmark longvideos for sparse annotations"
        )
