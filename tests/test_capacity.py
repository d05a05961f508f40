"""Consumed capacity on the embedded server: what each instance, query result and batch context
reports is compared with the ``ConsumedCapacity`` of the very responses botocore parsed
(captured with an ``after-call`` handler on the manager's client). moto answers
TransactWriteItems with an empty list, so a handler gives those responses DynamoDB's per-table
form (``CapacityUnits`` and ``WriteCapacityUnits``) before the library sees them."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

import dynamo_bao as bao
from dynamo_bao import fields
from dynamo_bao.exceptions import ValidationError

from .conftest import unique_table_name
from .test_batch_context import new_tenant

READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
TRANSACTION_UNITS = 6.0


class CapUser(bao.BaoModel):
    model_prefix = "cpu"
    user_id = fields.StringField(required=True)
    name = fields.StringField()
    email = fields.StringField()
    views = fields.CounterField()
    status = fields.StringField(default="active")
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("user_id")
    indexes = {"byStatus": bao.Index("status", "created_at", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True
    iteration_buckets = 2


class CapNote(bao.BaoModel):
    model_prefix = "cpn"
    note_id = fields.StringField(required=True)
    user_id = fields.RelatedField(CapUser)
    text = fields.StringField()
    primary_key = bao.PrimaryKey("note_id")


def transaction_capacity(parsed, **_):
    parsed["ConsumedCapacity"] = [{
        "TableName": "t", "CapacityUnits": TRANSACTION_UNITS,
        "WriteCapacityUnits": TRANSACTION_UNITS,
    }]


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("capacity")},
        "tenancy": {"enabled": True},
        "models": [CapUser, CapNote],
        "client": dynamodb_client,
    })
    manager.create_table()
    events = dynamodb_client.meta.events
    events.register("after-call.dynamodb.TransactWriteItems", transaction_capacity)
    yield manager
    events.unregister("after-call.dynamodb.TransactWriteItems", transaction_capacity)
    manager.delete_table()


@pytest.fixture
def tenant(manager):
    with bao.TenantContext.tenant(new_tenant()) as tenant_id:
        yield tenant_id


@contextlib.contextmanager
def responses(client):
    """``[(operation, ConsumedCapacity)]`` of every response inside the block."""
    seen: list[tuple[str, object]] = []

    def record(model, parsed, **_):
        seen.append((model.name, parsed.get("ConsumedCapacity")))

    client.meta.events.register("after-call.dynamodb", record)
    try:
        yield seen
    finally:
        client.meta.events.unregister("after-call.dynamodb", record)


def sums(seen) -> dict[str, float]:
    """Read and write units of captured responses: reads for read operations, writes for the
    rest (a transaction's entries say WriteCapacityUnits = CapacityUnits)."""
    total = {"read": 0.0, "write": 0.0}
    for operation, consumed in seen:
        entries = [consumed] if isinstance(consumed, dict) else list(consumed or [])
        for entry in entries:
            total["read" if operation in READS else "write"] += entry["CapacityUnits"]
    return total


def units(seen, operation) -> float:
    return sum(sums([s])["read"] + sums([s])["write"] for s in seen if s[0] == operation)


def test_a_batch_context_sums_every_response_inside_it(manager, tenant):
    with bao.batch_context(), responses(manager.client) as seen:
        CapUser.create({"user_id": "u1", "name": "Ada"})                   # UpdateItem
        CapUser.create({"user_id": "u2", "email": "b@x.com"})              # transaction + read
        CapUser.find("u1")
        CapUser.find("u1")                                                 # cached: no request
        CapUser.batch_find(["u1", "u2", "u3"])                             # u1, u2 cached
        CapUser.update("u1", {"views": "+1"})                              # read + write
        CapUser.update("u2", {"email": "c@x.com"})                         # read + transaction
        CapUser.query_by_index("byStatus", "active")
        for _ in CapUser.iterate_all(batch_size=1):                        # pages of Query
            pass                                                           # + BatchGetItems
        CapUser.count()

        async def coalesced():
            return await asyncio.gather(*(CapUser.afind(f"z{i}") for i in range(5)))

        asyncio.run(coalesced())  # the task runs in a copy of this context: same batch context
        CapUser.delete("u2")                                               # read + transaction
        spent = bao.get_batch_context_capacity()
    operations = {operation for operation, _ in seen}
    assert {"UpdateItem", "TransactWriteItems", "GetItem", "BatchGetItem", "Query"} <= operations
    assert spent == pytest.approx(sums(seen))
    assert spent["write"] >= 3 * TRANSACTION_UNITS and spent["read"] > 0
    assert bao.get_batch_context_capacity() == {"read": 0.0, "write": 0.0}  # outside


def test_instances_carry_what_they_cost(manager, tenant):
    with responses(manager.client) as seen:
        created = CapUser.create({"user_id": "i1", "name": "Ada"})
    assert created.get_numeric_consumed_capacity("write") == units(seen, "UpdateItem") > 0
    assert created.get_numeric_consumed_capacity("read") == 0

    with responses(manager.client) as seen:
        unique = CapUser.create({"user_id": "i2", "email": "i2@x.com"})
    assert unique.get_numeric_consumed_capacity("write") == TRANSACTION_UNITS
    assert unique.get_numeric_consumed_capacity("read") == units(seen, "GetItem") > 0
    assert unique.get_numeric_consumed_capacity("total") == pytest.approx(
        sum(sums(seen).values())
    )

    with responses(manager.client) as seen:
        found = CapUser.find("i1")
        missing = CapUser.find("nobody")
    assert found.get_numeric_consumed_capacity("read") == units(seen[:1], "GetItem") > 0
    assert missing.get_numeric_consumed_capacity("read") == units(seen[1:], "GetItem") > 0

    with responses(manager.client) as seen:
        updated = CapUser.update("i1", {"views": "+3"})
    assert updated.get_numeric_consumed_capacity("read") == units(seen, "GetItem")
    assert updated.get_numeric_consumed_capacity("write") == units(seen, "UpdateItem") > 0

    read_before = found.get_numeric_consumed_capacity("read")
    found.name = "Ada L."
    with responses(manager.client) as seen:
        found.save()
    assert found.get_numeric_consumed_capacity("write") == units(seen, "UpdateItem") > 0
    assert found.get_numeric_consumed_capacity("read") == read_before + units(seen, "GetItem")

    with responses(manager.client) as seen:
        deleted = CapUser.delete("i2")
    assert deleted.get_numeric_consumed_capacity("write") == TRANSACTION_UNITS
    assert deleted.get_numeric_consumed_capacity("read") == units(seen, "GetItem") > 0

    records = deleted.get_consumed_capacity()
    assert {r["type"] for r in records} == {"read", "write"}
    assert all("CapacityUnits" in r["consumed_capacity"] for r in records)
    records[0]["consumed_capacity"]["CapacityUnits"] = 1000  # a copy: the instance keeps its own
    assert deleted.get_numeric_consumed_capacity("write") == TRANSACTION_UNITS
    deleted.clear_consumed_capacity()
    assert deleted.get_numeric_consumed_capacity("total") == 0
    with pytest.raises(ValidationError, match="Invalid consumed capacity type: reads"):
        found.get_numeric_consumed_capacity("reads")


def test_batch_reads_share_their_units_among_the_ids(manager, tenant):
    for i in range(4):
        CapUser.create({"user_id": f"b{i}"})
    with responses(manager.client) as seen:
        found = CapUser.batch_find(["b0", "b1", "b2", "b3", "absent"])
    assert sum(u.get_numeric_consumed_capacity("read") for u in found.values()) == pytest.approx(
        units(seen, "BatchGetItem") * 4 / 5
    )

    async def coalesced():
        async with bao.batch_context():
            return await asyncio.gather(*(CapUser.afind(i) for i in ["b0", "b1", "b2", "gone"]))

    with responses(manager.client) as seen:
        results = asyncio.run(coalesced())
    assert [operation for operation, _ in seen] == ["BatchGetItem"]
    assert sum(r.get_numeric_consumed_capacity("read") for r in results) == pytest.approx(
        units(seen, "BatchGetItem")
    )


def test_query_results_and_related_objects(manager, tenant):
    for i in range(3):
        CapUser.create({"user_id": f"q{i}", "status": "busy"})
    with responses(manager.client) as seen:
        page = CapUser.query_by_index("byStatus", "busy")
    assert page.count == 3
    assert page.get_numeric_consumed_capacity("read") == units(seen, "Query") > 0
    assert page.get_numeric_consumed_capacity("write") == 0

    note = CapNote.create({"note_id": "n1", "user_id": "q0", "text": "hi"})
    own = note.get_numeric_consumed_capacity("total")
    with responses(manager.client) as seen:
        user = note.get_user()
    assert user.get_numeric_consumed_capacity("read") == units(seen, "GetItem") > 0
    assert note.get_numeric_consumed_capacity("total") == own
    assert note.get_numeric_consumed_capacity("total", include_related=True) == pytest.approx(
        own + user.get_numeric_consumed_capacity("total")
    )


def test_nested_contexts_keep_their_own_sums_and_add_to_the_outer(manager, tenant):
    CapUser.create({"user_id": "n1"})
    with bao.batch_context():
        CapUser.find("n1")
        outer = bao.get_batch_context_capacity()
        with bao.batch_context():
            assert bao.get_batch_context_capacity() == {"read": 0.0, "write": 0.0}
            CapUser.update("n1", {"views": "+1"})
            inner = bao.get_batch_context_capacity()
        assert inner["read"] > 0 and inner["write"] > 0
        after = bao.get_batch_context_capacity()
        assert after["read"] == pytest.approx(outer["read"] + inner["read"])
        assert after["write"] == pytest.approx(outer["write"] + inner["write"])


def test_counts_and_searches_carry_what_they_cost(manager, tenant):
    for i in range(3):
        CapUser.create({"user_id": f"c{i}", "name": f"Name {i}"})
    with responses(manager.client) as seen:
        counted = CapUser.count()
    assert counted.count == 3
    assert counted.get_numeric_consumed_capacity("read") == pytest.approx(sums(seen)["read"])
    assert counted.get_numeric_consumed_capacity("read") > 0
    assert counted.get_numeric_consumed_capacity("write") == 0
    with responses(manager.client) as seen:
        filtered = CapUser.count(filter={"name": "Name 1"})  # reads the items too
    assert filtered.count == 1
    assert {op for op, _ in seen} == {"Query", "BatchGetItem"}
    assert filtered.get_numeric_consumed_capacity("total") == pytest.approx(sums(seen)["read"])
    with pytest.raises(ValidationError):
        counted.get_numeric_consumed_capacity("bogus")
