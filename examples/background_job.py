"""A background job (cron, queue worker) that does the same work for several tenants.

A job has no request to take a tenant from, so it names each tenant explicitly with
``TenantContext.with_tenant(tenant_id, fn, ...)``: ``fn`` runs in that tenant and the job's own
context is unchanged afterwards (the tutorial's ``setCurrentTenant`` … ``finally
clearTenant()`` pattern, without the chance of forgetting the ``finally``). Tenants can also be
processed in parallel: ``map_in_context`` gives each call its own copy of the job's context, and
``with_tenant`` sets the tenant inside that copy only.

::

    bao.init_models({"db": {"table_name": "app"}, "tenancy": {"enabled": True},
                     "models": [Subscription]})
    expired = expire_all_tenants(["acme", "globex"])        # {"acme": 3, "globex": 0}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

import dynamo_bao as bao
from dynamo_bao import TenantContext, core, fields
from dynamo_bao.concurrency import map_in_context

__all__ = ["Subscription", "expire_subscriptions", "expire_all_tenants", "tenant_stats"]


class Subscription(bao.BaoModel):
    model_prefix = "sub"
    subscription_id = fields.UlidField(auto_assign=True)
    plan = fields.StringField(required=True)
    status = fields.StringField(default="active")
    expires_at = fields.DateTimeField(required=True)
    primary_key = bao.PrimaryKey("subscription_id")
    indexes = {"byStatus": bao.Index("status", "expires_at", "gsi1")}


def expire_subscriptions(now: datetime | None = None) -> int:
    """In the current tenant: mark active subscriptions that expired before ``now`` as
    expired; return how many.

    The ids are collected over every page first, then updated: an update moves the item out of
    the ``active`` index partition being paged through.
    """
    now = now or datetime.now(timezone.utc)
    due: list[str] = []
    cursor = None
    while True:
        page = Subscription.query_by_index(
            "byStatus", "active", {"expires_at": {"$lt": now}}, start_key=cursor
        )
        due.extend(sub.primary_id for sub in page.items)
        cursor = page.last_evaluated_key
        if cursor is None:
            break
    for primary_id in due:
        Subscription.update(primary_id, {"status": "expired"}, condition={"status": "active"})
    return len(due)


def expire_all_tenants(
    tenant_ids: Iterable[str], now: datetime | None = None, *, parallel: bool = False
) -> dict[str, int]:
    """Run :func:`expire_subscriptions` in each tenant; ``{tenant_id: expired}``.

    Every tenant id is validated before the first tenant's work starts, so a bad id in the
    list stops the job before it has done half of it.
    """
    tenants = [core.validate_tenant_id(tenant_id) for tenant_id in tenant_ids]

    def one(tenant_id: str) -> int:
        return TenantContext.with_tenant(tenant_id, expire_subscriptions, now)

    counts = map_in_context(one, tenants) if parallel else [one(t) for t in tenants]
    return dict(zip(tenants, counts, strict=True))


def tenant_stats(tenant_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per tenant, how many subscriptions are active and expired (admin view)."""

    def stats() -> dict[str, int]:
        return {
            status: Subscription.query_by_index("byStatus", status, count_only=True).count
            for status in ("active", "expired")
        }

    return {tenant_id: TenantContext.with_tenant(tenant_id, stats) for tenant_id in tenant_ids}
