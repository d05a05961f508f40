"""The batch context: a request-scoped identity cache, read coalescing and capacity metering
(spec §5.11, DESIGN §6.6, §7).

```python
with bao.batch_context():                # or: async with …, or bao.run_with_batch_context(fn)
    user = User.find(uid)                # read once; the same object on every later find
    users = await asyncio.gather(*(User.afind(i) for i in ids))   # one BatchGetItem
    bao.get_batch_context_capacity()     # {"read": …, "write": …} consumed inside the block
```

Decisions (where DynamoBao differs or is silent):

- The cache is keyed by (table, tenant, model, primary id): an object read for one tenant is
  never served to another, nor as another model (spec §11.4). An instance is cached only
  under its own tenant (``instance.tenant_id``): caching it for another is refused with
  :class:`TenantMismatchError`, and ``save()`` of an instance (which must run in the
  instance's tenant) never puts it into another tenant's part of the cache, so a write under
  one tenant never changes what another tenant's cache holds.
- Writes keep it current: ``create``/``update``/``save`` put the stored instance in it;
  ``delete`` replaces it with an ``ObjectNotFound``, so a later ``find`` in the context sees
  the deletion without a request (and without an eventually consistent stale read).
  ``ObjectNotFound`` results of reads are cached too.
- Nested contexts: the inner block gets a fresh cache and its own capacity sum, and what it
  consumes is also added to every enclosing context. DynamoBao's inner context hid its
  consumption from the outer one; for per-tenant metering a request's sum must include all
  the work done inside it.
- Capacity is metered by the transport into the context of the running code (a context
  variable), so work on threads and tasks the library starts counts; threads an application
  starts itself count when they run in a copy of the context (``contextvars.copy_context``).
- ``require_batch_context`` (config ``batch.require_batch_context`` or
  ``DYNAMO_BAO_REQUIRE_BATCH_CONTEXT``) makes reads — ``find``, ``batch_find``,
  ``find_by_unique_constraint`` and what is built on them — outside a context raise
  :class:`BatchContextRequiredError` (a :class:`ConfigurationError`) before any request.
  Queries and writes are not checked (as DynamoBao).
- Coalescing: concurrent ``afind`` calls for one model and tenant within
  ``batch.coalesce_window_ms`` (default 2 ms) become one ``batch_find`` run on a worker thread
  (BatchGetItem, chunks of 100 sent concurrently); duplicate ids share one key and one result.
  Each caller's result carries an equal share of the batch's read units. If the batch fails,
  every caller waiting on it gets the error.
- ``batch_context()`` objects are safe to share (say, a module constant entered by many
  threads and tasks at once, and re-entered inside itself — each entry a fresh context): what
  an entry must undo lives in the running context, and every exit leaves the thread or task
  exactly as before (:mod:`dynamo_bao.scopes`).
- ``run_with_batch_context(fn)`` keeps its one context around whatever ``fn`` gives back: an
  awaitable is awaited in it, each resumption of a generator or async generator runs in it
  (with the meters that were current when ``fn`` returned).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from . import capacity, concurrency, scopes, transport
from .exceptions import BatchContextRequiredError, TenantMismatchError

__all__ = [
    "BatchContext",
    "BatchContextRequiredError",
    "batch_context",
    "run_with_batch_context",
    "get_batch_context_capacity",
    "is_inside_batch_context",
    "current",
    "check_required",
    "afind",
]

T = TypeVar("T")

REQUIRED_MESSAGE = (
    "Batch operations must be executed within run_with_batch_context(). Wrap your database "
    "operations in run_with_batch_context() or `with batch_context():` to enable batching and "
    "caching."
)

#: What a cache lookup returns when the context has no entry (None is no valid entry either).
MISSING: Any = object()


class BatchContext:
    """The state of one batch context: its identity cache, capacity sum and pending
    coalesced reads. Shared by every thread and task running in the context."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}
        self._written: dict[int, tuple] = {}  # id(instance a write stored) -> its cache key
        self.meter = capacity.CapacityMeter()
        self._lock = threading.Lock()
        self._pending: dict[tuple, dict[str, asyncio.Future]] = {}  # waiting for the window
        self._inflight: dict[tuple, asyncio.Future] = {}  # (group, id) being read right now
        self._flushes: set[asyncio.Task] = set()

    # -- the identity cache ----------------------------------------------------------------

    @staticmethod
    def _key(manager: Any, tenant: str | None, cls: type, primary_id: str) -> tuple:
        return (manager.table_name, tenant, cls.__name__, primary_id)

    def _owned_key(
        self, manager: Any, tenant: str | None, cls: type, primary_id: str, result: Any
    ) -> tuple:
        """The key of ``result`` in ``tenant``'s part of the cache — refused when it is an
        instance of another tenant (an object is cached only under its own tenant)."""
        if getattr(result, "_tenant", tenant) != tenant:
            raise TenantMismatchError(
                f"{result!r:.200} belongs to another tenant than the one it would be cached for"
            )
        return self._key(manager, tenant, cls, primary_id)

    def lookup(self, manager: Any, tenant: str | None, cls: type, primary_id: str) -> Any:
        """The cached instance or ObjectNotFound, else :data:`MISSING`."""
        return self._cache.get(self._key(manager, tenant, cls, primary_id), MISSING)

    def remember(
        self, manager: Any, tenant: str | None, cls: type, primary_id: str, result: Any
    ) -> None:
        self._cache[self._owned_key(manager, tenant, cls, primary_id, result)] = result

    def remember_written(
        self, manager: Any, tenant: str | None, cls: type, primary_id: str, result: Any
    ) -> None:
        """What a write stored (or ObjectNotFound for a delete) replaces the cached entry."""
        key = self._owned_key(manager, tenant, cls, primary_id, result)
        with self._lock:
            self._cache[key] = result
            self._written[id(result)] = key

    def replace(self, old: Any, new: Any) -> None:
        """Put ``new`` where a write cached ``old`` (``save()`` keeps the saved object itself,
        not the instance the write returned) — never into another tenant's part of the cache:
        then ``old`` stays."""
        with self._lock:
            key = self._written.get(id(old))
            if key is None or getattr(new, "_tenant", key[1]) != key[1]:
                return
            del self._written[id(old)]
            if self._cache.get(key) is old:
                self._cache[key] = new
                self._written[id(new)] = key

    # -- coalescing ------------------------------------------------------------------------

    async def coalesced_find(
        self, cls: Any, manager: Any, tenant: str | None, primary_id: str
    ) -> Any:
        loop = asyncio.get_running_loop()
        group = (loop, manager.table_name, tenant, cls)
        inflight = self._inflight.get((group, primary_id))
        if inflight is not None:  # a batch already sent holds this id: wait for its answer
            return await asyncio.shield(inflight)
        pending = self._pending.get(group)
        if pending is None:
            pending = self._pending[group] = {}
            window = manager.config.coalesce_window_ms / 1000.0
            # The task copies this caller's context: tenant, clock and this batch context.
            task = loop.create_task(self._flush(group, pending, cls, manager, tenant, window))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        future = pending.get(primary_id)
        if future is None:
            future = pending[primary_id] = loop.create_future()
        # One caller giving up must not cancel the read the others wait for.
        return await asyncio.shield(future)

    async def _flush(
        self,
        group: tuple,
        pending: dict[str, asyncio.Future],
        cls: Any,
        manager: Any,
        tenant: str | None,
        window: float,
    ) -> None:
        from . import query  # query imports this module

        try:
            await asyncio.sleep(window)
        except BaseException:  # cancelled (a closing loop): its waiters must not hang
            for future in pending.values():
                future.cancel()
            raise
        finally:
            if self._pending.get(group) is pending:  # no later caller joins a finished batch
                del self._pending[group]
        ids = list(pending)
        for primary_id, future in pending.items():
            self._inflight[group, primary_id] = future
        try:
            found, consumed = await concurrency.run_in_thread(
                query.batch_read, cls, manager, tenant, ids
            )
        except BaseException as err:
            for future in pending.values():
                if future.done():
                    continue
                if isinstance(err, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(err)
            if not isinstance(err, Exception):
                raise
            return
        else:
            share = capacity.shares(capacity.READ, consumed, len(ids))
            for primary_id, future in pending.items():
                result = found.get(primary_id)
                if result is None:
                    result = query.ObjectNotFound(cls, primary_id)
                result._add_capacity(share)
                self.remember(manager, tenant, cls, primary_id, result)
                if not future.done():
                    future.set_result(result)
        finally:
            for primary_id in ids:
                self._inflight.pop((group, primary_id), None)


_current: ContextVar[BatchContext | None] = ContextVar("dynamo_bao_batch_context", default=None)


def current() -> BatchContext | None:
    """The batch context of the running code, or None."""
    return _current.get()


def is_inside_batch_context() -> bool:
    return _current.get() is not None


def check_required(manager: Any) -> BatchContext | None:
    """The current context; outside one, :class:`BatchContextRequiredError` when the manager's
    configuration requires a context for reads."""
    context = _current.get()
    if context is None and manager.config.require_batch_context:
        raise BatchContextRequiredError(REQUIRED_MESSAGE)
    return context


# What each entry of a batch scope must undo, per thread and task (the objects are shared).
_entered = scopes.ScopeStack("dynamo_bao_batch_scopes")


def _undo(state: tuple[Token, Token]) -> None:
    token, meters = state
    scopes.restore(_current, token, None)
    transport.restore_capacity_meters(meters)


class _BatchScope:
    """``with batch_context():`` / ``async with batch_context():`` — a fresh context (cache and
    capacity) for the block, shadowing any enclosing one.

    Safe to share between threads and tasks and to re-enter (each entry a fresh context):
    entries live in the running context, not on the object. ``_BatchScope(context)`` enters
    that one context each time instead (``run_with_batch_context`` awaiting what fn gave)."""

    __slots__ = ("_context",)

    def __init__(self, context: BatchContext | None = None) -> None:
        self._context = context

    def __enter__(self) -> BatchContext:
        context = BatchContext() if self._context is None else self._context
        token = _current.set(context)
        # Not use_capacity_meters(): an exit must be able to restore a context that did not
        # enter (see _undo), which a with-block cannot.
        meters = transport.set_capacity_meters((*transport.capacity_meters(), context.meter))
        _entered.push(self, (token, meters))
        return context

    def __exit__(self, *exc: object) -> None:
        for state in _entered.pop(self):
            _undo(state)

    async def __aenter__(self) -> BatchContext:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


def batch_context() -> _BatchScope:
    """A sync and async context manager running its block in a new batch context."""
    return _BatchScope()


def run_with_batch_context(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a new batch context, and whatever it gives back in that same
    context: a coroutine or other awaitable comes back as a coroutine awaiting it in the
    context (entered inside the awaiting task); a generator or async generator runs each
    resumption in it (:mod:`dynamo_bao.scopes`)."""
    return scopes.run_in_scope(_BatchScope(BatchContext()), fn, args, kwargs)


def get_batch_context_capacity() -> dict[str, float]:
    """``{"read": units, "write": units}`` consumed so far in the current batch context
    (zeros outside one)."""
    context = _current.get()
    if context is None:
        return {"read": 0.0, "write": 0.0}
    return context.meter.snapshot()


async def afind(cls: Any, primary_id: str) -> Any:
    """``Model.afind``: inside a batch context, a cache hit or a coalesced BatchGetItem;
    outside, one GetItem on a worker thread."""
    context = _current.get()
    if context is None:
        return await concurrency.run_in_thread(cls.find, primary_id)
    from . import query  # query imports this module

    manager, tenant = query.bound(cls)
    cls._schema.key_from_id(primary_id, tenant)  # a bad id fails its own caller, not the batch
    hit = context.lookup(manager, tenant, cls, primary_id)
    if hit is not MISSING:
        return hit
    return await context.coalesced_find(cls, manager, tenant, primary_id)
