"""``TenantContext``: which tenant the current code runs for, kept in a context variable.

A context variable is per thread and per asyncio task, so concurrent requests never see each
other's tenant, and there is no process-wide fallback (DynamoBao's ``setCurrentTenant`` outside a
context was process-global, spec §11.6). Every operation resolves its tenant when it runs:
the context first, then the resolvers in the order they were added; with tenancy enabled and no
answer, it fails closed with :class:`TenantRequiredError` before any request (DESIGN §6.1).
Tenant ids are validated by the core (:class:`InvalidTenantIdError`), also those resolvers give.

Decisions:

- ``TenantContext.tenant(t)`` objects are safe to share (a module constant entered by many
  threads and tasks at once, and re-entered inside itself): each entry is remembered in the
  running context, not on the object, and every exit leaves the thread or task exactly as it
  was before that entry (:mod:`dynamo_bao.scopes`).
- ``run_with_tenant(t, fn)`` runs whatever ``fn`` gives back in ``t``: a value; a coroutine or
  any other awaitable (returned as a coroutine that awaits it in ``t``); a generator or an
  async generator (each resumption in ``t``, in a context of its own, the caller untouched in
  between). A Future or Task already runs in the context it was created in — one ``fn``
  created has ``t`` — and awaiting it in ``t`` changes nothing for it. See
  :mod:`dynamo_bao.scopes`.
- ``get_current_tenant()`` answers as DynamoBao's ``getCurrentTenant``: the context's tenant,
  else the first resolver that answers (validated), else None — the tenant an operation
  starting now would use (:meth:`TenantContext.resolve` is the one place that decides).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from . import core, scopes
from .exceptions import TenantRequiredError

__all__ = ["TenantContext"]

T = TypeVar("T")

_current: ContextVar[str | None] = ContextVar("dynamo_bao_tenant", default=None)
# Resolvers are configuration (how to find a tenant), not tenant state: one list per process.
_resolvers: list[Callable[[], str | None]] = []

REQUIRED_MESSAGE = (
    "Tenant context is required when tenancy is enabled. Use "
    "TenantContext.run_with_tenant(tenant_id, fn), `with TenantContext.tenant(tenant_id):` "
    "or add a tenant resolver."
)


# What each entry of a tenant scope must undo, per thread and task (the objects are shared).
_entered = scopes.ScopeStack("dynamo_bao_tenant_scopes")


def _undo(token: Token) -> None:
    scopes.restore(_current, token, None)


class _TenantScope:
    """``with TenantContext.tenant(tid):`` / ``async with …``: the tenant for the block.

    Safe to share between threads and tasks and to re-enter: entries live in the context."""

    __slots__ = ("tenant_id",)

    def __init__(self, tenant_id: str | None) -> None:
        # None: the block runs with no tenant in context (an outer one is hidden), so each
        # operation asks the resolvers — the tutorial's ``runWithTenant(null, fn)``.
        self.tenant_id = None if tenant_id is None else core.validate_tenant_id(tenant_id)

    def __enter__(self) -> str | None:
        _entered.push(self, _current.set(self.tenant_id))
        return self.tenant_id

    def __exit__(self, *exc: object) -> None:
        for token in _entered.pop(self):
            _undo(token)

    async def __aenter__(self) -> str | None:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


class TenantContext:
    """The tenant of the running code (all methods are static: there is nothing to construct)."""

    @staticmethod
    def tenant(tenant_id: str | None) -> _TenantScope:
        """A sync and async context manager running its block in ``tenant_id`` (``None``: in
        no tenant, so operations consult the resolvers and fail closed if none answers)."""
        return _TenantScope(tenant_id)

    @staticmethod
    def run_with_tenant(
        tenant_id: str | None, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """``fn(*args, **kwargs)`` in ``tenant_id``, and whatever it gives back too; the
        caller's tenant is restored after.

        ``None`` runs ``fn`` with no tenant in its context — not the caller's — so every
        operation inside resolves its tenant through the resolvers (or fails closed).

        A coroutine or other awaitable comes back as a coroutine that awaits it in the tenant
        (set inside the awaiting task, left when it is done); a generator or async generator
        comes back wrapped so that each resumption runs in the tenant, the caller's tenant
        untouched in between (see the module's decisions).
        """
        return scopes.run_in_scope(_TenantScope(tenant_id), fn, args, kwargs)

    #: An alias for admin code that works across tenants; it restores the caller's tenant too.
    with_tenant = run_with_tenant

    @staticmethod
    def set_current_tenant(tenant_id: str | None) -> None:
        """Set the tenant of the current thread or task only (``None`` clears it)."""
        _current.set(None if tenant_id is None else core.validate_tenant_id(tenant_id))

    @staticmethod
    def clear_tenant() -> None:
        _current.set(None)

    @staticmethod
    def get_current_tenant() -> str | None:
        """The tenant an operation starting now would use: the context's, else the first
        resolver's answer (validated: :class:`InvalidTenantIdError`), else None — DynamoBao's
        ``getCurrentTenant``."""
        return TenantContext.resolve(required=False)

    @staticmethod
    def add_resolver(resolver: Callable[[], str | None]) -> None:
        """Add a function consulted (in order) when no tenant is set in the context."""
        if not callable(resolver):
            raise TypeError("Resolver must be a function")
        _resolvers.append(resolver)

    @staticmethod
    def clear_resolvers() -> None:
        _resolvers.clear()

    @staticmethod
    def resolve(required: bool) -> str | None:
        """The tenant for an operation starting now: context, then resolvers (validated).

        With ``required`` (tenancy enabled) and no tenant: :class:`TenantRequiredError`.
        """
        tenant_id = _current.get()
        if tenant_id is None:
            for resolver in list(_resolvers):
                answer = resolver()
                if answer is not None:
                    tenant_id = core.validate_tenant_id(answer)
                    break
        if tenant_id is None and required:
            raise TenantRequiredError(REQUIRED_MESSAGE)
        return tenant_id
