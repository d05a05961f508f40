"""Model declarations: fields, validation, defaults, change tracking, compile to the core Schema,
and models.yaml loading (under the active core)."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

import dynamo_bao.fields as f
from dynamo_bao import clock
from dynamo_bao.exceptions import ConfigurationError, ValidationError
from dynamo_bao.model import BaoModel, Index, PrimaryKey, UniqueConstraint
from dynamo_bao.yaml_models import load_models, models_from_definitions

from .compat_data import COMPAT

JAN15 = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)


class User(BaoModel):
    model_prefix = "u"
    user_id = f.UlidField(auto_assign=True)
    name = f.StringField(required=True)
    email = f.StringField(required=True)
    status = f.StringField(default="active")
    logins = f.CounterField()
    tags = f.StringSetField(max_member_count=3)
    created_at = f.CreateDateField()
    version = f.VersionField()
    primary_key = PrimaryKey("user_id")
    indexes = {"byStatus": Index("status", "created_at", "gsi1")}
    unique_constraints = {"uniqueEmail": UniqueConstraint("email", "uc1")}
    iterable = True


@pytest.fixture
def fixed_clock():
    ulids = iter(f"01HKS6590000000000000000{i:02d}" for i in range(1, 100))
    source = clock.Source(now=lambda: JAN15, new_ulid=lambda: next(ulids))
    with clock.use_source(source):
        yield


def test_declared_model_compiles_once(fixed_clock):
    schema = User._schema
    assert schema.model_name == "User"
    assert schema.prefix == "u"
    assert schema.field_names == ("user_id", "name", "email", "status", "logins", "tags",
                                  "created_at", "version")
    assert schema.partition_key == "user_id" and schema.sort_key is None
    assert schema.indexes == (("gsi1", "status", "created_at"),)
    assert schema.iteration_buckets == 10
    assert User.name.name == "name"  # class access gives the field


def test_new_instance_defaults(fixed_clock):
    user = User(name="Ada", email="ada@x.test")
    assert user.user_id == "01HKS659000000000000000001"
    assert user.status == "active"
    assert user.logins == 0
    assert user.tags == set()
    assert user.created_at == JAN15
    assert user.version == "01HKS659000000000000000002"
    assert user.primary_id == "01HKS659000000000000000001"
    item = User._schema.to_item(user.to_dict(), "acme")
    assert item["_pk"] == {"S": "[acme]#u#01HKS659000000000000000001"}
    assert item["_gsi1_pk"] == {"S": "[acme]#u#gsi1#active"}
    assert item["created_at"] == {"N": "1705309200000"}
    assert "tags" not in item  # an empty set is not stored


def test_change_tracking(fixed_clock):
    user = User(name="Ada", email="ada@x.test")
    assert "name" in user.changed_fields()
    item = User._schema.to_item(user.to_dict(), None)
    stored = User._from_stored(User._schema.from_item(item), None)
    assert not stored.has_changes()
    stored.name = "Ada"  # same value: no change
    assert not stored.has_changes()
    stored.name = "Grace"
    stored.tags = ["a", "b", "a"]
    assert stored.changed_fields() == {"name", "tags"}
    assert stored.tags == {"a", "b"}
    stored.status = None
    assert "status" in stored.changed_fields() and stored.status is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", 5),
        ("logins", 1.5),
        ("logins", "+x"),
        ("user_id", "not-a-ulid"),
        ("user_id", "81HKS659000000000000000001"),  # beyond ULID range
        ("tags", {"a", "b", "c", "d"}),
        ("tags", {1}),
        ("created_at", "2024-01-15T09:00:00"),  # no offset: ambiguous
        ("created_at", datetime(2024, 1, 15)),
        ("created_at", "yesterday"),
        ("version", "short"),
    ],
)
def test_field_validation_names_the_field(fixed_clock, field, value):
    with pytest.raises(ValidationError) as info:
        User(**{"name": "Ada", "email": "e", field: value})
    assert info.value.field == field


def test_accepted_conversions(fixed_clock):
    user = User(name="Ada", email="e", logins="+2", created_at="2024-01-15T09:00:00Z")
    assert user.logins == "+2"  # a relative change, applied with ADD when written
    assert user.created_at == JAN15
    assert User(name="A", email="e", created_at=1705309200000).created_at == JAN15
    assert User(name="A", email="e", created_at=date(2024, 1, 15)).created_at == datetime(
        2024, 1, 15, tzinfo=timezone.utc)
    assert User(name="A", email="e", created_at="2024-01-15").created_at == datetime(
        2024, 1, 15, tzinfo=timezone.utc)


def test_unknown_field_is_refused(fixed_clock):
    with pytest.raises(ValidationError) as info:
        User(name="Ada", email="e", nickname="x")
    assert info.value.field == "nickname"


def test_other_field_types():
    class Thing(BaoModel):
        model_prefix = "th"
        thing_id = f.StringField()
        price = f.DecimalField()
        ratio = f.FloatField(default=0)
        flag = f.BooleanField(default=False)
        blob = f.BinaryField()
        meta = f.MapField()
        parts = f.ListField()
        owner = f.RelatedField("User")
        ttl = f.TtlField()
        primary_key = PrimaryKey("thing_id")

    owner = User(name="A", email="e", user_id="01HKS659000000000000000001")
    thing = Thing(thing_id="t1", price=0.1, blob=bytearray(b"x"), parts=(1, 2),
                  ttl=1706745600, owner=owner)
    assert thing.price == Decimal("0.1")
    assert thing.ratio == 0.0 and thing.flag is False  # falsy defaults are honoured
    assert thing.blob == b"x" and thing.parts == [1, 2]
    assert thing.owner == "01HKS659000000000000000001"
    assert thing.ttl == datetime(2024, 2, 1, tzinfo=timezone.utc)
    item = Thing._schema.to_item(thing.to_dict(), None)
    assert item["ttl"] == {"N": "1706745600"}
    assert item["price"] == {"N": "0.1"}


def _declare(**attrs):
    base = dict(model_prefix="m", thing_id=f.StringField(), primary_key=PrimaryKey("thing_id"))
    base.update(attrs)
    return type("M", (BaoModel,), base)


@pytest.mark.parametrize(
    "attrs",
    [
        dict(model_prefix="bad#prefix"),
        dict(model_prefix=""),
        dict(primary_key=None),
        dict(primary_key=PrimaryKey("missing")),
        dict(tags=f.StringSetField(), indexes={"byTags": Index("tags", "thing_id", "gsi1")}),
        dict(blob=f.BinaryField(), indexes={"byBlob": Index("thing_id", "blob", "gsi1")}),
        dict(indexes={"a": Index("thing_id", "modelPrefix", "gsi1"),
                      "b": Index("modelPrefix", "thing_id", "gsi1")}),
        dict(indexes={"a": Index("thing_id", "modelPrefix", "gsi7")}),
        dict(indexes={"_a": Index("thing_id", "modelPrefix", "gsi1")}),
        dict(unique_constraints={"u": UniqueConstraint("thing_id", "uc4")}),
        dict(unique_constraints={"u": UniqueConstraint("nope", "uc1")}),
        dict(unique_constraints={"u": UniqueConstraint("thing_id", "uc1"),
                                 "v": UniqueConstraint("thing_id", "_uc1")}),
        dict(iterable=True, iteration_buckets=0),
        dict(iterable=True, iteration_buckets=1001),
        dict(iterable="yes"),
        dict(save=f.StringField()),
        dict(primary_id=f.StringField()),
    ],
)
def test_bad_declarations(attrs):
    with pytest.raises(ConfigurationError):
        _declare(**attrs)


def test_ttl_field_must_be_named_ttl():
    with pytest.raises(ConfigurationError, match="TtlField must be named 'ttl'"):
        _declare(expires=f.TtlField())


def test_models_yaml_of_the_golden_data_loads():
    models = load_models(COMPAT / "models.yaml")
    assert list(models) == ["Org", "Member", "Ticket", "TicketWatcher", "TicketLink", "Setting"]
    org, member, setting = models["Org"], models["Member"], models["Setting"]
    assert org._schema.iteration_buckets == 4
    assert member._schema.iteration_buckets == 10  # codegen's default for iterable models
    assert models["Ticket"]._schema.iteration_buckets == 1
    assert member._schema.sort_key == "memberId"
    assert setting._schema.partition_key is None and setting._schema.sort_key == "key"
    assert isinstance(org.orgId, f.UlidField) and org.orgId.auto_assign
    assert isinstance(member.orgId, f.RelatedField) and member.orgId.related_model == "Org"
    assert models["TicketWatcher"].table_type == "mapping"
    assert org.plan.default == "free"


@pytest.mark.parametrize(
    "definitions",
    [
        {"A": {"modelPrefix": "a", "fields": {"x": {"type": "EmailField"}},
               "primaryKey": {"partitionKey": "x"}}},
        {"A": {"modelPrefix": "a", "fields": {"x": {"type": "StringField", "bogus": 1}},
               "primaryKey": {"partitionKey": "x"}}},
        {"A": {"modelPrefix": "a", "fields": {"x": {"type": "RelatedField"}},
               "primaryKey": {"partitionKey": "x"}}},
        {"A": {"modelPrefix": "a", "fields": {"x": {"type": "StringField"}}}},
    ],
)
def test_bad_yaml_definitions(definitions):
    with pytest.raises(ConfigurationError):
        models_from_definitions(definitions)


def test_missing_models_file(tmp_path):
    with pytest.raises(ConfigurationError):
        load_models(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("models: [1, 2]")
    with pytest.raises(ConfigurationError):
        load_models(tmp_path / "bad.yaml")


def test_one_instant_per_new_instance():
    class Stamped(BaoModel):
        model_prefix = "st"
        stamped_id = f.StringField()
        created = f.CreateDateField()
        modified = f.ModifiedDateField()
        primary_key = PrimaryKey("stamped_id")

    ticks = iter(datetime(2024, 1, 1, 0, 0, s, tzinfo=timezone.utc) for s in range(10))
    with clock.use_source(clock.Source(now=lambda: next(ticks), new_ulid=clock.SYSTEM.new_ulid)):
        first = Stamped(stamped_id="a")
        second = Stamped(stamped_id="b")
    assert first.created == first.modified
    assert second.created == second.modified != first.created
