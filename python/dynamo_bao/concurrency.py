"""Threads the library starts itself run in the caller's context.

Tenant, batch context and clock live in context variables. A plain ``Thread`` or
``ThreadPoolExecutor.submit`` starts with an empty context, so work handed to one would run
without a tenant (and fail closed) or — worse, if someone set one there — in another tenant.
Everything the library runs concurrently goes through these helpers, which copy the caller's
context into each unit of work (DESIGN §7: "context propagates into every thread or task the
library itself starts").
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["map_in_context", "run_in_thread"]

T = TypeVar("T")
R = TypeVar("R")

#: Upper bound of threads one call fans out to (bucket walks, related loads).
DEFAULT_MAX_WORKERS = 8


def map_in_context(
    fn: Callable[[T], R], items: Iterable[T], *, max_workers: int = DEFAULT_MAX_WORKERS
) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``max_workers`` threads, results in order.

    Each call runs in its own copy of the caller's context (a copy per call, because a
    ``Context`` can only be entered by one thread at a time). The first exception is raised
    after every started call has finished, so no work is left running behind the caller.
    """
    work = list(items)
    if len(work) <= 1 or max_workers <= 1:
        return [fn(item) for item in work]
    caller = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=min(max_workers, len(work))) as pool:
        futures = [pool.submit(caller.copy().run, fn, item) for item in work]
        return [future.result() for future in futures]


async def run_in_thread(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    """Await ``fn(*args, **kwargs)`` run on a worker thread in the caller's context.

    This is how the async face runs the one (sync) implementation without blocking the event
    loop; ``asyncio.to_thread`` copies the context, so tenant and batch context flow through.
    """
    return await asyncio.to_thread(fn, *args, **kwargs)
