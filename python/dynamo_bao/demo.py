"""``bao demo``: the multi-tenancy tutorial, run for real against a table.

Each step prints what it did and checks what it claims; a claim that does not hold ends the demo
with a non-zero exit status (so the demo doubles as a smoke test of a deployment):

1. with tenancy enabled, an operation without a tenant is refused before any request is sent;
2. two tenants write the same users (same ids, same e-mail addresses) into one table;
3. each tenant sees only its own data, also after the other one changes its copy;
4. a unique value (the e-mail) is reusable across tenants, but not within one;
5. an admin compares tenants with ``with_tenant``, concurrently, each in its own tenant;
6. the keys as stored: every key of every item and unique row carries its tenant.

The users have fixed ids, and a run first deletes what an earlier run left, so re-running it
against the same endpoint gives the same table and the same output.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from . import fields, transport
from .concurrency import map_in_context
from .exceptions import BaoError, ConditionalError, TenantRequiredError
from .manager import init_models
from .model import BaoModel, Index, PrimaryKey, UniqueConstraint
from .tenancy import TenantContext

__all__ = ["DEMO_TENANTS", "DEMO_USERS", "DemoFailed", "run_demo"]

DEMO_TENANTS = ("acme", "globex")
_SIGNED_UP = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)  # fixed: reproducible keys
DEMO_USERS = (
    {"user_id": "01HKS659000000000000000A11", "name": "Alice", "email": "alice@example.com",
     "created_at": _SIGNED_UP},
    {"user_id": "01HKS659000000000000000B0B", "name": "Bob", "email": "bob@example.com",
     "created_at": _SIGNED_UP},
)
EXTRA_USER = {
    "user_id": "01HKS659000000000000000CA1", "name": "Carol", "email": "carol@example.com",
    "created_at": _SIGNED_UP,
}
KEY_ATTRIBUTES = ("_pk", "_sk", "_gsi1_pk", "_gsi1_sk")


class DemoFailed(BaoError):
    """A claim of the demo did not hold against this table."""


def _user_model() -> type[BaoModel]:
    # A fresh class per run: the manager binds the classes it registers.
    class User(BaoModel):
        model_prefix = "user"
        user_id = fields.UlidField(auto_assign=True)
        name = fields.StringField(required=True)
        email = fields.StringField(required=True)
        status = fields.StringField(default="active")
        created_at = fields.CreateDateField()
        primary_key = PrimaryKey("user_id")
        indexes = {"byStatus": Index("status", "created_at", "gsi1")}
        unique_constraints = {"uniqueEmail": UniqueConstraint("email", "uc1")}

    return User


def _check(claim: bool, message: str) -> None:
    if not claim:
        raise DemoFailed(message)


def run_demo(
    client: Any, table: str, out: Callable[[str], None] = print
) -> dict[str, dict[str, str]]:
    """Run the walk-through on ``table`` through ``client``; returns the stored keys of Alice's
    item per tenant (what step 6 prints). Raises :class:`DemoFailed` if a claim fails."""
    transport.create_table(client, table)
    manager = init_models({
        "db": {"table_name": table},
        "tenancy": {"enabled": True},
        "models": [_user_model()],
        "client": client,
    })
    User: Any = manager.get_model("User")
    for tenant in DEMO_TENANTS:  # what an earlier run left
        with TenantContext.tenant(tenant):
            for user in (*DEMO_USERS, EXTRA_USER):
                if User.find(user["user_id"]).exists():
                    User.delete(user["user_id"])

    out("1. Tenancy is enabled. Creating a user without a tenant:")
    sent: list[str] = []

    def count_request(event_name: str, **_: Any) -> None:
        sent.append(event_name)

    client.meta.events.register("before-call.dynamodb", count_request)
    try:
        User.create(DEMO_USERS[0])
    except TenantRequiredError as err:
        out(f"   refused: TenantRequiredError: {err}")
    else:
        raise DemoFailed("a create without a tenant was not refused")
    finally:
        client.meta.events.unregister("before-call.dynamodb", count_request)
    _check(not sent, f"{len(sent)} request(s) were sent without a tenant")
    out("   requests sent: 0")

    out(f"\n2. Tenants {' and '.join(DEMO_TENANTS)} create the same users:")
    for tenant in DEMO_TENANTS:
        with TenantContext.tenant(tenant):
            for user in DEMO_USERS:
                User.create(user)
        names = ", ".join(f"{u['name']} <{u['email']}>" for u in DEMO_USERS)
        out(f"   {tenant}: {names}")

    out("\n3. Each tenant sees only its own data. acme renames Alice; globex adds Carol:")
    TenantContext.run_with_tenant("acme", User.update, DEMO_USERS[0]["user_id"], {"name": "Ali"})
    TenantContext.run_with_tenant("globex", User.create, EXTRA_USER)
    seen = {}
    for tenant in DEMO_TENANTS:
        with TenantContext.tenant(tenant):
            active = User.query_by_index("byStatus", "active").items
            seen[tenant] = sorted(user.name for user in active)
        out(f"   {tenant}: query byStatus 'active' -> {', '.join(seen[tenant])}")
    _check(seen == {"acme": ["Ali", "Bob"], "globex": ["Alice", "Bob", "Carol"]},
           f"tenants saw {seen}")
    carol = TenantContext.run_with_tenant("acme", User.find, EXTRA_USER["user_id"])
    _check(not carol.exists(), "acme found globex's Carol")
    out(f"   acme: User.find(<Carol's id>) -> exists() is {carol.exists()}")

    out("\n4. A unique value is per tenant: alice@example.com belongs to each tenant's Alice.")
    for tenant in DEMO_TENANTS:
        with TenantContext.tenant(tenant):
            alice = User.find_by_email("alice@example.com")
        _check(alice.exists() and alice.user_id == DEMO_USERS[0]["user_id"],
               f"{tenant} did not find its own Alice by e-mail")
        out(f"   {tenant}: find_by_email('alice@example.com') -> {alice.name}")
    try:
        with TenantContext.tenant("acme"):
            User.create({"name": "Another Alice", "email": "alice@example.com"})
    except ConditionalError as err:
        out(f"   acme: a second alice@example.com -> ConditionalError: {err}")
    else:
        raise DemoFailed("a duplicate e-mail within one tenant was accepted")

    out("\n5. An admin compares tenants with with_tenant (concurrently, one thread each):")

    def stats(tenant: str) -> tuple[str, int]:
        def active_users() -> int:
            return User.query_by_index("byStatus", "active", count_only=True).count

        return tenant, TenantContext.with_tenant(tenant, active_users)

    counts = dict(map_in_context(stats, DEMO_TENANTS))
    for tenant, number in counts.items():
        out(f"   {tenant}: {number} active users")
    _check(counts == {"acme": 2, "globex": 3}, f"admin counts were {counts}")
    _check(TenantContext.get_current_tenant() is None, "the admin's tenant leaked out")

    out("\n6. Alice's keys as stored (read back with Scan):")
    stored: dict[str, dict[str, str]] = {}
    unique_rows: dict[str, str] = {}
    for item in transport.scan_items(client, table):
        pk = item["_pk"]["S"]
        tenant = pk[1 : pk.index("]")] if pk.startswith("[") else "(no tenant)"
        _check(tenant in DEMO_TENANTS, f"an item without a demo tenant's prefix: {pk}")
        if item.get("relatedId", {}).get("S") == DEMO_USERS[0]["user_id"]:
            unique_rows[tenant] = pk
        elif item.get("user_id", {}).get("S") == DEMO_USERS[0]["user_id"]:
            stored[tenant] = {a: item[a]["S"] for a in KEY_ATTRIBUTES if a in item}
    for tenant in DEMO_TENANTS:
        out(f"\ntenant {tenant}")
        for name, value in stored.get(tenant, {}).items():
            out(f"  {name:<9} {value}")
        out(f"  {'unique':<9} {unique_rows.get(tenant)}")
    _check(set(stored) == set(DEMO_TENANTS) == set(unique_rows),
           "Alice's item or unique row is missing for a tenant")
    out(
        "\nThe same user differs only by the tenant prefix of every key, so a read in one "
        "tenant can never reach the other's item."
    )
    return stored
