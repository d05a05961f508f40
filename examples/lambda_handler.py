"""AWS Lambda behind API Gateway: a decorator that runs the handler in the caller's tenant.

::

    manager = bao.init_models({...,"tenancy": {"enabled": True}})   # once, outside the handler

    @tenant_handler()
    def handler(event, context):
        users = User.query_by_index("byStatus", "active")
        return {"statusCode": 200, "body": json.dumps([u.to_dict() for u in users.items])}

Which tenant: the ``x-tenant-id`` header when the request has one (any letter case, as API
Gateway passes headers through as sent), else the tenant the API Gateway authorizer put in
the request context — ``requestContext.authorizer.tenantId`` (REST API, Lambda authorizer) or
``requestContext.authorizer.lambda.tenantId`` (HTTP API).

Who may act for it: ``allowed_tenants(event)`` — by default only the authorizer's tenant, so a
header naming another tenant is refused. Pass your own check for callers who may act for several
tenants (e.g. an admin's list from the authorizer's claims).

Refusals are API Gateway proxy responses (JSON ``{"error": ...}``): no tenant → 400, a malformed
tenant id → 400, a foreign tenant → 403. Otherwise the handler runs inside
``TenantContext.tenant(tenant_id)``; the tenant is gone when it returns, so a warm container's
next invocation starts without one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from dynamo_bao import InvalidTenantIdError, TenantContext

__all__ = ["TENANT_HEADER", "authorizer_tenant", "requested_tenant", "tenant_handler"]

TENANT_HEADER = "x-tenant-id"

Event = dict[str, Any]
Handler = Callable[[Event, Any], Any]


def authorizer_tenant(event: Event) -> str | None:
    """The tenant the API Gateway authorizer established, if any."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    tenant_id = authorizer.get("tenantId") or (authorizer.get("lambda") or {}).get("tenantId")
    return tenant_id if isinstance(tenant_id, str) else None


def _authorizer_only(event: Event) -> Iterable[str]:
    tenant_id = authorizer_tenant(event)
    return [tenant_id] if tenant_id else []


def requested_tenant(event: Event) -> str | None:
    """The tenant the request asks for: the header, else the authorizer's."""
    headers = event.get("headers") or {}
    for name, value in headers.items():
        if name.lower() == TENANT_HEADER and value:
            return str(value)
    return authorizer_tenant(event)


def tenant_handler(
    allowed_tenants: Callable[[Event], Iterable[str]] = _authorizer_only,
) -> Callable[[Handler], Handler]:
    """Decorate a Lambda handler so it runs in the request's tenant (or is refused)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def in_tenant(event: Event, context: Any) -> Any:
            tenant_id = requested_tenant(event)
            if not tenant_id:
                return _response(400, "Tenant context required")
            try:
                tenant_scope = TenantContext.tenant(tenant_id)  # validates the id
            except InvalidTenantIdError:
                return _response(400, "Invalid tenant id")
            if tenant_id not in set(allowed_tenants(event)):
                return _response(403, "Not allowed to act for this tenant")
            with tenant_scope:
                return handler(event, context)

        return in_tenant

    return decorate


def _response(status: int, error: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": error}),
    }
