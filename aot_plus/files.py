"""Writing a file so that readers only ever see the old or the complete new version."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RunError

# Errors of the file system rather than of the program: a read-only or full disk, no permission.
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


@contextmanager
def replace_atomically(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renamed over ``path`` if the block succeeds, else removed.

    The temporary name holds the process id, so concurrent writers never share one. A full, read-only or
    forbidden disk becomes a `RunError` naming ``path``; the old version of ``path`` stays as it was.
    """
    temporary = path.with_name(f".{path.stem}.{os.getpid()}{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, path)
    except OSError as err:
        if err.errno in _STORAGE_ERRORS:
            raise RunError(f"{path}: cannot be written ({os.strerror(err.errno)})") from None
        raise
    finally:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass  # the folder itself is not writable: there is no temporary to remove
