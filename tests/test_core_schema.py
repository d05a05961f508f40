"""The compiled Schema of the active core: whole items in one call, and back."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from dynamo_bao import core
from dynamo_bao.exceptions import ConfigurationError, InvalidTenantIdError, ValidationError

from .compat_data import compat_schemas

ORG_ID = "01HKS659000000000000000001"
MEMBER_ID = "01HKVZDQ800000000000000011"
JAN15 = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def schemas():
    return compat_schemas()


def org_values(**changes):
    values = {
        "orgId": ORG_ID,
        "name": "Acme Corp",
        "slug": "acme",
        "plan": "pro",
        "seats": 25,
        "active": True,
        "createdAt": JAN15,
        "modifiedAt": JAN15,
        "version": "01HKS659000000000000000009",
    }
    values.update(changes)
    return values


def test_org_item_matches_dynamobao_layout(schemas):
    item = schemas["Org"].to_item(org_values(), "acme")
    assert item == {
        "_pk": {"S": f"[acme]#org#{ORG_ID}"},
        "_sk": {"S": "org"},
        "orgId": {"S": ORG_ID},
        "name": {"S": "Acme Corp"},
        "slug": {"S": "acme"},
        "plan": {"S": "pro"},
        "seats": {"N": "25"},
        "active": {"BOOL": True},
        "createdAt": {"N": "1705309200000"},
        "modifiedAt": {"N": "1705309200000"},
        "version": {"S": "01HKS659000000000000000009"},
        "_gsi1_pk": {"S": "[acme]#org#gsi1#pro"},
        "_gsi1_sk": {"S": "00000001705309200000"},
        "_gsi2_pk": {"S": "[acme]#org#gsi2#org"},
        "_gsi2_sk": {"S": "Acme Corp"},
        "_gsi3_pk": {"S": "[acme]#org#gsi3#1"},
        "_gsi3_sk": {"S": "00000000000000000025"},
        "_iter_pk": {"S": "[acme]#org#iter#000"},
        "_iter_sk": {"S": ORG_ID},
    }
    # Attribute order: keys, fields in declaration order, GSI keys, iteration keys.
    assert list(item)[:3] == ["_pk", "_sk", "orgId"]
    assert list(item)[-2:] == ["_iter_pk", "_iter_sk"]


def test_without_tenant_and_epoch_ms_input(schemas):
    item = schemas["Org"].to_item(org_values(createdAt=1705309200000), None)
    assert item["_pk"] == {"S": f"org#{ORG_ID}"}
    assert item["_gsi1_sk"] == {"S": "00000001705309200000"}
    assert item["createdAt"] == {"N": "1705309200000"}


def test_composite_key_and_sparse_indexes(schemas):
    member = schemas["Member"]
    values = {"orgId": ORG_ID, "memberId": MEMBER_ID, "email": "ada@acme.test",
              "role": "admin", "score": 4.75, "loginCount": 1}
    item = member.to_item(values, "acme")
    assert item["_pk"] == {"S": f"[acme]#mbr#{ORG_ID}"}
    assert item["_sk"] == {"S": MEMBER_ID}
    assert item["_gsi2_sk"] == {"S": "4.75000000000000000000e+0"}
    assert item["_gsi3_pk"] == {"S": "[acme]#mbr#gsi3#mbr"}
    assert "_gsi1_pk" not in item  # lastSeenAt has no value: sparse index
    assert item["_iter_pk"] == {"S": "[acme]#mbr#iter#003"}
    assert item["_iter_sk"] == {"S": f"{ORG_ID}##__SK__##{MEMBER_ID}"}
    assert member.primary_id(values) == f"{ORG_ID}##__SK__##{MEMBER_ID}"
    assert member.key_from_id(f"{ORG_ID}##__SK__##{MEMBER_ID}", "acme") == {
        "_pk": {"S": f"[acme]#mbr#{ORG_ID}"}, "_sk": {"S": MEMBER_ID}}
    assert member.key(values, None) == {"_pk": {"S": f"mbr#{ORG_ID}"}, "_sk": {"S": MEMBER_ID}}


def test_model_prefix_partition_key_gets_the_tenant(schemas):
    setting = schemas["Setting"]
    values = {"key": "theme", "value": "solarized", "updatedAt": JAN15}
    assert setting.to_item(values, None)["_pk"] == {"S": "set"}
    assert setting.to_item(values, "acme")["_pk"] == {"S": "[acme]#set"}
    assert setting.key_from_id("theme", "acme") == {"_pk": {"S": "[acme]#set"},
                                                    "_sk": {"S": "theme"}}
    assert setting.primary_id(values) == "theme"


def test_composite_id_as_sort_key_is_kept_whole(schemas):
    watcher = schemas["TicketWatcher"]
    member_pid = f"{ORG_ID}##__SK__##{MEMBER_ID}"
    values = {"ticketId": "01HKYRP5G00000000000000021", "memberId": member_pid,
              "watchingSince": JAN15}
    item = watcher.to_item(values, None)
    assert item["_sk"] == {"S": member_pid}
    assert item["_gsi1_pk"] == {"S": f"tw#gsi1#{member_pid}"}
    pid = watcher.primary_id(values)
    assert watcher.key_from_id(pid, None) == {"_pk": item["_pk"], "_sk": item["_sk"]}


def test_round_trip_values(schemas):
    member = schemas["Member"]
    values = {"orgId": ORG_ID, "memberId": MEMBER_ID, "email": "ada@acme.test",
              "handle": "ada", "displayName": "Ada", "role": "admin", "score": 4.75,
              "loginCount": 3, "lastSeenAt": JAN15, "avatar": b"\x00\x01",
              "tags": {"a", "b"}, "ttl": datetime(2024, 2, 1, tzinfo=timezone.utc),
              "joinedAt": JAN15}
    item = member.to_item(values, "acme")
    assert item["ttl"] == {"N": "1706745600"}  # epoch seconds
    back = member.from_item(item)
    assert back == values
    assert back["lastSeenAt"].tzinfo is not None
    page = member.from_items([item, item])
    assert page == [values, values]


def test_string_sets(schemas):
    member = schemas["Member"]
    base = {"orgId": ORG_ID, "memberId": MEMBER_ID, "email": "e"}
    item = member.to_item(dict(base, tags=["b", "a", "b"]), None)
    assert item["tags"] == {"SS": ["b", "a"]}  # a list keeps its order, deduplicated
    assert "tags" not in member.to_item(dict(base, tags=set()), None)  # empty: not stored
    with pytest.raises(ValidationError):
        member.to_item(dict(base, tags={"a", 1}), None)


def test_none_values_are_not_stored(schemas):
    item = schemas["Org"].to_item(org_values(plan=None), None)
    assert "plan" not in item
    assert "_gsi1_pk" not in item  # the index lost a side


def test_marshal_fields_and_index_keys(schemas):
    org = schemas["Org"]
    assert org.marshal_fields({"seats": 3, "plan": None}) == {
        "seats": {"N": "3"}, "plan": {"NULL": True}}
    keys = org.index_keys({"orgId": ORG_ID, "plan": "free", "createdAt": JAN15}, "acme")
    assert keys["_gsi1_pk"] == {"S": "[acme]#org#gsi1#free"}
    assert "_gsi2_pk" not in keys  # name has no value here
    assert keys["_iter_pk"] == {"S": "[acme]#org#iter#000"}
    assert org.encode_key_value("createdAt", JAN15) == "00000001705309200000"


def test_decimal_and_any_kinds():
    schema = core.Schema("Price", "pr", [("id", "string"), ("amount", "decimal"),
                                        ("meta", "any"), ("parts", "list"), ("doc", "map")],
                         partition_key="id", indexes=[("gsi1", None, "amount")])
    values = {"id": "x", "amount": Decimal("19.99"), "meta": {"k": [1, "a"]},
              "parts": [1, 2], "doc": {"a": None}}
    item = schema.to_item(values, None)
    assert item["amount"] == {"N": "19.99"}
    assert item["_gsi1_sk"] == {"S": "1401.1999"}
    back = schema.from_item(item)
    assert back == values
    assert type(back["amount"]) is Decimal


@pytest.mark.parametrize(
    "changes",
    [
        {"seats": "25"},
        {"seats": 2.5},
        {"active": 1},
        {"name": 5},
        {"createdAt": "2024-01-15"},
        {"createdAt": datetime(2024, 1, 15)},
        {"unknown": 1},
        {"orgId": None},
        {"orgId": ""},
        {"orgId": "a##__SK__##b"},
        {"seats": 10**38 + 1},  # 39 significant digits
    ],
)
def test_bad_values_name_the_field(schemas, changes):
    with pytest.raises(ValidationError) as info:
        schemas["Org"].to_item(org_values(**changes), "acme")
    field = next(iter(changes))
    assert info.value.field == field
    assert field in str(info.value)


def test_tenant_validation(schemas):
    with pytest.raises(InvalidTenantIdError):
        schemas["Org"].to_item(org_values(), "a#b")
    with pytest.raises(InvalidTenantIdError):
        schemas["Org"].key_from_id(ORG_ID, "")
    with pytest.raises(InvalidTenantIdError):
        schemas["Org"].index_keys({}, "x]#a#[y")


def test_reading_bad_stored_values(schemas):
    org = schemas["Org"]
    with pytest.raises(ValidationError) as info:
        org.from_item({"seats": {"S": "25"}})
    assert info.value.field == "seats"
    with pytest.raises(ValidationError):
        org.from_item({"seats": {"N": "2.5"}})
    with pytest.raises(ValidationError):
        org.from_item({"createdAt": {"N": "1e400"}})
    with pytest.raises(ValidationError):
        org.from_item({"createdAt": {"N": str(10**30)}})
    with pytest.raises(ValidationError):
        org.from_items("not a list")
    assert org.from_item({"seats": {"NULL": True}, "_pk": {"S": "x"}, "other": {"S": "y"}}) == {
        "seats": None}


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(prefix="bad#prefix"),
        dict(fields=[("id", "blob")]),
        dict(fields=[("_id", "string")]),
        dict(fields=[("id", "string"), ("id", "string")]),
        dict(partition_key="missing"),
        dict(fields=[("id", "string"), ("b", "binary")], indexes=[("gsi1", "b", None)]),
        dict(indexes=[("gsi9", "id", None)]),
        dict(indexes=[("gsi1", "id", None), ("gsi1", None, "id")]),
        dict(iteration_buckets=1001),
        dict(iteration_buckets=-1),
        dict(float_encoding="nope"),
        dict(partition_key=None, sort_key=None),
        dict(model_name=""),
    ],
)
def test_bad_schemas(kwargs):
    args = dict(model_name="M", prefix="m", fields=[("id", "string")], partition_key="id")
    args.update(kwargs)
    with pytest.raises(ConfigurationError):
        core.Schema(**args)


def test_schema_introspection(schemas):
    org = schemas["Org"]
    assert org.model_name == "Org"
    assert org.prefix == "org"
    assert org.field_names[:2] == ("orgId", "name")
    assert org.partition_key == "orgId"
    assert org.sort_key is None
    assert org.indexes[0] == ("gsi1", "plan", "createdAt")
    assert org.iteration_buckets == 4
    assert org.float_encoding == "dynamo-bao"


@pytest.mark.parametrize(
    "ms",
    [0, 1, -1, 999, -86_400_001, 1705309200123, -62135596800000, 253402300799999,
     951782400000, 4107542400000],  # year 1, year 9999, leap days 2000 and 2100
)
def test_datetime_read_back_exactly(ms):
    schema = core.Schema("T", "t", [("id", "string"), ("at", "datetime"), ("ttl", "ttl")],
                         partition_key="id")
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    from datetime import timedelta

    values = schema.from_item({"at": {"N": str(ms)}, "ttl": {"N": str(ms // 1000)}})
    assert values["at"] == epoch + timedelta(milliseconds=ms)
    assert values["at"].tzinfo is timezone.utc
    assert values["ttl"] == epoch + timedelta(seconds=ms // 1000)


@pytest.mark.parametrize("ms", [-62135596800001, 253402300800000, 10**20])
def test_datetime_out_of_range(ms):
    schema = core.Schema("T", "t", [("id", "string"), ("at", "datetime")], partition_key="id")
    with pytest.raises(ValidationError):
        schema.from_item({"at": {"N": str(ms)}})


def test_to_item_is_the_same_whatever_the_order_and_identity_of_the_keys():
    """Values given in declaration order with the field-name objects themselves are matched by
    identity in one pass; any other dict is looked up by name. Both give the same item and the
    same errors."""
    schema = core.Schema("Order", "ord", [("id", "string"), ("qty", "integer"), ("note", "string"),
                                          ("tags", "string_set")],
                         partition_key="id", indexes=[("gsi1", "note", "qty")],
                         iteration_buckets=10)
    in_order = {"id": "o1", "qty": 3, "note": "n", "tags": {"a"}}
    expected = schema.to_item(in_order, "t1")
    rebuilt = {"".join(["i", "d"]): "o1", "".join(["q", "ty"]): 3, "note": "n", "tags": {"a"}}
    assert rebuilt.keys() == in_order.keys()
    for values in (dict(reversed(in_order.items())), rebuilt,
                   {"id": "o1", "note": "n", "qty": 3, "tags": {"a"}}):
        assert schema.to_item(values, "t1") == expected
    partial = schema.to_item({"id": "o1", "note": "n"}, "t1")
    assert partial == schema.to_item({"note": "n", "id": "o1"}, "t1")
    assert "qty" not in partial and "_gsi1_pk" not in partial
    for values in ({"id": "o1", "qty": 3, "extra": 1}, {"extra": 1, "id": "o1"},
                   {"id": "o1", "qty": 3, "note": "n", "tags": {"a"}, "zz": 0}):
        with pytest.raises(ValidationError, match="unknown field"):
            schema.to_item(values, "t1")
