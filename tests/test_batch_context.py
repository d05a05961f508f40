"""The batch context on the embedded server: a request-scoped identity cache keyed by
(tenant, model, id) that writes keep current, nested contexts, ``require_batch_context`` and
the sync thread fan-out of ``batch_find``. Requests are counted with botocore's own
``before-call`` event on the manager's client."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, query
from dynamo_bao.config import load_config
from dynamo_bao.exceptions import ConfigurationError
from dynamo_bao.query import ObjectNotFound

from .conftest import unique_table_name


class BcItem(bao.BaoModel):
    model_prefix = "bci"
    item_id = fields.StringField(required=True)
    name = fields.StringField()
    email = fields.StringField()
    views = fields.CounterField()
    status = fields.StringField(default="active")
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("item_id")
    indexes = {"byStatus": bao.Index("status", "created_at", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True
    iteration_buckets = 2


class BcOther(bao.BaoModel):
    model_prefix = "bco"
    other_id = fields.StringField(required=True)
    name = fields.StringField()
    primary_key = bao.PrimaryKey("other_id")


class BcStrict(bao.BaoModel):
    """Registered with a manager that requires a batch context for reads."""

    model_prefix = "bcs"
    strict_id = fields.StringField(required=True)
    email = fields.StringField()
    status = fields.StringField(default="active")
    primary_key = bao.PrimaryKey("strict_id")
    indexes = {"byStatus": bao.Index("status", "strict_id", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}


@contextlib.contextmanager
def calls(client):
    """The names of the operations sent through ``client`` inside the block."""
    seen: list[str] = []

    def record(model, **_):
        seen.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        yield seen
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)


def new_tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("batchctx")},
        "tenancy": {"enabled": True},
        "models": [BcItem, BcOther],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager):
    with bao.TenantContext.tenant(new_tenant()) as tenant_id:
        yield tenant_id


def test_find_returns_the_cached_object_inside_a_context(manager, tenant):
    BcItem.create({"item_id": "a", "name": "A"})
    with calls(manager.client) as sent:
        first, second = BcItem.find("a"), BcItem.find("a")
    assert first is not second and sent == ["GetItem", "GetItem"]  # no context: no cache
    with bao.batch_context(), calls(manager.client) as sent:
        first = BcItem.find("a")
        assert BcItem.find("a") is first
        assert sent == ["GetItem"]
        missing = BcItem.find("nope")
        assert not missing.exists() and BcItem.find("nope") is missing  # not found is cached
        assert sent == ["GetItem", "GetItem"]
        bypassed = query.find(BcItem, "a", bypass_cache=True)  # re-reads, refreshes the cache
        assert bypassed is not first and bypassed.name == "A"
        assert BcItem.find("a") is bypassed
        assert sent == ["GetItem", "GetItem", "GetItem"]


def test_nested_contexts_shadow_fully(manager, tenant):
    BcItem.create({"item_id": "n", "name": "N"})
    with bao.batch_context(), calls(manager.client) as sent:
        outer = BcItem.find("n")
        with bao.batch_context():
            assert bao.BaoModel.is_inside_batch_context()
            inner = BcItem.find("n")
            assert inner is not outer
            assert BcItem.find("n") is inner
        assert BcItem.find("n") is outer  # the outer cache is back
        assert sent == ["GetItem", "GetItem"]
    assert not BcItem.is_inside_batch_context()


def test_batch_find_consults_and_fills_the_cache(manager, tenant):
    for i in range(3):
        BcItem.create({"item_id": f"b{i}", "name": f"B{i}"})
    with bao.batch_context(), calls(manager.client) as sent:
        cached = BcItem.find("b0")
        found = BcItem.batch_find(["b0", "b1", "b2", "b1", "gone"])
        assert list(found) == ["b0", "b1", "b2"]
        assert found["b0"] is cached
        assert sent == ["GetItem", "BatchGetItem"]
        assert BcItem.find("b2") is found["b2"]
        assert isinstance(BcItem.find("gone"), ObjectNotFound)
        assert BcItem.batch_find(["b1", "gone"]) == {"b1": found["b1"]}
        assert sent == ["GetItem", "BatchGetItem"]  # all answered from the cache


def test_a_tenants_cached_object_is_never_served_to_another(manager):
    acme, globex = new_tenant(), new_tenant()
    with bao.TenantContext.tenant(acme):
        BcItem.create({"item_id": "same", "name": "acme's"})
        BcOther.create({"other_id": "same", "name": "acme's other"})
    with bao.TenantContext.tenant(globex):
        BcItem.create({"item_id": "same", "name": "globex's"})
    with bao.batch_context(), calls(manager.client) as sent:
        with bao.TenantContext.tenant(acme):
            acme_item = BcItem.find("same")
            acme_other = BcOther.find("same")  # same id, another model
        with bao.TenantContext.tenant(globex):
            globex_item = BcItem.find("same")
            globex_other = BcOther.find("same")
            globex_batch = BcItem.batch_find(["same"])
        with bao.TenantContext.tenant(acme):
            assert BcItem.find("same") is acme_item
        assert sent == ["GetItem"] * 4  # each tenant and model read once, then cached
    assert acme_item.name == "acme's" and globex_item.name == "globex's"
    assert isinstance(acme_other, BcOther) and acme_other.name == "acme's other"
    assert not globex_other.exists()
    assert globex_batch["same"] is globex_item


def test_writes_update_and_evict_the_cache(manager, tenant):
    with bao.batch_context(), calls(manager.client) as sent:
        created = BcItem.create({"item_id": "w", "name": "before", "email": "w@x.com"})
        assert BcItem.find("w") is created
        updated = BcItem.update("w", {"name": "after", "views": "+1"})
        assert BcItem.find("w") is updated and updated.name == "after"
        loaded = BcItem.find("w")
        loaded.name = "saved"
        loaded.save()
        assert BcItem.find("w") is loaded  # the saved object itself, refreshed
        fresh = BcItem(item_id="w2", name="new")
        fresh.save()
        assert BcItem.find("w2") is fresh
        by_email = BcItem.find_by_email("w@x.com")
        assert by_email is loaded
        reads = sent.count("GetItem")
        BcItem.delete("w")
        after_delete = BcItem.find("w")
        assert not after_delete.exists()
        assert sent.count("GetItem") == reads + 1  # delete's own consistent read, no find
    with bao.batch_context():
        assert BcItem.find("w2").name == "new"
        assert not BcItem.find("w").exists()


def test_run_with_batch_context_and_capacity_outside(manager, tenant):
    BcItem.create({"item_id": "r", "name": "R"})

    def handler(item_id):
        assert BcItem.is_inside_batch_context()
        return BcItem.find(item_id) is BcItem.find(item_id)

    assert bao.run_with_batch_context(handler, "r") is True
    assert not BcItem.is_inside_batch_context()
    assert bao.get_batch_context_capacity() == {"read": 0.0, "write": 0.0}

    async def async_handler(item_id):
        first = await BcItem.afind(item_id)
        return first is await BcItem.afind(item_id), bao.get_batch_context_capacity()

    same, spent = asyncio.run(bao.run_with_batch_context(async_handler, "r"))
    assert same and spent["read"] > 0 and spent["write"] == 0


def test_batch_find_fans_chunks_out_to_threads_in_the_context(manager, tenant):
    ids = [f"f{i:03d}" for i in range(130)]
    for item_id in ids[:120]:
        BcItem.create({"item_id": item_id})
    threads = set()

    def thread_of(**_):
        threads.add(threading.get_ident())

    manager.client.meta.events.register("before-call.dynamodb.BatchGetItem", thread_of)
    try:
        with bao.batch_context(), calls(manager.client) as sent:
            found = BcItem.batch_find(ids)
            assert sorted(found) == ids[:120]
            assert sent == ["BatchGetItem", "BatchGetItem"]  # 100 + 30 keys
            assert all(BcItem.find(i) is found[i] for i in ids[:120])
            assert not BcItem.find(ids[-1]).exists()
            assert sent == ["BatchGetItem", "BatchGetItem"]
            # both chunks ran on library threads, and their capacity reached this context
            spent = bao.get_batch_context_capacity()["read"]
            assert spent > 0
            assert spent == pytest.approx(
                sum(BcItem.find(i).get_numeric_consumed_capacity("read") for i in ids)
            )
    finally:
        manager.client.meta.events.unregister("before-call.dynamodb.BatchGetItem", thread_of)
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_require_batch_context_refuses_reads_before_any_request(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("strict")},
        "batch": {"require_batch_context": True},
        "models": [BcStrict],
        "client": dynamodb_client,
    })
    manager.create_table()
    try:
        with bao.TenantContext.tenant(new_tenant()):
            BcStrict.create({"strict_id": "s", "email": "s@x.com"})  # writes are not checked
            assert BcStrict.query_by_index("byStatus", "active").count == 1  # nor queries
            with calls(manager.client) as sent:
                for read in (
                    lambda: BcStrict.find("s"),
                    lambda: BcStrict.batch_find(["s"]),
                    lambda: BcStrict.find_by_email("s@x.com"),
                ):
                    with pytest.raises(bao.BatchContextRequiredError) as info:
                        read()
                    assert isinstance(info.value, ConfigurationError)
                    assert "run_with_batch_context" in str(info.value)
            assert sent == []
            with bao.batch_context():
                assert BcStrict.find("s").email == "s@x.com"
                assert BcStrict.find_by_email("s@x.com").exists()
    finally:
        manager.delete_table()


def test_batch_settings_are_validated():
    assert load_config(
        {"db": {"table_name": "t"}}, environ={"DYNAMO_BAO_REQUIRE_BATCH_CONTEXT": "true"}
    ).require_batch_context
    assert load_config({"db": {"table_name": "t"}}, environ={}).coalesce_window_ms == 2.0
    assert load_config(
        {"db": {"table_name": "t"}}, environ={"DYNAMO_BAO_COALESCE_WINDOW_MS": "0.5"}
    ).coalesce_window_ms == 0.5
    for bad in (-1, "soon", True, 5000, float("nan")):
        with pytest.raises(ConfigurationError, match="coalesce_window_ms"):
            load_config({"db": {"table_name": "t"}, "batch": {"coalesce_window_ms": bad}},
                        environ={})
    with pytest.raises(ConfigurationError):
        load_config({"db": {"table_name": "t"}, "batch": {"require_batch_context": "maybe"}},
                    environ={})
