"""The wire codec of the pure-Python core: DynamoDB JSON request bodies out, response bodies in.

The Rust core (``rust/wire.rs``) implements the same two functions with identical results and
identical exception classes; a hypothesis test drives both with the same inputs.

Decisions, where neither DynamoDB nor botocore fixes the behaviour:

* ``encode_request(params)`` writes what botocore's JSON serializer writes for a low-level
  request dict (the same JSON value; the same text except for non-ASCII characters): compact
  separators, keys in the dict's order, ``bytes``/``bytearray``/``memoryview`` anywhere as
  standard base64 text (that is every blob in DynamoDB's API: ``B`` and ``BS`` members),
  ``None`` as ``null``, ints as JSON integers, floats as ``float.__repr__`` (finite only).
  Text is written as UTF-8, not ``\\uXXXX`` escapes as botocore does (shorter, valid JSON that
  DynamoDB accepts); ``"``, ``\\`` and control characters are escaped exactly as ``json.dumps``
  does. Refused with :class:`ValidationError`: dict keys that are not ``str``, sets, Decimals
  and every other type (a request carries numbers as ``N`` text), non-finite floats, text with
  lone surrogates (not UTF-8), nesting deeper than :data:`MAX_JSON_DEPTH`.
* ``decode_response(body, schema=None)`` returns what botocore's parser returns for the output
  members of the data-plane operations (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan,
  BatchGetItem, BatchWriteItem, TransactGetItems, TransactWriteItems), without
  ``ResponseMetadata`` (that comes from the HTTP response, not the body): AttributeValues with
  ``B``/``BS`` as raw bytes and ``N`` as text, numbers outside AttributeValues as ``json``
  gives them (``Count`` an int, ``CapacityUnits`` a float when written with a point). As
  botocore does, members outside those shapes and members that are ``null`` are left out.
  Where operations share a member name with different shapes, the JSON decides: ``Responses``
  as an object is BatchGetItem's, as an array TransactGetItems'; ``ConsumedCapacity`` as an
  object is one entry, as an array a list; ``ItemCollectionMetrics`` with an object
  ``ItemCollectionKey`` is a single write's, else the per-table map of batch and transaction
  writes.
  With a ``schema``, ``Item``, ``Items``, ``Responses[table]`` (and TransactGetItems'
  ``Responses[i].Item``) become model value dicts, exactly ``schema.from_item`` of the
  AttributeValue form; ``Attributes``, ``LastEvaluatedKey`` and unprocessed keys stay
  AttributeValues (they are sent back as they are).
  Anything else is a :class:`ValidationError`: a body that is not UTF-8 JSON (``NaN`` and
  ``Infinity`` included), an escaped lone surrogate, an AttributeValue that is not one known
  type with a value of the right JSON type, invalid base64, AttributeValues nested deeper than
  ``MAX_DEPTH``, a document deeper than :data:`MAX_JSON_DEPTH`, a member of the wrong JSON type
  (``Count`` and ``ScannedCount`` must be JSON integers). With a ``schema``, an item
  attribute that does not fit its field is ``schema.from_item``'s error, which names the
  item's primary id, the attribute and what is stored (the native core finds the item's
  ``_pk``/``_sk`` only then, wherever they are in the item).
  An empty body is ``{}``, as botocore reads it. Base64 is read strictly (length a multiple
  of 4, padding only at the end), where botocore's reader skips stray characters. Objects
  with a repeated key keep the last one, as ``json`` does (DynamoDB never repeats keys;
  the one difference between the cores: the native one also refuses a document whose
  *overridden* entry is nested deeper than :data:`MAX_JSON_DEPTH`).
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64encode
from json.encoder import encode_basestring
from typing import Any

from ..exceptions import ValidationError

__all__ = ["MAX_JSON_DEPTH", "encode_request", "decode_response"]

#: Nesting limit of a whole JSON document (the top object is level 1). DynamoDB's own limit of
#: 32 nested AttributeValues keeps real bodies under 80 levels.
MAX_JSON_DEPTH = 128
MAX_DEPTH = 32  # AttributeValue nesting, as in the rest of the core

# --------------------------------------------------------------------------------------------
# Requests


def _too_deep_json() -> ValidationError:
    return ValidationError(f"request is nested deeper than {MAX_JSON_DEPTH} levels")


def _write(value: Any, out: list, depth: int) -> None:
    # Same dispatch order as the Rust core: exact types first, then subclasses.
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"cannot send a non-finite number: {value!r}")
        out.append(float.__repr__(value))
    elif value is None:
        out.append("null")
    elif isinstance(value, dict):
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep_json()
        if not value:
            out.append("{}")
            return
        sep = "{"
        # A subclass in its own order (its items()), as the Rust core reads it.
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(f"request keys must be str, got {type(k).__name__}")
            out.append(sep)
            out.append(encode_basestring(k))
            out.append(":")
            _write(v, out, depth + 1)
            sep = ","
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep_json()
        if not value:
            out.append("[]")
            return
        sep = "["
        for v in list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value):
            out.append(sep)
            _write(v, out, depth + 1)
            sep = ","
        out.append("]")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.append('"' + b64encode(bytes(value)).decode("ascii") + '"')
    else:
        raise ValidationError(f"cannot send a value of type {type(value).__name__} in a request")


def encode_request(params: dict) -> bytes:
    """The JSON body DynamoDB expects for a boto3-style low-level request dict."""
    if not isinstance(params, dict):
        raise ValidationError(f"request params must be a dict, got {type(params).__name__}")
    out: list = []
    _write(params, out, 0)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("request text contains a lone surrogate") from None


# --------------------------------------------------------------------------------------------
# Responses


def _bad(what: str) -> ValidationError:
    return ValidationError(f"invalid DynamoDB response: {what}")


def _no_constant(name: str) -> Any:
    raise _bad(f"{name} is not JSON")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _load(body: Any) -> Any:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ValidationError(f"response body must be bytes, got {type(body).__name__}")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("body is not UTF-8") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except ValidationError:
        raise
    except (ValueError, RecursionError) as err:
        raise _bad(f"body is not JSON ({err})") from None
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _bad("text contains a lone surrogate") from None
    return doc


def _check_depth(value: Any, depth: int) -> None:
    """Depth check of a member nothing else looks at (so both cores refuse the same bodies)."""
    if type(value) is dict or type(value) is list:
        if depth > MAX_JSON_DEPTH:
            raise _bad(f"document is nested deeper than {MAX_JSON_DEPTH} levels")
        for v in value.values() if type(value) is dict else value:
            _check_depth(v, depth + 1)


def _b64(text: Any) -> bytes:
    if type(text) is not str or len(text) % 4 or _B64_RE.fullmatch(text) is None:
        raise _bad(f"invalid base64 {text!r}" if type(text) is str else "blob must be a string")
    return binascii.a2b_base64(text)


def _av(av: Any, depth: int) -> dict:
    """An AttributeValue as botocore returns it (``B``/``BS`` decoded)."""
    if type(av) is not dict or len(av) != 1:
        raise _bad(f"not an AttributeValue: {av!r}")
    ((tag, v),) = av.items()
    if tag == "S" or tag == "N":
        if type(v) is not str:
            raise _bad(f"{tag} value must be a string")
        return av
    if tag == "M":
        if type(v) is not dict:
            raise _bad("M value must be an object")
        if depth >= MAX_DEPTH:
            raise _bad(f"value is nested deeper than {MAX_DEPTH} levels")
        return {"M": {k: _av(x, depth + 1) for k, x in v.items()}}
    if tag == "L":
        if type(v) is not list:
            raise _bad("L value must be an array")
        if depth >= MAX_DEPTH:
            raise _bad(f"value is nested deeper than {MAX_DEPTH} levels")
        return {"L": [_av(x, depth + 1) for x in v]}
    if tag == "BOOL" or tag == "NULL":
        if type(v) is not bool:
            raise _bad(f"{tag} value must be true or false")
        return av
    if tag == "B":
        return {"B": _b64(v)}
    if tag == "SS" or tag == "NS":
        if type(v) is not list or not all(type(x) is str for x in v):
            raise _bad(f"{tag} value must be an array of strings")
        return av
    if tag == "BS":
        if type(v) is not list:
            raise _bad("BS value must be an array of strings")
        return {"BS": [_b64(x) for x in v]}
    raise _bad(f"unknown AttributeValue type {tag!r}")


def _attr_map(value: Any) -> dict:
    if type(value) is not dict:
        raise _bad("an item must be an object")
    return {k: _av(v, 0) for k, v in value.items()}


def _items(value: Any) -> list:
    if type(value) is not list:
        raise _bad("a list of items must be an array")
    return [_attr_map(v) for v in value]


def _scalar(value: Any, depth: int = 0) -> Any:
    if type(value) is dict or type(value) is list:
        raise _bad("expected a string, number or boolean")
    return value


def _count(name: str, value: Any) -> int:
    if type(value) is not int:  # a JSON integer (bool is not one)
        raise _bad(f"{name} must be an integer")
    return value


def _list_of(member):
    def read(value: Any, depth: int) -> list:
        if type(value) is not list:
            raise _bad("expected an array")
        return [member(v, depth + 1) for v in value]

    return read


def _map_of(member):
    def read(value: Any, depth: int) -> dict:
        if type(value) is not dict:
            raise _bad("expected an object")
        return {k: member(v, depth + 1) for k, v in value.items()}

    return read


def _struct(members: dict):
    def read(value: Any, depth: int) -> dict:
        if type(value) is not dict:
            raise _bad("expected an object")
        out = {}
        for name, v in value.items():
            member = members.get(name)
            if member is None:
                _check_depth(v, depth + 1)  # left out, as botocore does
            elif v is not None:  # botocore leaves out null members
                out[name] = member(v, depth + 1)
        return out

    return read


def _attr_map_member(value: Any, depth: int) -> dict:
    return _attr_map(value)


def _items_member(value: Any, depth: int) -> list:
    return _items(value)


_CAPACITY = _struct(
    {"ReadCapacityUnits": _scalar, "WriteCapacityUnits": _scalar, "CapacityUnits": _scalar}
)
_CONSUMED_CAPACITY = _struct(
    {
        "TableName": _scalar,
        "CapacityUnits": _scalar,
        "ReadCapacityUnits": _scalar,
        "WriteCapacityUnits": _scalar,
        "Table": _CAPACITY,
        "LocalSecondaryIndexes": _map_of(_CAPACITY),
        "GlobalSecondaryIndexes": _map_of(_CAPACITY),
    }
)
_ITEM_COLLECTION_METRICS = _struct(
    {"ItemCollectionKey": _attr_map_member, "SizeEstimateRangeGB": _list_of(_scalar)}
)
_KEYS_AND_ATTRIBUTES = _struct(
    {
        "Keys": _items_member,
        "AttributesToGet": _list_of(_scalar),
        "ConsistentRead": _scalar,
        "ProjectionExpression": _scalar,
        "ExpressionAttributeNames": _map_of(_scalar),
    }
)
_WRITE_REQUEST = _struct(
    {
        "PutRequest": _struct({"Item": _attr_map_member}),
        "DeleteRequest": _struct({"Key": _attr_map_member}),
    }
)
_UNPROCESSED_KEYS = _map_of(_KEYS_AND_ATTRIBUTES)
_UNPROCESSED_ITEMS = _map_of(_list_of(_WRITE_REQUEST))
_ITEM_COLLECTION_METRICS_BY_TABLE = _map_of(_list_of(_ITEM_COLLECTION_METRICS))
_CONSUMED_CAPACITY_LIST = _list_of(_CONSUMED_CAPACITY)


def _consumed_capacity(value: Any, schema: Any) -> Any:
    if type(value) is list:
        return _CONSUMED_CAPACITY_LIST(value, 2)
    return _CONSUMED_CAPACITY(value, 2)


def _item_collection_metrics(value: Any, schema: Any) -> Any:
    if type(value) is dict and type(value.get("ItemCollectionKey")) is dict:
        return _ITEM_COLLECTION_METRICS(value, 2)
    return _ITEM_COLLECTION_METRICS_BY_TABLE(value, 2)


def _item(value: Any, schema: Any) -> dict:
    item = _attr_map(value)
    return item if schema is None else schema.from_item(item)


def _page(value: Any, schema: Any) -> list:
    items = _items(value)
    return items if schema is None else schema.from_items(items)


def _responses(value: Any, schema: Any) -> Any:
    if type(value) is dict:  # BatchGetItem: table -> items
        return {table: _page(items, schema) for table, items in value.items()}
    if type(value) is list:  # TransactGetItems: [{"Item": ...}]
        out = []
        for entry in value:
            if type(entry) is not dict:
                raise _bad("expected an object")
            response = {}
            for name, v in entry.items():
                if name != "Item":
                    _check_depth(v, 4)
                elif v is not None:
                    response["Item"] = _item(v, schema)
            out.append(response)
        return out
    raise _bad("Responses must be an object or an array")


_TOP = {
    "Item": _item,
    "Items": _page,
    "Count": lambda v, s: _count("Count", v),
    "ScannedCount": lambda v, s: _count("ScannedCount", v),
    "LastEvaluatedKey": lambda v, s: _attr_map(v),
    "Attributes": lambda v, s: _attr_map(v),
    "ConsumedCapacity": _consumed_capacity,
    "ItemCollectionMetrics": _item_collection_metrics,
    "Responses": _responses,
    "UnprocessedKeys": lambda v, s: _UNPROCESSED_KEYS(v, 2),
    "UnprocessedItems": lambda v, s: _UNPROCESSED_ITEMS(v, 2),
}


def decode_response(body: bytes, schema: Any = None) -> dict:
    """A DynamoDB JSON response body as botocore's parser returns it (see the module doc);
    with ``schema``, items become model value dicts in the same pass."""
    if isinstance(body, (bytes, bytearray, memoryview)) and not len(body):
        return {}  # botocore reads an empty body as {}
    doc = _load(body)
    if type(doc) is not dict:
        raise _bad("body must be a JSON object")
    out = {}
    for name, value in doc.items():
        reader = _TOP.get(name)
        if reader is None:
            _check_depth(value, 2)
            continue
        if value is not None:
            out[name] = reader(value, schema)
    return out
