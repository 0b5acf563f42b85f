"""The exceptions for bad user input. Each command-line entry point catches `UserInputError` only, prints its
one-line message as ``error: ...`` and exits with status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

USER_ERROR_STATUS = 2


class UserInputError(Exception):
    """Bad input from the user; the message is one line and names the file, folder or setting."""


class ConfigError(UserInputError):
    """A config file or setting that is malformed, unknown or out of range."""


class DatasetError(UserInputError):
    """A dataset that cannot be read as asked."""


class CheckpointError(UserInputError):
    """A checkpoint file that cannot be loaded into the model as asked."""


class DeviceError(UserInputError):
    """The requested device does not exist on this machine."""


class ScoringError(UserInputError):
    """Predictions or ground truth the evaluation cannot score."""


class RunError(UserInputError):
    """A run that cannot go on as asked (an output folder in another run's use, a missing checkpoint...)."""


def run_command(main: Callable[[], int | None], prefix: str = "") -> int:
    """Runs a command's body; a `UserInputError` becomes one ``error:`` line on stderr and status 2."""
    try:
        return main() or 0
    except UserInputError as err:
        print(f"{prefix}error: {err}", file=sys.stderr, flush=True)
        return USER_ERROR_STATUS
