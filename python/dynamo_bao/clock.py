"""Time and ULIDs, from one replaceable source.

Fields read the current time (CreateDate, ModifiedDate) and new ULIDs (``auto_assign``,
VersionField) only through :func:`now` and :func:`new_ulid`, so tests can install a
deterministic clock and ULID sequence (``use_source``) — the golden replay needs exactly that.
The source lives in a context variable: a test's source never leaks into other threads or tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone

from ulid import ULID

__all__ = ["Source", "now", "new_ulid", "use_source", "one_instant", "SYSTEM"]


@dataclass(frozen=True)
class Source:
    """Where the current time (an aware UTC datetime) and new ULIDs (str) come from."""

    now: Callable[[], datetime]
    new_ulid: Callable[[], str]


def _system_now() -> datetime:
    return datetime.now(timezone.utc)


def _system_ulid() -> str:
    return str(ULID())


SYSTEM = Source(now=_system_now, new_ulid=_system_ulid)
_source: ContextVar[Source] = ContextVar("dynamo_bao_clock", default=SYSTEM)


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return _source.get().now()


def new_ulid() -> str:
    """A new ULID (26 characters of Crockford base32)."""
    return _source.get().new_ulid()


@contextlib.contextmanager
def use_source(source: Source) -> Iterator[Source]:
    """Use ``source`` for time and ULIDs in the current context until the block ends."""
    token = _source.set(source)
    try:
        yield source
    finally:
        _source.reset(token)


@contextlib.contextmanager
def one_instant() -> Iterator[datetime]:
    """Within the block, :func:`now` always returns the same instant (one operation, one time:
    a new item's creation and modification dates agree)."""
    source = _source.get()
    instant = source.now()
    with use_source(Source(now=lambda: instant, new_ulid=source.new_ulid)):
        yield instant
