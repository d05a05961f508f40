"""WSGI middleware: every request runs in the tenant its ``X-Tenant-Id`` header names — after
the application has said the caller may act for that tenant.

Plain WSGI, so it fits any WSGI framework::

    # Flask
    app.wsgi_app = TenantMiddleware(app.wsgi_app, allowed_tenants=tenants_of_user)
    # Django (wsgi.py)
    application = TenantMiddleware(get_wsgi_application(), allowed_tenants=tenants_of_user)

``allowed_tenants(environ)`` is the application's authorisation check: the tenant ids the
authenticated caller may act for. Refusals happen before the application runs (JSON
``{"error": ...}``): no header → 400, a malformed tenant id → 400, a tenant the caller may not
act for → 403.

Why a copied context rather than a ``with TenantContext.tenant(...)`` block around the call: a
WSGI application may return a lazy iterable (a generator) whose body — database reads included —
runs only while the server iterates it, after the application call has returned. So the tenant
is set in a copy of the server's context, and the application call *and* every step of the
iteration (and ``close()``) run inside that copy. The tenant is therefore present while the body
is produced, and never leaks into the server thread's own context (which a worker thread would
carry into its next request).
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dynamo_bao import InvalidTenantIdError, TenantContext

__all__ = ["TENANT_HEADER", "TenantMiddleware"]

TENANT_HEADER = "x-tenant-id"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class TenantMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        allowed_tenants: Callable[[Environ], Iterable[str]],
        header: str = TENANT_HEADER,
    ) -> None:
        self.app = app
        self.allowed_tenants = allowed_tenants
        self.environ_key = "HTTP_" + header.upper().replace("-", "_")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        tenant_id = environ.get(self.environ_key, "")
        if not tenant_id.strip():
            return _reply(start_response, "400 Bad Request", "Tenant context required")
        context = contextvars.copy_context()
        try:
            context.run(TenantContext.set_current_tenant, tenant_id)  # validates the id
        except InvalidTenantIdError:
            return _reply(start_response, "400 Bad Request", "Invalid tenant id")
        if tenant_id not in set(self.allowed_tenants(environ)):
            return _reply(start_response, "403 Forbidden", "Not allowed to act for this tenant")
        body = context.run(self.app, environ, start_response)
        return _BodyInContext(context, body)


class _BodyInContext:
    """The application's response body, each step of which runs in the request's context."""

    def __init__(self, context: contextvars.Context, body: Iterable[bytes]) -> None:
        self._context = context
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        chunks = self._context.run(iter, self._body)
        while True:
            try:
                yield self._context.run(next, chunks)
            except StopIteration:
                return

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            self._context.run(close)


def _reply(start_response: StartResponse, status: str, error: str) -> list[bytes]:
    body = json.dumps({"error": error}).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
