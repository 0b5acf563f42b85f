"""The exception every bad input to the evaluation is reported with."""

from __future__ import annotations


class EvaluationError(Exception):
    """Bad input to the evaluation: the message is one line and names the offending file or folder."""
