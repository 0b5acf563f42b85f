"""Command line of the evaluation, compatible with the official ``evaluation_method.py`` of VOST and of
the DAVIS 2017 toolkit (``--benchmark davis2017 --task semi-supervised --davis_path D``)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from evaluation.benchmarks import BENCHMARKS, get_benchmark, parse_metrics, scores_boundary
from evaluation.dataset import DATASET_KEYS, DEFAULT_RESOLUTION
from evaluation.errors import EvaluationError
from evaluation.per_frame import per_frame_csv_path, per_frame_reuse_blocker, per_frame_table, save_per_frame
from evaluation.provenance import Record, inputs_record, record_path, scoring_options, stale_reason
from evaluation.report import csv_paths, load_tables, save_tables, table_columns
from evaluation.runner import prepare_tasks, score_split, tabulate
from evaluation.sequence import SequenceScores, SequenceTask

TASKS = ("semi-supervised", "unsupervised")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _metrics(text: str) -> tuple[str, ...]:
    try:
        return parse_metrics(text)
    except EvaluationError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; the official options keep their names and defaults."""
    parser = argparse.ArgumentParser(
        prog="python evaluation/evaluation_method.py",
        description="Semi-supervised VOS evaluation on VOST (J and J_tr), as the official VOST code, "
        "or on DAVIS 2017/2016 and sparse long videos (J, F, J&F), as the DAVIS 2017 toolkit.",
    )
    parser.add_argument(
        "--results_path",
        required=True,
        type=Path,
        help="folder holding one <sequence>/ subfolder of <frame>.png predictions per sequence",
    )
    parser.add_argument(
        "--benchmark",
        choices=list(BENCHMARKS),
        default="vost",
        help="protocol: "
        + "; ".join(f"{name}: {spec.description}" for name, spec in BENCHMARKS.items())
        + " (default: vost)",
    )
    parser.add_argument(
        "--dataset_path",
        default=None,
        help="--benchmark vost: VOST-layout folder (Annotations/, ImageSets/), or one of the official keys "
        f"{', '.join(DATASET_KEYS)} (default: vost)",
    )
    parser.add_argument(
        "--davis_path",
        type=Path,
        default=None,
        help="the DAVIS benchmarks: DAVIS-layout folder (JPEGImages/<res>/, Annotations/<res>/, "
        "ImageSets/2017/ or 2016/); required for them",
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default="semi-supervised",
        help="only semi-supervised is scored (default: semi-supervised)",
    )
    parser.add_argument(
        "--resolution",
        default=None,
        help=f"the DAVIS benchmarks: subfolder of JPEGImages/ and Annotations/ (default: {DEFAULT_RESOLUTION})",
    )
    parser.add_argument(
        "--metrics",
        type=_metrics,
        default=None,
        help="J, or J,F to add F and J&F (--benchmark vost; default: J); the DAVIS benchmarks always score J,F",
    )
    parser.add_argument(
        "--exact-decay",
        action="store_true",
        help="the DAVIS benchmarks: Decay over the intended bins, without the toolkit's uint8 wrap of the "
        "bin bounds past 255 frames (the CSV names get an -exact-decay suffix); VOST is always exact",
    )
    parser.add_argument(
        "--set",
        default="val",
        help="split to evaluate, listed in ImageSets/<set>.txt (VOST) or ImageSets/<year>/<set>.txt (DAVIS) "
        "(default: val)",
    )
    parser.add_argument("--re", action="store_true", help="recompute even if the result CSVs exist")
    parser.add_argument(
        "--per-frame",
        action="store_true",
        help="also write per-frame_results-<set>.csv: J (and F when scored) of every object on every scored "
        "frame (columns Sequence, Object, Frame, J)",
    )
    parser.add_argument(
        "--strict-void",
        action="store_true",
        help="leave ground-truth void (255) pixels out of J and F (not the official protocol; "
        "the CSV names get a -strict-void suffix)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="processes scoring sequences in parallel (default: all cores; 1 runs inline)",
    )
    return parser


def _print_tables(split: str, global_table: pd.DataFrame, per_sequence_table: pd.DataFrame) -> None:
    print(f"--------------------------- Global results for {split} ---------------------------")
    print(global_table.to_string(index=False))
    print(f"\n---------- Per sequence results for {split} ----------")
    print(per_sequence_table.to_string(index=False))


def _check_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors (exit status 2), and warnings for options that the chosen benchmark does not use."""
    if args.task != "semi-supervised":
        parser.error(f"--task {args.task}: only the semi-supervised task is scored")
    spec = get_benchmark(args.benchmark)
    try:
        scores_boundary(spec, args.metrics)
    except EvaluationError as err:
        parser.error(str(err))
    if spec.davis_layout:
        if args.davis_path is None:
            parser.error(f"--benchmark {args.benchmark} needs --davis_path (the DAVIS-layout folder)")
        unused = {"--dataset_path": args.dataset_path is not None}
    else:
        unused = {
            "--davis_path": args.davis_path is not None,
            "--resolution": args.resolution is not None,
            "--exact-decay": args.exact_decay,
        }
    for option in (option for option, given in unused.items() if given):
        print(f"warning: ignoring {option}, which --benchmark {args.benchmark} does not use", file=sys.stderr)


def _reuse_blocker(args: argparse.Namespace, paths: tuple[Path, Path], inputs: Record) -> str | None:
    """None if the saved CSVs can be reused; otherwise why not ("" when there is nothing to say)."""
    if args.re or not all(path.is_file() for path in paths):
        return ""
    return stale_reason(record_path(paths), inputs)


def _write_per_frame(
    args: argparse.Namespace,
    tasks: list[SequenceTask],
    inputs: Record,
    scores: list[SequenceScores] | None,
    exact_decay: bool,
) -> None:
    """``--per-frame``: the per-frame CSV, reused while its own record matches ``inputs``; ``scores``
    are those just computed for the tables (None when the tables were reused)."""
    path = per_frame_csv_path(args.results_path, args.set, args.strict_void, exact_decay)
    reason = per_frame_reuse_blocker(path, inputs, args.re)
    if reason is None:
        print(f"Using precomputed per-frame results in {path}: their inputs are unchanged")
        return
    if scores is None:
        print(f"Scoring the frames for {path}{f': {reason}' if reason else ''}")
        scores = score_split(tasks, args.workers)
    save_per_frame(per_frame_table(tasks, scores), path, inputs)
    print(f"Per-frame results saved in {path}")


def run(args: argparse.Namespace) -> None:
    """Evaluate (or reuse the saved CSVs if their inputs are unchanged, unless --re) and print the tables."""
    spec = get_benchmark(args.benchmark)
    exact_decay = args.exact_decay and spec.toolkit_decay
    boundary = scores_boundary(spec, args.metrics)
    resolution = args.resolution or DEFAULT_RESOLUTION
    paths = csv_paths(args.results_path, args.set, args.strict_void, exact_decay)
    if spec.davis_layout:
        dataset_path = args.davis_path
    else:
        dataset_path = "vost" if args.dataset_path is None else args.dataset_path
    tasks = prepare_tasks(
        args.results_path,
        dataset_path,
        args.set,
        args.strict_void,
        benchmark=args.benchmark,
        metrics=args.metrics,
        resolution=resolution,
    )
    inputs = inputs_record(tasks, scoring_options(spec, boundary, args.strict_void, exact_decay, resolution))
    reason = _reuse_blocker(args, paths, inputs)
    scores = None
    if reason is None:
        print(
            f"Using precomputed results in {paths[0]} and {paths[1]}: the predictions, the split and the "
            "options are those they were computed from (pass --re to recompute)"
        )
        global_table, per_sequence_table = load_tables(paths, table_columns(boundary, spec.j_last))
    else:
        if reason:
            print(f"Recomputing the results in {paths[0].parent}: {reason}")
        on = f"{args.benchmark} split" if spec.davis_layout else "split"
        print(f"Evaluating {args.results_path} on {on} {args.set!r}")
        scores = score_split(tasks, args.workers)
        global_table, per_sequence_table = tabulate(scores, args.benchmark, exact_decay)
        save_tables(global_table, per_sequence_table, paths, inputs)
        print(f"Global results saved in {paths[0]}")
        print(f"Per-sequence results saved in {paths[1]}")
    if args.per_frame:
        _write_per_frame(args, tasks, inputs, scores, exact_decay)
    _print_tables(args.set, global_table, per_sequence_table)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (1 with a one-line message on bad input, 2 on bad usage)."""
    start = time.time()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING, stream=sys.stderr)
    if unknown:
        print(f"warning: ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr)
    _check_options(args, parser)
    try:
        run(args)
    except EvaluationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"\nTotal time: {time.time() - start:.1f} s")
    return 0
