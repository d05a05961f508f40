"""pytest configuration of the benchmarks (``pytest benches/``).

The inputs live in :mod:`items`; this checks once per session that every competitor gets
the same data, so a benchmark never compares different work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Any

import pytest

import items


def pytest_sessionstart(session: pytest.Session) -> None:
    items.check_inputs()


def batched(fn: Callable[..., Any], args: tuple, calls: int) -> Callable[[], Any]:
    """A function that calls ``fn(*args)`` ``calls`` times in a C-level loop.

    pytest-benchmark calls the benchmarked function through ``fn(*args, **kwargs)`` from a
    Python loop, which costs tens of nanoseconds per call: as much as the work itself for
    keys. ``map`` over ``itertools.repeat`` costs a few nanoseconds per call (as ``timeit``
    does), the same for every competitor; it returns the last result.
    """

    def run() -> Any:
        last = deque(map(fn, *[repeat(a, calls) for a in args]), maxlen=1)
        return last[0]

    return run


@pytest.fixture
def measure(benchmark):
    """``measure(competitor, fn, *args, values=None, calls=1)``: benchmark ``fn(*args)``.

    The competitor's name, how many AttributeValues one call converts (``values``) and how
    many calls one timed run makes (``calls``; see :func:`batched`) go into the benchmark's
    ``extra_info`` for ``report.py``, which reports time per call. pytest-benchmark's own
    tables show time per run (``calls`` calls).
    """

    def run(competitor, fn, *args, values=None, calls=1):
        benchmark.extra_info["competitor"] = competitor
        benchmark.extra_info["calls"] = calls
        if values is not None:
            benchmark.extra_info["values"] = values
        if calls == 1:
            return benchmark(fn, *args)
        return benchmark(batched(fn, args, calls))

    return run
