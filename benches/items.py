"""The benchmark inputs: three items, their AttributeValue forms and the models that fit them.

Shapes follow ``shared/reference/perf-baseline.md``:

* ``SMALL``: 6 attributes (strings, an int, a bool), about 0.1 KiB.
* ``MEDIUM``: 20 attributes with a nested map of 5, a list of 10 numbers, a string set of 5,
  a Decimal, an epoch-ms number and bytes, about 0.6 KiB.
* ``LARGE``: about 363 KiB, a list of 2,000 maps of 5 attributes.

Everything is built deterministically (fixed values, a seeded ``random.Random``), so runs on
different machines measure the same work. Each item comes in three forms:

* the Python value (floats as ``float``), the input of both dynamo-bao cores;
* a boto3 form (``to_boto3``): the same data with floats as ``Decimal``, since boto3's
  ``TypeSerializer`` refuses floats;
* the AttributeValue form (``{"name": {"S": ...}, ...}``, boto3's low-level shape with raw
  bytes in ``B``), the input of every from-AttributeValue benchmark.

PynamoDB models (``PynSmall``, ``PynMedium``) declare matching attributes. PynamoDB's
``NumberAttribute`` serializes with ``json.dumps``, so its instance holds the Decimal as a float.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.models import Model

from dynamo_bao import _native as native
from dynamo_bao import fields
from dynamo_bao.core import _pure as pure

TENANT = "acme-corp"
PAGE_SIZE = 100
LARGE_ROWS = 2000

# --------------------------------------------------------------------------------------------
# Items as Python values

SMALL: dict[str, Any] = {
    "user_id": "01HZX3K9M7Q2V8T4B6N1C5D0EF",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "role": "admin",
    "age": 36,
    "active": True,
}

CREATED_AT_MS = 1_717_243_200_123  # 2024-06-01T12:00:00.123Z


def medium_item(i: int = 0) -> dict[str, Any]:
    """The medium item; ``i`` varies ids, a name and a counter (for a page of distinct items)."""
    return {
        "user_id": f"01HZX3K9M7Q2V8T4B6N1C5{i:04d}",
        "org_id": f"org-{i % 7:03d}",
        "name": f"Grace Hopper {i}",
        "email": "grace.hopper@example.com",
        "status": "active",
        "plan": "enterprise",
        "locale": "en-US",
        "country": "US",
        "bio": "Computer scientist and rear admiral; wrote the first compiler.",
        "login_count": 1_234 + i,
        "age": 85,
        "score": 97.25,
        "balance": Decimal("1234.56"),
        "verified": True,
        "newsletter": False,
        "created_at": CREATED_AT_MS + i,
        "avatar": bytes(range(48)),
        "tags": {"admin", "beta", "billing", "support", "sales"},
        "address": {
            "street": "1 Navy Way",
            "city": "Arlington",
            "zip": "22202",
            "floor": 3,
            "primary": True,
        },
        "recent_scores": [3, 7.5, 12, 0.25, 99, 1.125, 42, 8.75, 15, 2.5],
    }


MEDIUM: dict[str, Any] = medium_item()

# Field kinds of the medium item, in declaration order.
MEDIUM_FIELDS: list[tuple[str, str]] = [
    ("user_id", "string"),
    ("org_id", "string"),
    ("name", "string"),
    ("email", "string"),
    ("status", "string"),
    ("plan", "string"),
    ("locale", "string"),
    ("country", "string"),
    ("bio", "string"),
    ("login_count", "integer"),
    ("age", "integer"),
    ("score", "float"),
    ("balance", "decimal"),
    ("verified", "boolean"),
    ("newsletter", "boolean"),
    ("created_at", "datetime"),
    ("avatar", "binary"),
    ("tags", "string_set"),
    ("address", "map"),
    ("recent_scores", "list"),
]

# The dynamo-bao field class of each kind above, for the benchmarks' model classes.
FIELD_CLASSES: dict[str, type] = {
    "string": fields.StringField,
    "integer": fields.IntegerField,
    "float": fields.FloatField,
    "decimal": fields.DecimalField,
    "boolean": fields.BooleanField,
    "datetime": fields.DateTimeField,
    "binary": fields.BinaryField,
    "string_set": fields.StringSetField,
    "map": fields.MapField,
    "list": fields.ListField,
}


def _large_row(rng: random.Random, n: int) -> dict[str, Any]:
    words = " ".join(rng.choice(_WORDS) for _ in range(17))
    return {
        "sku": f"SKU-{n:06d}",
        "label": f"{words} #{n}",
        "qty": rng.randrange(0, 500),
        "price": rng.randrange(100, 100_000) / 100,
        "in_stock": rng.random() < 0.8,
    }


_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
    "november oscar papa quebec romeo sierra tango uniform victor whiskey xray"
).split()


def large_item() -> dict[str, Any]:
    rng = random.Random(20240601)
    return {
        "doc_id": "catalog-0001",
        "rows": [_large_row(rng, n) for n in range(LARGE_ROWS)],
    }


LARGE: dict[str, Any] = large_item()

# --------------------------------------------------------------------------------------------
# Other forms


def to_boto3(value: Any) -> Any:
    """``value`` with every float replaced by the Decimal of its shortest repr."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: to_boto3(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_boto3(v) for v in value]
    return value


def to_av_item(item: dict[str, Any]) -> dict[str, Any]:
    """The AttributeValue form of a whole item (``{name: AttributeValue}``)."""
    return native.to_attribute_value(item)["M"]


def count_values(av: Any) -> int:
    """How many AttributeValues an AttributeValue holds, itself and nested ones included.

    Set members are not counted (a set is one AttributeValue); map entries and list
    elements are.
    """
    ((tag, inner),) = av.items()
    if tag == "M":
        return 1 + sum(count_values(v) for v in inner.values())
    if tag == "L":
        return 1 + sum(count_values(v) for v in inner)
    return 1


def item_values(av_item: dict[str, Any]) -> int:
    """AttributeValues in a whole item: top-level attributes plus nested ones."""
    return sum(count_values(v) for v in av_item.values())


def json_size(value: Any) -> int:
    """Bytes of the item's plain JSON (bytes as base64, sets as lists), as on the wire."""

    def default(o: Any) -> Any:
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        if isinstance(o, bytes):
            return base64.b64encode(o).decode()
        return str(o)

    return len(json.dumps(value, default=default, separators=(",", ":")).encode())


SMALL_BOTO3 = to_boto3(SMALL)
MEDIUM_BOTO3 = to_boto3(MEDIUM)
LARGE_BOTO3 = to_boto3(LARGE)

SMALL_AV = to_av_item(SMALL)
MEDIUM_AV = to_av_item(MEDIUM)
LARGE_AV = to_av_item(LARGE)

MEDIUM_VALUES = item_values(MEDIUM_AV)  # 20 attributes + 5 map entries + 10 list elements

# --------------------------------------------------------------------------------------------
# Schema of the medium item (both cores)


def medium_schema(core: Any, fields: list[tuple[str, str]] = MEDIUM_FIELDS) -> Any:
    """The medium item's model: pk user_id, gsi1 = (org_id, created_at), 8 iteration buckets."""
    return core.Schema(
        "User",
        "usr",
        fields,
        partition_key="user_id",
        indexes=[("gsi1", "org_id", "created_at")],
        iteration_buckets=8,
    )


NATIVE_SCHEMA = medium_schema(native)
PURE_SCHEMA = medium_schema(pure)

MEDIUM_STORED = NATIVE_SCHEMA.to_item(MEDIUM, TENANT)  # fields + 6 key attributes
STORED_VALUES = item_values(MEDIUM_STORED)
MEDIUM_PAGE = [NATIVE_SCHEMA.to_item(medium_item(i), TENANT) for i in range(PAGE_SIZE)]
MEDIUM_PAGE_AV = [to_av_item(medium_item(i)) for i in range(PAGE_SIZE)]

# The same model with kinds whose values need no richer Python object than generic
# marshalling gives (created_at stays epoch-ms int, balance reads back as float), so Schema and
# generic marshalling produce the same values and their per-attribute costs compare directly.
PLAIN_FIELDS = [
    (name, {"created_at": "integer", "balance": "float"}.get(name, kind))
    for name, kind in MEDIUM_FIELDS
]


NATIVE_PLAIN_SCHEMA = medium_schema(native, PLAIN_FIELDS)
PURE_PLAIN_SCHEMA = medium_schema(pure, PLAIN_FIELDS)
PLAIN_STORED = NATIVE_PLAIN_SCHEMA.to_item(MEDIUM, TENANT)

# The medium item as a model layer would hold it after a read: created_at as an aware datetime.
MEDIUM_WITH_DATETIME = dict(
    MEDIUM, created_at=datetime.fromtimestamp(CREATED_AT_MS / 1000, tz=timezone.utc)
)

# --------------------------------------------------------------------------------------------
# PynamoDB models


class PynSmall(Model):
    class Meta:
        table_name = "bench-small"
        region = "us-east-1"

    user_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    age = NumberAttribute()
    active = BooleanAttribute()


class PynAddress(MapAttribute):
    street = UnicodeAttribute()
    city = UnicodeAttribute()
    zip = UnicodeAttribute()
    floor = NumberAttribute()
    primary = BooleanAttribute()


class PynMedium(Model):
    class Meta:
        table_name = "bench-medium"
        region = "us-east-1"

    user_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    status = UnicodeAttribute()
    plan = UnicodeAttribute()
    locale = UnicodeAttribute()
    country = UnicodeAttribute()
    bio = UnicodeAttribute()
    login_count = NumberAttribute()
    age = NumberAttribute()
    score = NumberAttribute()
    balance = NumberAttribute()
    verified = BooleanAttribute()
    newsletter = BooleanAttribute()
    created_at = NumberAttribute()
    avatar = BinaryAttribute(legacy_encoding=False)
    tags = UnicodeSetAttribute()
    address = PynAddress()
    recent_scores = ListAttribute(of=NumberAttribute)


def pynamodb_small() -> PynSmall:
    return PynSmall(**SMALL)


def pynamodb_medium() -> PynMedium:
    values = dict(MEDIUM, balance=float(MEDIUM["balance"]))
    values["address"] = PynAddress(**MEDIUM["address"])
    return PynMedium(**values)


# --------------------------------------------------------------------------------------------
# Sanity: every competitor sees the same data


def check_inputs() -> None:
    """Fail loudly if the competitors' inputs or outputs disagree."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    ser, deser = TypeSerializer(), TypeDeserializer()
    for item, boto, av in (
        (SMALL, SMALL_BOTO3, SMALL_AV),
        (MEDIUM, MEDIUM_BOTO3, MEDIUM_AV),
        (LARGE, LARGE_BOTO3, LARGE_AV),
    ):
        assert pure.to_attribute_value(item)["M"] == av
        assert native.from_attribute_value({"M": av}) == pure.from_attribute_value({"M": av})
        boto_av = {k: ser.serialize(v) for k, v in boto.items()}
        assert _canonical(boto_av) == _canonical(av), "boto3 input differs"
        assert {k: deser.deserialize(v) for k, v in av.items()}.keys() == item.keys()
    for model, av in ((pynamodb_small(), SMALL_AV), (pynamodb_medium(), MEDIUM_AV)):
        assert _canonical(model.serialize()) == _canonical(av), "PynamoDB input differs"
        read_back = type(model).from_raw_data(av)
        assert _canonical(read_back.serialize()) == _canonical(model.serialize())
    assert PURE_SCHEMA.to_item(MEDIUM, TENANT) == MEDIUM_STORED
    assert PURE_SCHEMA.from_item(MEDIUM_STORED) == NATIVE_SCHEMA.from_item(MEDIUM_STORED)
    assert NATIVE_SCHEMA.to_item(MEDIUM_WITH_DATETIME, TENANT) == MEDIUM_STORED


def _canonical(av: Any) -> Any:
    """AttributeValues compared by value: numbers as Decimals, sets sorted."""
    if isinstance(av, dict):
        if len(av) == 1:
            ((tag, v),) = av.items()
            if tag == "N":
                return ("N", Decimal(v))
            if tag in ("SS", "NS", "BS"):
                return (tag, sorted(v))
        return {k: _canonical(v) for k, v in av.items()}
    if isinstance(av, list):
        return [_canonical(v) for v in av]
    return av
