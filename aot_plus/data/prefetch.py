"""Reading ahead on a background thread, so that decoding frames overlaps the model's work.

JPEG/PNG decoding (OpenCV, PIL) releases the GIL, so a reader thread decodes the next frames while the
main thread runs the network. Items arrive in order; an error of the reader is raised where its item
would have been, after every item before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

FRAMES_AHEAD = 4
"""Frames decoded ahead of the one being segmented: enough to hide a slow read, few enough to stay small."""

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], ahead: int = FRAMES_AHEAD) -> Iterator[T]:
    """``items`` in order, produced up to ``ahead`` items in advance on a daemon thread.

    Closing the returned generator (or dropping it) stops the reader at its next item.
    """
    if ahead < 1:
        raise ValueError(f"ahead must be >= 1, got {ahead}")
    buffer: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it in order
            put(_Failure(error))
            return
        put(_DONE)

    reader = threading.Thread(target=read, name="frame-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
