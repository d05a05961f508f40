"""Batches that lose nothing on any error (issue 13, item 12) and batch input / responses that
are refused as dynamo-bao errors (item 14: wrong entry types, an unrequested item in a
BatchGetItem response).

Faults are real: a :class:`~tests.fault_proxy.FaultProxy` on 127.0.0.1 refuses connections or
stops listening part-way through a batch, and botocore ``before-send`` handlers answer with a
canned ``ValidationException`` or a canned 200 body — on both wire paths (on the fast path the
core decodes that body, on the boto3 path botocore does).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from types import SimpleNamespace

import botocore.exceptions as bexc
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.exceptions import (
    BaoError,
    BatchIncompleteError,
    ConfigurationError,
    ValidationError,
)

from .conftest import unique_table_name
from .fault_proxy import FaultProxy
from .faults import error_response


class HbReading(bao.BaoModel):
    model_prefix = "hbatr"
    sensor_id = fields.StringField(required=True)
    taken_at = fields.IntegerField(required=True)
    value = fields.IntegerField()
    primary_key = bao.PrimaryKey("sensor_id", "taken_at")
    iterable = True
    iteration_buckets = 1


class HbUser(bao.BaoModel):
    model_prefix = "hbatu"
    user_id = fields.UlidField(auto_assign=True)
    name = fields.StringField()
    primary_key = bao.PrimaryKey("user_id")


@pytest.fixture
def env(bao_endpoint, bao_client, monkeypatch):
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)  # the library's backoff
    proxy = FaultProxy(bao_endpoint)
    # botocore retries connection errors: one retry only, short timeouts, to keep tests fast.
    client = transport.make_client(
        endpoint_url=proxy.url,
        config=Config(
            retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=5
        ),
    )
    table = unique_table_name("hbatch")
    manager = bao.init_models({
        "db": {"table_name": table},
        "tenancy": {"enabled": True},
        "models": [HbReading, HbUser],
        "client": client,
    })
    transport.create_table(bao_client, table)
    try:
        yield SimpleNamespace(proxy=proxy, client=client, manager=manager, table=table,
                              direct=bao_client)
    finally:
        proxy.close()
        transport.delete_table(bao_client, table)


def readings(n: int, sensor: str = "s1") -> list[dict]:
    return [{"sensor_id": sensor, "taken_at": i, "value": i * 10} for i in range(n)]


def stored_taken_at(env) -> set[int]:
    return {int(item["taken_at"]["N"]) for item in transport.scan_items(env.direct, env.table)}


def on_event(client, event: str, handler):
    client.meta.events.register(event, handler)
    return lambda: client.meta.events.unregister(event, handler)


def assert_chain(err: BatchIncompleteError, translated: type, botocore_error: type) -> None:
    """The cause is the translated dynamo-bao error, which chains botocore's own."""
    assert isinstance(err.__cause__, translated)
    assert isinstance(err.__cause__.__cause__, botocore_error)


# --------------------------------------------------------------------------- batch writes


def test_batch_put_refused_after_first_chunk_reports_the_rest_and_a_retry_writes_it(env):
    env.proxy.refuse("BatchWriteItem", after=1, times=None)
    with bao.TenantContext.tenant("acme"):
        entries = readings(60)
        with pytest.raises(BatchIncompleteError) as info:
            HbReading.batch_put(entries)
        err = info.value
        assert_chain(err, ConfigurationError, bexc.HTTPClientError)
        assert "cannot reach DynamoDB" in str(err.__cause__)
        # The 35 unwritten ones, as instances ready to be put again; the 25 written ones too.
        assert sorted(r.taken_at for r in err.unprocessed) == list(range(25, 60))
        assert all(isinstance(r, HbReading) and r.has_changes() for r in err.unprocessed)
        assert sorted(r.taken_at for r in err.done) == list(range(25))
        assert all(not r.has_changes() for r in err.done)  # stored, as on success
        assert "may have been written" in str(err)
        assert stored_taken_at(env) == set(range(25))

        env.proxy.clear()  # healthy again
        again = HbReading.batch_put(err.unprocessed)
        assert sorted(r.taken_at for r in again) == list(range(25, 60))
        assert stored_taken_at(env) == set(range(60))
        found = HbReading.batch_find([r.primary_id for r in err.done + again])
        assert len(found) == 60
        assert found[again[0].primary_id].value == 250


def test_batch_put_connection_refused_after_first_chunk(env):
    """The issue's case: the server stops accepting connections once the first chunk is in."""
    writes: list[int] = []

    def after_first(**_):
        writes.append(1)
        if len(writes) == 1:
            env.proxy.stop_listening()

    off = on_event(env.client, "after-call.dynamodb.BatchWriteItem", after_first)
    try:
        with bao.TenantContext.tenant("acme"), pytest.raises(BatchIncompleteError) as info:
            HbReading.batch_put(readings(60))
    finally:
        off()
    err = info.value
    assert_chain(err, ConfigurationError, bexc.EndpointConnectionError)
    assert "cannot reach DynamoDB" in str(err)
    assert sorted(r.taken_at for r in err.unprocessed) == list(range(25, 60))
    assert len(err.done) == 25
    assert stored_taken_at(env) == set(range(25))


def test_batch_put_validation_exception_mid_batch(env):
    calls: list[int] = []

    def refuse_second(request, **_):
        calls.append(1)
        if len(calls) == 2:
            return error_response(request, "ValidationException", "Item size has exceeded")
        return None

    off = on_event(env.client, "before-send.dynamodb.BatchWriteItem", refuse_second)
    try:
        with bao.TenantContext.tenant("acme"), pytest.raises(BatchIncompleteError) as info:
            HbReading.batch_put(readings(60))
    finally:
        off()
    err = info.value
    assert_chain(err, BaoError, bexc.ClientError)
    assert "ValidationException" in str(err)
    assert len(calls) == 2  # not retried, and the third chunk was not sent
    assert sorted(r.taken_at for r in err.unprocessed) == list(range(25, 60))
    assert stored_taken_at(env) == set(range(25))
    with bao.TenantContext.tenant("acme"):
        HbReading.batch_put(err.unprocessed)
    assert stored_taken_at(env) == set(range(60))


@pytest.mark.parametrize(
    "entry",
    [HbUser(name="u"), 42, "s1", None, ["sensor_id", "s"]],
    ids=["other-model", "int", "str", "none", "list"],
)
def test_batch_put_wrong_entry_type_is_refused_before_any_request(env, entry):
    sent: list[str] = []
    off = on_event(env.client, "before-send.dynamodb", lambda **_: sent.append(1))
    try:
        with bao.TenantContext.tenant("acme"), pytest.raises(ValidationError) as info:
            HbReading.batch_put([{"sensor_id": "s", "taken_at": 1}, entry])
    finally:
        off()
    assert type(entry).__name__ in str(info.value)
    assert "HbReading" in str(info.value)
    assert sent == []


# --------------------------------------------------------------------------- batch reads


def put_all(n: int) -> list[HbReading]:
    return HbReading.batch_put(readings(n))


def test_batch_find_failing_chunk_reports_every_unread_id(env):
    with bao.TenantContext.tenant("acme"):
        ids = [r.primary_id for r in put_all(150)]
        # Two chunks (100 + 50) read on two threads: whichever comes second is refused.
        env.proxy.refuse("BatchGetItem", after=1, times=None)
        with pytest.raises(BatchIncompleteError) as info:
            HbReading.batch_find(ids)
    err = info.value
    assert_chain(err, ConfigurationError, bexc.HTTPClientError)
    unread = set(err.unprocessed)
    assert unread in (set(ids[:100]), set(ids[100:]))
    assert all(isinstance(i, str) for i in err.unprocessed)
    # What was read is kept: every other id, as instances.
    assert set(err.done) == set(ids) - unread
    assert all(isinstance(r, HbReading) and r.exists() for r in err.done.values())


def test_batch_find_failures_of_several_chunks_are_aggregated(env):
    with bao.TenantContext.tenant("acme"):
        ids = [r.primary_id for r in put_all(250)]
        nobody = HbReading(sensor_id="nobody", taken_at=1).primary_id  # never stored
        asked = ids + [nobody]
        # Three chunks on three threads: the first to arrive is read, the other two refused.
        env.proxy.refuse("BatchGetItem", after=1, times=None)
        with pytest.raises(BatchIncompleteError) as info:
            HbReading.batch_find(asked)
    err = info.value
    chunks = [set(asked[:100]), set(asked[100:200]), set(asked[200:])]
    read = set(asked) - set(err.unprocessed)
    assert read in chunks
    assert err.unprocessed == [i for i in asked if i not in read]  # in the order asked
    assert set(err.done) == read - {nobody}
    assert_chain(err, ConfigurationError, bexc.HTTPClientError)


def test_batch_read_failing_before_anything_is_read_raises_its_own_error(env):
    """Nothing was read: the ids asked for are what is left, and the error stays what it is
    (a ConfigurationError for an unreachable endpoint or a missing table)."""
    with bao.TenantContext.tenant("acme"):
        ids = [r.primary_id for r in put_all(150)]
        env.proxy.refuse("BatchGetItem", times=None)
        with pytest.raises(ConfigurationError, match="cannot reach DynamoDB") as info:
            HbReading.batch_find(ids)
    assert not isinstance(info.value, BatchIncompleteError)
    assert isinstance(info.value.__cause__, bexc.HTTPClientError)


def test_batch_put_failing_before_anything_is_written_raises_its_own_error(env):
    env.proxy.refuse("BatchWriteItem", times=None)
    with bao.TenantContext.tenant("acme"), pytest.raises(ConfigurationError) as info:
        HbReading.batch_put(readings(30))
    assert not isinstance(info.value, BatchIncompleteError)
    assert stored_taken_at(env) == set()


def test_batch_find_validation_exception_mid_batch(env):
    with bao.TenantContext.tenant("acme"):
        ids = [r.primary_id for r in put_all(150)]
        arrivals = itertools.count(1)

        def refuse_second(request, **_):
            if next(arrivals) == 2:
                return error_response(request, "ValidationException", "Too many items requested")
            return None

        off = on_event(env.client, "before-send.dynamodb.BatchGetItem", refuse_second)
        try:
            with pytest.raises(BatchIncompleteError) as info:
                HbReading.batch_find(ids)
        finally:
            off()
    err = info.value
    assert_chain(err, BaoError, bexc.ClientError)
    assert "ValidationException" in str(err)
    assert set(err.unprocessed) in (set(ids[:100]), set(ids[100:]))
    assert set(err.done) == set(ids) - set(err.unprocessed)


def test_iterate_all_failing_page_reports_its_unread_ids(env):
    with bao.TenantContext.tenant("acme"):
        ids = sorted(r.primary_id for r in put_all(30))  # the iteration index's order
        env.proxy.refuse("BatchGetItem", after=1, times=None)
        pages = HbReading.iterate_all(batch_size=10)
        first = next(pages)
        assert sorted(r.primary_id for r in first) == ids[:10]
        with pytest.raises(BatchIncompleteError) as info:
            next(pages)
    err = info.value
    assert_chain(err, ConfigurationError, bexc.HTTPClientError)
    assert sorted(err.unprocessed) == ids[10:20]
    assert err.done == {}


def test_coalesced_async_finds_report_the_unread_ids(env):
    """Inside a batch context, concurrent ``afind`` calls become one batch read: when part of
    it fails, every caller gets the error naming all the ids not read."""
    with bao.TenantContext.tenant("acme"):
        ids = [r.primary_id for r in put_all(150)]
    env.proxy.refuse("BatchGetItem", after=1, times=None)

    async def run():
        async with bao.TenantContext.tenant("acme"), bao.batch_context():
            return await asyncio.gather(
                *(HbReading.afind(i) for i in ids), return_exceptions=True
            )

    results = asyncio.run(run())
    assert all(isinstance(r, BatchIncompleteError) for r in results)
    err = results[0]
    assert len(err.unprocessed) in (50, 100) and set(err.unprocessed) <= set(ids)
    assert set(err.done) == set(ids) - set(err.unprocessed)
    assert isinstance(err.__cause__, ConfigurationError)


# --------------------------------------------------------------------------- unrequested items


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_):
        yield self._body


def canned_batch_get(table: str, items: list[dict]):
    """A before-send handler answering BatchGetItem with ``items`` (AttributeValue form)."""
    body = json.dumps({"Responses": {table: items}, "UnprocessedKeys": {}}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "canned"}
    return lambda request, **_: AWSResponse(request.url, 200, headers, _Body(body))


def stored_item(values: dict, tenant: str) -> dict:
    return HbReading._schema.to_item(values, tenant)


@pytest.mark.parametrize("kind", ["other-tenant-same-id", "id-not-asked-for"])
def test_batch_find_refuses_an_item_nobody_asked_for(env, kind):
    with bao.TenantContext.tenant("acme"):
        [mine] = put_all(1)
        values = {"sensor_id": "s1", "taken_at": 0, "value": 666}
        if kind == "other-tenant-same-id":
            foreign = stored_item(values, "globex")  # same id, another tenant's key
        else:
            foreign = stored_item({**values, "taken_at": 99}, "acme")
        answer = [stored_item({"sensor_id": "s1", "taken_at": 0, "value": 0}, "acme"), foreign]
        off = on_event(
            env.client, "before-send.dynamodb.BatchGetItem", canned_batch_get(env.table, answer)
        )
        try:
            with pytest.raises(ValidationError, match="not requested"):
                HbReading.batch_find([mine.primary_id])
        finally:
            off()


def test_iterate_all_refuses_an_item_nobody_asked_for(env):
    with bao.TenantContext.tenant("acme"):
        put_all(3)
        foreign = stored_item({"sensor_id": "s1", "taken_at": 1, "value": 666}, "globex")
        off = on_event(
            env.client, "before-send.dynamodb.BatchGetItem", canned_batch_get(env.table, [foreign])
        )
        try:
            with pytest.raises(ValidationError, match="not requested"):
                list(HbReading.iterate_all())
        finally:
            off()

