"""Parity: the Rust core and the pure-Python core, driven with the same random inputs, give
identical results (types included) or raise the same exception class. Runs regardless of
DYNAMO_BAO_CORE: it loads both cores explicitly."""

from __future__ import annotations

import math
import string
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_bao.core import _pure as pure

native = pytest.importorskip("dynamo_bao._native")

PARITY = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def shape(x):
    """A comparable tree that keeps types (1 != 1.0 != True here)."""
    if isinstance(x, dict):
        return ("dict", tuple((shape(k), shape(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(shape(v) for v in x))
    if isinstance(x, (set, frozenset)):
        return ("set", frozenset(shape(v) for v in x))
    if isinstance(x, float) and math.isnan(x):
        return ("float", "nan")
    return (type(x).__name__, x)


def outcome(fn, *args):
    try:
        return ("ok", shape(fn(*args)))
    except Exception as err:  # noqa: BLE001 - the class is what is compared
        return ("error", type(err).__name__)


def same(name, *args):
    a = outcome(getattr(pure, name), *args)
    b = outcome(getattr(native, name), *args)
    assert a == b, f"{name}{args!r}: pure {a!r} != native {b!r}"
    return a


valid_tenants = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", fullmatch=True)
hostile_tenants = st.one_of(
    st.text(max_size=70),
    st.sampled_from(["", "a#b", "x]#a#[y", " a", "a ", "[a]", "ä", "a" * 65, "a\x00", "-a"]),
    st.builds(lambda t, s: t + s, valid_tenants, st.sampled_from(["#", "]", "[", " ", "\n"])),
)
tenants = st.one_of(st.none(), valid_tenants, valid_tenants, hostile_tenants, st.integers(),
                    st.binary())
valid_prefixes = st.from_regex(r"[A-Za-z0-9_]{1,10}", fullmatch=True)
prefixes = st.one_of(valid_prefixes, valid_prefixes, st.text(max_size=12), st.none())
safe_key_text = st.text(min_size=1, max_size=30).filter(lambda t: "##__SK__##" not in t)
key_text = st.one_of(safe_key_text, st.text(max_size=30), st.just("a##__SK__##b"),
                     st.builds(lambda a, b: a + "##__SK__##" + b, st.text(max_size=8),
                               st.text(max_size=8)))

big_ints = st.integers(min_value=-(10**45), max_value=10**45)
numbers = st.one_of(
    big_ints,
    st.floats(),
    st.decimals(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 1e21, 1e-7, 1.5e-7, 1e16, 123456789.125, 5e-324, 1.7976931348623157e308,
                     (2**52 + 1) / 2**9, Decimal("1E+126"), Decimal("1E-130"), 10**38, 10**39]),
)
#: Text DynamoDB cannot store (lone surrogates) and names it refuses (empty): both cores must
#: refuse them alike, wherever they occur.
odd_text = st.sampled_from(["\ud800", "a\udfff", "\udc00b", "", "ok"])
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(), st.binary(max_size=20),
                    odd_text)
def reordered(d: dict) -> OrderedDict:
    """An OrderedDict whose iteration order is not its storage order (first key moved last)."""
    out = OrderedDict(d)
    if out:
        out.move_to_end(next(iter(out)))
    return out


sets = st.one_of(
    st.frozensets(st.text(), max_size=5),
    st.sets(st.integers(), max_size=5),
    st.sets(st.binary(), max_size=5),
    st.sets(st.one_of(st.text(max_size=3), st.integers(), st.booleans()), max_size=4),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3),
        st.dictionaries(st.text(max_size=5), inner, max_size=8).map(reordered),
        st.dictionaries(odd_text, inner, max_size=2),
        st.frozensets(odd_text, min_size=1, max_size=3),
    ),
    max_leaves=20,
)


@PARITY
@given(tenants)
def test_validate_tenant_id(tid):
    same("validate_tenant_id", tid)


@PARITY
@given(prefixes)
def test_validate_model_prefix(prefix):
    same("validate_model_prefix", prefix)


@PARITY
@given(tenants, prefixes, st.one_of(st.none(), key_text, st.integers()))
def test_format_primary_key(tenant, prefix, value):
    same("format_primary_key", tenant, prefix, value)


@PARITY
@given(tenants, prefixes, st.sampled_from(["gsi1", "gsi5", "gsi6", "x", None]), key_text)
def test_format_gsi_key(tenant, prefix, index_id, value):
    same("format_gsi_key", tenant, prefix, index_id, value)


@PARITY
@given(tenants, st.sampled_from(["uc1", "_uc2", "uc3", "uc4", "", None]), prefixes,
       st.one_of(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.text(max_size=4)), key_text)
def test_format_unique_key(tenant, constraint, prefix, field, value):
    same("format_unique_key", tenant, constraint, prefix, field, value)


@PARITY
@given(tenants, prefixes, st.integers(-2, 1002), st.integers(-1, 1002))
def test_format_iteration_key(tenant, prefix, bucket, buckets):
    same("format_iteration_key", tenant, prefix, bucket, buckets)


@PARITY
@given(st.one_of(st.text(), st.integers()), st.one_of(st.integers(-1, 1001), st.booleans()))
def test_iteration_bucket(primary_id, buckets):
    same("iteration_bucket", primary_id, buckets)


@PARITY
@given(st.one_of(st.none(), key_text), st.one_of(st.none(), key_text), st.booleans())
def test_primary_ids(pk, sk, has_sort_key):
    result = same("format_primary_id", pk, sk)
    if result[0] == "ok":
        pid = pure.format_primary_id(pk, sk)
        same("parse_primary_id", pid, has_sort_key)
    same("parse_primary_id", pk if pk is not None else "", has_sort_key)


index_values = st.one_of(
    numbers, st.text(max_size=10), st.booleans(), st.none(),
    st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-7))])),
    st.datetimes(),
)


aware_datetimes = st.datetimes(timezones=st.sampled_from([timezone.utc,
                                                         timezone(timedelta(hours=-7))]))
typed_index_values = st.one_of(
    st.tuples(st.just("string"), st.text()),
    st.tuples(st.just("integer"), big_ints),
    st.tuples(st.just("float"), numbers),
    st.tuples(st.just("boolean"), st.booleans()),
    st.tuples(st.just("datetime"), st.one_of(aware_datetimes, big_ints)),
)


@PARITY
@given(st.one_of(typed_index_values,
                 st.tuples(st.sampled_from(["string", "integer", "float", "boolean", "datetime",
                                            "blob", None]), index_values)),
       st.sampled_from(["sortable", "dynamo-bao", "dynamo-bao", "sortable", "other"]))
def test_encode_index_value(kind_value, float_encoding):
    kind, value = kind_value
    same("encode_index_value", kind, value, float_encoding)


@PARITY
@given(st.sampled_from(["sortable", "dynamo-bao"]),
       st.floats(allow_nan=False, allow_infinity=False))
def test_float_encodings(float_encoding, x):
    same("encode_index_value", "float", x, float_encoding)


@PARITY
@given(values)
def test_to_attribute_value(value):
    result = same("to_attribute_value", value)
    if result[0] == "ok":
        av = pure.to_attribute_value(value)
        same("from_attribute_value", av)


attribute_values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.one_of(st.text(), st.integers())),
        st.builds(lambda s: {"N": s}, st.one_of(
            st.from_regex(r"-?[0-9]{1,45}(\.[0-9]{0,5})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
            st.text(max_size=6))),
        st.builds(lambda b: {"BOOL": b}, st.one_of(st.booleans(), st.integers(0, 1))),
        st.just({"NULL": True}),
        st.builds(lambda b: {"B": b}, st.one_of(st.binary(), st.text(max_size=3))),
        st.builds(lambda v: {"SS": v}, st.lists(st.one_of(st.text(), st.integers()), max_size=3)),
        st.builds(lambda v: {"NS": v}, st.lists(st.from_regex(r"-?[0-9]{1,5}", fullmatch=True),
                                                max_size=3)),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    lambda inner: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
        st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=4), inner, max_size=3)),
        st.builds(lambda v: {"M": reordered(v)},
                  st.dictionaries(st.text(max_size=4), inner, max_size=8)),
    ),
    max_leaves=12,
)


@PARITY
@given(attribute_values)
def test_from_attribute_value(av):
    same("from_attribute_value", av)


@PARITY
@given(st.one_of(st.dictionaries(st.text(max_size=4), values, max_size=4), values))
def test_marshal_item(item):
    """The whole-item calls: identical across cores, and the same as the per-value calls."""
    result = same("marshal_item", item)
    if isinstance(item, dict):
        assert result == outcome(lambda v: native.to_attribute_value(v)["M"], item)
    if result[0] == "ok":
        same("unmarshal_item", native.marshal_item(item))


@PARITY
@given(st.one_of(st.dictionaries(st.one_of(st.text(max_size=4), odd_text), attribute_values,
                                 max_size=4),
                 st.dictionaries(st.text(max_size=4), values, max_size=4).map(
                     lambda item: outcome(pure.marshal_item, item)[0] == "ok"
                     and pure.marshal_item(item) or item),
                 attribute_values))
def test_item_size(item):
    """DynamoDB's size of an item: the same number (or error class) from both cores."""
    same("item_size", item)


@PARITY
@given(st.one_of(st.dictionaries(st.text(max_size=4), attribute_values, max_size=4),
                 attribute_values))
def test_unmarshal_item(item):
    result = same("unmarshal_item", item)
    if isinstance(item, dict):
        assert result == outcome(lambda v: native.from_attribute_value({"M": v}), item)


# -- Schema ---------------------------------------------------------------------------------

FIELDS = [("id", "string"), ("sk", "integer"), ("f", "float"), ("d", "decimal"),
          ("b", "boolean"), ("dt", "datetime"), ("ttl", "ttl"), ("bin", "binary"),
          ("tags", "string_set"), ("m", "map"), ("l", "list"), ("a", "any")]
SCHEMA_ARGS = dict(model_name="Thing", prefix="th", fields=FIELDS, partition_key="id",
                   sort_key="sk", indexes=[("gsi1", "b", "dt"), ("gsi2", None, "f"),
                                           ("gsi3", "id", "d")],
                   iteration_buckets=7)


def field_values():
    aware = st.datetimes(timezones=st.just(timezone.utc))
    per_field = {
        "id": st.one_of(key_text, st.integers(), st.text(min_size=990, max_size=1100)),
        "sk": st.one_of(big_ints, st.floats(), st.text(max_size=2)),
        "f": numbers,
        "d": numbers,
        "b": st.one_of(st.booleans(), st.integers(0, 1)),
        "dt": st.one_of(aware, st.integers(-(10**15), 10**15), st.datetimes()),
        "ttl": st.one_of(aware, st.integers(0, 10**12)),
        "bin": st.one_of(st.binary(), st.text(max_size=2)),
        "tags": st.one_of(st.sets(st.text(max_size=3), max_size=3),
                          st.lists(st.text(max_size=3), max_size=4),
                          st.lists(st.integers(), min_size=1, max_size=2)),
        "m": st.one_of(st.dictionaries(st.text(max_size=3), scalars, max_size=3), scalars),
        "l": st.one_of(st.lists(scalars, max_size=3), scalars),
        "a": values,
    }
    return st.fixed_dictionaries(
        {},
        optional={**{k: st.one_of(st.none(), v) for k, v in per_field.items()},
                  "bogus": st.integers()},
    )


def valid_field_values():
    aware = st.datetimes(timezones=st.just(timezone.utc))
    optional = {
        "f": st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100),
        "d": st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20),
                         max_value=10**20),
        "b": st.booleans(),
        "dt": st.one_of(aware, st.integers(-(10**13), 10**13)),
        "ttl": st.one_of(aware, st.integers(0, 10**12)),
        "bin": st.binary(),
        "tags": st.one_of(st.sets(st.text(max_size=3), max_size=3),
                          st.lists(st.text(max_size=3), max_size=4)),
        "m": st.dictionaries(st.text(max_size=3), st.one_of(st.text(), st.integers()), max_size=3),
        "l": st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=3),
        "a": values,
    }
    return st.fixed_dictionaries({"id": safe_key_text, "sk": big_ints},
                                 optional={k: st.one_of(v, v, st.none()) for k, v in
                                           optional.items()})


@PARITY
@given(st.one_of(valid_field_values(), valid_field_values(), field_values()), tenants,
       st.sampled_from(["sortable", "dynamo-bao"]))
def test_schema(values, tenant, float_encoding):
    args = dict(SCHEMA_ARGS, float_encoding=float_encoding)
    schemas = pure.Schema(**args), native.Schema(**args)

    def call(method, *a):
        results = [outcome(getattr(s, method), *a) for s in schemas]
        assert results[0] == results[1], f"{method}{a!r}: pure {results[0]} != native {results[1]}"
        return results[0]

    item = call("to_item", values, tenant)
    call("key", values, tenant)
    call("index_keys", values, tenant)
    call("marshal_fields", values)
    pid = call("primary_id", values)
    if pid[0] == "ok":
        call("key_from_id", pure.Schema(**args).primary_id(values), tenant)
    if item[0] == "ok":
        raw = schemas[0].to_item(values, tenant)
        call("from_item", raw)
        call("from_items", [raw, raw])


@PARITY
@given(st.dictionaries(st.sampled_from([f for f, _ in FIELDS] + ["_pk", "x"]), attribute_values,
                       max_size=6))
def test_schema_from_arbitrary_items(item):
    schemas = pure.Schema(**SCHEMA_ARGS), native.Schema(**SCHEMA_ARGS)
    a, b = (outcome(s.from_item, item) for s in schemas)
    assert a == b


def test_schema_properties_match():
    p, n = pure.Schema(**SCHEMA_ARGS), native.Schema(**SCHEMA_ARGS)
    for attr in ("model_name", "prefix", "field_names", "partition_key", "sort_key", "indexes",
                 "iteration_buckets", "float_encoding"):
        assert getattr(p, attr) == getattr(n, attr), attr


@pytest.mark.parametrize("bad", [
    dict(prefix="x#"), dict(fields=[("id", "nope")]), dict(partition_key="nope"),
    dict(indexes=[("gsi1", "bin", None)]), dict(iteration_buckets=True),
    dict(fields=[("id", "string"), ("id", "string")], sort_key=None, indexes=None),
])
def test_schema_constructor_errors_match(bad):
    args = dict(SCHEMA_ARGS, **bad)
    a = outcome(lambda: pure.Schema(**args))
    b = outcome(lambda: native.Schema(**args))
    assert a == b
    assert a[0] == "error"


def test_surrogates_and_odd_text_agree():
    for s in ["a\ud800", "\udfff", "\x00", "😀", "a" * 10_000, string.punctuation]:
        same("format_primary_key", None, "p", s)
        same("iteration_bucket", s, 10)
        same("to_attribute_value", {"k": s})
    same("to_attribute_value", datetime.now())


class _Str(str):
    pass


class _Dict(dict):
    pass


def _fresh(text):
    """A str equal to ``text`` but not the same object (as a JSON parser makes them)."""
    return "".join([text[:1], text[1:]]) if len(text) > 1 else text


# Stored forms the native core reads through its quick path, and their near misses.
QUICK_FORMS = [
    {"S": "x"}, {"S": 5}, {"S": _Str("x")}, {"N": "12"}, {"N": "-3.25"}, {"N": "1e3"},
    {"N": "12345678901234567890"}, {"N": "x"}, {"N": _Str("7")}, {"N": "\ud800"},
    {"BOOL": True}, {_fresh("BOOL"): False}, {_Str("BOOL"): True}, {"BOOL": 1},
    {"B": b"\x00"}, {"B": bytearray(b"a")}, {"B": "a"}, {"NULL": True},
    _Dict(S="x"), {"S": "x", "N": "1"}, {}, {_Str("S"): "x"}, "S",
]


@pytest.mark.parametrize("form", QUICK_FORMS, ids=repr)
@pytest.mark.parametrize("field", ["id", "sk", "f", "b", "bin"])
def test_schema_from_item_quick_forms(field, form):
    schemas = pure.Schema(**SCHEMA_ARGS), native.Schema(**SCHEMA_ARGS)
    item = {_fresh(field): form}
    a, b = (outcome(s.from_item, item) for s in schemas)
    assert a == b


TO_ITEM_FORMS = {
    "f": [Decimal("1.5"), Decimal("NaN"), Decimal("1e200"), Decimal("-0"), 2.5, 3, True],
    "d": [Decimal("19.99"), Decimal("sNaN"), Decimal("1E+2"), 1.25, 7, False],
    "bin": [b"ab", b"", bytearray(b"x"), memoryview(b"y"), "s"],
    "tags": [{"a", "b"}, frozenset({"c"}), set(), frozenset(), {"a", 1}, {_Str("s")},
             frozenset({b"x"}), ["b", "a", "b"], ("z",), "ab"],
    "m": [{"a": 1}, {}, _Dict(a=2), {1: 2}, [1]],
}


@pytest.mark.parametrize("field,value",
                         [(f, v) for f, vs in TO_ITEM_FORMS.items() for v in vs], ids=repr)
def test_schema_to_item_field_forms(field, value):
    schemas = pure.Schema(**SCHEMA_ARGS), native.Schema(**SCHEMA_ARGS)
    values = {"id": "x", "sk": 1, field: value}
    a, b = (outcome(s.to_item, values, None) for s in schemas)
    assert a == b
