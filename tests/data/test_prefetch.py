"""The read-ahead iterator: order, errors in place, bounded look-ahead, and a reader that stops when closed."""

from __future__ import annotations

import time

import pytest

from aot_plus.data.prefetch import prefetched
from aot_plus.errors import DatasetError


def test_items_arrive_in_order():
    assert list(prefetched(range(50), ahead=3)) == list(range(50))
    assert list(prefetched([])) == []


def test_an_error_is_raised_after_the_items_before_it():
    def frames():
        yield from (0, 1, 2)
        raise DatasetError("clip/00003.jpg: truncated")

    received = []
    with pytest.raises(DatasetError, match="00003.jpg: truncated"):
        for item in prefetched(frames()):
            received.append(item)
    assert received == [0, 1, 2]


def test_the_reader_stays_at_most_ahead_items_in_front_and_stops_when_closed():
    produced = []

    def frames():
        for i in range(1000):
            produced.append(i)
            yield i

    items = prefetched(frames(), ahead=2)
    assert next(items) == 0
    time.sleep(0.3)  # time for the reader to run as far ahead as it may
    # one item handed over, two in the buffer, one produced and waiting for room
    assert len(produced) <= 4
    items.close()
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count < 10  # the reader stopped


def test_ahead_must_be_positive():
    with pytest.raises(ValueError, match="ahead must be >= 1"):
        next(prefetched(range(3), ahead=0))
