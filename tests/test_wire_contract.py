"""The botocore behaviour the fast wire path (``dynamo_bao.wire``) relies on, pinned against
the embedded server: which events fire, in which order, with which arguments; that the body put
in at ``before-call`` is what is signed, sent and re-sent on retries; that error responses still
become botocore's exceptions; that a caller's handlers still run; that threads sharing a client
never mix their requests."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.exceptions as bexc
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from dynamo_bao import core, transport, wire
from dynamo_bao.concurrency import run_in_thread
from dynamo_bao.exceptions import ValidationError

FIELDS = [("name", "string"), ("n", "integer"), ("blob", "binary"), ("tags", "string_set")]


@pytest.fixture
def schema():
    return core.Schema("Thing", "th", FIELDS, "name")


@pytest.fixture
def client(dynamodb_endpoint):
    """A fresh client with the fast path (handlers registered here stay on this client)."""
    return wire.make_client(endpoint_url=dynamodb_endpoint, config=Config(retries={
        "mode": "standard", "max_attempts": 4}))


@pytest.fixture
def plain(dynamodb_endpoint):
    """A client without the fast path, for reading back and for botocore's own behaviour."""
    return transport.make_client(endpoint_url=dynamodb_endpoint)


@pytest.fixture
def table(plain, table_name):
    transport.create_table(plain, table_name)
    return table_name


def key(name: str) -> dict:
    return {"_pk": {"S": f"th#{name}"}, "_sk": {"S": "th"}}


def av_item(name: str, n: int = 1) -> dict:
    return {**key(name), "name": {"S": name}, "n": {"N": str(n)},
            "blob": {"B": bytes([n % 256, 0xFF])}, "tags": {"SS": ["é", "b"]}}


def put(client, table, name, n=1, **extra):
    return wire.call(client, "PutItem", {"TableName": table, "Item": av_item(name, n), **extra})


def test_events_fire_in_order_with_the_arguments_relied_on(client, table, schema):
    seen: list = []

    def record(event_name, **kwargs):
        seen.append((event_name.split(".")[0], kwargs))

    for event in ("provide-client-params", "before-parameter-build", "before-call",
                  "before-sign", "before-send", "before-parse", "needs-retry", "after-call"):
        client.meta.events.register(f"{event}.dynamodb.PutItem", record)
    params = {"TableName": table, "Item": av_item("order")}
    body = core.encode_request(params)
    wire.call(client, "PutItem", params)
    names = [name for name, _ in seen]
    assert names == ["provide-client-params", "before-parameter-build", "before-call",
                     "before-sign", "before-send", "before-parse", "needs-retry", "after-call"]
    kwargs = dict(seen)
    # before-call: the request dict (its body is what is sent), the operation, the context
    # whose client_config tells this client's requests apart. Ours ran first: body swapped.
    assert kwargs["before-call"]["params"]["body"] == body
    assert kwargs["before-call"]["model"].name == "PutItem"
    assert kwargs["before-call"]["context"]["client_config"] is client.meta.config
    assert kwargs["before-sign"]["request"].body == body
    assert kwargs["before-send"]["request"].body == body
    # before-parse: the raw response and the dict merged into the parsed output.
    parse = kwargs["before-parse"]
    assert parse["operation_model"].name == "PutItem"
    assert parse["response_dict"]["status_code"] == 200
    assert isinstance(parse["response_dict"]["body"], bytes)
    assert isinstance(parse["customized_response_dict"], dict)


def test_the_swapped_body_is_what_the_server_gets(client, plain, table, schema):
    # The client method only gets TableName, so the item can only come from the core's body.
    put(client, table, "swapped", 7)
    stored = plain.get_item(TableName=table, Key=key("swapped"))["Item"]
    assert stored == av_item("swapped", 7)
    got = wire.call(client, "GetItem", {"TableName": table, "Key": key("swapped")}, schema)
    assert got["Item"] == {"name": "swapped", "n": 7, "blob": b"\x07\xff", "tags": {"é", "b"}}
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["ResponseMetadata"]["RetryAttempts"] == 0  # crc32 check still passes


def test_response_is_decoded_by_the_core_and_callers_see_the_real_body(client, table, schema):
    put(client, table, "parsed")
    bodies: list = []
    client.meta.events.register(
        "before-parse.dynamodb.GetItem", lambda response_dict, **_: bodies.append(
            response_dict["body"])
    )
    after: list = []
    client.meta.events.register("after-call.dynamodb.GetItem",
                                lambda parsed, **_: after.append(parsed))
    got = wire.call(client, "GetItem", {"TableName": table, "Key": key("parsed")}, schema)
    assert json.loads(bodies[0])["Item"]["name"] == {"S": "parsed"}
    assert after[0] is got and after[0]["Item"]["name"] == "parsed"


class _Raw:
    """What AWSResponse reads a canned body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def throttled(request) -> AWSResponse:
    body = json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "slow down",
    }).encode()
    headers = {"x-amzn-requestid": "throttled", "content-type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, 400, headers, _Raw(body))


def test_retries_after_throttling_resend_the_core_body(client, plain, table):
    params = {"TableName": table, "Item": av_item("retried", 3)}
    body = core.encode_request(params)
    sent: list = []

    def throttle_twice(request, **_):
        sent.append(request.body)
        if len(sent) <= 2:
            return throttled(request)
        return None

    client.meta.events.register("before-send.dynamodb.PutItem", throttle_twice)
    result = wire.call(client, "PutItem", params)
    assert sent == [body, body, body]
    assert result["ResponseMetadata"]["RetryAttempts"] == 2
    assert plain.get_item(TableName=table, Key=key("retried"))["Item"] == av_item("retried", 3)


def test_throttling_that_does_not_stop_raises_botocores_error(client, table):
    client.meta.events.register("before-send.dynamodb.GetItem",
                                lambda request, **_: throttled(request))
    with pytest.raises(bexc.ClientError) as err:
        wire.call(client, "GetItem", {"TableName": table, "Key": key("x")})
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    # botocore's max_attempts counts retries (4), not attempts.
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 4


def without_metadata(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_error_responses_are_botocores(client, plain, table):
    put(client, table, "taken")
    params = {"TableName": table, "Item": av_item("taken", 2),
              "ConditionExpression": "attribute_not_exists(#p)",
              "ExpressionAttributeNames": {"#p": "_pk"},
              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    with pytest.raises(bexc.ClientError) as fast:
        wire.call(client, "PutItem", params)
    with pytest.raises(bexc.ClientError) as slow:
        plain.put_item(**params)
    assert type(fast.value).__name__ == type(slow.value).__name__  # classes are per client
    assert fast.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert without_metadata(fast.value.response) == without_metadata(slow.value.response)
    with pytest.raises(bexc.ClientError) as missing:
        wire.call(client, "GetItem", {"TableName": table + "-missing", "Key": key("x")})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_transaction_cancellation_reasons_are_botocores(client, plain, table):
    put(client, table, "tx")
    params = {"TransactItems": [
        {"Put": {"TableName": table, "Item": av_item("tx-new")}},
        {"ConditionCheck": {"TableName": table, "Key": key("tx"),
                            "ConditionExpression": "attribute_not_exists(#p)",
                            "ExpressionAttributeNames": {"#p": "_pk"}}},
    ]}
    with pytest.raises(bexc.ClientError) as fast:
        wire.call(client, "TransactWriteItems", params)
    with pytest.raises(bexc.ClientError) as slow:
        plain.transact_write_items(**params)
    assert fast.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert fast.value.response.get("CancellationReasons") == slow.value.response.get(
        "CancellationReasons")
    assert [r["Code"] for r in fast.value.response["CancellationReasons"]] == [
        "None", "ConditionalCheckFailed"]


def test_every_operation_kind_matches_the_plain_client(client, plain, table):
    for i in range(3):
        put(client, table, f"op{i}", i)
    calls = [
        ("GetItem", {"TableName": table, "Key": key("op1")}),
        ("UpdateItem", {"TableName": table, "Key": key("op1"), "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "5"}},
                        "ReturnValues": "ALL_NEW"}),
        ("Query", {"TableName": table, "KeyConditionExpression": "#p = :p",
                   "ExpressionAttributeNames": {"#p": "_pk"},
                   "ExpressionAttributeValues": {":p": {"S": "th#op2"}}}),
        ("Scan", {"TableName": table, "Limit": 2}),
        ("BatchGetItem", {"RequestItems": {table: {"Keys": [key("op0"), key("op2")]}}}),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": table,
                                                         "Key": key("op0")}}]}),
        ("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": av_item("op3")}}]}}),
        ("DeleteItem", {"TableName": table, "Key": key("op3"), "ReturnValues": "ALL_OLD"}),
    ]
    for operation, params in calls:
        fast = without_metadata(wire.call(client, operation, params))
        if operation == "BatchWriteItem":
            assert fast["UnprocessedItems"] == {}
        if operation == "DeleteItem":
            assert fast == {"Attributes": av_item("op3")}
        if operation in ("BatchWriteItem", "DeleteItem"):
            plain.put_item(TableName=table, Item=av_item("op3"))  # undo for the plain call
        slow = without_metadata(getattr(plain, wire._METHODS[operation])(**params))
        if operation == "BatchGetItem":
            for t in (fast, slow):
                t["Responses"][table].sort(key=lambda item: item["name"]["S"])
        assert fast == slow, operation


def test_a_callers_handlers_still_run(client, table, schema):
    sends: list = []
    client.meta.events.register("before-send.dynamodb", lambda request, **_: sends.append(
        request.headers.get("X-Amz-Target")))
    calls: list = []
    client.meta.events.register("before-call.dynamodb", lambda params, **_: calls.append(
        params["body"]))
    put(client, table, "own")
    wire.call(client, "GetItem", {"TableName": table, "Key": key("own")}, schema)
    targets = [t.decode() if isinstance(t, bytes) else t for t in sends]
    assert targets == ["DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem"]
    # Ours runs first, so a caller's before-call handler sees the body that is sent.
    assert json.loads(calls[0])["Item"]["name"] == {"S": "own"}


def test_plain_calls_on_the_same_client_are_left_to_botocore(client, table):
    put(client, table, "plain")
    bodies: list = []
    client.meta.events.register("before-send.dynamodb.GetItem",
                                lambda request, **_: bodies.append(request.body))
    got = client.get_item(TableName=table, Key=key("plain"))
    assert json.loads(bodies[0]) == {"TableName": table, "Key": key("plain")}
    assert got["Item"] == av_item("plain")


def test_threads_sharing_a_client_do_not_mix_requests(client, plain, table, schema):
    barrier = threading.Barrier(8)

    def work(worker: int) -> list:
        barrier.wait()
        results = []
        for i in range(12):
            name = f"w{worker}-{i}"
            put(client, table, name, worker * 100 + i)
            got = wire.call(client, "GetItem", {"TableName": table, "Key": key(name)}, schema)
            results.append((name, got["Item"]))
        return results

    with ThreadPoolExecutor(8) as pool:
        per_worker = list(pool.map(work, range(8)))
    for worker, results in enumerate(per_worker):
        for i, (name, values) in enumerate(results):
            n = worker * 100 + i
            assert values == {"name": name, "n": n, "blob": bytes([n % 256, 0xFF]),
                              "tags": {"é", "b"}}
    assert plain.get_item(TableName=table, Key=key("w7-11"))["Item"] == av_item("w7-11", 711)


def test_asyncio_tasks_sharing_a_client_do_not_mix_requests(client, table, schema):
    async def one(i: int) -> dict:
        name = f"task{i}"
        await run_in_thread(put, client, table, name, i)
        got = await run_in_thread(
            wire.call, client, "GetItem", {"TableName": table, "Key": key(name)}, schema
        )
        return got["Item"]

    async def many() -> list:
        return await asyncio.gather(*(one(i) for i in range(24)))

    for i, values in enumerate(asyncio.run(many())):
        assert values == {"name": f"task{i}", "n": i, "blob": bytes([i, 0xFF]), "tags": {"é", "b"}}


def test_the_installed_botocore_has_the_fast_path():
    assert wire.AVAILABLE


def test_a_client_with_parameter_validation_keeps_it(dynamodb_endpoint, plain, table, schema):
    validating = transport.make_client(endpoint_url=dynamodb_endpoint,
                                       config=Config(parameter_validation=True))
    put(validating, table, "checked", 4)
    assert plain.get_item(TableName=table, Key=key("checked"))["Item"] == av_item("checked", 4)
    got = wire.call(validating, "GetItem", {"TableName": table, "Key": key("checked")}, schema)
    assert got["Item"]["n"] == 4
    with pytest.raises(bexc.ParamValidationError):
        wire.call(validating, "GetItem", {"TableName": table, "Key": key("x"), "Bogus": 1})


def test_make_client_settings(dynamodb_endpoint):
    made = wire.make_client(endpoint_url=dynamodb_endpoint, max_pool_connections=33)
    assert made.meta.config.max_pool_connections == 33
    assert wire.install(made) is made
    # No parameter validation: Limit=0 (below the model's minimum) goes to the server.
    try:
        made.list_tables(Limit=0)
    except bexc.ClientError:
        pass  # the server's answer; what matters is that botocore did not refuse it
    with pytest.raises(bexc.ParamValidationError):
        transport.make_client(endpoint_url=dynamodb_endpoint, config=Config(
            parameter_validation=True)).list_tables(Limit=0)


def test_bad_input_fails_before_any_request(client, table):
    sent: list = []
    client.meta.events.register("before-send.dynamodb", lambda request, **_: sent.append(1))
    with pytest.raises(ValidationError):
        wire.call(client, "PutItem", {"TableName": table, "Item": {"a": {"N": {1, 2}}}})
    with pytest.raises(ValidationError):
        wire.call(client, "DescribeTable", {"TableName": table})
    assert sent == []


def test_an_undecodable_success_body_is_a_validation_error(client, table):
    def garbage(request, **_):
        return AWSResponse(request.url, 200, {"x-amzn-requestid": "g"}, _Raw(b'{"Item": 1}'))

    client.meta.events.register("before-send.dynamodb.GetItem", garbage)
    with pytest.raises(ValidationError):
        wire.call(client, "GetItem", {"TableName": table, "Key": key("x")})


# ------------------------------------------------------------------------------------------
# More of what the fast path relies on, pinned one promise at a time, so that a botocore
# release that changes one of them fails here with a name, not somewhere in the suite.


def test_the_botocore_under_test_is_the_expected_one():
    """``.ci/contract-botocore`` runs this file against the oldest botocore the package
    declares and sets ``DYNAMO_BAO_EXPECT_BOTOCORE``: the run must really use that one."""
    import boto3
    import botocore

    expected = os.environ.get("DYNAMO_BAO_EXPECT_BOTOCORE")
    if not expected:
        pytest.skip("DYNAMO_BAO_EXPECT_BOTOCORE not set: the installed botocore is the one")
    assert botocore.__version__ == expected
    assert boto3.__version__ == expected  # boto3 and botocore release in lockstep
    assert wire.AVAILABLE


def test_the_declared_floor_is_the_fast_paths():
    """pyproject's botocore/boto3 floors are wire.MIN_BOTOCORE: the oldest botocore a user can
    install is one the fast path works on (and the one ``.ci/contract-botocore`` tests)."""
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    floor = ".".join(map(str, wire.MIN_BOTOCORE))
    for package in ("boto3", "botocore"):
        assert re.search(rf'"{package}>={re.escape(floor)}"', text), package


def test_handler_arguments_by_name(client, table):
    """botocore passes event arguments by keyword: the names the handlers take must exist."""
    seen: dict = {}

    def record(event_name, **kwargs):
        seen.setdefault(event_name.split(".")[0], set(kwargs))

    client.meta.events.register("before-call.dynamodb.GetItem", record)
    client.meta.events.register("before-parse.dynamodb.GetItem", record)
    wire.call(client, "GetItem", {"TableName": table, "Key": key("x")})
    assert {"params", "model", "context"} <= seen["before-call"]
    assert {"operation_model", "response_dict", "customized_response_dict"} <= seen[
        "before-parse"]


def test_before_call_params_is_the_request_dict_that_is_sent(plain, table):
    """The ``params`` of before-call is botocore's request dict (``body``, ``headers``,
    ``url_path``, ``context``), and what a handler puts in its ``body`` is what is sent."""
    captured: list = []

    def swap(params, **_):
        assert {"body", "headers", "url_path", "context", "method"} <= set(params)
        assert isinstance(params["body"], bytes)
        params["body"] = core.encode_request({"TableName": table, "Item": av_item("dict")})

    plain.meta.events.register("before-call.dynamodb.PutItem", swap)
    plain.meta.events.register("before-send.dynamodb.PutItem",
                               lambda request, **_: captured.append(request.body))
    plain.put_item(TableName=table, Item=av_item("ignored"))
    assert json.loads(captured[0])["Item"]["name"] == {"S": "dict"}
    assert "Item" in plain.get_item(TableName=table, Key=key("dict"))
    assert "Item" not in plain.get_item(TableName=table, Key=key("ignored"))


def test_customized_response_dict_members_are_kept(plain, table):
    """What a before-parse handler puts in ``customized_response_dict`` is in the result, over
    what botocore parsed; an empty body parses to nothing but ResponseMetadata."""
    plain.put_item(TableName=table, Item=av_item("custom"))

    def customize(response_dict, customized_response_dict, **_):
        response_dict["body"] = b"{}"
        customized_response_dict.update({"Item": "ours", "Extra": [1, 2]})

    plain.meta.events.register("before-parse.dynamodb.GetItem", customize)
    got = plain.get_item(TableName=table, Key=key("custom"))
    assert set(got) == {"Item", "Extra", "ResponseMetadata"}
    assert got["Item"] == "ours" and got["Extra"] == [1, 2]
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_retries_do_not_emit_before_call_again(client, table):
    """One before-call per call, one before-sign/before-send/before-parse per attempt: every
    attempt is rebuilt from the request dict before-call saw, so the core's body put there
    once is re-sent (ours claims only the first before-call of a call)."""
    counts = {"before-call": 0, "before-sign": 0, "before-send": 0, "before-parse": 0}

    def count(event_name, **_):
        counts[event_name.split(".")[0]] += 1

    for event in counts:
        client.meta.events.register(f"{event}.dynamodb.PutItem", count)
    attempts: list = []

    def throttle_once(request, **_):
        attempts.append(request.body)
        return throttled(request) if len(attempts) == 1 else None

    client.meta.events.register("before-send.dynamodb.PutItem", throttle_once)
    params = {"TableName": table, "Item": av_item("once", 2)}
    put(client, table, "once", 2)
    assert counts == {"before-call": 1, "before-sign": 2, "before-send": 2, "before-parse": 2}
    assert attempts == [core.encode_request(params)] * 2


def test_event_handlers_run_on_the_calling_thread(client, table):
    """botocore emits a call's events on the thread that made it: the per-call state lives in
    a context variable, which only works if that stays so."""
    threads: list = []
    for event in ("before-call", "before-sign", "before-send", "before-parse", "after-call"):
        client.meta.events.register(f"{event}.dynamodb.GetItem",
                                    lambda **_: threads.append(threading.get_ident()))

    def get() -> int:
        wire.call(client, "GetItem", {"TableName": table, "Key": key("x")})
        return threading.get_ident()

    with ThreadPoolExecutor(1) as pool:
        caller = pool.submit(get).result()
    assert threads and set(threads) == {caller}


def test_register_first_and_last_order_regardless_of_registration_time(plain, table):
    """``register_first`` runs before handlers registered earlier, ``register_last`` after
    ones registered later: a caller's before-call sees the core's body, a caller's
    before-parse the raw body, whenever the fast path was installed."""
    bodies: list = []
    raw: list = []
    plain.meta.events.register("before-call.dynamodb.PutItem",
                               lambda params, **_: bodies.append(params["body"]))
    wire.install(plain)
    plain.meta.events.register("before-parse.dynamodb.GetItem",
                               lambda response_dict, **_: raw.append(response_dict["body"]))
    params = {"TableName": table, "Item": av_item("ordered")}
    wire.call(plain, "PutItem", params)
    got = wire.call(plain, "GetItem", {"TableName": table, "Key": key("ordered")})
    assert bodies == [core.encode_request(params)]
    assert json.loads(raw[0])["Item"] == av_item_json("ordered")
    assert got["Item"] == av_item("ordered")


def av_item_json(name: str, n: int = 1) -> dict:
    """``av_item`` as DynamoDB's JSON has it (binary as base64)."""
    item = av_item(name, n)
    item["blob"] = {"B": base64.b64encode(item["blob"]["B"]).decode()}
    return item


def test_unique_id_registers_a_handler_once(plain):
    calls: list = []
    for _ in range(3):
        plain.meta.events.register_first("contract-test.dynamodb",
                                         lambda **_: calls.append(1), unique_id="contract-once")
    plain.meta.events.emit("contract-test.dynamodb.GetItem")
    assert calls == [1]


def test_more_specific_event_names_run_first(plain):
    """botocore orders handlers by how specific their event name is, then first/middle/last
    within one name: why ``install`` registers where it does."""
    order: list = []
    events = plain.meta.events
    events.register_last("contract-order", lambda **_: order.append("bare last"))
    events.register_first("contract-order.dynamodb", lambda **_: order.append("service first"))
    events.register("contract-order.dynamodb.GetItem", lambda **_: order.append("operation"))
    events.register_first("contract-order.dynamodb.GetItem",
                          lambda **_: order.append("operation first"))
    events.register("contract-order", lambda **_: order.append("bare"))
    events.emit("contract-order.dynamodb.GetItem")
    assert order == ["operation first", "operation", "service first", "bare", "bare last"]


def _crc32(body: bytes) -> str:
    return str(zlib.crc32(body) & 0xFFFFFFFF)


def test_the_crc32_check_reads_the_bytes_received(client, table):
    """botocore checks DynamoDB's x-amz-crc32 against the bytes it received, not against the
    body handed to its parser (which the fast path replaces with ``{}``)."""
    put(client, table, "crc", 9)
    body = json.dumps({"Item": av_item_json("crc", 9)}).encode()

    def answer(request, **_):
        headers = {"x-amzn-requestid": "crc", "x-amz-crc32": _crc32(body)}
        return AWSResponse(request.url, 200, headers, _Raw(body))

    client.meta.events.register("before-send.dynamodb.GetItem", answer)
    got = wire.call(client, "GetItem", {"TableName": table, "Key": key("crc")})
    assert got["ResponseMetadata"]["RetryAttempts"] == 0
    assert got["Item"] == av_item("crc", 9)


def test_a_corrupted_success_body_is_retried_as_by_botocore(client, plain, table):
    """A 2xx body that does not match its x-amz-crc32 is retried by botocore; the fast path
    must leave that to it (not fail decoding the damaged bytes first)."""
    put(client, table, "damaged", 5)
    good = json.dumps({"Item": av_item_json("damaged", 5)}).encode()
    answers: list = []

    def damage_first(request, **_):
        answers.append(1)
        if len(answers) == 1:
            headers = {"x-amzn-requestid": "bad", "x-amz-crc32": _crc32(good)}
            return AWSResponse(request.url, 200, headers, _Raw(good[: len(good) // 2]))
        return None

    for each in (client, plain):
        answers.clear()
        each.meta.events.register("before-send.dynamodb.GetItem", damage_first)
        got = wire.call(each, "GetItem", {"TableName": table, "Key": key("damaged")}) \
            if each is client else each.get_item(TableName=table, Key=key("damaged"))
        assert got["ResponseMetadata"]["RetryAttempts"] == 1
        assert got["Item"] == av_item("damaged", 5)
