"""Index value encodings of the active core: DynamoBao's literal forms where it sorts
correctly, and a < b <=> enc(a) < enc(b) everywhere (DESIGN §6.5)."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamo_bao import core
from dynamo_bao.exceptions import ConfigurationError, ValidationError

enc = core.encode_index_value


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        # tests/compat/README.md "Index value encodings" (DynamoBao-identical cases)
        ("string", "Acme Corp", "Acme Corp"),
        ("integer", 25, "00000000000000000025"),
        ("integer", 1, "00000000000000000001"),
        ("integer", 0, "00000000000000000000"),
        ("datetime", 1705309200000, "00000001705309200000"),
        ("boolean", True, "1"),
        ("boolean", False, "0"),
        ("integer", 10**20 - 1, "99999999999999999999"),
    ],
)
def test_dynamobao_identical_encodings(kind, value, expected):
    assert enc(kind, value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        # JS Number.prototype.toExponential(20), as recorded in compat
        (4.75, "4.75000000000000000000e+0"),
        (0.1, "1.00000000000000005551e-1"),
        (-1.5, "-1.50000000000000000000e+0"),
        (0, "0.00000000000000000000e+0"),
        (0.0, "0.00000000000000000000e+0"),
        (-0.0, "0.00000000000000000000e+0"),
        (3.14, "3.14000000000000012434e+0"),
        (1e21, "1.00000000000000000000e+21"),
        (123456789, "1.23456789000000000000e+8"),
        (Decimal("2.5"), "2.50000000000000000000e+0"),
        # ties at the 21st digit round away from zero, as ECMAScript specifies
        (Decimal("1.000000000000000000005"), "1.00000000000000000001e+0"),
        (Decimal("9.999999999999999999995"), "1.00000000000000000000e+1"),
        (4398046511104.0009765625, "4.39804651110400097656e+12"),
    ],
)
def test_dynamobao_float_compat_encoding(value, expected):
    assert enc("float", value, "dynamo-bao") == expected


def test_dynamobao_float_ties_on_exact_binary_values():
    # 2**-20 * 3 = 2.86102294921875e-06 has 15 significant digits: no tie; build one with
    # exactly 22 significant digits ending in 5 and check it rounds up.
    x = (2**52 + 1) / 2**9  # 8796093022208.001953125 exactly (22 significant digits)
    assert Decimal(x) == Decimal("8796093022208.001953125")
    assert enc("float", x, "dynamo-bao") == "8.79609302220800195313e+12"
    assert enc("float", -x, "dynamo-bao") == "-8.79609302220800195313e+12"


def test_float_sortable_layout():
    assert enc("float", 4.75) == "1400.475"
    assert enc("float", 0) == "0"
    assert enc("float", -1.5) == "-599.84~"
    # ints, floats and Decimals of one value encode alike
    assert enc("float", 3) == enc("float", 3.0) == enc("float", Decimal("3.00"))


def test_float_sortable_digits_are_the_shortest_even_on_ties():
    """2**49 + 0.25 lies exactly between the 16-digit decimals ...312.2 and ...312.3; like
    JavaScript's String(x) and Python's repr, the sortable key takes the even one."""
    x = 562949953421312.25
    assert repr(x) == "562949953421312.2"
    assert enc("float", x) == "1414.5629499534213122"
    assert enc("float", -x) == "-585.4370500465786877~"


def test_negative_and_large_integers():
    assert enc("integer", -1) == "-99999999999999999999"
    assert enc("integer", -5) == "-99999999999999999995"
    assert enc("integer", 10**20) == ":21100000000000000000000"
    assert enc("integer", -(10**20)) == "-00000000000000000000"
    assert enc("integer", -(10**20) - 1) == ",78899999999999999999998"


def test_datetime_accepts_aware_datetimes():
    dt = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)
    assert enc("datetime", dt) == "00000001705309200000"
    other_tz = dt.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert enc("datetime", other_tz) == "00000001705309200000"
    before_1970 = datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
    assert enc("datetime", before_1970) == enc("integer", -1)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)


class Moment(datetime):
    """A datetime subclass (the native core reads exact UTC datetimes on a shorter path)."""


@pytest.mark.parametrize(
    "dt",
    [
        datetime(1, 1, 1, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        EPOCH,
        EPOCH - timedelta(microseconds=1),
        datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=timezone.utc),
        datetime(2000, 2, 29, 12, 30, 45, 678901, tzinfo=timezone.utc),
        datetime(2100, 3, 1, tzinfo=timezone.utc),
        datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=timezone.utc),
        datetime(2024, 6, 1, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=-7))),
        Moment(2024, 6, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
    ],
    ids=str,
)
def test_datetime_is_floored_epoch_milliseconds(dt):
    ms = (dt - EPOCH) // MS
    assert enc("datetime", dt) == enc("integer", ms)
    schema = core.Schema("Event", "ev", [("id", "string"), ("at", "datetime")],
                         partition_key="id", indexes=[("gsi1", "id", "at")])
    item = schema.to_item({"id": "e", "at": dt}, None)
    assert item["at"] == {"N": str(ms)}
    assert item["_gsi1_sk"] == {"S": enc("integer", ms)}


@pytest.mark.parametrize(
    "kind, value",
    [
        ("integer", 1.5),
        ("integer", True),
        ("integer", "1"),
        ("float", float("nan")),
        ("float", float("inf")),
        ("float", -float("inf")),
        ("float", Decimal("NaN")),
        ("float", True),
        ("float", "1.0"),
        ("boolean", 1),
        ("string", ""),
        ("string", 5),
        ("datetime", datetime(2024, 1, 1)),  # naive: ambiguous
        ("datetime", 1.5),
        ("integer", 10**100),
    ],
)
def test_bad_index_values(kind, value):
    with pytest.raises(ValidationError):
        enc(kind, value)


def test_unknown_kind_and_encoding():
    with pytest.raises(ConfigurationError):
        enc("blob", b"x")
    with pytest.raises(ConfigurationError):
        enc("float", 1.0, "lexi")


ints = st.integers(min_value=-(10**40), max_value=10**40)
floats = st.floats(allow_nan=False, allow_infinity=False)
decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30),
                       max_value=10**30, places=10)


@settings(max_examples=400)
@given(ints, ints)
def test_integer_order(a, b):
    ea, eb = enc("integer", a), enc("integer", b)
    assert (a < b) == (ea < eb)
    assert (a == b) == (ea == eb)


@settings(max_examples=400)
@given(floats, floats)
def test_float_order(a, b):
    ea, eb = enc("float", a), enc("float", b)
    assert (a < b) == (ea < eb)
    assert (a == b) == (ea == eb)  # -0.0 == 0.0 encode alike


@settings(max_examples=300)
@given(st.one_of(ints.filter(lambda n: abs(n) < 10**30), floats.filter(lambda x: abs(x) < 1e30),
                 decimals),
       st.one_of(ints.filter(lambda n: abs(n) < 10**30), decimals))
def test_mixed_number_order(a, b):
    ea, eb = enc("float", a), enc("float", b)
    assert (Decimal(a) < Decimal(b)) == (ea < eb)
    assert (Decimal(a) == Decimal(b)) == (ea == eb)


@settings(max_examples=300)
@given(st.datetimes(timezones=st.just(timezone.utc)), st.datetimes(timezones=st.just(timezone.utc)))
def test_datetime_order(a, b):
    # Millisecond precision: values within the same millisecond encode alike.
    ma = (a - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
    mb = (b - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
    assert (ma < mb) == (enc("datetime", a) < enc("datetime", b))


@given(st.booleans(), st.booleans())
def test_boolean_order(a, b):
    assert (a < b) == (enc("boolean", a) < enc("boolean", b))


@given(st.text(min_size=1), st.text(min_size=1))
def test_string_order_is_the_string(a, b):
    assert enc("string", a) == a
