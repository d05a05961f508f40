"""Every field type end to end on the embedded server, under the active core.

For each type: create → the raw item read back with the boto3 client holds DynamoBao's stored
form (spec §4: dates as epoch-ms N, ``ttl`` as epoch seconds, versions as ULIDs, string sets as
SS …) → ``find`` gives back the Python value that was given, with its type (Decimal stays
Decimal, datetimes are aware UTC, bytes, sets) → updates (to a value, to None) → and wrong
values are refused with a ValidationError naming the field before any request is sent (counted
with a botocore ``before-call`` handler on the client).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import dynamo_bao as bao
from dynamo_bao import clock, fields
from dynamo_bao.exceptions import ValidationError

from .conftest import unique_table_name
from .recorded import Requests

UTC = timezone.utc
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


class EmailField(fields.StringField):
    """A custom field: a lower-cased e-mail address."""

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        if value is None:
            return None
        if value.count("@") != 1:
            raise self.error(f"not an e-mail address: {value!r}")
        return value.lower()


class Specimen(bao.BaoModel):
    """One field of every type (the primary key is the auto-assigned ULID)."""

    model_prefix = "spec"
    specimen_id = fields.UlidField(auto_assign=True)
    text = fields.StringField()
    amount = fields.IntegerField()
    ratio = fields.FloatField()
    price = fields.DecimalField()
    flag = fields.BooleanField()
    happened = fields.DateTimeField()
    created = fields.CreateDateField()
    modified = fields.ModifiedDateField()
    other_id = fields.UlidField(required=False)  # a second ULID, not auto-assigned
    parent = fields.RelatedField("Specimen", required=False)
    views = fields.CounterField()
    blob = fields.BinaryField()
    tags = fields.StringSetField()
    ttl = fields.TtlField()
    version = fields.VersionField()
    doc = fields.MapField()
    items = fields.ListField()
    email = EmailField()
    primary_key = bao.PrimaryKey("specimen_id")


class Defaulted(bao.BaoModel):
    """Defaults (values and callables), required fields and auto-assigned ULIDs."""

    model_prefix = "dflt"
    dflt_id = fields.UlidField(auto_assign=True)
    title = fields.StringField(required=True)
    status = fields.StringField(default="draft")
    rank = fields.IntegerField(default=0)
    active = fields.BooleanField(default=False)
    note = fields.StringField(default="")
    labels = fields.StringSetField(default=lambda: {"new"})
    history = fields.ListField(default=list)
    stamp = fields.DateTimeField(default=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    views = fields.CounterField()
    ref = fields.UlidField()  # required (UlidFields are), no auto_assign
    primary_key = bao.PrimaryKey("dflt_id")


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("fields")},
        "tenancy": {"enabled": True},
        "models": [Specimen, Defaulted],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager):
    """A fresh tenant per test keeps the tests' items apart in the one table."""
    tenant_id = "t" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id


def raw_item(manager: Any, tenant: str, prefix: str, item_id: str) -> dict | None:
    """The stored item, read with the plain client; the key is spelled out (spec §3.1)."""
    response = manager.client.get_item(
        TableName=manager.table_name,
        Key={"_pk": {"S": f"[{tenant}]#{prefix}#{item_id}"}, "_sk": {"S": prefix}},
        ConsistentRead=True,
    )
    return response.get("Item")


def normalise_av(av: dict) -> Any:
    """An AttributeValue with set members sorted (DynamoDB does not keep their order)."""
    ((kind, value),) = av.items()
    if kind in ("SS", "NS", "BS"):
        return {kind: sorted(value)}
    if kind == "M":
        return {"M": {k: normalise_av(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [normalise_av(v) for v in value]}
    return av


def assert_same_value(got: Any, expected: Any) -> None:
    """Equal, and of the same type (recursively for maps and lists); datetimes in UTC."""
    assert got == expected
    assert type(got) is type(expected) or (
        isinstance(expected, set) and isinstance(got, set)
    ), (type(got), type(expected))
    if isinstance(expected, datetime):
        assert got.utcoffset() == timedelta(0)
    elif isinstance(expected, dict):
        for key in expected:
            assert_same_value(got[key], expected[key])
    elif isinstance(expected, list):
        for g, e in zip(got, expected, strict=True):
            assert_same_value(g, e)


JAN15 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
JAN15_MS = "1705309200000"
Y2030 = datetime(2030, 1, 1, tzinfo=UTC)

# id, field, given value, stored AttributeValue, value read back
CASES = [
    ("string", "text", "héllo ✓ #[x]", {"S": "héllo ✓ #[x]"}, "héllo ✓ #[x]"),
    ("string-empty", "text", "", {"S": ""}, ""),
    ("integer", "amount", 42, {"N": "42"}, 42),
    ("integer-zero", "amount", 0, {"N": "0"}, 0),
    ("integer-38-digits", "amount", -(10**37) - 7, {"N": str(-(10**37) - 7)}, -(10**37) - 7),
    ("float", "ratio", 4.75, {"N": "4.75"}, 4.75),
    ("float-large", "ratio", 1e21, {"N": "1e+21"}, 1e21),
    ("float-from-int", "ratio", 3, {"N": "3"}, 3.0),
    ("decimal", "price", Decimal("12.34"), {"N": "12.34"}, Decimal("12.34")),
    ("decimal-from-str", "price", "-0.5", {"N": "-0.5"}, Decimal("-0.5")),
    ("decimal-from-float", "price", 0.1, {"N": "0.1"}, Decimal("0.1")),
    ("decimal-from-int", "price", 7, {"N": "7"}, Decimal("7")),
    ("boolean-false", "flag", False, {"BOOL": False}, False),
    ("boolean-true", "flag", True, {"BOOL": True}, True),
    (
        "datetime-offset",
        "happened",
        datetime(2024, 1, 15, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        {"N": JAN15_MS},
        JAN15,
    ),
    ("datetime-iso", "happened", "2024-01-15T09:00:00Z", {"N": JAN15_MS}, JAN15),
    ("datetime-epoch-ms", "happened", 1705309200000, {"N": JAN15_MS}, JAN15),
    ("datetime-date-only", "happened", "2024-01-15", {"N": "1705276800000"},
     datetime(2024, 1, 15, tzinfo=UTC)),
    ("datetime-date", "happened", date(2024, 1, 15), {"N": "1705276800000"},
     datetime(2024, 1, 15, tzinfo=UTC)),
    ("datetime-ms-precision", "happened", datetime(2024, 1, 15, 9, 0, 0, 123000, tzinfo=UTC),
     {"N": "1705309200123"}, datetime(2024, 1, 15, 9, 0, 0, 123000, tzinfo=UTC)),
    ("datetime-pre-1970", "happened", datetime(1960, 1, 1, tzinfo=UTC), {"N": "-315619200000"},
     datetime(1960, 1, 1, tzinfo=UTC)),
    ("ulid", "other_id", "01HKS659000000000000000001", {"S": "01HKS659000000000000000001"},
     "01HKS659000000000000000001"),
    ("related-id", "parent", "01HKS659000000000000000002", {"S": "01HKS659000000000000000002"},
     "01HKS659000000000000000002"),
    ("counter", "views", 7, {"N": "7"}, 7),
    ("counter-negative", "views", -3, {"N": "-3"}, -3),
    ("binary", "blob", b"\x00\xffbao", {"B": b"\x00\xffbao"}, b"\x00\xffbao"),
    ("binary-bytearray", "blob", bytearray(b"\x01\x02"), {"B": b"\x01\x02"}, b"\x01\x02"),
    ("string-set", "tags", {"b", "a", "ü"}, {"SS": ["a", "b", "ü"]}, {"a", "b", "ü"}),
    ("string-set-from-list", "tags", ["x", "x", "y"], {"SS": ["x", "y"]}, {"x", "y"}),
    ("ttl", "ttl", Y2030, {"N": "1893456000"}, Y2030),
    ("ttl-epoch-seconds", "ttl", 1893456000, {"N": "1893456000"}, Y2030),
    ("ttl-iso", "ttl", "2030-01-01T01:00:00+01:00", {"N": "1893456000"}, Y2030),
    (
        "map",
        "doc",
        {"name": "a", "n": 1, "x": 2.5, "on": True, "nested": {"l": ["s", 2], "b": b"\x00"}},
        {"M": {
            "name": {"S": "a"},
            "n": {"N": "1"},
            "x": {"N": "2.5"},
            "on": {"BOOL": True},
            "nested": {"M": {"l": {"L": [{"S": "s"}, {"N": "2"}]}, "b": {"B": b"\x00"}}},
        }},
        {"name": "a", "n": 1, "x": 2.5, "on": True, "nested": {"l": ["s", 2], "b": b"\x00"}},
    ),
    ("map-empty", "doc", {}, {"M": {}}, {}),
    (
        "list",
        "items",
        [1, "x", True, None, {"k": ["v"]}, {"a", "b"}],
        {"L": [
            {"N": "1"},
            {"S": "x"},
            {"BOOL": True},
            {"NULL": True},
            {"M": {"k": {"L": [{"S": "v"}]}}},
            {"SS": ["a", "b"]},
        ]},
        [1, "x", True, None, {"k": ["v"]}, {"a", "b"}],
    ),
    ("list-from-tuple", "items", (1, 2), {"L": [{"N": "1"}, {"N": "2"}]}, [1, 2]),
    ("custom", "email", "Ada@Example.COM", {"S": "ada@example.com"}, "ada@example.com"),
]


def absent_value(field: str) -> Any:
    """What an instance reads for a field without a stored value."""
    return set() if field == "tags" else None


@pytest.mark.parametrize(
    ("field", "given", "stored", "read"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_field_round_trip(manager, tenant, field, given, stored, read):
    created = Specimen.create({field: given})
    assert_same_value(getattr(created, field), read)  # what create returns is the stored item
    item = raw_item(manager, tenant, "spec", created.specimen_id)
    assert normalise_av(item[field]) == normalise_av(stored)
    assert_same_value(getattr(Specimen.find(created.primary_id), field), read)

    # None removes the attribute; the field reads as having no value
    cleared = Specimen.update(created.primary_id, {field: None})
    assert getattr(cleared, field) == absent_value(field)
    assert field not in raw_item(manager, tenant, "spec", created.specimen_id)
    assert getattr(Specimen.find(created.primary_id), field) == absent_value(field)

    # ... and an update sets it again, in the same stored form
    Specimen.update(created.primary_id, {field: given})
    item = raw_item(manager, tenant, "spec", created.specimen_id)
    assert normalise_av(item[field]) == normalise_av(stored)
    assert_same_value(getattr(Specimen.find(created.primary_id), field), read)


def test_absent_fields_are_not_stored(manager, tenant):
    created = Specimen.create({})
    item = raw_item(manager, tenant, "spec", created.specimen_id)
    # only what has a value: the key, the automatic fields and the counter's default 0
    assert set(item) == {
        "_pk", "_sk", "specimen_id", "created", "modified", "version", "views",
    }
    assert item["views"] == {"N": "0"}
    found = Specimen.find(created.primary_id)
    for name in ("text", "amount", "ratio", "price", "flag", "happened", "other_id", "parent",
                 "blob", "ttl", "doc", "items", "email"):
        assert getattr(found, name) is None, name
    assert found.tags == set()
    # an empty string set is not stored (DynamoDB has no empty sets)
    emptied = Specimen.create({"tags": set()})
    assert "tags" not in raw_item(manager, tenant, "spec", emptied.specimen_id)
    assert Specimen.find(emptied.primary_id).tags == set()


def test_decimal_inside_a_map_reads_back_as_a_plain_number(manager, tenant):
    """Only DecimalField values come back as Decimal; numbers nested in a map follow the
    generic rule (DESIGN §4: integer literals → int, else float)."""
    created = Specimen.create({"doc": {"d": Decimal("2.5"), "i": Decimal("3")}})
    assert raw_item(manager, tenant, "spec", created.specimen_id)["doc"] == {
        "M": {"d": {"N": "2.5"}, "i": {"N": "3"}}
    }
    assert_same_value(Specimen.find(created.primary_id).doc, {"d": 2.5, "i": 3})


def test_related_field_takes_an_instance(manager, tenant):
    parent = Specimen.create({"text": "parent"})
    child = Specimen.create({"parent": parent})
    assert child.parent == parent.primary_id
    item = raw_item(manager, tenant, "spec", child.specimen_id)
    assert item["parent"] == {"S": parent.specimen_id}
    assert child.get_parent().text == "parent"
    assert Specimen.update(child.primary_id, {"parent": child}).parent == child.primary_id


def test_set_on_an_instance_and_saved(manager, tenant):
    created = Specimen.create({"text": "a", "tags": {"x"}})
    found = Specimen.find(created.primary_id)
    found.text = "b"
    found.price = "9.99"
    found.happened = "2024-01-15T09:00:00Z"
    found.tags.add("y")
    found.blob = b"\x01"
    found.doc = {"k": 1}
    found.save()
    item = raw_item(manager, tenant, "spec", created.specimen_id)
    assert item["text"] == {"S": "b"}
    assert item["price"] == {"N": "9.99"}
    assert item["happened"] == {"N": JAN15_MS}
    assert sorted(item["tags"]["SS"]) == ["x", "y"]
    assert item["blob"] == {"B": b"\x01"}
    assert item["doc"] == {"M": {"k": {"N": "1"}}}
    again = Specimen.find(created.primary_id)
    assert_same_value(again.price, Decimal("9.99"))
    assert_same_value(again.happened, JAN15)
    # None on an instance removes the attribute when saved
    again.text = None
    again.tags.clear()
    again.save()
    item = raw_item(manager, tenant, "spec", created.specimen_id)
    assert "text" not in item and "tags" not in item


class SteppingClock:
    """A clock the test moves forward, with numbered ULIDs of the current time."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.n = 0

    def now(self) -> datetime:
        return self.at

    def new_ulid(self) -> str:
        from dynamo_bao.testing import _ulid_after

        self.n += 1
        return _ulid_after(self.at, self.n)


def test_automatic_fields(manager, tenant):
    """CreateDate is set once; ModifiedDate and Version are renewed by every write, also a
    counter-only update and a save; auto-assigned ULIDs are fresh per item."""
    stepper = SteppingClock(JAN15)
    with clock.use_source(clock.Source(now=stepper.now, new_ulid=stepper.new_ulid)):
        first = Specimen.create({})
        second = Specimen.create({})
        assert ULID_RE.fullmatch(first.specimen_id) and ULID_RE.fullmatch(first.version)
        assert len({first.specimen_id, second.specimen_id, first.version, second.version}) == 4
        item = raw_item(manager, tenant, "spec", first.specimen_id)
        assert item["created"] == item["modified"] == {"N": JAN15_MS}
        assert item["version"] == {"S": first.version}
        found = Specimen.find(first.primary_id)
        assert_same_value(found.created, JAN15)
        assert_same_value(found.modified, JAN15)

        stepper.at = JAN15 + timedelta(minutes=1)
        counted = Specimen.update(first.primary_id, {"views": "+1"})
        item = raw_item(manager, tenant, "spec", first.specimen_id)
        assert item["created"] == {"N": JAN15_MS}
        assert item["modified"] == {"N": str(int(JAN15_MS) + 60_000)}
        assert item["version"] == {"S": counted.version} and counted.version != first.version
        assert ULID_RE.fullmatch(counted.version)

        stepper.at = JAN15 + timedelta(minutes=2)
        before_save = counted.version
        counted.text = "changed"
        counted.save()
        item = raw_item(manager, tenant, "spec", first.specimen_id)
        assert item["created"] == {"N": JAN15_MS}
        assert item["modified"] == {"N": str(int(JAN15_MS) + 120_000)}
        assert item["version"]["S"] not in (first.version, before_save)
        assert counted.version == item["version"]["S"]  # save refreshes the instance
        assert_same_value(counted.modified, JAN15 + timedelta(minutes=2))


def test_auto_assigned_id_can_be_given(manager, tenant):
    given = "01HKS659000000000000000042"
    created = Specimen.create({"specimen_id": given})
    assert created.primary_id == given
    assert raw_item(manager, tenant, "spec", given)["specimen_id"] == {"S": given}


# field, wrong value, fragment of the message
WRONG = [
    ("text", 5, "expected a str"),
    ("text", b"x", "expected a str"),
    ("amount", 1.5, "expected an int"),
    ("amount", "1", "expected an int"),
    ("amount", True, "expected an int"),
    ("amount", 10**38 + 1, "38 significant digits"),  # DynamoDB keeps at most 38
    ("ratio", "1.0", "expected a number"),
    ("ratio", True, "expected a number"),
    ("ratio", float("nan"), "ratio"),
    ("ratio", float("inf"), "ratio"),
    ("price", "abc", "not a number"),
    ("price", False, "expected a Decimal"),
    ("price", Decimal("NaN"), "price"),
    ("flag", 1, "expected a bool"),
    ("flag", "true", "expected a bool"),
    ("happened", datetime(2024, 1, 15), "naive"),
    ("happened", "2024-01-15T09:00:00", "no timezone offset"),
    ("happened", "yesterday", "not an ISO 8601"),
    ("happened", 1.5, "expected a datetime"),
    ("created", "soon", "not an ISO 8601"),
    ("other_id", "not-a-ulid", "invalid ULID"),
    ("other_id", "01hks659000000000000000001", "invalid ULID"),  # lower case
    ("parent", 5, "expected a primary id"),
    ("views", "+x", "relative change"),
    ("views", 1.5, "relative change"),
    ("blob", "text", "expected bytes"),
    ("tags", "abc", "expected a set"),
    ("tags", {1, 2}, "members must be str"),
    ("ttl", "later", "not an ISO 8601"),
    ("ttl", 1.5, "expected a datetime"),
    ("version", "short", "26-character ULID"),
    ("doc", [1], "expected a dict"),
    ("doc", {1: "x"}, "doc"),
    ("doc", {"s": set()}, "doc"),
    ("doc", {"o": object()}, "doc"),
    ("items", "abc", "expected a list"),
    ("items", [float("nan")], "items"),
    ("email", "nobody", "not an e-mail address"),
    ("email", 5, "expected a str"),
]


@pytest.mark.parametrize(("field", "value", "message"), WRONG,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(WRONG)])
def test_wrong_values_are_refused_before_any_request(manager, tenant, field, value, message):
    existing = Specimen.create({})
    with Requests(manager.client) as requests:
        with pytest.raises(ValidationError, match=re.escape(message)) as info:
            Specimen.create({field: value})
        assert info.value.field == field
        if field not in ("created", "version"):  # renewed by the update itself
            with pytest.raises(ValidationError, match=re.escape(message)) as info:
                Specimen.update(existing.primary_id, {field: value})
            assert info.value.field == field
    assert requests.sent == []
    # the stored item is as it was
    assert Specimen.find(existing.primary_id) == existing


def test_wrong_value_assigned_to_an_instance(manager, tenant):
    existing = Specimen.create({"amount": 1})
    with Requests(manager.client) as requests:
        with pytest.raises(ValidationError) as info:
            existing.amount = "2"
        assert info.value.field == "amount"
        with pytest.raises(ValidationError):
            existing.tags.add(3)
        assert existing.amount == 1 and not existing.has_changes()
        assert existing.save() is existing  # nothing changed: nothing sent
    assert requests.sent == []


def test_unknown_fields_are_refused_before_any_request(manager, tenant):
    existing = Specimen.create({})
    with Requests(manager.client) as requests:
        with pytest.raises(ValidationError, match="unknown field 'nope'") as info:
            Specimen.create({"text": "a", "nope": 1})
        assert info.value.field == "nope"
        with pytest.raises(ValidationError, match="unknown field 'nope'"):
            Specimen.update(existing.primary_id, {"nope": 1})
        with pytest.raises(ValidationError, match="unknown field '_pk'"):
            Specimen.update(existing.primary_id, {"_pk": "x"})
        with pytest.raises(ValidationError, match="key fields cannot be updated"):
            Specimen.update(existing.primary_id, {"specimen_id": "01HKS659000000000000000003"})
    assert requests.sent == []


def test_defaults(manager, tenant):
    first = Defaulted.create({"title": "a", "ref": "01HKS659000000000000000001"})
    second = Defaulted.create({"title": "b", "ref": "01HKS659000000000000000001"})
    item = raw_item(manager, tenant, "dflt", first.dflt_id)
    assert item["status"] == {"S": "draft"}
    assert item["rank"] == {"N": "0"}  # falsy defaults are honoured (DynamoBao drops them)
    assert item["active"] == {"BOOL": False}
    assert item["note"] == {"S": ""}
    assert item["labels"] == {"SS": ["new"]}
    assert item["history"] == {"L": []}
    assert item["stamp"] == {"N": "1704067200000"}
    assert item["views"] == {"N": "0"}
    found = Defaulted.find(first.primary_id)
    assert_same_value(found.labels, {"new"})
    assert_same_value(found.stamp, datetime(2024, 1, 1, tzinfo=UTC))
    # a callable default is called per instance: no shared mutable value
    fresh_a, fresh_b = Defaulted(title="x"), Defaulted(title="y")
    assert fresh_a.history == [] and fresh_a.history is not fresh_b.history
    fresh_a.labels.add("mine")
    assert fresh_b.labels == {"new"}
    # given values win over defaults, also falsy ones
    given = Defaulted.create({"title": "c", "ref": "01HKS659000000000000000001",
                              "status": "", "rank": 5, "active": True, "labels": set()})
    item = raw_item(manager, tenant, "dflt", given.dflt_id)
    assert item["status"] == {"S": ""} and item["rank"] == {"N": "5"}
    assert item["active"] == {"BOOL": True} and "labels" not in item
    # auto-assigned ids are distinct ULIDs
    assert ULID_RE.fullmatch(first.dflt_id) and first.dflt_id != second.dflt_id
    # defaults apply to new instances only: an update leaves other fields alone
    Defaulted.update(given.primary_id, {"rank": 6})
    assert raw_item(manager, tenant, "dflt", given.dflt_id)["status"] == {"S": ""}


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"ref": "01HKS659000000000000000001"}, "title"),
        ({"title": "", "ref": "01HKS659000000000000000001"}, "title"),
        ({"title": None, "ref": "01HKS659000000000000000001"}, "title"),
        ({"title": "x"}, "ref"),
        ({"title": "x", "ref": None}, "ref"),
    ],
)
def test_required_fields_before_any_request(manager, tenant, data, missing):
    with Requests(manager.client) as requests:
        with pytest.raises(ValidationError, match=f"^Field is required: {missing}$") as info:
            Defaulted.create(data)
        assert info.value.field == missing
        with pytest.raises(ValidationError, match=f"^Field is required: {missing}$"):
            Defaulted(data).save()
    assert requests.sent == []


def test_required_fields_cannot_be_removed_by_an_update(manager, tenant):
    existing = Defaulted.create({"title": "a", "ref": "01HKS659000000000000000001"})
    with Requests(manager.client) as requests:
        for field, value in (("title", None), ("title", ""), ("ref", None)):
            with pytest.raises(ValidationError, match=f"^Field is required: {field}$"):
                Defaulted.update(existing.primary_id, {field: value})
        existing.title = None
        with pytest.raises(ValidationError, match="^Field is required: title$"):
            existing.save()
    assert requests.sent == []
    assert raw_item(manager, tenant, "dflt", existing.dflt_id)["title"] == {"S": "a"}
