"""Segment your own video from one mask: ``python -m aot_plus.demo --video PATH --mask PATH``.

    python -m aot_plus.demo --video clip.mp4 --mask clip_first_frame.png
    python -m aot_plus.demo --video frames/ --mask first.png --mask 120:new_object.png --out results/x

The video is an mp4/avi/mov/webm file, read frame by frame with OpenCV, or a folder of jpg/png frames in
natural order (``frame2`` before ``frame10``). The first mask (a palette PNG with DAVIS ids, a
single-channel index PNG, or a black-and-white PNG for one object) gives the objects of the first
segmented frame; ``--mask FRAME:PATH`` adds objects that appear later, on frame FRAME (0-based, counted
in the whole video). Into ``--out`` (default ``results/demo/<video name>``) go ``masks/<frame>.png``
(palette PNGs at the original size), ``overlay.mp4`` (the frames with coloured masks and contours),
``memory.json`` (the long-term memory after each frame and its events, in the ``--memory-log`` format of
``aot_plus.eval``), ``memory_timeline.png`` (``aot_plus.plots``) and ``summary.txt``. ``--flip`` and
``--ms`` add the official test-time augmentation (``aot_plus.inference.augmentation``).

Memory stays flat however long the video: frames are read one at a time, masks and overlay frames are
written as they come, and only the memory's change points (one per long-term write) are kept for the
log, which is streamed to disk at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from evaluation.palette import DAVIS_PALETTE

from .arguments import (
    add_numerics,
    add_test_time_augmentation,
    augmentation_settings,
    non_negative_int,
    numerics_settings,
    positive_int,
)
from .checkpoints import CHECKPOINT_FOLDER, RELEASED_CHECKPOINTS, load_model, missing_checkpoint_message
from .config import EvalConfig, load_eval_config
from .data.io import check_size
from .data.prefetch import prefetched
from .data.video import (
    FOLDER_FPS,
    FrameFolder,
    VideoFile,
    VideoFrame,
    open_video,
    read_object_mask,
    segmented_count,
)
from .data.vost import MIN_LONG_TERM_GAP, long_term_gap
from .distributed import Ranks, resolve_device
from .errors import CheckpointError, DatasetError, RunError, run_command
from .host import keep_freed_memory
from .inference.preprocess import test_time_size
from .inference.runner import make_session, peak_memory
from .inference.session import InferenceSession
from .inference.video import propagate_video
from .memory import MemoryEvent
from .plots import plot_memory_timeline
from .results import ResultsWriter, folder_lock, write_atomically

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
FOURCCS = ("avc1", "mp4v")
"""The overlay's codec: H.264 where OpenCV has an encoder for it, else MPEG-4 Part 2."""
OUTPUTS = ("masks", "overlay.mp4", "memory.json", "memory_timeline.png", "summary.txt")
QUICKSTART_CHECKPOINT = "results/quickstart/train/ema_ckpt/save_step_600.pth"
OVERLAY_ALPHA = 0.5


def mask_argument(text: str) -> tuple[int | None, Path]:
    """``PATH`` (the first segmented frame) or ``FRAME:PATH`` (objects added on frame FRAME)."""
    match = re.fullmatch(r"(\d+):(.+)", text)
    if match and not Path(text).exists():
        return int(match[1]), Path(match[2])
    return None, Path(text)


def reference_frames(specs: Sequence[tuple[int | None, Path]], start: int, stride: int) -> dict[int, Path]:
    """Video frame number -> mask path; exactly one mask must be for the first segmented frame."""
    references: dict[int, Path] = {}
    for frame, path in specs:
        number = start if frame is None else frame
        if number in references:
            raise DatasetError(f"{path}: frame {number} already has the mask {references[number]}")
        if number < start or (number - start) % stride:
            raise DatasetError(
                f"{path}: frame {number} is not segmented (--start {start} --stride {stride} segments "
                f"frames {start}, {start + stride}, {start + 2 * stride}, ...)"
            )
        references[number] = path
    if start not in references:
        raise DatasetError(f"{specs[0][1]}: no mask for the first segmented frame {start} (give it as --mask PATH)")
    return references


def read_references(
    references: Mapping[int, Path], first: VideoFrame, video: VideoFile | FrameFolder, end: int | None
) -> dict[int, np.ndarray]:
    """The masks, each checked to hold an object and to have the frames' size, and to be for a frame that
    the video has."""
    masks = {}
    last = None if video.count is None else min(end or video.count, video.count) - 1
    for number, path in sorted(references.items()):
        if last is not None and number > last:
            raise DatasetError(f"{path}: for frame {number}, but the last segmented frame is {last}")
        mask = read_object_mask(path)
        check_size(path, mask.shape, first.image.shape, f"a frame of {video.path}")
        masks[number] = mask
    return masks


# ------------------------------------------------------------------------------------------- outputs
def overlay_frame(image: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The RGB frame with each object blended in its DAVIS colour and outlined in a brighter one."""
    colours = DAVIS_PALETTE[ids].astype(np.float32)
    inside = ids > 0
    out = image.copy()
    out[inside] = np.rint(image[inside] * (1 - OVERLAY_ALPHA) + colours[inside] * OVERLAY_ALPHA).astype(np.uint8)
    thickness = max(1, round(max(ids.shape) / 400))
    for object_id in np.unique(ids[inside]):
        contours, _ = cv2.findContours((ids == object_id).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        colour = DAVIS_PALETTE[object_id].astype(np.float32)
        bright = tuple(int(c) for c in np.rint(colour * (255.0 / max(float(colour.max()), 1.0))))
        cv2.drawContours(out, contours, -1, bright, thickness)
    return out


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silences file descriptor 2 for the block: FFmpeg writes there directly (not through Python) while
    OpenCV probes an encoder that this build may lack, and the fallback makes those lines noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class OverlayWriter:
    """``overlay.mp4`` written frame by frame into a temporary file, renamed into place by ``close``.

    H.264 ('avc1') where OpenCV can encode it, else MPEG-4 ('mp4v'); ``fourcc`` says which. Both codecs
    need even sizes, so an odd height or width is padded by one repeated row or column.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path = path
        self.temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        self.frames = 0
        height, width = size
        self.padding = ((0, height % 2), (0, width % 2), (0, 0))
        for fourcc in FOURCCS:
            with _quiet_stderr() if fourcc != FOURCCS[-1] else nullcontext():
                writer = cv2.VideoWriter(
                    str(self.temporary), cv2.VideoWriter_fourcc(*fourcc), fps, (width + width % 2, height + height % 2)
                )
            if writer.isOpened():
                self.writer, self.fourcc = writer, fourcc
                return
            writer.release()
        self.temporary.unlink(missing_ok=True)
        raise RunError(f"{path}: OpenCV cannot write an MP4 video here (no encoder for {' or '.join(FOURCCS)})")

    def write(self, image: np.ndarray, ids: np.ndarray) -> None:
        frame = overlay_frame(image, ids)[:, :, ::-1]
        self.writer.write(np.ascontiguousarray(np.pad(frame, self.padding, mode="edge")))
        self.frames += 1

    def close(self, keep: bool) -> None:
        """Finishes the file; ``keep=False`` (a failed run) removes it."""
        self.writer.release()
        if keep:
            self.temporary.replace(self.path)
        else:
            self.temporary.unlink(missing_ok=True)


class MemoryTrack:
    """The long-term memory frames after each segmented frame, kept as change points only (they change at
    long-term writes), so that a long video's log costs memory per write, not per frame."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, list[int]]] = []
        self.count = 0

    def record(self, position: int, frames: list[int]) -> None:
        if not self.changes or self.changes[-1][1] != frames:
            self.changes.append((position, frames))
        self.count = position + 1

    def entries(self, stem: Callable[[int], str]) -> Iterator[dict[str, Any]]:
        """``{"frame": stem(position), "memory": [...]}`` per frame, as in ``aot_plus.eval``'s memory log."""
        bounds = [position for position, _ in self.changes[1:]] + [self.count]
        for (start, frames), stop in zip(self.changes, bounds):
            for position in range(start, stop):
                yield {"frame": stem(position), "memory": frames}


def write_memory_json(
    path: Path,
    config: EvalConfig,
    name: str,
    gap: int,
    entries: Iterator[dict[str, Any]],
    events: Sequence[MemoryEvent],
) -> None:
    """The memory log of ``aot_plus.eval.write_memory_log`` for one sequence, streamed entry by entry."""
    head = {"model": config.model.name, "memory": config.to_dict()["memory"]}
    events_text = json.dumps([event.to_dict() for event in events])

    def write(temporary: Path) -> None:
        with open(temporary, "w") as file:
            file.write(json.dumps(head)[:-1] + f', "sequences": {{{json.dumps(name)}: ')
            file.write(f'{{"long_term_gap": {gap}, "frames": [')
            for i, entry in enumerate(entries):
                file.write((", " if i else "") + json.dumps(entry))
            file.write(f'], "events": {events_text}}}}}}}\n')

    write_atomically(path, write)


def prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuses a folder that holds anything but a lock unless ``overwrite``; then removes the demo's own
    outputs (and nothing else)."""
    present = sorted(p.name for p in out_dir.iterdir() if p.name != ".lock")
    if present and not overwrite:
        shown = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
        raise RunError(
            f"{out_dir}: already holds {shown}; pass --overwrite to replace the results or choose another --out"
        )
    for name in OUTPUTS:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- the run
def checkpoint_path(args: argparse.Namespace, model_name: str) -> Path | None:
    """``--ckpt``, else the released weights in ``pretrain_models/`` (None: ``--random-init``)."""
    if args.random_init:
        return None
    if args.ckpt is not None:
        return args.ckpt
    released = RELEASED_CHECKPOINTS.get(model_name)
    if released is None:
        raise CheckpointError(
            f"--model {model_name}: no released weights; pass --ckpt FILE (for aott e.g. the quickstart's "
            f"{QUICKSTART_CHECKPOINT}) or --random-init to test the pipeline"
        )
    path = Path(CHECKPOINT_FOLDER) / released
    for candidate in (path, REPOSITORY_ROOT / path):
        if candidate.is_file():
            return candidate
    raise CheckpointError(missing_checkpoint_message(path, model_name) + " (or pass --ckpt FILE)")


def demo_config(args: argparse.Namespace) -> EvalConfig:
    inference: dict[str, Any] = {}
    inference.update(numerics_settings(args))
    if args.max_size:
        inference["max_size"] = float(args.max_size)
    if args.long_term_gap:
        inference["long_term_gap"] = args.long_term_gap
    if args.mask_unused_objects:
        inference["mask_unused_objects"] = True
    inference.update(augmentation_settings(args))
    return load_eval_config(args.model, args.memory, {"inference": inference})


@dataclass
class DemoSummary:
    """What a demo run did, as printed and saved in ``summary.txt``."""

    video: Path
    out_dir: Path
    size: tuple[int, int]
    input_sizes: list[tuple[int, int]]
    """The network input size of each test-time augmentation (one without --flip / --ms)."""
    long_term_gap: int
    memory: str
    weights: str
    expected: int | None = None
    """Frames selected by --start/--end/--stride (None when the video does not say its length)."""
    fps_out: float = FOLDER_FPS
    frames: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    peak_memory: str = ""
    fourcc: str = ""
    objects: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        fps = self.frames / self.seconds if self.seconds > 0 else float("inf")
        model_fps = self.frames / self.model_seconds if self.model_seconds > 0 else float("inf")
        height, width = self.size
        sizes = ", ".join(f"{w}x{h}" for h, w in self.input_sizes)
        return [
            f"video: {self.video} ({width}x{height}, processed at {sizes})",
            f"frames: {self.frames}; objects: {len(self.objects)} (ids {', '.join(map(str, self.objects))})",
            f"weights: {self.weights}; memory: {self.memory}, long-term gap {self.long_term_gap}",
            f"time: {self.seconds:.1f} s, {fps:.1f} FPS end to end, {model_fps:.1f} FPS model time",
            f"peak memory: {self.peak_memory.removeprefix('peak ')}",
            f"results in {self.out_dir}: masks/, overlay.mp4 ({self.fourcc}, {self.fps_out:g} fps), memory.json, "
            "memory_timeline.png, summary.txt",
        ]


def segment(args: argparse.Namespace, on_frame: Callable[[int], None] | None = None) -> DemoSummary:
    """Runs the demo; ``on_frame(position)`` is called after each segmented frame (for benchmarks).

    Every input is checked (weights found, video readable, masks valid for its frames) before the output
    folder is touched or the model is loaded."""
    config = demo_config(args)
    weights = checkpoint_path(args, config.model.name)
    video = open_video(args.video)
    references = reference_frames(args.mask, args.start, args.stride)
    frames = video.frames(args.start, args.end, args.stride)
    try:
        first = next(frames)
    except StopIteration:
        raise DatasetError(f"{args.video}: no frame from --start {args.start} on") from None
    masks = read_references(references, first, video, args.end)
    expected = segmented_count(video, args.start, args.end, args.stride)
    gap = config.inference.long_term_gap or (long_term_gap(expected) if expected else MIN_LONG_TERM_GAP)
    out_dir = args.out or Path("results") / "demo" / video.name
    with folder_lock(out_dir):
        prepare_out_dir(out_dir, args.overwrite)
        device = resolve_device(args.device, Ranks())
        model, report = load_model(config.model, weights, device)
        if report is None:
            print(
                "WARNING: --random-init: the model has RANDOM weights; its masks only test the pipeline "
                "and mean nothing",
                file=sys.stderr,
            )
        elif not report.clean:
            print(f"loaded {weights}: {report.summary()}", file=sys.stderr)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        session = make_session(model, config, gap)
        summary = DemoSummary(
            video=args.video,
            out_dir=out_dir,
            size=first.image.shape[:2],
            input_sizes=[
                test_time_size(*first.image.shape[:2], config.inference.max_size, augmentation.scale)
                for augmentation in session.augmentations
            ],
            long_term_gap=gap,
            memory=config.to_dict()["memory"]["policy"],
            weights="random (--random-init)" if weights is None else str(weights),
            expected=expected,
            fps_out=video.fps / args.stride,
        )
        positions = {(number - args.start) // args.stride: mask for number, mask in masks.items()}
        later = prefetched(frames)  # decoded on a reader thread while the model works
        track = _segment_frames(session, video, itertools.chain([first], later), positions, summary, on_frame)
        _write_memory_outputs(args, config, session, video, track, out_dir)
    summary.peak_memory = peak_memory(device)
    summary.objects = session.object_ids[1:]
    text = "\n".join(summary.lines()) + "\n"
    write_atomically(out_dir / "summary.txt", lambda temporary: temporary.write_text(text))
    print(text, end="")
    return summary


def _segment_frames(
    session: InferenceSession,
    video: VideoFile | FrameFolder,
    frames: Iterator[VideoFrame],
    references: Mapping[int, np.ndarray],
    summary: DemoSummary,
    on_frame: Callable[[int], None] | None,
) -> MemoryTrack:
    """The loop: each frame is segmented (``propagate_video``), its mask queued on the PNG writer and its
    overlay written; nothing of a frame is kept after it. ``references``: position -> mask."""
    start = time.perf_counter()
    out_dir = summary.out_dir
    overlay = OverlayWriter(out_dir / "overlay.mp4", summary.fps_out, summary.size)
    summary.fourcc = overlay.fourcc
    track = MemoryTrack()
    shown, fed = itertools.tee(frames)  # the loop and the session read the same frames, one frame apart
    progress = tqdm(total=summary.expected, unit="frame", desc=video.name, file=sys.stderr, dynamic_ncols=True)
    succeeded = False
    try:
        with progress, ResultsWriter() as writer:
            results = propagate_video(session, (frame.image for frame in fed), references)
            # results first: they read a frame ahead, so a frame that cannot be read raises through them
            for result, frame in zip(results, shown):
                ids = session.to_ids(result.label)
                writer.save_prediction(out_dir / "masks" / f"{frame.stem}.png", ids)
                overlay.write(frame.image, ids)
                track.record(result.position, result.memory_frames)
                summary.model_seconds += result.seconds
                progress.update(1)
                if on_frame is not None:
                    on_frame(result.position)
        succeeded = True
    finally:
        overlay.close(keep=succeeded)
    summary.frames = track.count
    summary.seconds = time.perf_counter() - start
    return track


def _write_memory_outputs(
    args: argparse.Namespace,
    config: EvalConfig,
    session: InferenceSession,
    video: VideoFile | FrameFolder,
    track: MemoryTrack,
    out_dir: Path,
) -> None:
    """``memory.json`` and ``memory_timeline.png``, both from the memory's change points and events."""

    def stem(position: int) -> str:
        return video.stem(args.start + position * args.stride)

    events = session.memory_events
    write_memory_json(out_dir / "memory.json", config, video.name, session.long_term_gap, track.entries(stem), events)
    timeline = {"frames": track.entries(stem), "events": [event.to_dict() for event in events]}
    policy = config.to_dict()["memory"]["policy"]
    title = f"{video.name}: long-term memory ({policy}, gap {session.long_term_gap})"
    plot_memory_timeline(timeline, out_dir / "memory_timeline.png", title)


# ------------------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aot_plus.demo",
        description="Segment the objects of a first-frame mask through a video file or a folder of frames.",
    )
    parser.add_argument(
        "--video", type=Path, required=True, help="mp4/avi/mov/webm file, or a folder of jpg/png frames"
    )
    parser.add_argument(
        "--mask",
        type=mask_argument,
        action="append",
        required=True,
        metavar="[FRAME:]PATH",
        help="PNG mask of the first segmented frame (palette/index ids, or black and white for one object); "
        "repeat as FRAME:PATH for objects that appear on a later frame (0-based frame number)",
    )
    parser.add_argument("--model", default="r50_deaotl", help="model config name or YAML file (default: r50_deaotl)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument(
        "--ckpt",
        type=Path,
        help=f"checkpoint (default: the released weights in {CHECKPOINT_FOLDER}/); e.g. one of train_vost.sh "
        f"or the quickstart's {QUICKSTART_CHECKPOINT} (with --model aott --mask-unused-objects)",
    )
    weights.add_argument("--random-init", action="store_true", help="random weights, only to test the pipeline")
    parser.add_argument("--out", type=Path, help="output folder (default: results/demo/<video name>)")
    parser.add_argument(
        "--memory",
        default="restricted",
        help="long-term memory: restricted (RMem, default), unrestricted, fifo, or a memory YAML file",
    )
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    add_numerics(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out")
    parser.add_argument("--start", type=non_negative_int, default=0, help="first frame to segment (default: 0)")
    parser.add_argument("--end", type=positive_int, help="segment the frames before this one (default: all)")
    parser.add_argument("--stride", type=positive_int, default=1, help="segment every N-th frame (default: 1)")
    parser.add_argument(
        "--max-size",
        type=positive_int,
        help="longest edge the frames are processed at (default: 1040, the official test size); "
        "masks are written at the original size",
    )
    parser.add_argument(
        "--long-term-gap",
        type=positive_int,
        help="frames between long-term memory writes (default: max(round(N/30), 5) for N frames, as in VOST)",
    )
    parser.add_argument(
        "--mask-unused-objects",
        action="store_true",
        help="never predict object slots that no object uses (models trained that way: the quickstart's)",
    )
    add_test_time_augmentation(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line ``error:`` message on bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.end is not None and args.end <= args.start:
        parser.error(f"--end {args.end} must be after --start {args.start}")
    keep_freed_memory()
    return run_command(lambda: segment(args) and 0)


if __name__ == "__main__":
    sys.exit(main())
