"""The filter / condition DSL end to end on the embedded server, under the active core.

(a) As a query filter over ~20 items with varied values: the ids the server returns equal a
Python oracle's evaluation of the same predicate over the values the items were created with.
(b) As a write condition (update, delete, save): when it holds the write lands; when it fails
the write is a ConditionalError and the stored item is unchanged.

Field names include DynamoDB reserved words (``name``, ``status``, ``size``, ``group``) and
names that look like our own placeholders (``pk``, ``n1``, ``v1``), which must not collide with
the placeholders of the key condition or the update expression (DESIGN §6.9). Invalid
conditions fail with QueryError / ValidationError before any request is sent.

Nested field paths (``doc.k``) are not part of the DSL: a dotted name is an unknown field.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynamo_bao as bao
from dynamo_bao import fields
from dynamo_bao.exceptions import ConditionalError, QueryError, ValidationError
from dynamo_bao.expressions import Attr

from .conftest import unique_table_name
from .recorded import Requests

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Gadget(bao.BaoModel):
    model_prefix = "gdg"
    gadget_id = fields.StringField()
    group = fields.StringField()
    name = fields.StringField()
    status = fields.StringField()
    size = fields.IntegerField()
    score = fields.FloatField()
    price = fields.DecimalField()
    active = fields.BooleanField()
    seen = fields.DateTimeField()
    tags = fields.StringSetField()
    parts = fields.ListField()
    doc = fields.MapField()
    pk = fields.StringField()
    n1 = fields.IntegerField()
    v1 = fields.StringField()
    primary_key = bao.PrimaryKey("gadget_id")
    indexes = {"byGroup": bao.Index("group", "gadget_id", "gsi1")}


NAMES = ["alpha", "beta", "gamma", "delta", "Alpine", "alp", "be", "omega"]
STATUSES = ["active", "away", "gone"]
TAGS = ["red", "green", "blue"]


def gadget_values(i: int) -> dict[str, Any]:
    """Item i's values: varied, with some fields absent (None is left out)."""
    values = {
        "gadget_id": f"g{i:02d}",
        "group": "G",
        "name": NAMES[i % len(NAMES)],
        "status": STATUSES[i % 3],  # always present
        "size": (i * 7) % 11 - 3 if i % 5 else None,  # -3..7, absent for every fifth
        "score": [0.5, -1.25, 3.0, 2.5, 10.0][i % 5] if i % 4 else None,
        "price": Decimal(f"{i % 6}.{i % 3}5"),
        "active": i % 3 == 0 if i % 7 else None,
        "seen": T0 + timedelta(days=i % 9) if i % 6 else None,
        "tags": {t for j, t in enumerate(TAGS) if (i >> j) & 1} or None,
        "parts": [f"p{i % 4}", i % 3] if i % 2 else None,
        "doc": {"k": i % 4, "s": "x" * (i % 3)} if i % 3 else None,
        "pk": f"pk{i % 4}",
        "n1": i % 5,
        "v1": "v" + str(i % 2) if i % 8 else None,
    }
    return {k: v for k, v in values.items() if v is not None}


ITEMS = [gadget_values(i) for i in range(20)]


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("conditions")},
        "tenancy": {"enabled": True},
        "models": [Gadget],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture(scope="module")
def populated(manager):
    """The 20 items, written once, under one tenant (the filter tests only read)."""
    tenant_id = "filters"
    with bao.TenantContext.tenant(tenant_id):
        for values in ITEMS:
            Gadget.create(values)
    return tenant_id


@pytest.fixture
def tenant(manager):
    tenant_id = "t" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id


# --------------------------------------------------------------------------- the oracle


def _plain(field: str, value: Any) -> Any:
    """A DSL operand as the oracle compares it (what the field stores)."""
    if isinstance(value, str) and field == "seen":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if field == "price" and not isinstance(value, Decimal):
        return Decimal(str(value))
    if field == "tags" and isinstance(value, list):
        return set(value)
    return value


def _comparable(a: Any, b: Any) -> bool:
    """Whether DynamoDB would compare a and b (same scalar type: N, S, B, or BOOL for =)."""
    numbers = (int, float, Decimal)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return type(a) is type(b)


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return len(value.encode() if isinstance(value, str) else value)
    return len(value)


def _compare(op: str, have: Any, want: Any) -> bool:
    if op in ("=", "<>"):
        equal = _comparable(have, want) and (
            Decimal(str(have)) == Decimal(str(want))
            if isinstance(have, (int, float, Decimal)) and not isinstance(have, bool)
            else have == want
        )
        return equal if op == "=" else not equal
    if not _comparable(have, want) or isinstance(have, (bool, set, list, dict)):
        return False
    if isinstance(have, (int, float, Decimal)):
        have, want = Decimal(str(have)), Decimal(str(want))
    return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[op]


_OPS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def oracle(dsl: dict, item: dict) -> bool:
    """Whether ``item`` (the values it was created with) matches the DSL, as DynamoDB says."""
    return all(_clause(key, spec, item) for key, spec in dsl.items())


def _clause(key: str, spec: Any, item: dict) -> bool:
    if key == "$and":
        return all(oracle(part, item) for part in spec)
    if key == "$or":
        return any(oracle(part, item) for part in spec)
    if key == "$not":
        return not oracle(spec, item)
    present = key in item
    have = item.get(key)
    if spec is None:
        return not present
    if not isinstance(spec, dict):
        spec = {"$eq": spec}
    for op, want in spec.items():
        if op in _OPS:
            if want is None:  # {"$eq": None}: absent; {"$ne": None}: present
                ok = present if op == "$ne" else not present
            else:
                ok = present and _compare(_OPS[op], have, _plain(key, want))
        elif op == "$in":
            ok = present and any(_compare("=", have, _plain(key, w)) for w in want)
        elif op == "$contains":
            if isinstance(have, str):
                ok = isinstance(want, str) and want in have
            elif isinstance(have, (set, list)):
                ok = any(_compare("=", member, want) for member in have)
            else:
                ok = False
        elif op == "$beginsWith":
            ok = isinstance(have, str) and have.startswith(want)
        elif op == "$exists":
            ok = present == want
        elif op == "$size":
            size_op, n = ("$eq", want) if not isinstance(want, dict) else next(iter(want.items()))
            ok = present and _compare(_OPS[size_op], _size(have), n)
        else:
            raise AssertionError(f"oracle does not know {op}")
        if not ok:
            return False
    return True


def matching_ids(dsl: dict) -> list[str]:
    return sorted(item["gadget_id"] for item in ITEMS if oracle(dsl, item))


def query_ids(filter: Any) -> list[str]:
    result = Gadget.query_by_index("byGroup", "G", filter=filter)
    assert result.last_evaluated_key is None
    return sorted(g.gadget_id for g in result.items)


# --------------------------------------------------------------------------- (a) filters

FILTERS = [
    # plain equality, on reserved words and placeholder-like names
    {"status": "active"},
    {"name": "alpha"},
    {"size": 4},
    {"pk": "pk1"},
    {"n1": 3},
    {"v1": "v1"},
    {"active": False},
    {"price": Decimal("2.25")},
    {"price": "2.25"},
    {"score": 2.5},
    {"seen": "2024-01-03T00:00:00Z"},
    {"tags": ["red", "green"]},  # set equality
    # comparison operators
    {"status": {"$eq": "away"}},
    {"status": {"$ne": "away"}},
    {"size": {"$gt": 2}},
    {"size": {"$gte": 2}},
    {"size": {"$lt": 0}},
    {"size": {"$lte": -3}},
    {"size": {"$gt": 0, "$lt": 5}},
    {"score": {"$gte": 2.5}},
    {"score": {"$lt": 0}},
    {"price": {"$gt": Decimal("3.1")}},
    {"price": {"$lte": 1}},
    {"seen": {"$gte": datetime(2024, 1, 5, tzinfo=UTC)}},
    {"seen": {"$lt": "2024-01-03T00:00:00Z"}},
    {"name": {"$gt": "beta"}},  # code-point order: "Alpine" < "alp"
    {"name": {"$lt": "alp"}},
    # $in
    {"name": {"$in": ["alpha", "omega", "nobody"]}},
    {"size": {"$in": [7, -3]}},
    {"status": {"$in": ["gone"]}},
    # $contains: substring, set member, list element
    {"name": {"$contains": "lp"}},
    {"tags": {"$contains": "blue"}},
    {"parts": {"$contains": "p1"}},
    {"parts": {"$contains": 2}},
    # $beginsWith
    {"name": {"$beginsWith": "alp"}},
    {"name": {"$beginsWith": "Al"}},
    {"pk": {"$beginsWith": "pk3"}},
    # $exists, null, $eq/$ne null
    {"size": {"$exists": True}},
    {"size": {"$exists": False}},
    {"tags": None},
    {"v1": {"$eq": None}},
    {"v1": {"$ne": None}},
    {"doc": {"$exists": True}, "parts": {"$exists": False}},
    # $size on strings, sets, lists, maps (guarded by $exists where the attribute may be
    # absent: moto's server fails with a 500 on size() of a missing attribute, where
    # DynamoDB evaluates it as false)
    {"name": {"$size": 5}},
    {"tags": {"$exists": True, "$size": {"$gte": 2}}},
    {"parts": {"$exists": True, "$size": 2}},
    {"doc": {"$exists": True, "$size": {"$eq": 2}}},
    {"name": {"$size": {"$lt": 4}}},
    {"tags": {"$exists": True, "$size": {"$ne": 1}}},
    # logical operators
    {"status": "active", "size": {"$gt": 0}},
    {"$and": [{"status": "away"}, {"active": {"$exists": True}}]},
    {"$or": [{"status": "gone"}, {"size": {"$gt": 5}}]},
    {"$or": [{"name": {"$beginsWith": "a"}}, {"tags": {"$contains": "red"}}], "n1": {"$lt": 3}},
    {"$not": {"status": "active"}},
    {"$not": {"status": "active", "size": {"$gt": 0}}},  # negates the whole (DESIGN §6.9)
    {"$not": {"size": {"$gt": 2}}},  # true where size is absent too
    {"$not": {"$or": [{"pk": "pk0"}, {"pk": "pk1"}]}},
    {"$and": [{"$or": [{"n1": 0}, {"n1": 4}]}, {"$not": {"v1": "v0"}}]},
    # one-part groups: no redundant parentheses, which DynamoDB rejects
    {"$and": [{"$or": [{"n1": 0}, {"n1": 4}]}]},
    {"$not": {"$and": [{"$and": [{"status": "gone"}]}]}},
    {"$or": [{"$and": [{"$or": [{"pk": "pk0"}, {"size": 7}]}]}]},
    {"$or": [{"$and": [{"pk": "pk2"}, {"n1": 2}]}, {"$not": {"$or": [{"$not": {"name": "omega"}},
                                                                     {"n1": 4}]}}]},
]


def test_the_items_cover_the_filters(populated):
    """Each filter above matches some items and not others (else it could not fail)."""
    for dsl in FILTERS:
        assert 0 < len(matching_ids(dsl)) < len(ITEMS), dsl


@pytest.mark.parametrize("dsl", FILTERS, ids=[json.dumps(f, default=str) for f in FILTERS])
def test_filter_matches_the_oracle(populated, dsl):
    with bao.TenantContext.tenant(populated):
        assert query_ids(dsl) == matching_ids(dsl)


def test_filter_placeholders_do_not_collide_with_field_names(manager, populated):
    """The key condition's ``#pk``/``:pk`` and the filter's ``#n1``/``:v1`` are placeholders;
    fields literally called pk, n1 and v1 get other ones."""
    dsl = {"pk": "pk1", "n1": {"$gte": 1}, "v1": {"$exists": True}}
    with bao.TenantContext.tenant(populated), Requests(manager.client) as requests:
        assert query_ids(dsl) == matching_ids(dsl)
    ((operation, params),) = requests.sent
    assert operation == "Query"
    names = params["ExpressionAttributeNames"]
    assert sorted(names.values()) == ["_gsi1_pk", "n1", "pk", "v1"]
    assert sorted(v for v in params["ExpressionAttributeValues"].values() if "N" in v) == [
        {"N": "1"}
    ]
    # field names never appear in expression text, only placeholders
    for text in (params["KeyConditionExpression"], params["FilterExpression"]):
        for token in re.findall(r"[#:]?\w+", text):
            if token[0] in "#:":
                assert token in names or token in params["ExpressionAttributeValues"]
            else:
                assert token in ("AND", "attribute_exists"), token


def test_conditions_built_in_python(populated):
    """Condition objects (with BETWEEN, which the dict DSL has not) work as filters too."""
    with bao.TenantContext.tenant(populated):
        between = Attr("size").between(0, 4)
        expected = sorted(i["gadget_id"] for i in ITEMS if 0 <= i.get("size", -99) <= 4)
        assert 0 < len(expected) < len(ITEMS)
        assert query_ids(between) == expected
        combined = (Attr("status") == "away") | ~Attr("tags").exists()
        assert query_ids(combined) == matching_ids(
            {"$or": [{"status": "away"}, {"tags": {"$exists": False}}]}
        )
        # a Condition may also stand inside the dict DSL
        mixed = {"$and": [between, {"name": {"$beginsWith": "a"}}]}
        assert query_ids(mixed) == [
            i for i in expected if ITEMS[int(i[1:])]["name"].startswith("a")
        ]


# A small grammar of random filters, checked against the oracle.
_LEAVES = st.one_of(
    st.tuples(st.sampled_from(["status", "name", "pk", "v1"]),
              st.sampled_from(["$eq", "$gt", "$lte", "$beginsWith", "$contains"]),
              st.sampled_from(["a", "alp", "away", "gone", "pk2", "v0", "be"])),
    st.tuples(st.sampled_from(["size", "n1", "score"]),
              st.sampled_from(["$eq", "$gt", "$gte", "$lt", "$lte"]),
              st.integers(-3, 7)),
    st.tuples(st.sampled_from(["size", "tags", "doc", "v1", "seen"]),
              st.just("$exists"), st.booleans()),
    st.tuples(st.just("status"), st.just("$in"),
              st.lists(st.sampled_from(STATUSES), min_size=1, max_size=2)),
).map(lambda leaf: {leaf[0]: {leaf[1]: leaf[2]}}) | st.tuples(
    st.sampled_from(["tags", "parts", "name"]), st.integers(0, 3)
).map(lambda leaf: {leaf[0]: {"$exists": True, "$size": leaf[1]}})  # see FILTERS on $size


def _not(part: dict) -> dict:
    # moto's server cannot parse "NOT NOT x" (valid for DynamoDB): negate a negation's operand
    return part["$not"] if set(part) == {"$not"} else {"$not": part}


_FILTERS = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"$and": parts}),
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"$or": parts}),
        inner.map(_not),
    ),
    max_leaves=5,
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(dsl=_FILTERS)
def test_random_filters_match_the_oracle(populated, dsl):
    with bao.TenantContext.tenant(populated):
        assert query_ids(dsl) == matching_ids(dsl)


# --------------------------------------------------------------------------- (b) conditions

BASE = {
    "gadget_id": "w1",
    "group": "W",
    "name": "alpha",
    "status": "active",
    "size": 3,
    "score": 2.5,
    "price": Decimal("9.99"),
    "active": True,
    "seen": T0,
    "tags": {"red", "blue"},
    "parts": ["p1", 2],
    "doc": {"k": 1},
    "pk": "pk1",
    "n1": 1,
}

# condition, whether it holds for BASE
WRITE_CONDITIONS = [
    ({"status": "active"}, True),
    ({"status": "away"}, False),
    ({"status": {"$eq": "active"}}, True),
    ({"status": {"$ne": "active"}}, False),
    ({"size": {"$gt": 2}}, True),
    ({"size": {"$gt": 3}}, False),
    ({"size": {"$gte": 3}}, True),
    ({"size": {"$lt": 3}}, False),
    ({"size": {"$lte": 3}}, True),
    ({"score": {"$lte": 2.4}}, False),
    ({"price": Decimal("9.99")}, True),
    ({"seen": {"$lt": "2024-01-01T00:00:01Z"}}, True),
    ({"seen": {"$gt": T0}}, False),
    ({"name": {"$in": ["beta", "alpha"]}}, True),
    ({"name": {"$in": ["beta"]}}, False),
    ({"name": {"$contains": "lph"}}, True),
    ({"tags": {"$contains": "red"}}, True),
    ({"tags": {"$contains": "green"}}, False),
    ({"parts": {"$contains": 2}}, True),
    ({"name": {"$beginsWith": "al"}}, True),
    ({"name": {"$beginsWith": "be"}}, False),
    ({"v1": {"$exists": False}}, True),
    ({"v1": {"$exists": True}}, False),
    ({"v1": None}, True),
    ({"size": None}, False),
    ({"tags": {"$size": 2}}, True),
    ({"parts": {"$size": {"$gt": 2}}}, False),
    ({"status": "active", "n1": 1}, True),
    ({"status": "active", "n1": 2}, False),
    ({"$and": [{"pk": "pk1"}, {"active": True}]}, True),
    ({"$or": [{"pk": "pk9"}, {"active": False}]}, False),
    ({"$or": [{"pk": "pk9"}, {"size": 3}]}, True),
    ({"$not": {"status": "active"}}, False),
    ({"$not": {"status": "active", "size": 4}}, True),  # the whole is negated
]
_WRITE_IDS = [json.dumps(c, default=str) for c, _ in WRITE_CONDITIONS]


def test_the_oracle_agrees_with_the_expectations():
    for condition, holds in WRITE_CONDITIONS:
        assert oracle(condition, BASE) is holds, condition


def raw(manager: Any, tenant: str, gadget_id: str) -> dict | None:
    return manager.client.get_item(
        TableName=manager.table_name,
        Key={"_pk": {"S": f"[{tenant}]#gdg#{gadget_id}"}, "_sk": {"S": "gdg"}},
        ConsistentRead=True,
    ).get("Item")


@pytest.mark.parametrize(("condition", "holds"), WRITE_CONDITIONS, ids=_WRITE_IDS)
def test_update_condition(manager, tenant, condition, holds):
    Gadget.create(BASE)
    before = raw(manager, tenant, "w1")
    if holds:
        updated = Gadget.update("w1", {"name": "changed", "size": 99}, condition=condition)
        assert updated.name == "changed"
        assert raw(manager, tenant, "w1")["size"] == {"N": "99"}
    else:
        with pytest.raises(ConditionalError, match="^Condition check failed$"):
            Gadget.update("w1", {"name": "changed", "size": 99}, condition=condition)
        assert raw(manager, tenant, "w1") == before


@pytest.mark.parametrize(("condition", "holds"), WRITE_CONDITIONS[::3],
                         ids=_WRITE_IDS[::3])
def test_delete_condition(manager, tenant, condition, holds):
    Gadget.create(BASE)
    before = raw(manager, tenant, "w1")
    if holds:
        assert Gadget.delete("w1", condition=condition).name == "alpha"
        assert raw(manager, tenant, "w1") is None
    else:
        with pytest.raises(ConditionalError, match="^Delete condition not met$"):
            Gadget.delete("w1", condition=condition)
        assert raw(manager, tenant, "w1") == before


@pytest.mark.parametrize(("condition", "holds"), WRITE_CONDITIONS[1::3],
                         ids=_WRITE_IDS[1::3])
def test_save_condition(manager, tenant, condition, holds):
    Gadget.create(BASE)
    before = raw(manager, tenant, "w1")
    gadget = Gadget.find("w1")
    gadget.status = "saved"
    if holds:
        gadget.save(condition=condition)
        assert raw(manager, tenant, "w1")["status"] == {"S": "saved"}
        assert not gadget.has_changes()
    else:
        with pytest.raises(ConditionalError):
            gadget.save(condition=condition)
        assert raw(manager, tenant, "w1") == before
        assert gadget.has_changes()  # still unsaved


def test_update_placeholders_do_not_collide(manager, tenant):
    """Updating fields named pk, n1 and v1 under a condition on pk, n1 and v1."""
    Gadget.create(BASE)
    with Requests(manager.client) as requests:
        Gadget.update("w1", {"pk": "new", "n1": 5, "v1": "x"},
                      condition={"pk": "pk1", "n1": {"$lt": 5}, "v1": None})
    item = raw(manager, tenant, "w1")
    assert (item["pk"], item["n1"], item["v1"]) == ({"S": "new"}, {"N": "5"}, {"S": "x"})
    update = next(params for op, params in requests.sent if op == "UpdateItem")
    names = update["ExpressionAttributeNames"]
    values = update["ExpressionAttributeValues"]
    set_clause = update["UpdateExpression"].split(" REMOVE ")[0].removeprefix("SET ")
    assigned = dict(part.split(" = ") for part in set_clause.split(", "))
    assert {names[n]: values[v] for n, v in assigned.items() if names[n] in ("pk", "n1", "v1")} == {
        "pk": {"S": "new"}, "n1": {"N": "5"}, "v1": {"S": "x"}
    }
    assert "_pk" in names.values()  # the existence check has its own placeholder
    with pytest.raises(ConditionalError):
        Gadget.update("w1", {"n1": 6}, condition={"pk": "pk1"})
    assert raw(manager, tenant, "w1")["n1"] == {"N": "5"}


# --------------------------------------------------------------------------- invalid input

INVALID = [
    ({"nope": 1}, QueryError, "Unknown field in filter: nope"),
    ({"$or": [{"status": "a"}, {"nope": {"$gt": 1}}]}, QueryError, "Unknown field in filter: nope"),
    ({"doc.k": 1}, QueryError, "Unknown field in filter: doc.k"),
    ({"_pk": "x"}, QueryError, "Unknown field in filter: _pk"),
    ({"status": {"$regex": "a.*"}}, QueryError, "Invalid operator $regex for field status"),
    ({"size": {"$between": [1, 2]}}, QueryError, "Invalid operator $between for field size"),
    ({"$nor": []}, QueryError, "Unsupported operator: $nor"),
    ({"status": {}}, QueryError, "Empty condition object for field: status"),
    ({"$and": {"status": "a"}}, QueryError, "$and requires an array of conditions"),
    ({"$or": []}, QueryError, "$or requires a non-empty array of conditions"),
    ({"$not": [{"status": "a"}]}, QueryError, "$not requires a condition object"),
    ({"size": {"$gt": None}}, QueryError, "requires a value, not null"),
    ({"size": {"$in": 3}}, ValidationError, "$in operator requires an array value"),
    ({"size": {"$in": []}}, ValidationError, "$in operator requires a non-empty array value"),
    ({"size": {"$exists": "yes"}}, ValidationError, "$exists operator requires a boolean value"),
    ({"tags": {"$size": "two"}}, ValidationError,
     "$size operator requires a number or object with comparison operators"),
    ({"tags": {"$size": {"$gt": "2"}}}, ValidationError, "$size operator requires a numeric value"),
    ({"tags": {"$size": {"$gt": 1, "$lt": 3}}}, ValidationError,
     "$size operator with object value must have exactly one comparison operator"),
    ({"tags": {"$size": {"$in": [1]}}}, ValidationError, "Unsupported size comparison operator"),
    # operands are checked against the field's type
    ({"size": {"$gt": "big"}}, ValidationError, "size: expected an int"),
    ({"seen": {"$lt": "yesterday"}}, ValidationError, "seen: not an ISO 8601"),
    ({"active": "yes"}, ValidationError, "active: expected a bool"),
    ({"price": {"$in": ["1", "abc"]}}, ValidationError, "price: not a number"),
    ({"score": float("nan")}, ValidationError, "score"),
    ("status = :v", QueryError, "A filter must be a dict"),
]
_INVALID_IDS = [str(i) for i in range(len(INVALID))]


@pytest.mark.parametrize(("dsl", "error", "message"), INVALID, ids=_INVALID_IDS)
def test_invalid_filter_before_any_request(manager, tenant, dsl, error, message):
    with Requests(manager.client) as requests, pytest.raises(error) as info:
        Gadget.query_by_index("byGroup", "G", filter=dsl)
    assert message in str(info.value)
    assert requests.sent == []


@pytest.fixture(scope="module")
def untouchable(manager):
    """One item the invalid conditions below must never reach (its tenant, the item)."""
    tenant_id = "untouchable"
    with bao.TenantContext.tenant(tenant_id):
        Gadget.create(BASE)
        gadget = Gadget.find("w1")
    return tenant_id, gadget


@pytest.mark.parametrize(("dsl", "error", "message"), INVALID, ids=_INVALID_IDS)
def test_invalid_write_condition_before_any_request(manager, untouchable, dsl, error, message):
    tenant, gadget = untouchable
    before = raw(manager, tenant, "w1")
    gadget.name = "changed"
    with bao.TenantContext.tenant(tenant), Requests(manager.client) as requests:
        with pytest.raises(error) as info:
            Gadget.update("w1", {"name": "changed"}, condition=dsl)
        assert message in str(info.value)
        with pytest.raises(error):
            Gadget.delete("w1", condition=dsl)
        with pytest.raises(error):
            gadget.save(condition=dsl)
    assert requests.sent == []
    assert raw(manager, tenant, "w1") == before
