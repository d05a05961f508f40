"""Issue 13, item 14: bad input is a dynamo-bao error before any request (both cores, both wire
paths).

Each case below reached the server, or raised a non-``BaoError``, before the fix: empty map keys
(moto stored one and could then not return the item), items over DynamoDB's 400 KB, partition
keys over 2048 bytes and sort keys over 1024, ``limit`` of 0, -1, ``"5"``, ``True``, 1.5,
``$size`` operands DynamoDB cannot hold, searches with thousands of terms, ``find_by_email`` of
a dict, a bool or a float (sent as text), filter operands of ``iterate_all``/``count`` (checked
only after items were read; in an empty tenant ``count`` returned 0 for ``{"age": "abc"}``),
lone surrogates on the boto3 path (sent, 500, retried, then a wrong ``ConditionalError``) and a
FloatField given ``10**400`` (``OverflowError``). Every test counts the requests the client
made with a botocore ``before-call`` handler and asserts there were none.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import dynamo_bao as bao
from dynamo_bao import core, fields, transport
from dynamo_bao.exceptions import BaoError, ValidationError

from .conftest import unique_table_name


class HbiNote(bao.BaoModel):
    """A simple key, a GSI on a string and a number, a unique value, iterable."""

    model_prefix = "hbin"
    note_id = fields.StringField(required=True)
    title = fields.StringField()
    body = fields.StringField()
    age = fields.IntegerField()
    ratio = fields.FloatField()
    doc = fields.MapField()
    items = fields.ListField()
    tags = fields.StringSetField()
    email = fields.StringField()
    views = fields.CounterField()
    primary_key = bao.PrimaryKey("note_id")
    indexes = {"byTitle": bao.Index("title", "age", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True
    iteration_buckets = 2


class HbiEntry(bao.BaoModel):
    """A composite key, no unique values (batch_put works), iterable and searchable."""

    model_prefix = "hbie"
    owner = fields.StringField(required=True)
    entry_id = fields.StringField(required=True)
    text = fields.StringField()
    age = fields.IntegerField()
    doc = fields.MapField()
    primary_key = bao.PrimaryKey("owner", "entry_id")
    indexes = {"byAge": bao.Index("age", "text", "gsi2")}
    iterable = True
    iteration_buckets = 1
    search_config = {"fields": ["text"]}


@pytest.fixture(scope="module")
def client(dynamodb_endpoint: str) -> Any:
    """A client of this module's own: request counts see only its requests, and the wire path
    is the one init_models installs for DYNAMO_BAO_WIRE."""
    return transport.make_client(endpoint_url=dynamodb_endpoint)


@pytest.fixture(scope="module")
def manager(client: Any) -> Iterator[Any]:
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("hbi")},
        "tenancy": {"enabled": True},
        "models": [HbiNote, HbiEntry],
        "client": client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager: Any) -> Iterator[str]:
    """A fresh, empty tenant per test."""
    tenant_id = "t" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id


@contextlib.contextmanager
def no_request(client: Any, error: type[BaoError] = ValidationError) -> Iterator[None]:
    """The block raises ``error`` (a dynamo-bao error, exactly that class or a subclass) and
    the client sends nothing meanwhile."""
    sent: list[str] = []

    def record(model: Any, **_: Any) -> None:
        sent.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        with pytest.raises(error):
            yield
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)
    assert sent == [], f"requests were sent before refusing: {sent}"


# --------------------------------------------------------------------------- empty map keys


@pytest.mark.parametrize("doc", [{"": 1}, {"a": {"": "x"}}, {"a": [{"": None}]}])
def test_empty_map_keys_are_refused_on_create(manager, tenant, doc):
    with no_request(manager.client):
        HbiNote.create({"note_id": "n1", "doc": doc})


def test_empty_map_keys_are_refused_by_batch_put_and_update(manager, tenant):
    with no_request(manager.client):
        HbiEntry.batch_put([{"owner": "o", "entry_id": "e", "doc": {"ok": {"": 1}}}])
    with no_request(manager.client):
        HbiNote.update("n1", {"doc": {"": 1}})
    # The items list of a ListField too.
    with no_request(manager.client):
        HbiNote.update("n1", {"items": [{"k": {"": 2}}]})


@pytest.mark.parametrize("name", ["python", "native"])
def test_both_cores_refuse_empty_names_in_generic_marshalling(name):
    impl = core.load(name)
    for value in ({"": 1}, {"a": {"": 1}}, [{"": 1}]):
        with pytest.raises(ValidationError):
            impl.to_attribute_value(value)
    with pytest.raises(ValidationError):
        impl.marshal_item({"": "x"})


# --------------------------------------------------------------------------- item size


def test_an_item_over_400_kb_is_refused_on_create(manager, tenant):
    with no_request(manager.client):
        HbiNote.create({"note_id": "big", "body": "x" * (400 * 1024)})
    # Non-ASCII text counts its UTF-8 bytes: 140 000 three-byte characters are 420 000 bytes.
    with no_request(manager.client):
        HbiNote.create({"note_id": "big", "doc": {"t": "€" * 140_000}})


def test_an_item_just_under_400_kb_is_written(manager, tenant):
    # Under DynamoDB's 409 600 bytes (and moto's own 405 000): refused by neither.
    note = HbiNote.create({"note_id": "fits", "body": "y" * 400_000})
    assert len(HbiNote.find(note.primary_id).body) == 400_000


def test_an_item_over_400_kb_is_refused_by_batch_put(manager, tenant):
    entries = [{"owner": "o", "entry_id": f"e{i}", "text": "small"} for i in range(3)]
    entries.append({"owner": "o", "entry_id": "huge", "doc": {"x": "z" * (410 * 1024)}})
    with no_request(manager.client):
        HbiEntry.batch_put(entries)


def test_an_update_setting_a_value_over_400_kb_is_refused_before_the_pre_read(manager, tenant):
    with no_request(manager.client):
        HbiNote.update("n1", {"body": "x" * (401 * 1024)})


def test_an_update_whose_result_would_exceed_400_kb_is_refused_before_writing(manager, tenant):
    HbiNote.create({"note_id": "half", "body": "b" * (250 * 1024)})
    sent: list[str] = []

    def record(model: Any, **_: Any) -> None:
        sent.append(model.name)

    manager.client.meta.events.register("before-call.dynamodb", record)
    try:
        with pytest.raises(ValidationError):
            HbiNote.update("half", {"doc": {"t": "t" * (200 * 1024)}})
    finally:
        manager.client.meta.events.unregister("before-call.dynamodb", record)
    assert sent == ["GetItem"]  # the pre-read only: the write is refused


@pytest.mark.parametrize("name", ["python", "native"])
def test_item_size_follows_dynamodb_rules(name):
    impl = core.load(name)
    item = {
        "s": {"S": "abc"},  # 1 + 3
        "é": {"S": "€"},  # 2 + 3
        "n": {"N": "12345"},  # 1 + (5 + 1) // 2 + 1 = 5
        "z": {"N": "0"},  # 1 + 1
        "b": {"B": b"\x00\x01"},  # 1 + 2
        "t": {"BOOL": True},  # 1 + 1
        "u": {"NULL": True},  # 1 + 1
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + 1 + (1 + 1)
        "l": {"L": [{"N": "1"}, {"S": ""}]},  # 1 + 3 + 2 + (2 + 0)
        "ss": {"SS": ["a", "bc"]},  # 2 + 3
    }
    assert impl.item_size(item) == 4 + 5 + 5 + 2 + 3 + 2 + 2 + 7 + 8 + 5
    assert impl.MAX_ITEM_BYTES == 400 * 1024


# --------------------------------------------------------------------------- key sizes


def test_a_partition_key_over_2048_bytes_is_refused(manager, tenant):
    with no_request(manager.client):
        HbiNote.create({"note_id": "p" * 2100})
    with no_request(manager.client):
        HbiNote.find("p" * 2100)
    with no_request(manager.client):
        HbiEntry.query_by_primary_key("o" * 2100)


def test_a_sort_key_over_1024_bytes_is_refused(manager, tenant):
    with no_request(manager.client):
        HbiEntry.create({"owner": "o", "entry_id": "e" * 1100})
    with no_request(manager.client):
        HbiEntry.find("o##__SK__##" + "e" * 1100)
    with no_request(manager.client):
        HbiEntry.query_by_primary_key("o", {"entry_id": {"$beginsWith": "e" * 1100}})


def test_index_and_iteration_keys_are_checked_too(manager, tenant):
    # A GSI sort key (moto does not check these; DynamoDB refuses the write).
    with no_request(manager.client):
        HbiEntry.create({"owner": "o", "entry_id": "e", "text": "t" * 1100, "age": 1})
    # A GSI partition key from a text field.
    with no_request(manager.client):
        HbiNote.create({"note_id": "n", "title": "t" * 2100, "age": 1})
    # The iteration index's sort key is the whole primary id: 600 + 10 + 600 bytes > 1024.
    with no_request(manager.client):
        HbiEntry.create({"owner": "o" * 600, "entry_id": "e" * 600})
    # A unique value whose constraint row's key would exceed 2048 bytes names its field.
    with no_request(manager.client):
        try:
            HbiNote.create({"note_id": "n", "email": "e" * 2100})
        except ValidationError as err:
            assert err.field == "email"
            raise


def test_key_size_errors_name_the_field(manager, tenant):
    with pytest.raises(ValidationError) as caught:
        HbiEntry.create({"owner": "o", "entry_id": "e" * 1100})
    assert caught.value.field == "entry_id"
    assert "1024" in str(caught.value)


@pytest.mark.parametrize("name", ["python", "native"])
def test_both_cores_bound_key_formats(name):
    impl = core.load(name)
    with pytest.raises(ValidationError):
        impl.format_primary_key("acme", "p", "x" * 2048)
    with pytest.raises(ValidationError):
        impl.format_gsi_key(None, "p", "gsi1", "é" * 1100)  # 2200 bytes, 1100 characters
    with pytest.raises(ValidationError):
        impl.format_unique_key("acme", "uc1", "p", "email", "x" * 2040)
    assert len(impl.format_primary_key(None, "p", "x" * 2046)) == 2048


# --------------------------------------------------------------------------- limit


@pytest.mark.parametrize("limit", [0, -1, "5", True, 1.5, 2**31])
def test_bad_limits_are_refused(manager, tenant, limit):
    with no_request(manager.client):
        HbiNote.query_by_index("byTitle", "x", limit=limit)
    with no_request(manager.client):
        HbiEntry.query_by_primary_key("o", limit=limit)
    with no_request(manager.client):
        HbiNote.query_by_index("byTitle", "x", limit=limit, count_only=True)
    if limit != 2**31:  # a search's limit counts items, not a DynamoDB Limit
        with no_request(manager.client):
            HbiEntry.search_all("word", limit=limit)


def test_good_limits_still_work(manager, tenant):
    assert HbiNote.query_by_index("byTitle", "x", limit=1).items == []
    assert HbiNote.query_by_index("byTitle", "x", limit=None).items == []


# --------------------------------------------------------------------------- $size


@pytest.mark.parametrize("size", [10**40 + 1, Decimal("1e200"), 1e300, Decimal("1e-131"),
                                  {"$gt": 10**39 + 7}])
def test_size_operands_dynamodb_cannot_hold_are_refused(manager, tenant, size):
    with no_request(manager.client):
        HbiNote.query_by_index("byTitle", "x", filter={"tags": {"$size": size}})
    with no_request(manager.client):
        HbiNote.count({"tags": {"$size": size}})


def test_size_operands_dynamodb_accepts_still_work(manager, tenant):
    for size in (2, {"$gte": 1}, 10**40, 1.5):
        assert HbiNote.query_by_index("byTitle", "x", filter={"tags": {"$size": size}}).count == 0


# --------------------------------------------------------------------------- search terms


def test_a_search_with_thousands_of_terms_is_refused(manager, tenant):
    with no_request(manager.client):
        HbiEntry.search_all([f"w{i}" for i in range(3000)])
    with no_request(manager.client):
        HbiEntry.search_all(" ".join(f"w{i}" for i in range(51)))


def test_a_search_filter_over_dynamodb_expression_limit_is_refused(manager, tenant):
    wide = {"$or": [{"_searchText": {"$contains": f"x{i}"}} for i in range(250)]}
    with no_request(manager.client):
        HbiEntry.search_all(["a", "b"], filter=wide)


def test_a_search_with_fifty_terms_runs(manager, tenant):
    result = HbiEntry.search_all([f"w{i}" for i in range(50)])
    assert result.items == []


def test_search_filter_operands_are_checked_before_any_request(manager, tenant):
    with no_request(manager.client):
        HbiEntry.search_all("word", filter={"age": "abc"})


# --------------------------------------------------------------------------- unique lookups


@pytest.mark.parametrize("value", [{"a": 1}, True, 1.5, ["x"], b"x"])
def test_find_by_unique_value_of_a_wrong_type_is_refused(manager, tenant, value):
    with no_request(manager.client):
        HbiNote.find_by_email(value)
    with no_request(manager.client):
        HbiNote.find_by_unique_constraint("uniqueEmail", value)


def test_find_by_unique_value_still_finds_str_and_int(manager, tenant):
    HbiNote.create({"note_id": "u1", "email": "a@b.c"})
    assert HbiNote.find_by_email("a@b.c").note_id == "u1"
    assert not HbiNote.find_by_email(42).exists()


# --------------------------------------------------------------------------- iteration filters


@pytest.mark.parametrize("flt", [
    {"age": "abc"},
    {"age": {"$gt": "abc"}},
    {"age": {"$in": [1, "two"]}},
    {"$or": [{"title": "x"}, {"age": 1.5}]},
    {"$not": {"ratio": "high"}},
])
def test_iteration_filter_operands_are_checked_before_any_request(manager, tenant, flt):
    # An empty tenant: before the fix, count said 0 and iterate_all yielded nothing.
    with no_request(manager.client):
        HbiNote.count(flt)
    with no_request(manager.client):
        HbiNote.iterate_all(filter=flt)
    with no_request(manager.client):
        HbiNote.iterate_bucket(0, filter=flt)


def test_iteration_filters_that_fit_still_work(manager, tenant):
    HbiNote.create({"note_id": "i1", "age": 3})
    assert HbiNote.count({"age": {"$gt": 2}}).count == 1
    assert [n.note_id for batch in HbiNote.iterate_all(filter={"age": 3}) for n in batch] == [
        "i1"
    ]


# --------------------------------------------------------------------------- lone surrogates


@pytest.mark.parametrize("data", [
    {"title": "a\ud800b"},
    {"doc": {"k": "\udfff"}},
    {"doc": {"\ud800": 1}},
    {"tags": {"ok", "bad\ud800"}},
    {"items": ["x", ["\udc00"]]},
])
def test_lone_surrogates_are_refused_before_sending(manager, tenant, data):
    with no_request(manager.client):
        HbiNote.create({"note_id": "s1", **data})
    with no_request(manager.client):
        HbiNote.update("s1", data)


def test_lone_surrogates_in_keys_filters_and_batches_are_refused(manager, tenant):
    with no_request(manager.client):
        HbiNote.find("x\ud800")
    with no_request(manager.client):
        HbiNote.query_by_index("byTitle", "x", filter={"body": "\ud800"})
    with no_request(manager.client):
        HbiEntry.batch_put([{"owner": "o", "entry_id": "e", "text": "\ud800"}])
    with no_request(manager.client):
        HbiNote.find_by_email("\ud800@x")


@pytest.mark.parametrize("name", ["python", "native"])
def test_both_cores_refuse_lone_surrogates_in_every_stored_string(name):
    impl = core.load(name)
    for value in ("\ud800", {"k": "\ud800"}, {"\udfff": 1}, {"\ud800"}, frozenset({"\udc00"})):
        with pytest.raises(ValidationError):
            impl.to_attribute_value(value)
    schema = impl.Schema("Thing", "th", [("id", "string"), ("t", "string"),
                                         ("tags", "string_set")], "id")
    for values in ({"id": "x", "t": "\ud800"}, {"id": "x", "tags": ["\ud800"]},
                   {"id": "x", "tags": {"\ud800"}}):
        with pytest.raises(ValidationError) as caught:
            schema.to_item(values, None)
        assert caught.value.field in ("t", "tags")
        with pytest.raises(ValidationError):
            schema.marshal_fields({k: v for k, v in values.items() if k != "id"})


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [10**400, -(10**400), Decimal("1e400"), Decimal("-Infinity"),
                                   Decimal("NaN"), Decimal("sNaN")])
def test_a_float_field_given_a_number_no_float_holds_is_refused(manager, tenant, value):
    with no_request(manager.client):
        HbiNote.create({"note_id": "f1", "ratio": value})
    with no_request(manager.client):
        HbiNote.update("f1", {"ratio": value})
    with no_request(manager.client):
        HbiNote.query_by_index("byTitle", "x", filter={"ratio": {"$gt": value}})


@pytest.mark.parametrize("name", ["python", "native"])
def test_both_cores_refuse_ints_beyond_python_text_limit(name):
    impl = core.load(name)
    huge = 10**5000
    with pytest.raises(ValidationError):
        impl.to_attribute_value(huge)
    with pytest.raises(ValidationError):
        impl.encode_index_value("integer", -huge)
    schema = impl.Schema("Thing", "th", [("id", "string"), ("n", "integer"), ("f", "float")],
                         "id")
    for field in ("n", "f"):
        with pytest.raises(ValidationError):
            schema.to_item({"id": "x", field: huge}, None)


def test_integer_and_counter_fields_refuse_numbers_dynamodb_cannot_hold(manager, tenant):
    with no_request(manager.client):
        HbiNote.create({"note_id": "c1", "age": 10**5000})
    with no_request(manager.client):
        HbiNote.update("c1", {"views": "+" + "9" * 40})

