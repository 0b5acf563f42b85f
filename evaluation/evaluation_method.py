#!/usr/bin/env python
"""``python evaluation/evaluation_method.py ...``: the official entry point of the VOST evaluation."""

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a script, this folder is sys.path[0]; the package must come from the folder above it,
    # and this folder's module names must not shadow others.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
