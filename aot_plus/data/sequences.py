"""What every dataset layout shares: sequence names (from a list file, a meta file or a folder listing),
the frames of a sequence folder, JSON meta files, and the long-term memory gap rule.

Every sequence name is checked by `check_name` wherever it comes from, because it is joined under the
dataset's folders and the results folder: a name with a path separator or a leading ``.`` (``..``
included) would read or write outside them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DatasetError

NAME_RULE = "no path separators, no leading '.'"


def name_problem(name: str) -> bool:
    """Whether ``name`` cannot be a folder name inside the dataset and the results folder."""
    return not name or "/" in name or "\\" in name or "\0" in name or name.startswith(".")


def check_name(name: str, where: str) -> str:
    """``name`` if it is a plain folder name; otherwise a DatasetError naming ``where`` it came from."""
    if name_problem(name):
        raise DatasetError(f"{where}: {name!r} is not a sequence folder name ({NAME_RULE})")
    return name


def read_sequence_list(list_path: Path, split: str) -> list[str]:
    """Sorted, de-duplicated names of a split list (one per line, blank lines skipped; the official
    readers' ``np.unique``), each checked by `check_name`."""
    if not list_path.is_file():
        raise DatasetError(f"{list_path}: sequence list of split {split!r} not found")
    try:
        text = list_path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{list_path}: cannot be read ({err})") from None
    names = set()
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if name:
            names.add(check_name(name, f"{list_path}: line {number}"))
    if not names:
        raise DatasetError(f"{list_path}: lists no sequences")
    return sorted(names)


def folder_names(folder: Path) -> list[str]:
    """Sorted names of the sub-folders of ``folder`` (hidden ones skipped), e.g. LVOS's sequences."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not names:
        raise DatasetError(f"{folder}: holds no sequence folders")
    return names


def select_names(listed: Sequence[str], names: Sequence[str] | None, source: Path | str) -> list[str]:
    """``listed``, or only ``names`` in ``listed`` order (each must be listed by ``source``)."""
    if names is None:
        return list(listed)
    unknown = [name for name in names if name not in listed]
    if unknown:
        raise DatasetError(f"{source}: does not list {', '.join(unknown)}")
    wanted = set(names)
    return [name for name in listed if name in wanted]


def list_frames(folder: Path, name: str) -> list[Path]:
    """The ``.jpg`` frames of a sequence folder sorted by file name (hidden files skipped)."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: frame folder of sequence {name!r} not found")
    frames = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".jpg" and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not frames:
        raise DatasetError(f"{folder}: no .jpg frames")
    return frames


def read_json(path: Path, what: str) -> Any:
    """The content of a JSON file; DatasetError naming it when it is missing or malformed."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DatasetError(f"{path}: cannot be read as JSON ({err})") from None


@dataclass(frozen=True)
class GapRule:
    """The long-term memory gap of a video of N frames: ``max(round(N / frames_per_step), minimum)``.

    The RMem evaluators use ``minimum`` 5 (``TEST_LONG_TERM_MEM_GAP``) and ``frames_per_step`` 30
    (``TEST_MAX_LONG_TERM_MEM_GAP``) on every dataset. ``round`` is Python's (half to even).
    """

    minimum: int = 5
    frames_per_step: int = 30

    def __call__(self, num_frames: int) -> int:
        return max(int(round(num_frames / self.frames_per_step)), self.minimum)


DEFAULT_GAP_RULE = GapRule()
"""The rule of every official RMem evaluator."""
