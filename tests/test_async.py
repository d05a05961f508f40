"""The async face on the embedded server: ``a``-prefixed twins give the same results as the
sync methods, never block the event loop, carry tenant and batch context into their threads;
concurrent ``afind`` calls in a batch context coalesce into BatchGetItem; concurrent counter
increments all land; batch reads lose nothing under injected UnprocessedKeys and throttling."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from botocore.config import Config

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.exceptions import ValidationError
from dynamo_bao.query import ObjectNotFound

from .conftest import unique_table_name
from .faults import error_response, throttled
from .test_batch_context import calls, new_tenant


class AsUser(bao.BaoModel):
    model_prefix = "asu"
    user_id = fields.StringField(required=True)
    name = fields.StringField()
    email = fields.StringField()
    views = fields.CounterField()
    status = fields.StringField(default="active")
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("user_id")
    indexes = {
        "byStatus": bao.Index("status", "created_at", "gsi1"),
        "allUsers": bao.Index("modelPrefix", "user_id", "gsi2"),
    }
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True
    iteration_buckets = 2


class AsPost(bao.BaoModel):
    model_prefix = "asp"
    user_id = fields.RelatedField(AsUser, required=True)
    post_id = fields.StringField(required=True)
    title = fields.StringField()
    primary_key = bao.PrimaryKey("user_id", "post_id")


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("async")},
        "tenancy": {"enabled": True},
        "models": [AsUser, AsPost],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


def run(coro):
    return asyncio.run(coro)


def seed(count: int, prefix: str = "u") -> list[str]:
    ids = [f"{prefix}{i:03d}" for i in range(count)]
    for user_id in ids:
        AsUser.create({"user_id": user_id, "name": f"N{user_id}"})
    return ids


def test_concurrent_afinds_in_a_batch_context_coalesce(manager):
    with bao.TenantContext.tenant(new_tenant()):
        ids = seed(50)
        asked = ids + ids[:5] + [f"missing{i}" for i in range(5)]  # 60 calls, 55 distinct

        async def handler():
            async with bao.batch_context():
                results = await asyncio.gather(*(AsUser.afind(i) for i in asked))
                again = await AsUser.afind(ids[0])  # cached: no request
                return results, again

        with calls(manager.client) as sent:
            results, again = run(handler())
        assert sent.count("GetItem") == 0
        assert 1 <= sent.count("BatchGetItem") <= 2 and len(sent) == sent.count("BatchGetItem")
        assert again is results[0]
        assert results[50] is results[0]  # duplicates share one key and one result
        assert all(isinstance(r, ObjectNotFound) and not r.exists() for r in results[55:])
        sync = [AsUser.find(i) for i in asked]
        assert [r.to_dict() if r.exists() else None for r in results] == [
            r.to_dict() if r.exists() else None for r in sync
        ]


def test_afinds_join_a_batch_already_in_flight(manager):
    with bao.TenantContext.tenant(new_tenant()):
        ids = seed(3)

        def slow(**_):
            time.sleep(0.2)  # the batch stays in flight a while

        async def handler():
            async with bao.batch_context():
                first = asyncio.gather(*(AsUser.afind(i) for i in ids[:2]))
                await asyncio.sleep(0.05)  # past the window: the first batch was sent
                late_same, late_other = await asyncio.gather(
                    AsUser.afind(ids[0]), AsUser.afind(ids[2])
                )
                return await first, late_same, late_other

        manager.client.meta.events.register("before-call.dynamodb.BatchGetItem", slow)
        try:
            with calls(manager.client) as sent:
                (a, b), late_same, late_other = run(handler())
        finally:
            manager.client.meta.events.unregister("before-call.dynamodb.BatchGetItem", slow)
        assert late_same is a  # joined the batch in flight, not read again
        assert late_other.user_id == ids[2]
        assert sent == ["BatchGetItem", "BatchGetItem"]  # [ids 0, 1], then [id 2] alone


def test_a_failed_batch_fails_every_caller_waiting_on_it(manager):
    with bao.TenantContext.tenant(new_tenant()):
        ids = seed(2)

        def refuse(request, **_):
            return error_response(request, "ValidationException", "injected")

        async def handler():
            async with bao.batch_context():
                failed = await asyncio.gather(
                    *(AsUser.afind(i) for i in ids), return_exceptions=True
                )
                # nothing of the failure was cached: the same context reads again
                manager.client.meta.events.unregister("before-send.dynamodb.BatchGetItem", refuse)
                return failed, await asyncio.gather(*(AsUser.afind(i) for i in ids))

        manager.client.meta.events.register("before-send.dynamodb.BatchGetItem", refuse)
        try:
            failed, retried = run(handler())
        finally:
            manager.client.meta.events.unregister("before-send.dynamodb.BatchGetItem", refuse)
        assert all(isinstance(f, bao.BaoError) and "injected" in str(f) for f in failed)
        assert [u.user_id for u in retried] == ids


def test_afind_outside_a_batch_context_is_one_get_item_each(manager):
    with bao.TenantContext.tenant(new_tenant()):
        ids = seed(4)

        async def handler():
            return await asyncio.gather(*(AsUser.afind(i) for i in ids))

        with calls(manager.client) as sent:
            results = run(handler())
        assert sent == ["GetItem"] * 4
        assert [r.user_id for r in results] == ids


def test_a_bad_id_fails_only_its_own_caller(manager):
    with bao.TenantContext.tenant(new_tenant()):
        ids = seed(2)

        async def handler():
            async with bao.batch_context():
                return await asyncio.gather(
                    AsUser.afind(ids[0]), AsUser.afind(""), AsUser.afind(ids[1]),
                    return_exceptions=True,
                )

        first, bad, second = run(handler())
        assert isinstance(bad, ValidationError)
        assert (first.user_id, second.user_id) == tuple(ids)


def test_tenants_coalesce_apart_in_one_context(manager):
    acme, globex = new_tenant(), new_tenant()
    with bao.TenantContext.tenant(acme):
        AsUser.create({"user_id": "same", "name": "acme"})
    with bao.TenantContext.tenant(globex):
        AsUser.create({"user_id": "same", "name": "globex"})

    async def read_as(tenant_id):
        async with bao.TenantContext.tenant(tenant_id):
            return await asyncio.gather(*(AsUser.afind("same") for _ in range(3)))

    async def handler():
        async with bao.batch_context():
            return await asyncio.gather(read_as(acme), read_as(globex), read_as(new_tenant()))

    with calls(manager.client) as sent:
        acme_users, globex_users, nobody = run(handler())
    assert sent == ["BatchGetItem"] * 3
    assert {u.name for u in acme_users} == {"acme"}
    assert {u.name for u in globex_users} == {"globex"}
    assert not any(u.exists() for u in nobody)


def test_concurrent_counter_increments_all_land(manager):
    with bao.TenantContext.tenant(new_tenant()):
        AsUser.create({"user_id": "counter", "views": 0})

        async def handler():
            await asyncio.gather(*(AsUser.aupdate("counter", {"views": "+1"}) for _ in range(25)))
            async with bao.batch_context():
                await asyncio.gather(
                    *(AsUser.aupdate("counter", {"views": "+2"}) for _ in range(5))
                )
                return await AsUser.afind("counter")  # the context caches the latest write

        cached = run(handler())
        assert AsUser.find("counter").views == 35
        assert cached.views > 25


def test_async_and_sync_results_are_identical(manager):
    with bao.TenantContext.tenant(new_tenant()):

        async def build():
            created = await AsUser.acreate({"user_id": "a1", "name": "Ada", "email": "a@x.com"})
            await AsUser.acreate({"user_id": "a2", "name": "Bob", "email": "b@x.com"})
            await AsPost.acreate({"user_id": "a1", "post_id": "p1", "title": "hello"})
            fresh = AsUser(user_id="a3", name="Cy")
            await fresh.asave()
            fresh.name = "Cyd"
            await fresh.asave()
            return created, fresh

        created, fresh = run(build())
        assert created.to_dict() == AsUser.find("a1").to_dict()
        assert AsUser.find("a3").name == "Cyd" and fresh.name == "Cyd"

        def pairs():
            user = AsUser.find("a1")
            post = AsPost.find("a1##__SK__##p1")
            return [
                (AsUser.find("a2"), AsUser.afind("a2")),
                (AsUser.batch_find(["a1", "a2", "zz"]),
                 AsUser.abatch_find(["a1", "a2", "zz"])),
                (AsUser.find_by_email("b@x.com"), AsUser.afind_by_email("b@x.com")),
                (AsUser.find_by_unique_constraint("uniqueEmail", "a@x.com"),
                 AsUser.afind_by_unique_constraint("uniqueEmail", "a@x.com")),
                (AsUser.query_by_index("byStatus", "active"),
                 AsUser.aquery_by_index("byStatus", "active")),
                (AsUser.query_all_users(), AsUser.aquery_all_users()),
                (AsPost.query_by_primary_key("a1"), AsPost.aquery_by_primary_key("a1")),
                (AsUser.count(), AsUser.acount()),
                (post.get_user(), post.aget_user()),
                (post.get_related("user_id"), post.aget_related("user_id")),
                (user.query_as_posts(), user.aquery_as_posts()),  # installed by init_models
            ]

        def plain(value):
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, bao.BaoModel):
                return value.to_dict()
            if hasattr(value, "items") and hasattr(value, "count"):  # a query result
                return [plain(i) for i in value.items], value.count
            if hasattr(value, "count"):
                return value.count
            return value

        async def compare():
            for sync_result, awaitable in pairs():
                assert plain(sync_result) == plain(await awaitable)

        run(compare())

        async def iterate():
            return [u.user_id async for batch in AsUser.aiterate_all(batch_size=1) for u in batch]

        assert sorted(run(iterate())) == sorted(
            u.user_id for batch in AsUser.iterate_all(batch_size=1) for u in batch
        )

        async def remove():
            return await AsUser.adelete("a2")

        assert run(remove()).name == "Bob"
        assert not AsUser.find("a2").exists()


def test_the_event_loop_is_never_blocked(manager):
    with bao.TenantContext.tenant(new_tenant()):
        seed(1)

        def slow(**_):
            time.sleep(0.3)  # on the worker thread the request runs on

        ticks = []

        async def ticker(done):
            while not done.is_set():
                ticks.append(1)
                await asyncio.sleep(0.01)

        async def handler():
            done = asyncio.Event()
            beat = asyncio.create_task(ticker(done))
            user = await AsUser.afind("u000")
            done.set()
            await beat
            return user

        manager.client.meta.events.register("before-call.dynamodb.GetItem", slow)
        try:
            user = run(handler())
        finally:
            manager.client.meta.events.unregister("before-call.dynamodb.GetItem", slow)
        assert user.exists()
        assert len(ticks) >= 10


def test_context_flows_into_the_worker_threads(manager):
    tenant_id = new_tenant()
    with bao.TenantContext.tenant(tenant_id):
        seed(1)
    seen = []

    def record(**_):
        seen.append((threading.get_ident(), bao.TenantContext.get_current_tenant(),
                     bao.BaoModel.is_inside_batch_context()))

    async def handler():
        async with bao.TenantContext.tenant(tenant_id), bao.batch_context():
            return await AsUser.afind("u000"), await AsUser.aquery_by_index("byStatus", "active")

    manager.client.meta.events.register("before-call.dynamodb", record)
    try:
        user, page = run(handler())
    finally:
        manager.client.meta.events.unregister("before-call.dynamodb", record)
    assert user.exists() and page.count == 1
    assert [s[1:] for s in seen] == [(tenant_id, True), (tenant_id, True)]
    assert threading.get_ident() not in {s[0] for s in seen}


# ------------------------------------------------------------------------------------------
# Fault injection: a client without botocore retries, so every throttle reaches our backoff.


class Faults:
    """Throttle every third BatchGetItem; hold back half the keys of every other answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.throttled = 0
        self.held_back = 0

    def before_send(self, request, **_):
        with self.lock:
            self.sent += 1
            if self.sent % 3 == 1:
                self.throttled += 1
                return throttled(request)
        return None

    def after_call(self, parsed, **_):
        for table, items in parsed.get("Responses", {}).items():
            if len(items) > 1:
                held = items[: len(items) // 2]
                parsed["Responses"][table] = items[len(items) // 2 :]
                parsed["UnprocessedKeys"] = {table: {"Keys": [key_of(i) for i in held]}}
                with self.lock:
                    self.held_back += len(held)


def key_of(item):
    """The key of an item as the response holds it: AttributeValues on botocore's wire path,
    model values on the fast path (which decodes through the model's Schema)."""
    if "_pk" in item:
        return {"_pk": item["_pk"], "_sk": item["_sk"]}
    return AsFault._schema.key(item, bao.TenantContext.get_current_tenant())


@pytest.fixture
def faulty(dynamodb_endpoint, monkeypatch):
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)
    client = transport.make_client(
        endpoint_url=dynamodb_endpoint, config=Config(retries={"mode": "standard",
                                                               "max_attempts": 1})
    )
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("faulty")},
        "tenancy": {"enabled": True},
        "models": [AsFault],
        "client": client,
    })
    manager.create_table()
    faults = Faults()
    yield manager, faults
    client.meta.events.unregister("before-send.dynamodb.BatchGetItem", faults.before_send)
    client.meta.events.unregister("after-call.dynamodb.BatchGetItem", faults.after_call)
    manager.delete_table()


class AsFault(bao.BaoModel):
    model_prefix = "asf"
    fault_id = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("fault_id")


def test_abatch_find_and_coalesced_afinds_lose_nothing_under_faults(faulty):
    manager, faults = faulty
    with bao.TenantContext.tenant(new_tenant()):
        ids = [f"f{i:03d}" for i in range(150)]
        for fault_id in ids:
            AsFault.create({"fault_id": fault_id})
        events = manager.client.meta.events
        events.register("before-send.dynamodb.BatchGetItem", faults.before_send)
        events.register("after-call.dynamodb.BatchGetItem", faults.after_call)

        async def handler():
            found = await AsFault.abatch_find(ids + ["absent"])
            async with bao.batch_context():
                coalesced = await asyncio.gather(*(AsFault.afind(i) for i in ids[:70]))
            return found, coalesced

        found, coalesced = run(handler())
    assert sorted(found) == ids
    assert [f.fault_id for f in coalesced] == ids[:70]
    assert faults.throttled >= 2 and faults.held_back >= 50


def test_every_listed_method_has_its_twin():
    import inspect

    from dynamo_bao.model import ASYNC_ITERATOR_TWINS, ASYNC_TWINS

    for name in ASYNC_TWINS:
        assert hasattr(bao.BaoModel, name), name  # a listed name that is no method is a typo
        assert inspect.iscoroutinefunction(getattr(bao.BaoModel, f"a{name}")), name
    for name in ASYNC_ITERATOR_TWINS:
        # A plain function returning an async iterator: the sync method runs at the call.
        twin = getattr(bao.BaoModel, f"a{name}")
        assert callable(twin) and not inspect.iscoroutinefunction(twin), name
    assert inspect.iscoroutinefunction(AsUser.afind)
    assert inspect.iscoroutinefunction(AsUser.afind_by_email)  # generated at class creation
    assert not hasattr(AsUser, "afind_by_name")  # no twin without a sync method
