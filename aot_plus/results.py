"""Writing a results folder: prediction PNGs on worker threads (each file atomic), and what the folder
knows about what made it.

- ``<out>/config.yaml`` records the run: ``settings`` (everything that decides the predictions: model,
  memory policy and constants, inference settings, the weights' SHA-256, the split) and ``provenance``
  (weights path, dataset root, code version). A run into a folder whose settings differ is refused.
- ``<out>/<video>/.finished.json`` marks a video as finished: the digest of the settings that made it
  and the SHA-256 of every file written. A video counts as finished only if both still match, never
  because its PNGs exist.
- ``<out>/.lock`` is held by the run writing into the folder; a second writer is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evaluation.palette import save_index_png

from .errors import RunError
from .files import replace_atomically

CONFIG_FILE = "config.yaml"
RECORD_FILE = ".finished.json"
LOCK_FILE = ".lock"

TEMPORARY_SUFFIX = ".tmp.png"
MAX_PENDING_WRITES = 16
"""Writes queued before `ResultsWriter` waits for the oldest: bounds the masks held in memory."""


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, then rename it over ``path``."""
    with replace_atomically(path, TEMPORARY_SUFFIX) as temporary:
        write(temporary)


def save_prediction(path: Path, ids: np.ndarray, id_table: np.ndarray | None = None) -> None:
    """A palette PNG of original object ids, written atomically. With ``id_table``, ``ids`` are object
    indices that it maps to original ids first (`ObjectIds.id_table`)."""
    if id_table is not None:
        ids = np.take(id_table, ids)
    write_atomically(path, lambda temporary: save_index_png(temporary, ids))


def copy_reference(source: Path, path: Path) -> None:
    """A byte copy of a reference mask, written atomically."""
    write_atomically(path, lambda temporary: shutil.copyfile(source, temporary))


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary PNGs that an interrupted run left behind (only this module's own names)."""
    for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        path.unlink(missing_ok=True)


class ResultsWriter:
    """Writes PNGs on background threads so that encoding overlaps inference; errors surface in ``flush``."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._pending: deque[Future] = deque()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.flush()
        finally:
            self._pool.shutdown(wait=True)

    def save_prediction(self, path: Path, ids: np.ndarray, id_table: np.ndarray | None = None) -> None:
        """Queues `save_prediction`; mapping through ``id_table`` then happens on the writer's thread too."""
        self._submit(save_prediction, path, ids, id_table)

    def copy_reference(self, source: Path, path: Path) -> None:
        self._submit(copy_reference, source, path)

    def _submit(self, write: Callable[..., None], *args: Any) -> None:
        if len(self._pending) >= MAX_PENDING_WRITES:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(write, *args))

    def flush(self) -> None:
        """Waits for every queued write; raises the first error of one."""
        while self._pending:
            self._pending.popleft().result()


# ---------------------------------------------------------------------------------------- provenance
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """The package version and, in a git checkout, its commit (``+dirty`` with uncommitted changes)."""
    try:
        version = metadata.version("rmem")
    except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, e.g. eval_vost.sh without .venv
        version = "uninstalled"
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+{commit}{'.dirty' if dirty else ''}"


def settings_digest(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [
            d
            for key in sorted(set(old) | set(new), key=str)
            for d in _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        ]
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


def _holds_predictions(out_dir: Path) -> bool:
    return out_dir.is_dir() and any(entry.is_dir() and any(entry.glob("*.png")) for entry in out_dir.iterdir())


def check_results_folder(out_dir: Path, settings: Mapping[str, Any], overwrite: bool) -> None:
    """Refuses a folder made with other settings, or holding predictions no recorded run made (unless
    ``overwrite``: then the run replaces what it redoes)."""
    if overwrite:
        return
    config = out_dir / CONFIG_FILE
    if config.is_file():
        try:
            recorded = (yaml.safe_load(config.read_text()) or {}).get("settings")
        except yaml.YAMLError:
            recorded = None
        if not isinstance(recorded, Mapping):
            raise RunError(
                f"{config}: has no readable record of the run's settings; pass --overwrite to replace "
                "the results or choose another --out"
            )
        changes = _differences(recorded, dict(settings))
        if changes:
            raise RunError(
                f"{out_dir}: holds results made with other settings ({'; '.join(changes)}); choose "
                "another --out or pass --overwrite to replace them"
            )
    elif _holds_predictions(out_dir):
        raise RunError(
            f"{out_dir}: holds predictions with no record of the run that made them ({CONFIG_FILE}); "
            "choose another --out or pass --overwrite to replace them"
        )


def write_run_record(out_dir: Path, settings: Mapping[str, Any], provenance: Mapping[str, Any]) -> None:
    text = yaml.safe_dump(
        {"settings": dict(settings), "provenance": {**provenance, "code": code_version()}}, sort_keys=False
    )
    write_atomically(out_dir / CONFIG_FILE, lambda temporary: temporary.write_text(text))


def is_finished(folder: Path, names: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """Whether the record in ``folder`` says these files were written by a run with these settings, and
    the files are still the ones written."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return False
    files = record.get("files", {}) if isinstance(record, dict) else {}
    if record.get("settings") != settings_digest(settings) or sorted(files) != sorted(names):
        return False
    return all((folder / name).is_file() and sha256_of(folder / name) == files[name] for name in names)


def mark_finished(folder: Path, names: Sequence[str], settings: Mapping[str, Any]) -> None:
    record = {"settings": settings_digest(settings), "files": {name: sha256_of(folder / name) for name in names}}
    text = json.dumps(record, indent=1)
    write_atomically(folder / RECORD_FILE, lambda temporary: temporary.write_text(text))


def clear_finished(folder: Path) -> None:
    (folder / RECORD_FILE).unlink(missing_ok=True)


@contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """Holds ``<out>/.lock`` for the block; another process holding it is a `RunError`, and so is a folder
    that cannot be created or written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = open(out_dir / LOCK_FILE, "a+")
    except OSError as err:
        raise RunError(f"{out_dir}: the results folder cannot be written ({err.strerror or err})") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RunError(
                f"{out_dir}: another run ({holder}) is writing into this results folder; wait for it "
                "to finish or choose another --out"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
