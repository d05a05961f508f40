"""``Model.batch_put`` on the embedded server: BatchWriteItem in chunks of 25, validation before
any request, retries of unprocessed items and of throttling (injected with botocore's own
events), and nothing lost when DynamoDB keeps refusing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from botocore.config import Config

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.exceptions import (
    BatchIncompleteError,
    ConfigurationError,
    TenantRequiredError,
    ValidationError,
)

from .conftest import unique_table_name
from .faults import throttled


class Reading(bao.BaoModel):
    model_prefix = "rdg"
    sensor_id = fields.StringField(required=True)
    taken_at = fields.IntegerField(required=True)
    value = fields.DecimalField()
    labels = fields.StringSetField()
    status = fields.StringField(default="ok")
    primary_key = bao.PrimaryKey("sensor_id", "taken_at")
    indexes = {"byStatus": bao.Index("status", "taken_at", "gsi1")}
    iterable = True
    iteration_buckets = 2


class Badge(bao.BaoModel):
    model_prefix = "bdg"
    badge_id = fields.UlidField(auto_assign=True)
    code = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("badge_id")
    unique_constraints = {"uniqueCode": bao.UniqueConstraint("code", "uc1")}


@pytest.fixture
def manager(dynamodb_endpoint, monkeypatch):
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)
    # No retries of botocore's own: the library's retries are what is tested.
    client = transport.make_client(
        endpoint_url=dynamodb_endpoint, config=Config(retries={"max_attempts": 1})
    )
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("batchput")},
        "tenancy": {"enabled": True},
        "models": [Reading, Badge],
        "client": client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


def sent_operations(client):
    sent: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: sent.append(model.name)
    )
    return sent


def readings(n: int, sensor: str = "s1") -> list[dict]:
    return [
        {"sensor_id": sensor, "taken_at": i, "value": Decimal(f"{i}.5"), "labels": {f"l{i % 3}"}}
        for i in range(n)
    ]


def test_writes_every_item_in_chunks_of_25(manager):
    sent = sent_operations(manager.client)
    with bao.TenantContext.tenant("acme"):
        written = Reading.batch_put(readings(60))
        assert sent == ["BatchWriteItem"] * 3
        assert [r.taken_at for r in written] == list(range(60))
        assert all(r.exists() and not r.has_changes() for r in written)
        found = Reading.batch_find([r.primary_id for r in written])
        assert len(found) == 60
        seventh = found[written[7].primary_id]
        assert seventh.value == Decimal("7.5")
        assert seventh.labels == {"l1"}
        assert seventh.status == "ok"  # defaults applied as create does
        assert Reading.query_by_index("byStatus", "ok", limit=100).count == 60
        assert Reading.count().count == 60
    with bao.TenantContext.tenant("globex"):
        assert Reading.count().count == 0  # written under acme's keys only
    stored = transport.scan_items(manager.client, manager.table_name)
    assert len(stored) == 60
    assert all(item["_pk"]["S"].startswith("[acme]#rdg#") for item in stored)
    assert all(item["_iter_pk"]["S"].startswith("[acme]#rdg#iter#") for item in stored)


def test_instances_and_replacing(manager):
    with bao.TenantContext.tenant("acme"):
        Reading.create({"sensor_id": "s2", "taken_at": 1, "value": Decimal("1")})
        first = Reading.create({"sensor_id": "s2", "taken_at": 2, "value": Decimal("2")})
        [replaced] = Reading.batch_put([Reading(sensor_id="s2", taken_at=2)])
        assert replaced.primary_id == first.primary_id
        # Unconditional: the earlier item is replaced (its value is gone).
        assert Reading.find(first.primary_id).value is None
        assert Reading.batch_put([]) == []


@pytest.mark.parametrize(
    "entries, error",
    [
        ([{"sensor_id": "s", "taken_at": 1}, {"sensor_id": "s"}], ValidationError),  # required
        ([{"sensor_id": "s", "taken_at": "soon"}], ValidationError),  # wrong type
        ([{"sensor_id": "s", "taken_at": 1, "colour": "red"}], ValidationError),  # unknown
        ([{"sensor_id": "s", "taken_at": 1}, {"sensor_id": "s", "taken_at": 1}], ValidationError),
    ],
)
def test_bad_input_is_refused_before_any_request(manager, entries, error):
    sent = sent_operations(manager.client)
    with bao.TenantContext.tenant("acme"), pytest.raises(error):
        Reading.batch_put(entries)
    assert sent == []


def test_refusals_before_any_request(manager):
    sent = sent_operations(manager.client)
    with pytest.raises(TenantRequiredError):
        Reading.batch_put(readings(2))
    with bao.TenantContext.tenant("acme"):
        with pytest.raises(ConfigurationError, match="unique constraints"):
            Badge.batch_put([{"code": "a"}])
        stored = Reading.create({"sensor_id": "s3", "taken_at": 1})
        sent.clear()
        with pytest.raises(ValidationError, match="new Reading items"):
            Reading.batch_put([stored])
    assert sent == []


def test_unprocessed_items_and_throttling_are_retried(manager):
    client = manager.client
    calls: list[int] = []

    def throttle_first(request, **_):
        calls.append(1)
        return throttled(request) if len(calls) == 1 else None

    def hold_back(parsed, context, **_):
        # The second answer says its last 5 items were not processed (they are written
        # again: a put is idempotent), as DynamoDB does under load.
        if len(calls) == 2:
            parsed["UnprocessedItems"] = {manager.table_name: held[-5:]}

    held: list = []
    client.meta.events.register(
        "before-call.dynamodb.BatchWriteItem",
        lambda params, **_: held.extend(params.get("RequestItems", {}).get(manager.table_name, [])),
    )
    client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttle_first)
    client.meta.events.register("after-call.dynamodb.BatchWriteItem", hold_back)
    try:
        with bao.TenantContext.tenant("acme"):
            written = Reading.batch_put(readings(20, "s4"))
            assert len(calls) == 3  # throttled, 5 left over, the 5 again
            assert len(Reading.batch_find([r.primary_id for r in written])) == 20
    finally:
        client.meta.events.unregister("before-send.dynamodb.BatchWriteItem", throttle_first)
        client.meta.events.unregister("after-call.dynamodb.BatchWriteItem", hold_back)


def test_what_stays_unwritten_is_reported_not_lost(manager):
    client = manager.client
    client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttled)
    try:
        with bao.TenantContext.tenant("acme"), pytest.raises(BatchIncompleteError) as info:
            Reading.batch_put(readings(30, "s5"))
    finally:
        client.meta.events.unregister("before-send.dynamodb.BatchWriteItem", throttled)
    # Nothing was written: the first chunk's 25 items and the 5 never sent are all reported,
    # as the instances to put again.
    assert len(info.value.unprocessed) == 30
    assert [reading.taken_at for reading in info.value.unprocessed] == list(range(30))
    assert info.value.done == []
    assert transport.scan_items(client, manager.table_name) == []


def test_async_twin_and_batch_context(manager):
    async def run():
        async with bao.TenantContext.tenant("acme"), bao.batch_context():
            written = await Reading.abatch_put(readings(3, "s6"))
            # The batch context caches what was written: no read needed.
            sent = sent_operations(manager.client)
            again = await Reading.afind(written[0].primary_id)
            return written, again, sent

    written, again, sent = asyncio.run(run())
    assert again is written[0]
    assert sent == []
