"""Stored items that do not fit their model, and 2xx bodies that cannot be read (issue 13,
items 13 and 14's malformed bodies), on the embedded server under the active core and wire
path.

* An item another service wrote (``age`` as S, ``name`` as N, ``created_at`` as S, a string
  set as L) is reachable: ``find``, a query page, ``batch_find`` and ``iterate_all`` raise a
  ValidationError naming the item's primary id, the attribute and what is stored;
  ``delete(id)`` deletes it (and its unique rows); ``update(id, {field: good})`` repairs it.
* A 200 answer whose body cannot be read is a ValidationError on both wire paths, never an
  ``AttributeError``/``TypeError`` nor a silently empty answer (canned with a botocore
  ``before-send`` handler on the module's own client).
* Both cores word the error alike and give it the same attributes.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

import dynamo_bao as bao
from dynamo_bao import _native as native
from dynamo_bao import core, fields, transport
from dynamo_bao.core import _pure as pure
from dynamo_bao.exceptions import BaoError, BatchIncompleteError, ValidationError

from .conftest import unique_table_name
from .faults import _CannedBody

UTC = timezone.utc


class Stray(bao.BaoModel):
    """A model whose items another service may have written."""

    model_prefix = "hsti"
    stray_id = fields.StringField(required=True)
    name = fields.StringField()
    age = fields.IntegerField()
    email = fields.StringField()
    team = fields.StringField()
    tags = fields.StringSetField()
    views = fields.CounterField()
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("stray_id")
    indexes = {"byTeam": bao.Index("team", "stray_id", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True


class StrayLine(bao.BaoModel):
    """A composite key, for the id the error names."""

    model_prefix = "hstl"
    owner = fields.StringField(required=True)
    line = fields.StringField(required=True)
    qty = fields.IntegerField()
    primary_key = bao.PrimaryKey("owner", "line")


# field, a stored form that does not fit it, its type, a good value, its stored form
SHAPES = [
    ("age", {"S": "forty"}, "S", 40, {"N": "40"}),
    ("name", {"N": "5"}, "N", "Ann", {"S": "Ann"}),
    ("created_at", {"S": "2024-01-01T00:00:00Z"}, "S",
     datetime(2024, 1, 1, tzinfo=UTC), {"N": "1704067200000"}),
    ("tags", {"L": [{"S": "a"}]}, "L", {"a"}, {"SS": ["a"]}),
]
SHAPE_IDS = [f"{field}-as-{tag}" for field, _, tag, _, _ in SHAPES]


@pytest.fixture(scope="module")
def client(bao_endpoint):
    """The module's own client: canned responses never reach another module's."""
    return transport.make_client(endpoint_url=bao_endpoint)


@pytest.fixture(scope="module")
def manager(client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("stored")},
        "tenancy": {"enabled": True},
        "models": [Stray, StrayLine],
        "client": client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager):
    tenant_id = "t" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id


def raw_get(manager, key: dict) -> dict | None:
    response = manager.client.get_item(TableName=manager.table_name, Key=key,
                                       ConsistentRead=True)
    return response.get("Item")


def stray_key(tenant: str, stray_id: str) -> dict:
    return {"_pk": {"S": core.format_primary_key(tenant, "hsti", stray_id)},
            "_sk": {"S": "hsti"}}


def email_row_key(tenant: str, email: str) -> dict:
    return {"_pk": {"S": core.format_unique_key(tenant, "uc1", "hsti", "email", email)},
            "_sk": {"S": "_raft_uc"}}


def spoil(manager, tenant: str, stray_id: str, field: str, bad: dict) -> None:
    """Another service rewrites the item with one attribute of the wrong type: the whole
    item put with the plain client (keys, index and iteration keys as the core makes them)."""
    item = raw_get(manager, stray_key(tenant, stray_id))
    assert item is not None
    item[field] = bad
    manager.client.put_item(TableName=manager.table_name, Item=item)


def make_stray(manager, tenant: str, field: str | None = None, bad: dict | None = None) -> str:
    stray_id = "s" + uuid.uuid4().hex[:10]
    Stray.create({"stray_id": stray_id, "name": "Bo", "age": 7, "team": "red",
                  "email": f"{stray_id}@example.com", "tags": {"x"}})
    if field is not None:
        spoil(manager, tenant, stray_id, field, bad)
    return stray_id


class Requests:
    """Counts the requests sent on a client, by operation."""

    def __init__(self, client: Any) -> None:
        self.client, self.sent = client, []

    def __enter__(self) -> Requests:
        self.client.meta.events.register("before-call.dynamodb", self._count)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.sent.append(model.name)


def assert_names(err: ValidationError, stray_id: str, field: str, tag: str) -> None:
    assert err.primary_id == stray_id
    assert err.field == field
    assert err.stored_type == tag
    message = str(err)
    assert f"Stray item '{stray_id}'" in message
    assert f"attribute '{field}' holds {tag}" in message


# --------------------------------------------------------------------------------------------
# Reads name the item


@pytest.mark.parametrize(("field", "bad", "tag", "good", "good_av"), SHAPES, ids=SHAPE_IDS)
def test_find_names_the_item_the_attribute_and_what_is_stored(
    manager, tenant, field, bad, tag, good, good_av
):
    stray_id = make_stray(manager, tenant, field, bad)
    with pytest.raises(ValidationError) as info:
        Stray.find(stray_id)
    assert_names(info.value, stray_id, field, tag)
    assert tenant not in str(info.value)  # the public id, without the tenant


@pytest.mark.parametrize(("field", "bad", "tag", "good", "good_av"), SHAPES, ids=SHAPE_IDS)
def test_query_batch_find_and_iterate_all_name_the_item(
    manager, tenant, field, bad, tag, good, good_av
):
    fine = make_stray(manager, tenant)
    stray_id = make_stray(manager, tenant, field, bad)
    reads = [
        lambda: Stray.query_by_index("byTeam", "red"),
        lambda: Stray.batch_find([fine, stray_id]),
        lambda: [page for page in Stray.iterate_all(batch_size=10)],
    ]
    for read in reads:
        with pytest.raises(ValidationError) as info:
            read()
        assert_names(info.value, stray_id, field, tag)
    assert Stray.find(fine).exists()  # the other item stays readable


def test_the_stored_text_is_cut_short(manager, tenant):
    stray_id = make_stray(manager, tenant, "age", {"S": "9" * 500})
    with pytest.raises(ValidationError) as info:
        Stray.find(stray_id)
    assert f"holds S '{'9' * 40}...'" in str(info.value)
    assert "9" * 41 not in str(info.value)


def test_an_item_written_whole_by_another_service(manager, tenant):
    """No create at all: the plain client puts an item with a composite key."""
    item = StrayLine._schema.to_item({"owner": "o1", "line": "l##1", "qty": 2}, tenant)
    item["qty"] = {"S": "two"}
    manager.client.put_item(TableName=manager.table_name, Item=item)
    primary_id = "o1##__SK__##l##1"
    with pytest.raises(ValidationError) as info:
        StrayLine.find(primary_id)
    assert info.value.primary_id == primary_id
    assert str(info.value).startswith(f"StrayLine item '{primary_id}': attribute 'qty' holds S")
    with pytest.raises(ValidationError):
        StrayLine.query_by_primary_key("o1")
    assert StrayLine.delete(primary_id).qty is None
    assert raw_get(manager, {"_pk": item["_pk"], "_sk": item["_sk"]}) is None


# --------------------------------------------------------------------------------------------
# delete and update are the way out


@pytest.mark.parametrize(("field", "bad", "tag", "good", "good_av"), SHAPES, ids=SHAPE_IDS)
def test_delete_removes_the_item_and_its_unique_rows(
    manager, tenant, field, bad, tag, good, good_av
):
    stray_id = make_stray(manager, tenant, field, bad)
    email = f"{stray_id}@example.com"
    assert raw_get(manager, email_row_key(tenant, email)) is not None
    deleted = Stray.delete(stray_id)
    assert deleted.stray_id == stray_id and deleted.email == email
    assert getattr(deleted, field) in (None, set())  # what does not fit is left unset
    assert raw_get(manager, stray_key(tenant, stray_id)) is None
    assert raw_get(manager, email_row_key(tenant, email)) is None
    assert not Stray.find(stray_id).exists()


def test_delete_when_the_key_field_does_not_fit(manager, tenant):
    stray_id = make_stray(manager, tenant, "stray_id", {"N": "5"})
    email = f"{stray_id}@example.com"
    with pytest.raises(ValidationError) as info:
        Stray.find(stray_id)
    assert info.value.primary_id == stray_id and info.value.field == "stray_id"
    assert Stray.delete(stray_id).stray_id == stray_id  # from the id
    assert raw_get(manager, stray_key(tenant, stray_id)) is None
    assert raw_get(manager, email_row_key(tenant, email)) is None


def test_delete_when_the_unique_field_itself_does_not_fit(manager, tenant):
    stray_id = make_stray(manager, tenant, "email", {"N": "5"})
    Stray.delete(stray_id)
    assert raw_get(manager, stray_key(tenant, stray_id)) is None


@pytest.mark.parametrize(("field", "bad", "tag", "good", "good_av"), SHAPES, ids=SHAPE_IDS)
def test_update_with_a_good_value_repairs_the_item(
    manager, tenant, field, bad, tag, good, good_av
):
    stray_id = make_stray(manager, tenant, field, bad)
    updated = Stray.update(stray_id, {field: good})
    assert getattr(updated, field) == good
    assert raw_get(manager, stray_key(tenant, stray_id))[field] == good_av
    found = Stray.find(stray_id)
    assert getattr(found, field) == good and found.name in ("Bo", "Ann")
    assert [i.stray_id for i in Stray.query_by_index("byTeam", "red").items] == [stray_id]


def test_update_to_none_repairs_by_removing(manager, tenant):
    stray_id = make_stray(manager, tenant, "age", {"S": "forty"})
    assert Stray.update(stray_id, {"age": None}).age is None
    assert "age" not in raw_get(manager, stray_key(tenant, stray_id))
    assert Stray.find(stray_id).age is None


@pytest.mark.parametrize("changes", [{"team": "blue"}, {"views": "+1"}])
def test_update_that_leaves_a_misfit_is_refused_before_writing(manager, tenant, changes):
    stray_id = make_stray(manager, tenant, "age", {"S": "forty"})
    if "views" in changes:
        spoil(manager, tenant, stray_id, "views", {"S": "many"})
    before = raw_get(manager, stray_key(tenant, stray_id))
    with Requests(manager.client) as requests, pytest.raises(ValidationError) as info:
        Stray.update(stray_id, changes)
    assert requests.sent == ["GetItem"]  # the pre-read only: nothing written
    assert info.value.primary_id == stray_id
    assert "attribute 'age' holds S 'forty'" in str(info.value)
    if "views" in changes:  # a relative change does not repair a counter
        assert "attribute 'views' holds S 'many'" in str(info.value)
    assert raw_get(manager, stray_key(tenant, stray_id)) == before


def test_update_repairing_one_of_two_misfits_names_the_other(manager, tenant):
    stray_id = make_stray(manager, tenant, "age", {"S": "forty"})
    spoil(manager, tenant, stray_id, "name", {"N": "5"})
    with pytest.raises(ValidationError) as info:
        Stray.update(stray_id, {"age": 40})
    assert info.value.field == "name" and "attribute 'age'" not in str(info.value)
    assert Stray.update(stray_id, {"age": 40, "name": "Ann"}).name == "Ann"
    assert Stray.find(stray_id).age == 40


# --------------------------------------------------------------------------------------------
# 200 answers whose body cannot be read


def canned(body: bytes):
    def answer(request, **_):
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "canned"}
        return AWSResponse(request.url, 200, headers, _CannedBody(body))

    return answer


def answered_with(client, operation: str, body: bytes):
    class Canned:
        def __enter__(self):
            client.meta.events.register(f"before-send.dynamodb.{operation}", handler)

        def __exit__(self, *exc):
            client.meta.events.unregister(f"before-send.dynamodb.{operation}", handler)

    handler = canned(body)
    return Canned()


MALFORMED = [
    ("GetItem", b'{"Item": "x"}'),
    ("GetItem", b'{"Item": 5}'),
    ("GetItem", b"[1]"),
    ("GetItem", b'{"Item": {"age": "x"}}'),
    ("GetItem", b'{"Item": {"age": {"N": "x"}}}'),
    ("GetItem", b'{"Item": {"age": {"N": 5}}}'),
    ("GetItem", b"not json"),
    ("GetItem", b'{"Item": {"age": {"N": "1"}'),
    ("Query", b'{"Items": 5}'),
    ("Query", b'{"Items": ["x"], "Count": 1}'),
    ("Query", b'{"Items": [], "Count": "x"}'),
    ("Query", b"<html>bad gateway</html>"),
    ("BatchGetItem", b'{"Responses": "x"}'),
    ("BatchGetItem", b'{"Responses": {"t": 5}}'),
    ("BatchGetItem", b"not json"),
    ("Count", b'{"Count": "x", "ScannedCount": 0}'),
    ("Count", b'{"Count": 1.5}'),
    ("Count", b"not json"),
    ("Iterate", b'{"Items": [{}], "Count": 1}'),
    ("Iterate", b'{"Items": [{"_iter_sk": {"N": "1"}}], "Count": 1}'),
    ("Iterate", b'{"Items": [], "Count": 0, "LastEvaluatedKey": {"_pk": {"S": "x"}}}'),
]


@pytest.mark.parametrize(("operation", "body"), MALFORMED,
                         ids=[f"{op}-{body[:24]!r}" for op, body in MALFORMED])
def test_a_200_body_that_cannot_be_read_is_a_validation_error(manager, tenant, operation, body):
    stray_id = make_stray(manager, tenant)
    if operation == "BatchGetItem":
        body = body.replace(b'"t"', json.dumps(manager.table_name).encode())
    reads = {
        "GetItem": lambda: Stray.find(stray_id),
        "Query": lambda: Stray.query_by_index("byTeam", "red"),
        "BatchGetItem": lambda: Stray.batch_find([stray_id]),
        "Count": lambda: Stray.count(),
        "Iterate": lambda: list(Stray.iterate_all()),
    }
    sent_as = "Query" if operation in ("Count", "Iterate") else operation
    with answered_with(manager.client, sent_as, body), pytest.raises(BaoError) as info:
        reads[operation]()
    # A batch read reports what it could not read (BatchIncompleteError) with the cause.
    err = info.value
    if isinstance(err, BatchIncompleteError):
        err = err.__cause__
    assert isinstance(err, ValidationError), repr(info.value)
    assert Stray.find(stray_id).exists()  # and the client reads normally again


def test_a_handler_error_is_not_taken_for_a_bad_body(manager, tenant):
    """Only what botocore's parser raises becomes a ValidationError."""

    def broken(**_):
        raise KeyError("a caller's handler")

    manager.client.meta.events.register("before-send.dynamodb.GetItem", broken)
    try:
        with pytest.raises(KeyError):
            Stray.find("nobody")
    finally:
        manager.client.meta.events.unregister("before-send.dynamodb.GetItem", broken)


def test_an_empty_answer_is_still_not_found(manager, tenant):
    with answered_with(manager.client, "GetItem", b"{}"):
        assert not Stray.find("nobody").exists()
    with answered_with(manager.client, "GetItem", b""):
        assert not Stray.find("nobody").exists()


# --------------------------------------------------------------------------------------------
# Both cores alike


SCHEMA_ARGS = dict(
    model_name="Stray", prefix="hsti",
    fields=[("stray_id", "string"), ("name", "string"), ("age", "integer"),
            ("ratio", "float"), ("price", "decimal"), ("flag", "boolean"),
            ("created_at", "datetime"), ("ttl", "ttl"), ("blob", "binary"),
            ("tags", "string_set"), ("doc", "map"), ("items", "list"), ("any", "any")],
    partition_key="stray_id", sort_key=None, indexes=[], iteration_buckets=0,
)
KEYS = {"_pk": {"S": "[acme]#hsti#s1"}, "_sk": {"S": "hsti"}}
MISFITS = [
    ("age", {"S": "abc"}), ("age", {"N": "2.5"}), ("age", {"N": "x"}), ("age", {"BOOL": True}),
    ("name", {"N": "5"}), ("name", {"M": {"a": {"S": "x"}}}), ("name", {"SS": ["a"]}),
    ("created_at", {"S": "2024-01-01"}), ("created_at", {"N": "1" * 30}),
    ("ttl", {"N": "1.5"}), ("ratio", {"S": "1"}), ("price", {"BOOL": False}),
    ("flag", {"N": "1"}), ("blob", {"S": "AA=="}), ("tags", {"L": [{"S": "a"}]}),
    ("tags", {"NS": ["1"]}), ("doc", {"L": []}), ("items", {"M": {}}),
    ("age", {"S": "x" * 100}), ("age", {"S": "é" * 60}),
]


def failure(fn, *args):
    try:
        fn(*args)
    except ValidationError as err:
        return (type(err).__name__, str(err), err.field, err.primary_id, err.stored_type)
    raise AssertionError("no error")


def body_of(doc: dict) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("field", "av"), MISFITS, ids=[f"{f}-{av!r:.30}" for f, av in MISFITS])
def test_both_cores_word_a_misfit_alike(field, av):
    item = {**KEYS, field: av}
    outcomes = []
    for impl in (pure, native):
        schema = impl.Schema(**SCHEMA_ARGS)
        got = [
            failure(schema.from_item, item),
            failure(schema.from_items, [{**KEYS}, item]),
            failure(impl.decode_response, body_of({"Item": item}), schema),
            # The keys after the attribute: found wherever they are.
            failure(impl.decode_response,
                    body_of({"Items": [{field: av, **KEYS}], "Count": 1}), schema),
        ]
        assert len(set(got)) == 1, got
        outcomes.append(got[0])
    assert outcomes[0] == outcomes[1]
    name, message, got_field, primary_id, stored_type = outcomes[0]
    assert (got_field, primary_id, stored_type) == (field, "s1", next(iter(av)))
    assert message.startswith(f"Stray item 's1': attribute '{field}' holds {next(iter(av))}")


@pytest.mark.parametrize("keys", [
    {}, {"_pk": {"S": "[acme]#hsti#s1"}}, {"_pk": {"S": "other#s1"}, "_sk": {"S": "hsti"}},
    {"_pk": {"N": "1"}, "_sk": {"S": "hsti"}}, {"_pk": {"S": "hsti#s1"}, "_sk": {"S": "x"}},
])
def test_an_item_without_this_models_keys_is_named_id_unknown(keys):
    for impl in (pure, native):
        schema = impl.Schema(**SCHEMA_ARGS)
        err = failure(schema.from_item, {**keys, "age": {"S": "abc"}})
        assert err[3] is None and err[1].startswith("Stray item (id unknown): attribute 'age'")
        assert schema.stored_primary_id({**keys}) is None


@pytest.mark.parametrize(("partition_key", "sort_key", "pk", "sk", "expected"), [
    ("a", None, "[t1]#hsti#x##y", "hsti", "x##y"),
    ("a", None, "hsti#x", "hsti", "x"),
    ("a", "b", "[t1]#hsti#x", "y##__SK__##z", "x##__SK__##y##__SK__##z"),
    (None, "b", "[t1]#hsti", "y", "y"),
    (None, "b", "[t1]#hsti#", "y", None),
    ("a", None, "[t1]#hsti#", "hsti", None),
    ("a", None, "[t1#hsti#x", "hsti", None),
    ("a", "b", "hsti#x", "", None),
])
def test_stored_primary_id_agrees(partition_key, sort_key, pk, sk, expected):
    args = dict(model_name="M", prefix="hsti", fields=[("a", "string"), ("b", "string")],
                partition_key=partition_key, sort_key=sort_key)
    item = {"_pk": {"S": pk}, "_sk": {"S": sk}}
    assert pure.Schema(**args).stored_primary_id(item) == expected
    assert native.Schema(**args).stored_primary_id(item) == expected


@pytest.mark.parametrize("body", [
    b'{"Count": "1"}', b'{"Count": 1.0}', b'{"ScannedCount": true}', b'{"Count": [1]}',
    b'{"Count": 1e2}',
])
def test_both_cores_refuse_a_count_that_is_not_an_integer(body):
    for impl in (pure, native):
        with pytest.raises(ValidationError, match="must be an integer"):
            impl.decode_response(body)
    assert pure.decode_response(b'{"Count": -0, "ScannedCount": 12}') == {
        "Count": 0, "ScannedCount": 12}
    assert native.decode_response(b'{"Count": -0, "ScannedCount": 12}') == {
        "Count": 0, "ScannedCount": 12}
