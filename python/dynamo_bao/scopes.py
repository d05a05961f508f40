"""Scope objects that are safe to share, and running what a function gives back in a scope.

Used by :class:`~dynamo_bao.tenancy.TenantContext` (``tenant(t)``, ``run_with_tenant``) and
:mod:`dynamo_bao.batch` (``batch_context()``, ``run_with_batch_context``).

Decisions:

- A scope object keeps no state of its own between ``__enter__`` and ``__exit__``: what an
  entry must undo lives in a context variable (:class:`ScopeStack`), so one object — say a
  module constant — can be entered by many threads and tasks at once, and re-entered inside
  itself. Each exit undoes the latest entry of that object *in the running context*.
- Leaving a scope also leaves the scopes of its kind entered inside it and not yet left (exits
  out of order): the context is then exactly as before the scope was entered. A later exit of
  one of those inner scopes, or an exit of a scope never entered in this context, changes
  nothing.
- A context copied inside a block (a task, a library thread) may exit the block itself: the
  copy is then restored to the state before the block; the original context is untouched.
- What ``fn`` gives back runs in the scope (:func:`run_in_scope`):

  * a generator or an async generator is wrapped so that every resumption (``send``,
    ``throw``, ``close``; ``asend``, ``athrow``, ``aclose``) runs in one private copy of the
    context taken inside the scope when ``fn`` returned. Between resumptions the caller's own
    context is untouched, and what the generator itself changes (say, its tenant) stays with
    it, whichever thread or task resumes it next — as a task keeps its own context.
  * anything else awaitable (a coroutine, an object with ``__await__``, a Future or Task)
    becomes a coroutine that awaits it with the scope entered in the awaiting task (as an
    awaited coroutine runs in its caller's context) and left afterwards, so nothing leaks into
    the caller. A Future or Task already runs in the context it was created in: one ``fn``
    created is in the scope, because ``fn`` is called inside it; one made elsewhere keeps its
    own, and awaiting it inside the scope cannot change that (it is harmless).
  * any other value is returned as it is. Results are not unwrapped further (an awaitable
    whose result is a generator gives a plain generator).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["ScopeStack", "restore", "run_in_scope"]


class ScopeStack:
    """The entries of one kind of scope in the running context: ``(scope, state)`` pairs,
    newest last, in a context variable (so per thread and per task)."""

    __slots__ = ("_entries",)

    def __init__(self, name: str) -> None:
        self._entries: contextvars.ContextVar[tuple[tuple[object, Any], ...]] = (
            contextvars.ContextVar(name, default=())
        )

    def push(self, scope: object, state: Any) -> None:
        self._entries.set((*self._entries.get(), (scope, state)))

    def pop(self, scope: object) -> list[Any]:
        """The states to undo, newest first, to leave ``scope``'s latest entry in this
        context: those entered inside it and not left, then its own ([] when it has none)."""
        entries = self._entries.get()
        for index in range(len(entries) - 1, -1, -1):
            if entries[index][0] is scope:
                self._entries.set(entries[:index])
                return [state for _, state in reversed(entries[index:])]
        return []


def restore(
    var: contextvars.ContextVar[Any], token: contextvars.Token[Any], default: Any
) -> None:
    """Put ``var`` back to what it was before ``token``'s ``set`` (``default`` when it had no
    value). In a copy of the context that set it (a task or thread leaving the block) the
    token belongs to the other context (or was used there), so that value is set instead."""
    try:
        var.reset(token)
    except (ValueError, RuntimeError):
        old = token.old_value
        var.set(default if old is contextvars.Token.MISSING else old)


def run_in_scope(
    scope: AbstractContextManager[Any], fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    """``fn(*args, **kwargs)`` inside ``scope``, and what it gives back bound to the scope (see
    the module's decisions). ``scope`` must be re-enterable and safe to share."""
    with scope:
        result = fn(*args, **kwargs)
        # Awaitable first: a generator-based coroutine (types.coroutine) is a generator too.
        if not inspect.isawaitable(result):
            if inspect.isgenerator(result):
                return _generator_in(contextvars.copy_context(), result)
            if inspect.isasyncgen(result):
                return _async_generator_in(contextvars.copy_context(), result)
            return result
    return _awaited_in(scope, result)


async def _awaited_in(scope: AbstractContextManager[Any], awaitable: Any) -> Any:
    with scope:
        return await awaitable


def _generator_in(context: contextvars.Context, gen: Generator) -> Generator:
    """``yield from gen`` with every resumption of ``gen`` run in ``context``."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                item = context.run(gen.send, value)
            else:
                thrown, error = error, None
                item = context.run(gen.throw, thrown)
        except StopIteration as stop:
            return stop.value
        try:
            value = yield item
        except GeneratorExit:
            context.run(gen.close)
            raise
        except BaseException as err:  # thrown in by the caller: gen decides
            value, error = None, err


class _StepIn:
    """Await ``awaitable`` with each of its steps run in ``context`` (the event loop sees the
    same futures it would see awaiting it directly)."""

    __slots__ = ("_context", "_awaitable")

    def __init__(self, context: contextvars.Context, awaitable: Any) -> None:
        self._context = context
        self._awaitable = awaitable

    def __await__(self) -> Generator[Any, Any, Any]:
        context = self._context
        steps = self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    signal = context.run(steps.send, value)
                else:
                    thrown, error = error, None
                    signal = context.run(steps.throw, thrown)
            except StopIteration as stop:
                return stop.value
            try:
                value = yield signal
            except GeneratorExit:
                context.run(steps.close)
                raise
            except BaseException as err:  # cancellation, or thrown by the event loop
                value, error = None, err


async def _async_generator_in(context: contextvars.Context, agen: AsyncGenerator) -> Any:
    """``agen`` with every step of ``asend``/``athrow``/``aclose`` run in ``context``."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                item = await _StepIn(context, agen.asend(value))
            else:
                thrown, error = error, None
                item = await _StepIn(context, agen.athrow(thrown))
        except StopAsyncIteration:
            return
        try:
            value = yield item
        except GeneratorExit:
            await _StepIn(context, agen.aclose())
            raise
        except BaseException as err:  # thrown in by the caller (athrow): agen decides
            value, error = None, err
