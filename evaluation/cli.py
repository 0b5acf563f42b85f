"""Command line of the evaluation, compatible with the official ``evaluation_method.py``."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from evaluation.dataset import DATASET_KEYS
from evaluation.errors import EvaluationError
from evaluation.report import csv_paths, load_tables, save_tables
from evaluation.runner import evaluate


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; the official options keep their names and defaults."""
    parser = argparse.ArgumentParser(
        prog="python evaluation/evaluation_method.py",
        description="Semi-supervised VOS evaluation on VOST (J and J_tr), as the official VOST code.",
    )
    parser.add_argument(
        "--results_path", required=True, type=Path,
        help="folder holding one <sequence>/ subfolder of <frame>.png predictions per sequence",
    )
    parser.add_argument(
        "--dataset_path", default="vost",
        help="VOST-layout folder (Annotations/, ImageSets/), or one of the official keys "
        f"{', '.join(DATASET_KEYS)} (default: vost)",
    )
    parser.add_argument(
        "--set", default="val", help="split to evaluate, listed in ImageSets/<set>.txt (default: val)"
    )
    parser.add_argument("--re", action="store_true", help="recompute even if the result CSVs exist")
    parser.add_argument(
        "--strict-void", action="store_true",
        help="leave ground-truth void (255) pixels out of J (not the official protocol; "
        "the CSV names get a -strict-void suffix)",
    )
    parser.add_argument(
        "--workers", type=_positive_int, default=None,
        help="processes scoring sequences in parallel (default: all cores; 1 runs inline)",
    )
    return parser


def _print_tables(split: str, global_table: pd.DataFrame, per_sequence_table: pd.DataFrame) -> None:
    print(f"--------------------------- Global results for {split} ---------------------------")
    print(global_table.to_string(index=False))
    print(f"\n---------- Per sequence results for {split} ----------")
    print(per_sequence_table.to_string(index=False))


def run(args: argparse.Namespace) -> None:
    """Evaluate (or reuse the saved CSVs unless --re) and print the tables."""
    paths = csv_paths(args.results_path, args.set, args.strict_void)
    if all(path.is_file() for path in paths) and not args.re:
        print(f"Using precomputed results in {paths[0]} and {paths[1]} (pass --re to recompute)")
        global_table, per_sequence_table = load_tables(paths)
    else:
        print(f"Evaluating {args.results_path} on split {args.set!r}")
        global_table, per_sequence_table = evaluate(
            args.results_path, args.dataset_path, args.set, args.strict_void, args.workers
        )
        save_tables(global_table, per_sequence_table, paths)
        print(f"Global results saved in {paths[0]}")
        print(f"Per-sequence results saved in {paths[1]}")
    _print_tables(args.set, global_table, per_sequence_table)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (1 with a one-line message on bad input)."""
    start = time.time()
    args, unknown = build_parser().parse_known_args(argv)
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING, stream=sys.stderr)
    if unknown:
        print(f"warning: ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr)
    try:
        run(args)
    except EvaluationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"\nTotal time: {time.time() - start:.1f} s")
    return 0
