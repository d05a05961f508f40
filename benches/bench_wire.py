"""Client CPU per call through the fast wire path vs boto3's client with TypeDeserializer.

Run it as a script: ``python benches/bench_wire.py [--rounds 5]``. One moto server runs in a
separate process on 127.0.0.1, so the figure is this process's CPU time per call
(``time.process_time``: all its threads), the client's own work: building the request,
signing, HTTP, parsing the response and turning it into values. Wall time against moto says
little (the server dominates it). Medians over rounds; compare ratios from one run.

Competitors, each on the same stored items:

* ``boto3 + TypeDeserializer``: a default boto3 client (parameter validation on, as users have
  it) and ``TypeDeserializer`` over every item (Decimals for numbers, as boto3 gives them).
* ``boto3, no validation``: the same without parameter validation and without deserializing
  (the transport's plain client): where botocore's own parsing leaves a call.
* ``wire + Schema (native)``: ``wire.call`` with the medium model's native ``Schema``: the
  core writes the body and reads the response straight into model value dicts.
* ``wire + Schema (pure)``: the same with the pure-Python core.

Operations: get_item of the medium item; query of 100 medium items (one page).

``--no-http`` replays each client's recorded responses from a ``before-send`` handler instead
of sending (the baseline's "HTTP send short-circuited" table): the client's work without
urllib3/http.client.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse

from dynamo_bao import transport, wire
from dynamo_bao.core import _pure as pure

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402

from items import MEDIUM_PAGE, NATIVE_SCHEMA, PAGE_SIZE, medium_schema  # noqa: E402

TABLE = "bench-wire"
PAGE_PK = "bench#page"


def start_server() -> tuple[subprocess.Popen, str]:
    # werkzeug (moto's server) closes every connection, so each call of every competitor
    # includes a TCP connect; DynamoDB keeps connections alive. --no-http leaves HTTP out.
    return moto_server.start()


def load_items(client: Any) -> tuple[dict, list[dict]]:
    """The stored medium item (by its key) and a page of 100 under one partition."""
    transport.create_table(client, TABLE)
    single = MEDIUM_PAGE[0]
    client.put_item(TableName=TABLE, Item=single)
    for i, item in enumerate(MEDIUM_PAGE):
        client.put_item(
            TableName=TABLE, Item={**item, "_pk": {"S": PAGE_PK}, "_sk": {"S": f"{i:04d}"}}
        )
    return {"_pk": single["_pk"], "_sk": single["_sk"]}, MEDIUM_PAGE


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def replay_responses(client: Any, calls: list[Callable[[], Any]]) -> None:
    """Record ``client``'s real response to each call, then answer from the recording."""
    recorded: dict[str, tuple[int, dict, bytes]] = {}

    def keep(http_response, model, **_):
        recorded[model.name] = (
            http_response.status_code, dict(http_response.headers), http_response.content
        )

    client.meta.events.register("after-call.dynamodb", keep)
    for fn in calls:
        fn()
    client.meta.events.unregister("after-call.dynamodb", keep)

    def answer(request, **_):
        target = request.headers["X-Amz-Target"]
        target = target.decode() if isinstance(target, bytes) else target
        status, headers, body = recorded[target.rsplit(".", 1)[1]]
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register("before-send.dynamodb", answer)


def cpu_per_call(fn: Callable[[], Any], calls: int, rounds: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            fn()
        out.append((time.process_time() - start) / calls * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--get-calls", type=int, default=100)
    parser.add_argument("--query-calls", type=int, default=8)
    parser.add_argument("--no-http", action="store_true", help="replay recorded responses")
    args = parser.parse_args()

    proc, url = start_server()
    try:
        setup = transport.make_client(endpoint_url=url)
        key, _ = load_items(setup)
        boto = boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        plain = transport.make_client(endpoint_url=url)
        fast = wire.make_client(endpoint_url=url)
        deserializer = TypeDeserializer()
        pure_schema = medium_schema(pure)

        get_params = {"TableName": TABLE, "Key": key}
        query_params = {
            "TableName": TABLE,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": "_pk"},
            "ExpressionAttributeValues": {":p": {"S": PAGE_PK}},
            "Limit": PAGE_SIZE,
        }

        def boto_get():
            item = boto.get_item(**get_params)["Item"]
            return {k: deserializer.deserialize(v) for k, v in item.items()}

        def boto_query():
            items = boto.query(**query_params)["Items"]
            assert len(items) == PAGE_SIZE
            return [{k: deserializer.deserialize(v) for k, v in i.items()} for i in items]

        def plain_get():
            return plain.get_item(**get_params)["Item"]

        def plain_query():
            return plain.query(**query_params)["Items"]

        def wire_get(schema=NATIVE_SCHEMA):
            return wire.call(fast, "GetItem", get_params, schema)["Item"]

        def wire_query(schema=NATIVE_SCHEMA):
            items = wire.call(fast, "Query", query_params, schema)["Items"]
            assert len(items) == PAGE_SIZE
            return items

        assert wire_get() == NATIVE_SCHEMA.from_item(plain_get())
        assert wire_query() == NATIVE_SCHEMA.from_items(plain_query())
        if args.no_http:
            replay_responses(boto, [boto_get, boto_query])
            replay_responses(plain, [plain_get, plain_query])
            replay_responses(fast, [wire_get, wire_query])

        cases = [
            ("get_item medium", args.get_calls, [
                ("boto3 + TypeDeserializer", boto_get),
                ("boto3, no validation", plain_get),
                ("wire + Schema (native)", wire_get),
                ("wire + Schema (pure)", lambda: wire_get(pure_schema)),
            ]),
            (f"query {PAGE_SIZE} medium", args.query_calls, [
                ("boto3 + TypeDeserializer", boto_query),
                ("boto3, no validation", plain_query),
                ("wire + Schema (native)", wire_query),
                ("wire + Schema (pure)", lambda: wire_query(pure_schema)),
            ]),
        ]
        how = "HTTP send short-circuited" if args.no_http else "over HTTP"
        print(f"client CPU per call, µs, {how} (median of {args.rounds} rounds; min-max)")
        for operation, calls, competitors in cases:
            print(f"\n{operation} ({calls} calls per round)")
            baseline = None
            for name, fn in competitors:
                samples = cpu_per_call(fn, calls, args.rounds)
                median = statistics.median(samples)
                baseline = baseline or median
                print(
                    f"  {name:<26} {median:>9,.0f}   ({min(samples):,.0f}-{max(samples):,.0f})"
                    f"   {baseline / median:5.1f}x"
                )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
