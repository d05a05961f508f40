"""The wire codec (``encode_request`` / ``decode_response``): botocore's own serializer and
parser are the reference for valid input, the pure core for everything (parity), and bad input
is a ``ValidationError`` in both cores."""

from __future__ import annotations

import base64
import json
import math
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import botocore.session
import pytest
from botocore import parsers, serialize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_bao import core, transport
from dynamo_bao.core import _pure as pure
from dynamo_bao.exceptions import ValidationError

_SERVICE = botocore.session.get_session().get_service_model("dynamodb")
_SERIALIZER = serialize.create_serializer("json", include_validation=False)

FIELDS = [
    ("name", "string"),
    ("count", "integer"),
    ("score", "float"),
    ("price", "decimal"),
    ("active", "boolean"),
    ("created", "datetime"),
    ("expires", "ttl"),
    ("blob", "binary"),
    ("tags", "string_set"),
    ("info", "map"),
    ("scores", "list"),
    ("extra", "any"),
]


def make_schema(impl: Any) -> Any:
    return impl.Schema("Thing", "th", FIELDS, "name", indexes=[("gsi1", "count", "name")])


def botocore_body(operation: str, params: dict) -> Any:
    request = _SERIALIZER.serialize_to_request(params, _SERVICE.operation_model(operation))
    return json.loads(request["body"])


def botocore_parse(operation: str, body: bytes) -> dict:
    parser = parsers.create_parser("json")
    response = {"body": body, "headers": {}, "status_code": 200}
    parsed = parser.parse(response, _SERVICE.operation_model(operation).output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


AV_ITEM = {
    "_pk": {"S": "th#a"},
    "_sk": {"S": "th"},
    "name": {"S": "héllo \"wörld\"\n\t\\ \u2028 \x00 \U0001f600"},
    "count": {"N": "42"},
    "score": {"N": "-1.5e-7"},
    "price": {"N": "1234.5600"},
    "active": {"BOOL": True},
    "created": {"N": "1717243200123"},
    "expires": {"N": "1717243200"},
    "blob": {"B": bytes(range(256))},
    "tags": {"SS": ["a", "b"]},
    "info": {
        "M": {"x": {"NULL": True}, "y": {"L": [{"N": "1"}, {"S": ""}, {"BS": [b"", b"\xff"]}]}}
    },
    "scores": {"L": [{"N": "3"}, {"N": "7.5"}, {"NS": ["1", "2.5"]}]},
    "extra": {"B": b""},
}

REQUESTS = {
    "GetItem": {
        "TableName": "t",
        "Key": {"_pk": {"S": "a"}, "_sk": {"B": b"\x00\x01"}},
        "ConsistentRead": True,
        "ProjectionExpression": "#n, blob",
        "ExpressionAttributeNames": {"#n": "name"},
        "ReturnConsumedCapacity": "TOTAL",
    },
    "PutItem": {
        "TableName": "t",
        "Item": AV_ITEM,
        "ConditionExpression": "attribute_not_exists(#p)",
        "ExpressionAttributeNames": {"#p": "_pk"},
        "ReturnValues": "ALL_OLD",
    },
    "UpdateItem": {
        "TableName": "t",
        "Key": {"_pk": {"S": "a"}, "_sk": {"S": "b"}},
        "UpdateExpression": "SET #c = :c ADD tags :t",
        "ExpressionAttributeNames": {"#c": "count"},
        "ExpressionAttributeValues": {":c": {"N": "10"}, ":t": {"SS": ["ü"]}, ":b": {"B": b"x"}},
        "ReturnValues": "ALL_NEW",
    },
    "DeleteItem": {"TableName": "t", "Key": {"_pk": {"S": "a"}, "_sk": {"S": "b"}}},
    "Query": {
        "TableName": "t",
        "IndexName": "gsi1",
        "KeyConditionExpression": "#p = :p AND begins_with(#s, :s)",
        "ExpressionAttributeNames": {"#p": "_gsi1_pk", "#s": "_gsi1_sk"},
        "ExpressionAttributeValues": {":p": {"S": "x"}, ":s": {"S": "y"}},
        "ExclusiveStartKey": {"_pk": {"S": "a"}, "_sk": {"B": b"k"}},
        "Limit": 100,
        "ScanIndexForward": False,
    },
    "Scan": {"TableName": "t", "Segment": 1, "TotalSegments": 4, "Select": "COUNT"},
    "BatchGetItem": {
        "RequestItems": {
            "t": {"Keys": [{"_pk": {"S": "a"}, "_sk": {"S": "b"}}], "ConsistentRead": True},
            "u": {"Keys": [{"_pk": {"B": b"\x01"}, "_sk": {"S": "c"}}]},
        }
    },
    "BatchWriteItem": {
        "RequestItems": {
            "t": [
                {"PutRequest": {"Item": AV_ITEM}},
                {"DeleteRequest": {"Key": {"_pk": {"S": "a"}, "_sk": {"S": "b"}}}},
            ]
        }
    },
    "TransactWriteItems": {
        "TransactItems": [
            {"Put": {"TableName": "t", "Item": AV_ITEM}},
            {
                "ConditionCheck": {
                    "TableName": "t",
                    "Key": {"_pk": {"S": "a"}, "_sk": {"S": "b"}},
                    "ConditionExpression": "attribute_exists(#p)",
                    "ExpressionAttributeNames": {"#p": "_pk"},
                }
            },
            {"Update": {"TableName": "t", "Key": {"_pk": {"S": "c"}, "_sk": {"S": "d"}},
                        "UpdateExpression": "SET a = :a",
                        "ExpressionAttributeValues": {":a": {"BS": [b"1", b"2"]}}}},
        ],
        "ClientRequestToken": "tok",
    },
}


@pytest.mark.parametrize("operation", sorted(REQUESTS))
def test_encode_request_is_what_botocore_serializes(operation):
    params = REQUESTS[operation]
    body = core.encode_request(params)
    assert isinstance(body, bytes)
    assert json.loads(body) == botocore_body(operation, params)


def test_encode_request_text():
    body = core.encode_request(
        {"a": "é\"\\\n\r\t\b\f\x01\x1f\x7f\u2028", "b": [1, -2, 10**30, 0.1, 1e16, True, None],
         "c": (b"\x00", bytearray(b"ab"), memoryview(b"abc")), "d": {}, "e": []}
    )
    assert body == json.dumps(
        {"a": "é\"\\\n\r\t\b\f\x01\x1f\x7f\u2028", "b": [1, -2, 10**30, 0.1, 1e16, True, None],
         "c": ["AA==", "YWI=", "YWJj"], "d": {}, "e": []},
        ensure_ascii=False, separators=(",", ":"),
    ).encode()


def test_encode_request_writes_a_dict_subclass_in_its_own_order():
    params = OrderedDict((k, 1) for k in "abcdefg")
    params.move_to_end("a")
    body = core.encode_request({"M": params})
    assert body == b'{"M":{"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"a":1}}'


@pytest.mark.parametrize(
    "params",
    [
        [],
        "x",
        {1: "a"},
        {"a": {None: 1}},
        {"a": Decimal("1")},
        {"a": {"x"}},
        {"a": float("nan")},
        {"a": float("inf")},
        {"a": "\ud800"},
        {"\udfff": 1},
        {"a": object()},
    ],
)
def test_encode_request_refuses(params):
    with pytest.raises(ValidationError):
        core.encode_request(params)


def test_encode_request_depth_limit():
    deep: Any = "x"
    for _ in range(core.MAX_JSON_DEPTH):
        deep = [deep]
    with pytest.raises(ValidationError):
        core.encode_request({"a": deep})
    core.encode_request({"a": deep[0]})


# --------------------------------------------------------------------------------------------
# Responses: synthetic bodies of every shape, compared with botocore's parser


def response_body(doc: dict) -> bytes:
    """A response body as DynamoDB writes it: blobs in base64 (written by botocore's JSON
    conventions through the pure encoder, which base64s bytes)."""
    return pure.encode_request(doc)


CAPACITY = {
    "TableName": "t",
    "CapacityUnits": 1.5,
    "ReadCapacityUnits": 1.0,
    "Table": {"CapacityUnits": 0.5, "ReadCapacityUnits": 0.5},
    "GlobalSecondaryIndexes": {"gsi1": {"CapacityUnits": 1.0}},
    "LocalSecondaryIndexes": {},
}
KEY = {"_pk": {"S": "th#a"}, "_sk": {"S": "th"}}
ICM = {"ItemCollectionKey": {"_pk": {"S": "x"}}, "SizeEstimateRangeGB": [0.0, 1.0]}

RESPONSES = {
    "GetItem": {"Item": AV_ITEM, "ConsumedCapacity": CAPACITY},
    "PutItem": {"Attributes": AV_ITEM, "ConsumedCapacity": CAPACITY, "ItemCollectionMetrics": ICM},
    "UpdateItem": {"Attributes": {"count": {"N": "43"}, "tags": {"SS": ["a", "ü"]}}},
    "DeleteItem": {"Attributes": AV_ITEM},
    "Query": {
        "Items": [AV_ITEM, {**AV_ITEM, "name": {"S": "b"}}],
        "Count": 2,
        "ScannedCount": 7,
        "LastEvaluatedKey": KEY,
        "ConsumedCapacity": CAPACITY,
    },
    "Scan": {"Items": [], "Count": 0, "ScannedCount": 0},
    "BatchGetItem": {
        "Responses": {"t": [AV_ITEM], "u": []},
        "UnprocessedKeys": {
            "t": {
                "Keys": [KEY],
                "ConsistentRead": True,
                "ProjectionExpression": "#n",
                "ExpressionAttributeNames": {"#n": "name"},
                "AttributesToGet": ["a"],
            }
        },
        "ConsumedCapacity": [CAPACITY, {"TableName": "u", "CapacityUnits": 2}],
    },
    "BatchWriteItem": {
        "UnprocessedItems": {
            "t": [{"PutRequest": {"Item": AV_ITEM}}, {"DeleteRequest": {"Key": KEY}}]
        },
        "ItemCollectionMetrics": {"t": [ICM]},
        "ConsumedCapacity": [CAPACITY],
    },
    "TransactWriteItems": {"ConsumedCapacity": [CAPACITY], "ItemCollectionMetrics": {"t": [ICM]}},
    "TransactGetItems": {"Responses": [{"Item": AV_ITEM}, {}], "ConsumedCapacity": [CAPACITY]},
}


@pytest.mark.parametrize("operation", sorted(RESPONSES))
def test_decode_response_is_what_botocore_parses(operation):
    body = response_body(RESPONSES[operation])
    decoded = core.decode_response(body)
    assert decoded == botocore_parse(operation, body)
    assert shape(decoded) == shape(botocore_parse(operation, body))


@pytest.mark.parametrize("operation", ["GetItem", "Query", "BatchGetItem", "TransactGetItems"])
def test_decode_response_with_schema_is_from_item(operation):
    body = response_body(RESPONSES[operation])
    schema = make_schema(core)
    parsed = botocore_parse(operation, body)
    decoded = core.decode_response(body, schema)
    if "Item" in parsed:
        assert decoded["Item"] == schema.from_item(parsed["Item"])
    if "Items" in parsed:
        assert decoded["Items"] == schema.from_items(parsed["Items"])
        assert decoded["LastEvaluatedKey"] == parsed["LastEvaluatedKey"]  # stays AV
    if operation == "BatchGetItem":
        assert decoded["Responses"] == {
            t: schema.from_items(items) for t, items in parsed["Responses"].items()
        }
        assert decoded["UnprocessedKeys"] == parsed["UnprocessedKeys"]
    if operation == "TransactGetItems":
        assert decoded["Responses"] == [
            {"Item": schema.from_item(r["Item"])} if "Item" in r else {}
            for r in parsed["Responses"]
        ]
    values = decoded["Item"] if "Item" in decoded else None
    if values is not None:
        assert values["blob"] == bytes(range(256))
        assert values["price"] == Decimal("1234.5600")
        assert values["tags"] == {"a", "b"}


def test_decode_response_follows_botocore_on_nulls_and_unknown_members():
    body = b'{"Item": null, "Count": 3, "Foo": {"x": [1]}, "ConsumedCapacity": ' \
           b'{"TableName": null, "CapacityUnits": 1, "Bar": 2}}'
    assert core.decode_response(body) == botocore_parse("Query", body) == {
        "Count": 3, "ConsumedCapacity": {"CapacityUnits": 1}}


def test_decode_response_repeated_keys_keep_the_last():
    body = b'{"Count": 1, "Count": 2, "Item": {"a": {"S": 1}, "a": {"S": "x"}}}'
    assert core.decode_response(body) == {"Count": 2, "Item": {"a": {"S": "x"}}}


@pytest.mark.parametrize(
    "body",
    [
        b" ",
        b"[]",
        b"nul",
        b'{"Count": NaN}',
        b'{"Count": Infinity}',
        b'{"Count": 01}',
        b'{"Count": 1.}',
        b'{"Count": 1,}',
        b"{'a': 1}",
        b'{"Item": {}} x',
        b'\xef\xbb\xbf{}',
        b'{"a": "\xff"}',
        b'{"a": "\\ud800"}',
        b'{"a": "\\udc00x"}',
        b'{"a": "\x01"}',
        b'{"a": "\\x"}',
        b'{"Item": []}',
        b'{"Item": {"a": {}}}',
        b'{"Item": {"a": {"S": "x", "N": "1"}}}',
        b'{"Item": {"a": {"Q": "x"}}}',
        b'{"Item": {"a": {"S": 1}}}',
        b'{"Item": {"a": {"B": "YQ"}}}',
        b'{"Item": {"a": {"B": "Y=Q="}}}',
        b'{"Item": {"a": {"B": "YQ=!"}}}',
        b'{"Item": {"a": {"BS": ["YQ==", 1]}}}',
        b'{"Item": {"a": {"SS": ["a", 1]}}}',
        b'{"Item": {"a": {"NULL": 1}}}',
        b'{"Items": {}}',
        b'{"Count": [1]}',
        b'{"Responses": 1}',
        b'{"UnprocessedKeys": {"t": []}}',
        b'{"ConsumedCapacity": {"Table": 1}}',
        b'{"Count": ' + b"1" * 5000 + b"}",  # beyond Python's int-from-text limit
    ],
)
def test_decode_response_refuses(body):
    with pytest.raises(ValidationError):
        core.decode_response(body)


def test_decode_response_depth_limits():
    nested: Any = {"S": "x"}
    for _ in range(40):
        nested = {"L": [nested]}
    with pytest.raises(ValidationError):
        core.decode_response(response_body({"Item": {"a": nested}}))
    with pytest.raises(ValidationError):
        core.decode_response(b'{"Foo": ' + b"[" * 200 + b"]" * 200 + b"}")
    assert core.decode_response(b'{"Foo": ' + b"[" * 100 + b"]" * 100 + b"}") == {}


def test_decode_response_of_an_empty_body_is_empty_as_in_botocore():
    assert core.decode_response(b"") == botocore_parse("GetItem", b"") == {}


def test_decode_response_takes_bytes_only():
    assert core.decode_response(bytearray(b'{"Count": 1}')) == {"Count": 1}
    assert core.decode_response(memoryview(b'{"Count": 1}')) == {"Count": 1}
    with pytest.raises(ValidationError):
        core.decode_response('{"Count": 1}')


def test_decode_response_schema_errors_name_the_field():
    schema = make_schema(core)
    with pytest.raises(ValidationError) as err:
        core.decode_response(b'{"Item": {"count": {"N": "1.5"}}}', schema)
    assert err.value.field == "count"
    with pytest.raises(ValidationError):  # a key attribute that is not an AttributeValue
        core.decode_response(b'{"Items": [{"name": {"S": "a"}, "_pk": {"X": 1}}]}', schema)


# --------------------------------------------------------------------------------------------
# Real bodies from the embedded server, every operation kind


@pytest.fixture
def recorded(dynamodb_client, table_name):
    """Runs each operation kind on the server with a plain client and records
    ``(operation, raw body, botocore's parsed output)``."""
    transport.create_table(dynamodb_client, table_name)
    captured: list = []

    def keep_body(operation_model, response_dict, **_):
        captured.append((operation_model.name, response_dict["body"]))

    def keep_parsed(model, parsed, **_):
        operation, body = captured[-1]
        assert operation == model.name
        parsed = dict(parsed)
        parsed.pop("ResponseMetadata", None)
        records.append((operation, body, parsed))

    records: list = []
    client = dynamodb_client
    client.meta.events.register("before-parse.dynamodb", keep_body)
    client.meta.events.register("after-call.dynamodb", keep_parsed)
    try:
        t = table_name
        items = [{**AV_ITEM, "_pk": {"S": f"th#{i}"}, "name": {"S": f"n{i}"}} for i in range(5)]
        for item in items:
            client.put_item(TableName=t, Item=item, ReturnConsumedCapacity="TOTAL")
        client.put_item(TableName=t, Item=items[0], ReturnValues="ALL_OLD")
        client.get_item(TableName=t, Key={"_pk": {"S": "th#0"}, "_sk": {"S": "th"}},
                        ReturnConsumedCapacity="TOTAL")
        client.update_item(
            TableName=t, Key={"_pk": {"S": "th#1"}, "_sk": {"S": "th"}},
            UpdateExpression="SET #c = :c, #b = :b ADD tags :t",
            ExpressionAttributeNames={"#c": "count", "#b": "blob"},
            ExpressionAttributeValues={":c": {"N": "7"}, ":b": {"B": b"\x00z"},
                                       ":t": {"SS": ["ü"]}},
            ReturnValues="ALL_NEW",
        )
        client.update_item(
            TableName=t, Key={"_pk": {"S": "th#1"}, "_sk": {"S": "th"}},
            UpdateExpression="SET #c = :c", ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":c": {"N": "8"}}, ReturnValues="UPDATED_OLD",
        )
        client.delete_item(TableName=t, Key={"_pk": {"S": "th#4"}, "_sk": {"S": "th"}},
                           ReturnValues="ALL_OLD")
        client.query(TableName=t, KeyConditionExpression="#p = :p",
                     ExpressionAttributeNames={"#p": "_pk"},
                     ExpressionAttributeValues={":p": {"S": "th#2"}},
                     ReturnConsumedCapacity="INDEXES")
        client.scan(TableName=t, Limit=2)
        client.scan(TableName=t)
        client.batch_get_item(RequestItems={t: {"Keys": [
            {"_pk": {"S": f"th#{i}"}, "_sk": {"S": "th"}} for i in range(5)]}},
            ReturnConsumedCapacity="TOTAL")
        client.batch_write_item(RequestItems={t: [
            {"PutRequest": {"Item": items[4]}},
            {"DeleteRequest": {"Key": {"_pk": {"S": "th#3"}, "_sk": {"S": "th"}}}}]})
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": t, "Item": items[3]}},
            {"Update": {"TableName": t, "Key": {"_pk": {"S": "th#2"}, "_sk": {"S": "th"}},
                        "UpdateExpression": "SET #c = :c",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":c": {"N": "1"}}}}],
            ReturnConsumedCapacity="TOTAL")
        client.transact_get_items(TransactItems=[
            {"Get": {"TableName": t, "Key": {"_pk": {"S": "th#2"}, "_sk": {"S": "th"}}}},
            {"Get": {"TableName": t, "Key": {"_pk": {"S": "th#9"}, "_sk": {"S": "th"}}}}])
    finally:
        client.meta.events.unregister("before-parse.dynamodb", keep_body)
        client.meta.events.unregister("after-call.dynamodb", keep_parsed)
    return records


def test_decode_response_of_real_bodies(recorded):
    operations = {operation for operation, _, _ in recorded}
    assert operations >= set(RESPONSES)
    schema = make_schema(core)
    for operation, body, parsed in recorded:
        decoded = core.decode_response(body)
        assert shape(decoded) == shape(parsed), operation
        with_schema = core.decode_response(body, schema)
        for name in ("Item", "Attributes"):
            if name in parsed:
                expected = schema.from_item(parsed[name]) if name == "Item" else parsed[name]
                assert with_schema[name] == expected, operation
        if "Items" in parsed:
            assert with_schema["Items"] == schema.from_items(parsed["Items"])
    assert any("Item" in parsed for _, _, parsed in recorded)
    assert any(parsed.get("Items") for _, _, parsed in recorded)


# --------------------------------------------------------------------------------------------
# Parity of the two cores


def shape(x):
    """A comparable tree that keeps types (1 != 1.0 != True here)."""
    if isinstance(x, dict):
        return ("dict", tuple(sorted((k, shape(v)) for k, v in x.items())))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(shape(v) for v in x))
    if isinstance(x, (set, frozenset)):
        return ("set", frozenset(shape(v) for v in x))
    if isinstance(x, float) and math.isnan(x):
        return ("float", "nan")
    return (type(x).__name__, x)


native = pytest.importorskip("dynamo_bao._native")
PARITY = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def outcome(fn, *args):
    try:
        return ("ok", shape(fn(*args)))
    except Exception as err:  # noqa: BLE001 - the class is what is compared
        return ("error", type(err).__name__)


keys = st.one_of(st.text(max_size=6), st.sampled_from(["S", "N", "B", "M", "L", "\ud800"]))
request_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40), st.floats(),
    st.text(), st.sampled_from(["\ud800x", "\x00\x1f\"\\", "é\u2028"]), st.binary(max_size=12),
    st.builds(bytearray, st.binary(max_size=4)), st.builds(memoryview, st.binary(max_size=4)),
    st.decimals(allow_nan=False, allow_infinity=False), st.frozensets(st.text(max_size=2)),
)
request_values = st.recursive(
    request_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(st.one_of(st.integers(), st.none()), inner, min_size=1, max_size=1),
    ),
    max_leaves=25,
)


@PARITY
@given(st.dictionaries(keys, request_values, max_size=5))
def test_parity_encode_request(params):
    a = outcome(pure.encode_request, params)
    b = outcome(native.encode_request, params)
    assert a == b
    if a[0] == "ok":
        assert pure.encode_request(params) == native.encode_request(params)


item_values = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(min_size=1, max_size=8),
        "count": st.integers(min_value=-(10**20), max_value=10**20),
        "score": st.floats(allow_nan=False, allow_infinity=False),
        "price": st.decimals(allow_nan=False, allow_infinity=False, places=3),
        "active": st.booleans(),
        "created": st.integers(min_value=-(10**14), max_value=10**14),
        "expires": st.integers(min_value=0, max_value=10**11),
        "blob": st.binary(max_size=10),
        "tags": st.frozensets(st.text(max_size=3), max_size=3),
        "info": st.dictionaries(st.text(max_size=3), st.one_of(st.none(), st.text(), st.integers(),
                                                              st.binary(max_size=3)), max_size=3),
        "scores": st.lists(st.one_of(st.integers(), st.floats(allow_nan=False,
                                                               allow_infinity=False)), max_size=4),
        "extra": st.one_of(st.none(), st.text(), st.sets(st.integers(), min_size=1, max_size=3),
                           st.sets(st.binary(), min_size=1, max_size=2)),
    },
)
raw_avs = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.one_of(st.text(max_size=4), st.integers())),
        st.builds(lambda s: {"N": s},
                  st.sampled_from(["1", "-0", "1.5", "1e3", "x", "", "1" * 50])),
        st.builds(lambda b: {"B": b}, st.one_of(st.binary(max_size=4), st.just("YQ"))),
        st.builds(lambda b: {"BOOL": b}, st.one_of(st.booleans(), st.just(1))),
        st.just({"NULL": True}),
        st.builds(lambda xs: {"SS": xs}, st.lists(st.text(max_size=2), max_size=3)),
        st.builds(lambda xs: {"NS": xs}, st.lists(st.sampled_from(["1", "2.5", "z"]), max_size=3)),
        st.builds(lambda xs: {"BS": xs}, st.lists(st.binary(max_size=3), max_size=3)),
        st.sampled_from([{}, {"Q": "x"}, {"S": "a", "N": "1"}, {"NULL": 1}]),
    ),
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
        st.builds(lambda xs: {"L": xs}, st.lists(inner, max_size=3)),
    ),
    max_leaves=10,
)
raw_items = st.dictionaries(
    st.sampled_from([name for name, _ in FIELDS] + ["_pk", "other"]), raw_avs, max_size=5
)


def to_doc(draw_items, kind):
    if kind == "Item":
        return {"Item": draw_items[0] if draw_items else {}}
    if kind == "Items":
        return {"Items": draw_items, "Count": len(draw_items), "LastEvaluatedKey": KEY}
    if kind == "Responses":
        return {"Responses": {"t": draw_items}, "UnprocessedKeys": {"t": {"Keys": [KEY]}}}
    return {"Responses": [{"Item": i} for i in draw_items], "ConsumedCapacity": [CAPACITY]}


def mutate(body: bytes, how: int, where: int) -> bytes:
    if how == 0 or not body:
        return body
    where %= len(body)
    if how == 1:
        return body[:where]
    if how == 2:
        return body[:where] + b'"' + body[where:]
    if how == 3:
        return body[:where] + bytes([body[where] ^ 0x20]) + body[where + 1:]
    return body.replace(b'"S"', b'"S":"dup","S"', 1)


@PARITY
@given(
    st.lists(
        st.one_of(item_values.map(lambda v: ("values", v)), raw_items.map(lambda v: ("raw", v))),
        max_size=4,
    ),
    st.sampled_from(["Item", "Items", "Responses", "Transact"]),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=0, max_value=10**6),
    st.booleans(),
)
def test_parity_decode_response(entries, kind, how, where, with_schema):
    pure_schema, native_schema = make_schema(pure), make_schema(native)
    av_items = []
    for form, value in entries:
        if form == "values":
            outcome_item = outcome(pure_schema.to_item, value, "acme")
            if outcome_item[0] != "ok":
                continue
            av_items.append(pure_schema.to_item(value, "acme"))
        else:
            av_items.append(value)
    try:
        body = response_body(to_doc(av_items, kind))
    except ValidationError:
        return  # raw values a response body cannot hold (lone surrogates)
    body = mutate(body, how, where)
    a = outcome(pure.decode_response, body, pure_schema if with_schema else None)
    b = outcome(native.decode_response, body, native_schema if with_schema else None)
    assert a == b, body
    if how == 0 and a[0] == "ok" and not with_schema:
        operation = {"Item": "GetItem", "Items": "Query", "Responses": "BatchGetItem",
                     "Transact": "TransactGetItems"}[kind]
        try:
            expected = botocore_parse(operation, body)
        except Exception:  # noqa: BLE001 - botocore may crash where we refuse; not compared
            return
        assert shape(pure.decode_response(body)) == shape(expected)


@PARITY
@given(st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_parity_decode_response_on_noise(body):
    assert outcome(pure.decode_response, body) == outcome(native.decode_response, body)


@PARITY
@given(
    st.text(alphabet="AQw+/=!\u00e9", max_size=13) | st.binary(max_size=10).map(
        lambda b: base64.b64encode(b).decode()
    ),
    st.booleans(),
)
def test_parity_decode_response_base64(text, with_schema):
    """Base64 is strict in both cores (length, padding, alphabet); unused low bits are ignored."""
    blobs = json.dumps({"a": {"B": text}, "blob": {"B": text}, "s": {"BS": [text, "YQ=="]}})
    body = f'{{"Item": {blobs}, "Attributes": {blobs}}}'.encode()
    schemas = (make_schema(pure), make_schema(native)) if with_schema else (None, None)
    a = outcome(pure.decode_response, body, schemas[0])
    assert a == outcome(native.decode_response, body, schemas[1]), body
    if a[0] == "ok":
        assert native.decode_response(body)["Attributes"]["a"]["B"] == base64.b64decode(text)


def test_decode_response_page_items_in_any_attribute_order():
    """Items of one page list their attributes in different orders, with and without keys."""
    items = [
        {"name": {"S": "a"}, "count": {"N": "1"}, "_pk": {"S": "p"}},
        {"_pk": {"S": "p"}, "name": {"S": "b"}, "count": {"N": "2"}},
        {"count": {"N": "3"}, "other": {"S": "x"}, "name": {"S": "c"}},
        {"name": {"S": "d"}},
        {"name": {"S": "e"}, "count": {"N": "5"}, "_pk": {"S": "p"}, "score": {"N": "1.5"}},
        {"name": {"S": "f"}, "count": {"N": "6"}, "_pk": {"S": "p"}},
    ]
    body = response_body({"Items": items, "Count": len(items)})
    got = native.decode_response(body, make_schema(native))
    assert got == pure.decode_response(body, make_schema(pure))
    assert [v["name"] for v in got["Items"]] == list("abcdef")
    assert [v.get("count") for v in got["Items"]] == [1, 2, 3, None, 5, 6]


def test_decode_response_many_keys_and_escaped_keys():
    """Object keys made once per body (the native core shares them) still come out right with
    more distinct keys than it remembers and with escaped spellings of the same key."""
    items = [{f"k{i * 7 + j}": {"S": str(j)} for j in range(7)} for i in range(60)]
    items += [{f"k{i}": {"M": {"k0": {"N": "1"}, "k1": {"S": "x"}}} for i in range(200, 210)}]
    body = response_body({"Items": items + items[::-1]})
    body = body.replace(b'"k1":{"S"', b'"\\u006b1":{"S"').replace(b'"k2"', b'"k\\u0032"')
    assert b"\\u006b1" in body and b"k\\u0032" in body
    assert native.decode_response(body) == pure.decode_response(body) == json_items(body)


def json_items(body: bytes) -> dict:
    doc = json.loads(body)
    return {"Items": doc["Items"]}


def test_parity_decode_response_native_core_with_pure_schema():
    body = response_body(RESPONSES["Query"])
    assert native.decode_response(body, make_schema(pure)) == pure.decode_response(
        body, make_schema(pure)
    )


def test_blobs_are_base64_on_the_wire():
    body = core.encode_request({"Item": {"b": {"B": b"\xfb\xff"}, "s": {"BS": [b"\x00"]}}})
    doc = json.loads(body)
    assert doc["Item"]["b"]["B"] == base64.b64encode(b"\xfb\xff").decode()
    assert core.decode_response(body.replace(b'"Item"', b'"Attributes"')) == {
        "Attributes": {"b": {"B": b"\xfb\xff"}, "s": {"BS": [b"\x00"]}}
    }
