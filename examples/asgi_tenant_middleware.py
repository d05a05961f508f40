"""ASGI middleware: every HTTP request runs in the tenant its ``x-tenant-id`` header names —
after the application has said the caller may act for that tenant.

Plain ASGI, so it fits any ASGI framework::

    # Starlette / FastAPI
    app.add_middleware(TenantMiddleware, allowed_tenants=tenants_of_user)
    # anything else
    app = TenantMiddleware(app, allowed_tenants=tenants_of_user)

``allowed_tenants(scope)`` is the application's authorisation check: it returns the tenant ids
the authenticated caller may act for (an iterable; it may be an ``async`` function). It is the
piece the tutorial's Express example leaves out — a tenant header alone proves nothing.

Responses before the application runs (JSON ``{"error": ...}``):

* no tenant header, or more than one → 400 (two headers would be ambiguous: never guess);
* a malformed tenant id (DESIGN §6.2: ``InvalidTenantIdError``) → 400;
* a tenant the caller may not act for → 403.

Otherwise the application runs inside ``TenantContext.tenant(tenant_id)``: the tenant lives in
the request's asyncio task (and every task or library thread it starts) and is gone when the
request ends, so concurrent requests never see each other's tenant.

Only ``http`` scopes are checked. ``lifespan`` and ``websocket`` scopes pass through without a
tenant, so any data access there fails closed with ``TenantRequiredError``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from dynamo_bao import InvalidTenantIdError, TenantContext

__all__ = ["TENANT_HEADER", "TenantMiddleware"]

TENANT_HEADER = "x-tenant-id"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
AllowedTenants = Callable[[Scope], "Iterable[str] | Awaitable[Iterable[str]]"]


class TenantMiddleware:
    def __init__(
        self, app: ASGIApp, allowed_tenants: AllowedTenants, header: str = TENANT_HEADER
    ) -> None:
        self.app = app
        self.allowed_tenants = allowed_tenants
        self.header = header.lower().encode("latin-1")  # ASGI header names are lower-case bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = [value for name, value in scope.get("headers", ()) if name == self.header]
        if len(values) != 1 or not values[0].strip():
            await _reply(send, 400, "Tenant context required: send exactly one x-tenant-id header")
            return
        tenant_id = values[0].decode("latin-1")
        try:
            tenant_scope = TenantContext.tenant(tenant_id)  # validates the id
        except InvalidTenantIdError:
            await _reply(send, 400, "Invalid tenant id")
            return
        allowed = self.allowed_tenants(scope)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if tenant_id not in set(allowed):
            await _reply(send, 403, "Not allowed to act for this tenant")
            return
        async with tenant_scope:
            await self.app(scope, receive, send)


async def _reply(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
