"""Segment a benchmark split and score it: ``python -m aot_plus.eval``.

    python -m aot_plus.eval --model r50_deaotl \\
        --ckpt pretrain_models/aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth --data-root datasets/VOST
    python -m aot_plus.eval --dataset davis2017 --ckpt F --data-root datasets/DAVIS --split val
    python -m aot_plus.eval --dataset youtubevos2019 --ckpt F --data-root datasets/YTB --zip

``--dataset`` (default ``vost``) picks the layout reader, the default split and data root, the official
per-dataset defaults and the scorer (``aot_plus.data.registry``). With VOST, each sequence of
``ImageSets/<split>.txt`` starts from its first annotation; every later frame of ``JPEGImages_10fps`` is
predicted with the chosen memory policy and the official per-sequence long-term gap (see
``aot_plus.data.vost``), and ``<out>/<sequence>/<frame>.png`` receives the official write-back
(``aot_plus.inference.runner``). The other datasets follow their own readers (``aot_plus.data.davis``,
``youtubevos``, ``lvos``, ``longvideos``); YouTube-VOS and MOSE write ``<out>/Annotations/...`` and
``--zip`` packs it for the server. The results are then scored with the ``evaluation`` package where a
local scorer exists (CSVs in the results folder), and the run's config is saved as ``config.yaml`` there.

Settings: ``--model`` and ``--memory`` name configs in ``configs/`` (or YAML files); the flags below and
``KEY=VALUE`` overrides (``memory.recent_frames=4``, ``inference.precision=bf16``) go on top. ``--flip``
and ``--ms`` are the official test-time augmentation (``aot_plus.inference.augmentation``).

Several GPUs: ``torchrun --nproc_per_node N -m aot_plus.eval ...``. Rank r segments sequences r, r + N,
... of the sorted list on ``cuda:<LOCAL_RANK>``; rank 0 then scores and prints.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .arguments import (
    add_numerics,
    add_test_time_augmentation,
    augmentation_settings,
    name_list,
    numerics_settings,
    positive_int,
)
from .checkpoints import load_model
from .config import EvalConfig, load_eval_config
from .data.protocol import VideoTask
from .data.registry import DATASETS, DEFAULT_DATASET, DatasetSpec, Scores, TaskRequest, get_dataset
from .distributed import Ranks, gather_on_main, raise_if_any_rank_failed, resolve_device, start_process_group
from .errors import RunError, run_command
from .host import keep_freed_memory
from .inference.runner import VideoReport, run_settings, segment_videos, write_zip
from .results import check_results_folder, folder_lock, write_atomically

logger = logging.getLogger(__name__)

# Ranks meet only once all of them have finished their sequences, which can take hours on VOST.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=48)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aot_plus.eval",
        description="Segment a benchmark split (VOST by default; first annotation given, later objects "
        "where the benchmark has them) and score it where a local scorer exists.",
    )
    parser.add_argument(
        "--dataset",
        choices=list(DATASETS),
        default=DEFAULT_DATASET,
        help="benchmark: its layout, default split and data root, official defaults and scorer (default: vost)",
    )
    parser.add_argument("--model", default="r50_deaotl", help="model config name or YAML file (default: r50_deaotl)")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--ckpt", type=Path, help="checkpoint file, e.g. pretrain_models/<released file>.pth")
    weights.add_argument("--random-init", action="store_true", help="random weights, only to test the pipeline")
    parser.add_argument(
        "--data-root",
        type=Path,
        help="dataset folder (default: the dataset's, e.g. datasets/VOST, datasets/DAVIS, datasets/YTB)",
    )
    parser.add_argument(
        "--split",
        help="split (default: the dataset's: val for VOST, DAVIS and the long videos; valid for YouTube-VOS, "
        "MOSE and LVOS)",
    )
    parser.add_argument(
        "--resolution",
        help="DAVIS only: the JPEGImages/ and Annotations/ sub-folder, 480p (default) or Full-Resolution",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results folder (default: <results root>/<model>_<memory>_<checkpoint name>/<split> for VOST, "
        ".../<dataset>/<split> for the others; _flip / _ms<scales> added with test-time augmentation)",
    )
    parser.add_argument(
        "--results-root",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="where the default results folders go (default: results)",
    )
    parser.add_argument(
        "--memory",
        default="restricted",
        help="memory config in configs/memory (restricted, restricted_may2024, unrestricted, fifo) "
        "or a YAML file (default: restricted, the RMem bank of 1 + 8 frames)",
    )
    add_numerics(parser)
    parser.add_argument(
        "--mask-unused-objects",
        action="store_true",
        help="never predict object slots that no object uses (the official evaluation does)",
    )
    parser.add_argument(
        "--long-term-gap",
        type=positive_int,
        help="frames between long-term memory writes (default: max(round(N/30), 5) per sequence)",
    )
    add_test_time_augmentation(parser)
    parser.add_argument(
        "--no-temporal-pe",
        action="store_true",
        help="build the model without the temporal embedding (for the vanilla AOT/DeAOT checkpoints)",
    )
    parser.add_argument(
        "--device", help="torch device (default: cuda if available, else cpu; cuda:LOCAL_RANK under torchrun)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="segment every sequence again, also into a folder made with other settings",
    )
    parser.add_argument(
        "--memory-log",
        type=Path,
        metavar="FILE",
        help="write, as JSON, the long-term memory frames after every frame and the memory events "
        "(of the first object group) of each sequence segmented in this run",
    )
    parser.add_argument(
        "--sequences",
        type=name_list,
        metavar="A,B",
        help="segment only these sequences of the split (scoring is then skipped)",
    )
    parser.add_argument("--no-score", action="store_true", help="write the masks only")
    parser.add_argument(
        "--zip",
        action="store_true",
        help="also write the archive to upload: <out>/<dataset>_<split>.zip holding the written PNGs "
        "(Annotations/<video>/<frame>.png for YouTube-VOS and MOSE)",
    )
    parser.add_argument(
        "--score-workers", type=positive_int, help="processes that score sequences (default: all cores)"
    )
    parser.add_argument(
        "--allow-frame-gaps",
        action="store_true",
        help="segment a sequence whose frame numbers skip frames (the official code does so "
        "silently; the long-term memory schedule then shifts)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, e.g. memory.recent_frames=4 inference.precision=bf16",
    )
    return parser


def eval_config(args: argparse.Namespace, spec: DatasetSpec | None = None) -> EvalConfig:
    """The run's config: the model and memory YAMLs, the dataset's defaults, the flags, then the
    KEY=VALUE overrides."""
    inference: dict[str, Any] = {} if spec is None else {"max_size": spec.max_size}
    inference.update(numerics_settings(args))
    if args.mask_unused_objects:
        inference["mask_unused_objects"] = True
    if args.long_term_gap:
        inference["long_term_gap"] = args.long_term_gap
    inference.update(augmentation_settings(args))
    settings = {"inference": inference, "model": {"temporal_pe": False} if args.no_temporal_pe else {}}
    return load_eval_config(args.model, args.memory, settings, args.overrides)


def default_out_dir(
    args: argparse.Namespace, config: EvalConfig, spec: DatasetSpec | None = None, resolution: str = ""
) -> Path:
    """``<results root>/<model>_<memory>_<weights>/<split>`` (VOST) or ``.../<dataset>/<split>[_<resolution>]``,
    with ``_flip`` / ``_ms<scales>`` after the split for test-time augmentation: a folder per checkpoint,
    benchmark and augmentation, so none is scored for another."""
    weights = "random" if args.random_init else args.ckpt.stem
    run_folder = args.results_root / f"{config.model.name}_{Path(args.memory).stem}_{weights}"
    augmentation = augmentation_suffix(config)
    if spec is None or not spec.records_dataset:
        return run_folder / f"{args.split}{augmentation}"
    default_resolution = spec.resolutions[0] if spec.resolutions else ""
    suffix = f"_{resolution}" if resolution != default_resolution else ""
    return run_folder / spec.name / f"{args.split}{suffix}{augmentation}"


def augmentation_suffix(config: EvalConfig) -> str:
    """``""`` without test-time augmentation, else ``_flip``, ``_ms1-1.3`` or both."""
    settings = config.inference
    flip = "_flip" if settings.flip else ""
    scales = "" if settings.scales == (1.0,) else "_ms" + "-".join(f"{scale:g}" for scale in settings.scales)
    return flip + scales


def write_memory_log(path: Path, reports: Sequence[VideoReport], config: EvalConfig) -> None:
    sequences = {
        r.name: {"long_term_gap": r.long_term_gap, "frames": r.memory, "events": r.events}
        for r in sorted(reports, key=lambda r: r.name)
    }
    text = json.dumps({"model": config.model.name, "memory": config.to_dict()["memory"], "sequences": sequences})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: temporary.write_text(text + "\n"))


def segment_on_this_rank(
    args: argparse.Namespace,
    config: EvalConfig,
    tasks: list[VideoTask],
    ranks: Ranks,
    device: torch.device,
    out_dir: Path,
    dataset_settings: dict[str, Any] | None = None,
) -> tuple[list[VideoReport], int]:
    """Loads the model, lets rank 0 check the results folder, then segments this rank's share. No rank
    writes before rank 0's check has passed (a collective waits for it), and a failure anywhere stops all."""
    weights = None if args.random_init else args.ckpt
    error: Exception | None = None
    try:
        model, report = load_model(config.model, weights, device)
        settings = {**run_settings(config, weights, args.split), **(dataset_settings or {})}
        if ranks.is_main:
            check_results_folder(out_dir, settings, args.overwrite)
    except Exception as err:  # shared with the other ranks below
        error = err
    raise_if_any_rank_failed(error, ranks, device, "another rank failed; see its error message")
    if report is None:
        logger.warning(
            "WARNING: --random-init: the model has RANDOM weights; its masks and scores only test the "
            "pipeline and mean nothing"
        )
    else:
        logger.info(
            "loaded %s into %s%s", args.ckpt, config.model.name, "" if report.clean else f" ({report.summary()})"
        )
    provenance = {
        "weights": "random" if weights is None else str(weights.resolve()),
        "data_root": str(args.data_root.resolve()),
    }
    return segment_videos(
        model,
        tasks[ranks.rank :: ranks.world_size],
        config,
        out_dir,
        args.overwrite,
        settings,
        provenance,
        is_main=ranks.is_main,
    )


def run(args: argparse.Namespace, ranks: Ranks) -> Scores | None:
    """Segments this rank's share of the split, then (rank 0) writes the memory log, the archive, and scores."""
    spec = get_dataset(args.dataset)
    args.split = spec.resolve_split(args.split)
    args.data_root = args.data_root or spec.default_root
    resolution = spec.resolve_resolution(args.resolution)
    config = eval_config(args, spec)
    device = resolve_device(args.device, ranks)
    out_root = args.out or default_out_dir(args, config, spec, resolution)
    out_dir = out_root / spec.results_folder if spec.results_folder else out_root
    request = TaskRequest(args.data_root, args.split, args.sequences, resolution, args.allow_frame_gaps)
    tasks = spec.tasks(request)
    dataset_settings = spec.settings(args.split, resolution)
    if ranks.distributed:
        start_process_group(ranks, device, COLLECTIVE_TIMEOUT)
    with ExitStack() as stack:
        error: Exception | None = None
        try:
            if ranks.is_main:  # one writer per results folder; the other ranks are part of this one
                stack.enter_context(folder_lock(out_dir))
        except RunError as err:
            error = err
        message = f"{out_dir}: rank 0 could not take the results folder; see its error message"
        raise_if_any_rank_failed(error, ranks, device, message)
        reports, skipped = _segment_everywhere(args, config, tasks, ranks, device, out_dir, dataset_settings)
        if reports is not None and args.zip:  # still holding the folder, so no other run changes it
            zip_path = out_root / f"{spec.name}_{args.split}.zip"
            count = write_zip(zip_path, out_root, out_dir, tasks)
            logger.info("archive of the %d PNGs of %d sequence(s): %s", count, len(tasks), zip_path)
    if reports is None:
        return None
    summarise(reports, skipped, out_dir)
    if args.memory_log:
        write_memory_log(args.memory_log, reports, config)
        logger.info("memory log of the %d sequence(s) segmented in this run: %s", len(reports), args.memory_log)
    return score(args, spec, request, tasks, out_dir, out_root)


def _segment_everywhere(
    args: argparse.Namespace,
    config: EvalConfig,
    tasks: list[VideoTask],
    ranks: Ranks,
    device: torch.device,
    out_dir: Path,
    dataset_settings: dict[str, Any] | None = None,
) -> tuple[list[VideoReport] | None, int]:
    """Every rank segments its share; rank 0 gets all reports (others: None). A failure on any rank
    stops every rank, so that none waits forever."""
    error: Exception | None = None
    reports: list[VideoReport] = []
    skipped = 0
    try:
        reports, skipped = segment_on_this_rank(args, config, tasks, ranks, device, out_dir, dataset_settings)
    except Exception as err:  # shared with the other ranks below
        error = err
    raise_if_any_rank_failed(error, ranks, device, "another rank failed; see its error message")
    gathered = gather_on_main((reports, skipped), ranks)
    if not ranks.is_main:
        return None, 0
    return [report for part, _ in gathered for report in part], sum(count for _, count in gathered)


def summarise(reports: Sequence[VideoReport], skipped: int, out_dir: Path) -> None:
    frames = sum(r.frames for r in reports)
    seconds, wall = sum(r.seconds for r in reports), sum(r.wall_seconds for r in reports)
    fps = f"{frames / seconds:.2f} FPS model time, {frames / wall:.2f} end to end" if seconds > 0 else "no frames"
    logger.info(
        "segmented %d sequence(s), %d frames, %s; %d already finished; results in %s",
        len(reports),
        frames,
        fps,
        skipped,
        out_dir,
    )


def score(
    args: argparse.Namespace,
    spec: DatasetSpec,
    request: TaskRequest,
    tasks: Sequence[VideoTask],
    out_dir: Path,
    out_root: Path,
) -> Scores | None:
    """Scores the results with the dataset's local scorer, or says where the server's upload is."""
    if args.no_score:
        return None
    if not spec.is_scored_here(args.split):
        upload = out_root / f"{spec.name}_{args.split}.zip" if args.zip else out_dir
        hint = "" if args.zip else " (--zip writes the archive)"
        logger.info(
            "%s %s is scored by its server%s: upload %s%s",
            spec.name,
            args.split,
            f" ({spec.server})" if spec.server else "",
            upload,
            hint,
        )
        return None
    if args.sequences:
        logger.info("not scoring: --sequences selects part of the split; the evaluation scores whole splits")
        return None
    assert spec.score is not None
    with tempfile.TemporaryDirectory(prefix="rmem-scoring-") as workdir:
        inputs = spec.scoring_inputs(request, tasks, Path(workdir))
        if isinstance(inputs, str):
            logger.info("not scoring with --benchmark %s: %s", spec.scorer, inputs)
            return None
        scores = spec.score(out_dir, inputs, args.score_workers)
    logger.info("scores written to %s and %s", *scores.csv_paths)
    print(scores.headline(), flush=True)
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line ``error:`` message on bad input)."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    ranks = Ranks.from_env()
    prefix = f"[rank {ranks.rank}] " if ranks.distributed else ""
    logging.basicConfig(level=logging.INFO, format=f"{prefix}%(message)s", stream=sys.stdout)
    try:
        return run_command(lambda: run(args, ranks) and 0, prefix)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
