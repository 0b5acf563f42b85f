"""Segmenting the videos of a benchmark split into a results folder (``<out>/<video>/<frame>.png``).

Each `VideoTask` gets a fresh `InferenceSession` built from the run's `EvalConfig`; its frames go through
`propagate_video`, and the predictions the protocol asks for are written by a `ResultsWriter` (reference
frames as byte copies of their masks). A video that the folder's records mark as finished by a run with
the same settings (see ``aot_plus.results``) is skipped unless ``overwrite``; any other one is segmented
again from its first frame, because the memory cannot be restored mid-video.
"""

from __future__ import annotations

import itertools
import logging
import resource
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..config import EvalConfig
from ..data.io import check_size, read_frames
from ..data.prefetch import prefetched
from ..data.protocol import VideoTask
from ..errors import RunError
from ..files import replace_atomically
from ..models import AOT
from ..results import (
    ResultsWriter,
    clear_finished,
    is_finished,
    mark_finished,
    remove_stale_temporaries,
    sha256_of,
    write_run_record,
)
from .preprocess import Image
from .session import InferenceSession
from .video import propagate_video

logger = logging.getLogger(__name__)


@dataclass
class VideoReport:
    """What segmenting one video took; ``memory`` holds the long-term memory frames after each frame."""

    name: str
    frames: int
    long_term_gap: int
    seconds: float  # model time only: reading and writing files are not counted
    peak_memory: str
    wall_seconds: float = 0.0
    """Wall-clock time of the video: reading frames and writing PNGs included."""
    memory: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """The long-term memory events of the first object group (`MemoryEvent.to_dict`)."""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    @property
    def end_to_end_fps(self) -> float:
        """Frames per second of wall-clock time, frames read and PNGs written included."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else float("inf")


def peak_memory(device: torch.device) -> str:
    """Peak GPU memory of the current video, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
    kib = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
    return f"peak process RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib / 2**30:.2f} GiB"


def make_session(model: AOT, config: EvalConfig, default_gap: int) -> InferenceSession:
    """A session with the run's memory and inference settings; ``default_gap`` is the video's long-term
    gap unless the config sets one."""
    settings = config.inference
    return InferenceSession(
        model,
        memory=config.memory,
        long_term_gap=settings.long_term_gap or default_gap,
        max_size=settings.max_size,
        precision=settings.precision,
        tf32=settings.tf32,
        mask_unused_objects=settings.mask_unused_objects,
        scales=settings.scales,
        flip=settings.flip,
    )


def output_paths(out_dir: Path, task: VideoTask) -> dict[int, Path]:
    """Frame position -> the PNG the protocol writes for it."""
    return {position: out_dir / task.name / task.output_name(position) for position in task.written}


def written_names(task: VideoTask) -> list[str]:
    """File names of the PNGs the protocol writes for the video."""
    return [task.output_name(position) for position in task.written]


def pinned_frame(frame: np.ndarray) -> torch.Tensor:
    """``frame`` in pinned host memory, which a GPU session uploads without the host waiting for the copy."""
    return torch.from_numpy(frame).pin_memory()


def read_video(
    task: VideoTask, stage: Callable[[np.ndarray], Image] | None = None
) -> tuple[Iterator[Image], dict[int, np.ndarray]]:
    """The frames of a video (read ahead on a reader thread) and its reference masks, each checked to have
    the frames' size. ``stage``: what the reader thread does to each frame after the first as well
    (`pinned_frame` for a GPU)."""
    frames = read_frames(task.frames)
    first = next(frames)
    masks = {position: task.read_reference(position) for position in task.references}
    for position, mask in masks.items():
        check_size(task.references[position], mask.shape, first.shape, f"the first frame {task.frames[0].name}")
    later = frames if stage is None else map(stage, frames)
    return itertools.chain([first], prefetched(later)), masks


def segment_video(
    session: InferenceSession,
    task: VideoTask,
    frames: Iterator[Image],
    references: Mapping[int, np.ndarray],
    out_dir: Path,
    writer: ResultsWriter,
    progress: tqdm,
) -> VideoReport:
    """Segments every frame of ``task`` with a fresh ``session`` and queues its PNGs on ``writer``."""
    device = session.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    (out_dir / task.name).mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir / task.name)
    paths = output_paths(out_dir, task)
    started = time.perf_counter()
    report = VideoReport(task.name, len(task), session.long_term_gap, 0.0, "")
    names = task.frame_names
    for result in propagate_video(session, frames, references):
        report.seconds += result.seconds
        path = paths.get(result.position)
        if path is not None and result.is_reference and task.copies_reference(result.position):
            writer.copy_reference(task.references[result.position], path)
        elif path is not None:
            # mapped to ids on the writer's thread: ~3 ms a VOST frame that would keep the device waiting
            writer.save_prediction(path, result.label, session.id_table())
        report.memory.append({"frame": names[result.position], "memory": result.memory_frames})
        progress.update(1)
    writer.flush()
    report.wall_seconds = time.perf_counter() - started
    report.events = [event.to_dict() for event in session.memory_events]
    report.peak_memory = peak_memory(device)
    return report


def run_settings(config: EvalConfig, weights: Path | None, split: str) -> dict[str, Any]:
    """What decides a run's predictions: the config, the weights (their SHA-256) and the split."""
    return {**config.to_dict(), "weights_sha256": "random" if weights is None else sha256_of(weights), "split": split}


def segment_videos(
    model: AOT,
    tasks: Sequence[VideoTask],
    config: EvalConfig,
    out_dir: Path,
    overwrite: bool,
    settings: Mapping[str, Any],
    provenance: Mapping[str, Any],
    is_main: bool = True,
) -> tuple[list[VideoReport], int]:
    """Segments the videos of ``tasks`` not finished yet with these ``settings`` (all of them with
    ``overwrite``). ``is_main``: this process shows progress and writes the run record (rank 0).
    Returns (reports, skipped).

    The caller holds the folder (``folder_lock``) and has checked it (``check_results_folder``) before
    any process writes into it: with several ranks, one rank's first PNGs would otherwise look to a
    later check like predictions no recorded run made."""
    todo = [task for task in tasks if overwrite or not is_finished(out_dir / task.name, written_names(task), settings)]
    skipped = len(tasks) - len(todo)
    if skipped:
        logger.info("skipping %d finished sequence(s) in %s (pass --overwrite to redo them)", skipped, out_dir)
    reports = []
    stage = pinned_frame if next(model.parameters()).device.type == "cuda" else None
    progress = tqdm(
        total=sum(len(task) for task in todo),
        unit="frame",
        desc="Segmenting",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not is_main,
    )
    with progress, logging_redirect_tqdm(), ResultsWriter() as writer:
        for index, task in enumerate(todo):
            progress.set_postfix_str(task.name)
            frames, references = read_video(task, stage)
            if index == 0 and is_main:  # once the first video's inputs are known to be good
                write_run_record(out_dir, settings, provenance)
            clear_finished(out_dir / task.name)
            report = segment_video(
                make_session(model, config, task.long_term_gap), task, frames, references, out_dir, writer, progress
            )
            mark_finished(out_dir / task.name, written_names(task), settings)
            logger.info(
                "%s: %d frames, long-term gap %d, %.2f FPS (%.2f end to end), %s",
                report.name,
                report.frames,
                report.long_term_gap,
                report.fps,
                report.end_to_end_fps,
                report.peak_memory,
            )
            reports.append(report)
    return reports, skipped


ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""The date of every archive entry, so that the same PNGs make a byte-identical archive."""


def write_zip(zip_path: Path, root: Path, folder: Path, tasks: Sequence[VideoTask]) -> int:
    """Writes the PNGs that ``tasks`` write into ``folder`` to ``zip_path``, named relative to ``root``
    (``Annotations/<video>/<frame>.png`` for the YouTube-VOS server), sorted, and nothing else (no run
    records). The archive is written to a temporary name and renamed. Returns the number of PNGs."""
    paths = sorted(path for task in tasks for path in output_paths(folder, task).values())
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise RunError(f"{missing[0]}: missing, so the archive would be incomplete; segment the video again")

    def write(temporary: Path) -> None:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())

    try:
        with replace_atomically(zip_path, ".tmp.zip") as temporary:
            write(temporary)
    except OSError as err:
        raise RunError(f"{zip_path}: cannot write the archive ({err.strerror or err})") from None
    return len(paths)
