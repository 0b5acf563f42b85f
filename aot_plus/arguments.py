"""Argument types shared by the command-line entry points (argparse turns their errors into usage errors)."""

from __future__ import annotations

import argparse
import math
from typing import Any


def _at_least(text: str, minimum: int) -> int:
    value = int(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _at_least(text, 1)


def non_negative_int(text: str) -> int:
    return _at_least(text, 0)


def name_list(text: str) -> list[str]:
    """``a,b`` -> ``["a", "b"]``; empty names dropped, none at all refused."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated sequence names")
    return names


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_test_time_augmentation(parser: argparse.ArgumentParser) -> None:
    """The official evaluator's test-time augmentation flags, ``--flip`` and ``--ms``."""
    parser.add_argument(
        "--flip",
        action="store_true",
        help="test-time augmentation: also segment the mirrored frames (own memories) and average",
    )
    parser.add_argument(
        "--ms",
        type=positive_float,
        nargs="+",
        metavar="S",
        help="test-time augmentation: segment at each of these scales of the official test size (own "
        "memories) and average the probabilities, e.g. --ms 1.0 1.3 (default: 1.0 only)",
    )


def augmentation_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``inference`` config values that ``--flip`` and ``--ms`` set."""
    settings: dict[str, Any] = {}
    if args.flip:
        settings["flip"] = True
    if args.ms:
        settings["scales"] = list(args.ms)
    return settings


def add_numerics(parser: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--tf32``: the arithmetic of inference."""
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="fp32 (official numerics, the default) or autocast bf16/fp16 for speed on a GPU",
    )
    parser.add_argument(
        "--tf32",
        action="store_true",
        help="let a GPU run fp32 convolutions and matmuls in TF32 (faster; off: full float32, which the "
        "fidelity checks use)",
    )


def numerics_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``inference`` config values that ``--precision`` and ``--tf32`` set."""
    settings: dict[str, Any] = {}
    if args.precision:
        settings["precision"] = args.precision
    if args.tf32:
        settings["tf32"] = True
    return settings
