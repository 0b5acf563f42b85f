"""Argument types shared by the command-line entry points (argparse turns their errors into usage errors)."""

from __future__ import annotations

import argparse


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
