"""Item marshalling: dynamo-bao's two cores against boto3 and PynamoDB.

One benchmark group is one case (an item size and a direction, or a whole-item Schema
operation); its members are the competitors, so ``pytest-benchmark`` prints them side by side
and ``report.py`` turns each group into ratios against the native core.

Generic marshalling of a whole item is done the fastest honest way for each competitor:

* dynamo-bao cores: one call per item, ``marshal_item(item)`` and ``unmarshal_item(av_item)``
  (the same results as ``to_attribute_value(item)["M"]`` and
  ``from_attribute_value({"M": av_item})``, without the wrapping map);
* boto3: ``{k: TypeSerializer().serialize(v) ...}`` on the boto3 form of the item (floats as
  Decimal), ``{k: TypeDeserializer().deserialize(v) ...}`` on the AttributeValue form;
* PynamoDB: ``serialize()`` of an instance built beforehand, ``Model.from_raw_data(av_item)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from dynamo_bao import _native as native
from dynamo_bao.core import _pure as pure

from items import (
    LARGE,
    LARGE_AV,
    LARGE_BOTO3,
    MEDIUM,
    MEDIUM_AV,
    MEDIUM_BOTO3,
    MEDIUM_PAGE,
    MEDIUM_PAGE_AV,
    MEDIUM_STORED,
    MEDIUM_VALUES,
    MEDIUM_WITH_DATETIME,
    NATIVE_PLAIN_SCHEMA,
    NATIVE_SCHEMA,
    PAGE_SIZE,
    PLAIN_STORED,
    PURE_PLAIN_SCHEMA,
    PURE_SCHEMA,
    SMALL,
    SMALL_AV,
    SMALL_BOTO3,
    STORED_VALUES,
    TENANT,
    PynMedium,
    PynSmall,
    item_values,
    pynamodb_medium,
    pynamodb_small,
)

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()

# A 0.36 MiB item takes milliseconds per call: fewer, longer rounds keep the suite short.
LARGE_OPTIONS = {"min_rounds": 5, "max_time": 0.5}
# Calls per timed run (see conftest.batched): small and medium items take microseconds, where
# pytest-benchmark's own per-call overhead would blur the ratios.
CALLS = {"small": 10, "medium": 10, "large": 1}
ITEM_CALLS = CALLS["medium"]  # the medium item through a Schema

SIZES = {
    # size: (python item, boto3 item, AttributeValue item, PynamoDB model, instance factory)
    "small": (SMALL, SMALL_BOTO3, SMALL_AV, PynSmall, pynamodb_small),
    "medium": (MEDIUM, MEDIUM_BOTO3, MEDIUM_AV, PynMedium, pynamodb_medium),
    "large": (LARGE, LARGE_BOTO3, LARGE_AV, None, None),
}
COMPETITORS = ("native", "pure", "boto3", "pynamodb")


def _cases(direction: str) -> list[Any]:
    cases = []
    for size, (*_, model, _factory) in SIZES.items():
        options = LARGE_OPTIONS if size == "large" else {}
        mark = pytest.mark.benchmark(group=f"marshal {direction} {size}", **options)
        for competitor in COMPETITORS:
            if competitor == "pynamodb" and model is None:
                continue
            cases.append(pytest.param(size, competitor, id=f"{size}-{competitor}", marks=mark))
    return cases


# --------------------------------------------------------------------------------------------
# Generic marshalling, Python -> AttributeValue


native_to_av = native.marshal_item
pure_to_av = pure.marshal_item


def boto3_to_av(item: dict) -> dict:
    serialize = SERIALIZER.serialize
    return {k: serialize(v) for k, v in item.items()}


def pynamodb_to_av(instance: Any) -> dict:
    return instance.serialize()


@pytest.mark.parametrize(("size", "competitor"), _cases("to-av"))
def bench_to_av(measure, size: str, competitor: str) -> None:
    item, boto3_item, av_item, _model, factory = SIZES[size]
    options = {"values": item_values(av_item), "calls": CALLS[size]}
    if competitor == "native":
        out = measure(competitor, native_to_av, item, **options)
    elif competitor == "pure":
        out = measure(competitor, pure_to_av, item, **options)
    elif competitor == "boto3":
        out = measure(competitor, boto3_to_av, boto3_item, **options)
    else:
        out = measure(competitor, pynamodb_to_av, factory(), **options)
    assert out.keys() == av_item.keys()


# --------------------------------------------------------------------------------------------
# Generic marshalling, AttributeValue -> Python


native_from_av = native.unmarshal_item
pure_from_av = pure.unmarshal_item


def boto3_from_av(av_item: dict) -> dict:
    deserialize = DESERIALIZER.deserialize
    return {k: deserialize(v) for k, v in av_item.items()}


@pytest.mark.parametrize(("size", "competitor"), _cases("from-av"))
def bench_from_av(measure, size: str, competitor: str) -> None:
    _item, _boto3_item, av_item, model, _factory = SIZES[size]
    options = {"values": item_values(av_item), "calls": CALLS[size]}
    if competitor == "native":
        out = measure(competitor, native_from_av, av_item, **options)
    elif competitor == "pure":
        out = measure(competitor, pure_from_av, av_item, **options)
    elif competitor == "boto3":
        out = measure(competitor, boto3_from_av, av_item, **options)
    else:
        out = measure(competitor, model.from_raw_data, av_item, **options)
        assert isinstance(out, model)
        return
    assert out.keys() == av_item.keys()


# --------------------------------------------------------------------------------------------
# Whole-item conversion through a Schema, beside generic marshalling of the same item
#
# Schema.to_item does more than generic marshalling: it checks each value against its field
# kind and adds the key attributes (_pk, _sk, _gsi1_pk, _gsi1_sk, _iter_pk, _iter_sk: 41
# AttributeValues out instead of 35). Schema.from_item reads the 20 fields (35 values) of the
# stored item and converts created_at to a datetime and balance to a Decimal.
#
# Two generic competitors: "native generic" converts the 20 fields alone (the per-value
# comparison); "native generic, whole item" does the Schema's whole job with generic calls —
# the same stored item out of the same values (marshal_item plus the key attributes from the
# core's key functions), and the same values out of the same stored item (unmarshal_item,
# key attributes dropped, datetime and Decimal made where the model has them).

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)
KEY_ATTRIBUTES = ("_pk", "_sk", "_gsi1_pk", "_gsi1_sk", "_iter_pk", "_iter_sk")


def native_generic_whole_item(values: dict, tenant: str) -> dict:
    """The medium model's stored item without a Schema (no kind checks)."""
    created_at = values["created_at"]
    if isinstance(created_at, datetime):
        created_at = (created_at - EPOCH) // MILLISECOND
        values = {**values, "created_at": created_at}
    item = native.marshal_item(values)
    pk = values["user_id"]
    org = native.encode_index_value("string", values["org_id"])
    item["_pk"] = {"S": native.format_primary_key(tenant, "usr", pk)}
    item["_sk"] = {"S": "usr"}
    item["_gsi1_pk"] = {"S": native.format_gsi_key(tenant, "usr", "gsi1", org)}
    item["_gsi1_sk"] = {"S": native.encode_index_value("integer", created_at)}
    bucket = native.iteration_bucket(pk, 8)
    item["_iter_pk"] = {"S": native.format_iteration_key(tenant, "usr", bucket, 8)}
    item["_iter_sk"] = {"S": pk}
    return item


def native_generic_plain_values(item: dict) -> dict:
    """The plain-kinds model's values from its stored item without a Schema."""
    values = native.unmarshal_item(item)
    for name in KEY_ATTRIBUTES:
        del values[name]
    return values


def native_generic_values(item: dict) -> dict:
    """The medium model's values (datetime, Decimal) from its stored item without a Schema."""
    values = native_generic_plain_values(item)
    values["created_at"] = EPOCH + values["created_at"] * MILLISECOND
    values["balance"] = Decimal(item["balance"]["N"])
    return values


def native_generic_values_page(page: list) -> list:
    return [native_generic_values(item) for item in page]


assert native_generic_whole_item(MEDIUM, TENANT) == MEDIUM_STORED
assert native_generic_whole_item(MEDIUM_WITH_DATETIME, TENANT) == MEDIUM_STORED
assert native_generic_whole_item(MEDIUM, TENANT) == PLAIN_STORED
assert native_generic_values(MEDIUM_STORED) == NATIVE_SCHEMA.from_item(MEDIUM_STORED)
assert native_generic_plain_values(PLAIN_STORED) == NATIVE_PLAIN_SCHEMA.from_item(PLAIN_STORED)

WHOLE = "native generic, whole item"
TO_ITEM = {
    # competitor: (function, arguments, AttributeValues out)
    "native": (NATIVE_SCHEMA.to_item, (MEDIUM, TENANT), STORED_VALUES),
    "pure": (PURE_SCHEMA.to_item, (MEDIUM, TENANT), STORED_VALUES),
    "native generic": (native_to_av, (MEDIUM,), MEDIUM_VALUES),
    "pure generic": (pure_to_av, (MEDIUM,), MEDIUM_VALUES),
    WHOLE: (native_generic_whole_item, (MEDIUM, TENANT), STORED_VALUES),
}
TO_ITEM_DATETIME = {
    "native": (NATIVE_SCHEMA.to_item, (MEDIUM_WITH_DATETIME, TENANT), STORED_VALUES),
    "pure": (PURE_SCHEMA.to_item, (MEDIUM_WITH_DATETIME, TENANT), STORED_VALUES),
    WHOLE: (native_generic_whole_item, (MEDIUM_WITH_DATETIME, TENANT), STORED_VALUES),
}
FROM_ITEM = {
    # competitor: (function, argument); every one gives the 35 values of the 20 fields
    "native": (NATIVE_SCHEMA.from_item, MEDIUM_STORED),
    "pure": (PURE_SCHEMA.from_item, MEDIUM_STORED),
    "native generic": (native_from_av, MEDIUM_AV),
    "pure generic": (pure_from_av, MEDIUM_AV),
    "boto3": (boto3_from_av, MEDIUM_AV),
    WHOLE: (native_generic_values, MEDIUM_STORED),
}


@pytest.mark.benchmark(group="schema to_item medium")
@pytest.mark.parametrize("competitor", list(TO_ITEM))
def bench_schema_to_item(measure, competitor: str) -> None:
    fn, args, values = TO_ITEM[competitor]
    out = measure(competitor, fn, *args, values=values, calls=ITEM_CALLS)
    assert out.keys() <= MEDIUM_STORED.keys()


@pytest.mark.benchmark(group="schema to_item medium, datetime value")
@pytest.mark.parametrize("competitor", list(TO_ITEM_DATETIME))
def bench_schema_to_item_datetime(measure, competitor: str) -> None:
    fn, args, values = TO_ITEM_DATETIME[competitor]
    out = measure(competitor, fn, *args, values=values, calls=ITEM_CALLS)
    assert out == MEDIUM_STORED


@pytest.mark.benchmark(group="schema from_item medium")
@pytest.mark.parametrize("competitor", list(FROM_ITEM))
def bench_schema_from_item(measure, competitor: str) -> None:
    fn, item = FROM_ITEM[competitor]
    out = measure(competitor, fn, item, values=MEDIUM_VALUES, calls=ITEM_CALLS)
    assert out.keys() == MEDIUM.keys()


PLAIN_TO_ITEM = {
    "native": (NATIVE_PLAIN_SCHEMA.to_item, (MEDIUM, TENANT), STORED_VALUES),
    "pure": (PURE_PLAIN_SCHEMA.to_item, (MEDIUM, TENANT), STORED_VALUES),
    "native generic": (native_to_av, (MEDIUM,), MEDIUM_VALUES),
    "pure generic": (pure_to_av, (MEDIUM,), MEDIUM_VALUES),
    WHOLE: (native_generic_whole_item, (MEDIUM, TENANT), STORED_VALUES),
}
PLAIN_FROM_ITEM = {
    "native": (NATIVE_PLAIN_SCHEMA.from_item, PLAIN_STORED),
    "pure": (PURE_PLAIN_SCHEMA.from_item, PLAIN_STORED),
    "native generic": (native_from_av, MEDIUM_AV),
    "pure generic": (pure_from_av, MEDIUM_AV),
    WHOLE: (native_generic_plain_values, PLAIN_STORED),
}


@pytest.mark.benchmark(group="schema to_item medium, plain kinds")
@pytest.mark.parametrize("competitor", list(PLAIN_TO_ITEM))
def bench_schema_to_item_plain(measure, competitor: str) -> None:
    fn, args, values = PLAIN_TO_ITEM[competitor]
    out = measure(competitor, fn, *args, values=values, calls=ITEM_CALLS)
    assert out.keys() <= PLAIN_STORED.keys()


@pytest.mark.benchmark(group="schema from_item medium, plain kinds")
@pytest.mark.parametrize("competitor", list(PLAIN_FROM_ITEM))
def bench_schema_from_item_plain(measure, competitor: str) -> None:
    fn, item = PLAIN_FROM_ITEM[competitor]
    out = measure(competitor, fn, item, values=MEDIUM_VALUES, calls=ITEM_CALLS)
    assert out.keys() == MEDIUM.keys()


def native_generic_page(page: list) -> list:
    from_av = native.from_attribute_value
    return [from_av({"M": av_item}) for av_item in page]


def pure_generic_page(page: list) -> list:
    from_av = pure.from_attribute_value
    return [from_av({"M": av_item}) for av_item in page]


def boto3_page(page: list) -> list:
    deserialize = DESERIALIZER.deserialize
    return [{k: deserialize(v) for k, v in av_item.items()} for av_item in page]


FROM_ITEMS = {
    "native": (NATIVE_SCHEMA.from_items, MEDIUM_PAGE),
    "pure": (PURE_SCHEMA.from_items, MEDIUM_PAGE),
    "native generic": (native_generic_page, MEDIUM_PAGE_AV),
    "pure generic": (pure_generic_page, MEDIUM_PAGE_AV),
    "boto3": (boto3_page, MEDIUM_PAGE_AV),
    WHOLE: (native_generic_values_page, MEDIUM_PAGE),
}


@pytest.mark.benchmark(group=f"schema from_items page of {PAGE_SIZE} medium")
@pytest.mark.parametrize("competitor", list(FROM_ITEMS))
def bench_schema_from_items(measure, competitor: str) -> None:
    fn, page = FROM_ITEMS[competitor]
    out = measure(competitor, fn, page, values=MEDIUM_VALUES * PAGE_SIZE)
    assert len(out) == PAGE_SIZE
