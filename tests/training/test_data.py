"""The training data stream's read-ahead thread (training/data.py `Prefetch`)."""

from __future__ import annotations

import pytest

from tibcpt.errors import InputError


def test_prefetch_keeps_order_and_raises_where_the_source_failed():
    from tibcpt.training.data import Prefetch

    assert list(Prefetch(iter(range(50)), depth=3)) == list(range(50))
    assert list(Prefetch(iter(range(5)), prepare=lambda x: x * 10)) == [0, 10, 20, 30, 40]

    def failing():
        yield 1
        yield 2
        raise InputError("split 'train' is empty")

    it = Prefetch(failing())
    assert [next(it), next(it)] == [1, 2]
    with pytest.raises(InputError, match="empty"):
        next(it)
    with pytest.raises(InputError):  # and again: the stream does not silently end
        next(it)


def test_prefetch_close_stops_an_endless_source():
    import itertools

    from tibcpt.training.data import Prefetch

    it = Prefetch(itertools.count(), depth=2)
    assert next(it) == 0 and next(it) == 1
    it.close()
    assert not it._thread.is_alive()
