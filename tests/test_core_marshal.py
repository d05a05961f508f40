"""Generic marshalling of the active core (DESIGN §4 rules)."""

import copy
import enum
import struct
from collections import OrderedDict, namedtuple
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamo_bao import core
from dynamo_bao.exceptions import ValidationError

to_av = core.to_attribute_value
from_av = core.from_attribute_value


@pytest.mark.parametrize(
    "value, av",
    [
        (None, {"NULL": True}),
        (True, {"BOOL": True}),
        (False, {"BOOL": False}),
        (0, {"N": "0"}),
        (-42, {"N": "-42"}),
        (10**37, {"N": str(10**37)}),
        (2**64 + 1, {"N": "18446744073709551617"}),
        (4.75, {"N": "4.75"}),
        (0.1, {"N": "0.1"}),
        (-1.5, {"N": "-1.5"}),
        (3.0, {"N": "3"}),  # JS String(number): what DynamoBao stores
        (1e21, {"N": "1e+21"}),
        (1e16, {"N": "10000000000000000"}),
        (1.5e-7, {"N": "1.5e-7"}),
        (0.000001, {"N": "0.000001"}),
        (Decimal("1.50"), {"N": "1.50"}),
        (Decimal("1E+2"), {"N": "1E+2"}),
        ("", {"S": ""}),
        ("héllo", {"S": "héllo"}),
        (b"\x00\xff", {"B": b"\x00\xff"}),
        (bytearray(b"ab"), {"B": b"ab"}),
        (memoryview(b"cd"), {"B": b"cd"}),
        ([], {"L": []}),
        ((1, "a"), {"L": [{"N": "1"}, {"S": "a"}]}),
        ({}, {"M": {}}),
        ({"a": {"b": [None]}}, {"M": {"a": {"M": {"b": {"L": [{"NULL": True}]}}}}}),
        ({"x"}, {"SS": ["x"]}),
        (frozenset([b"x"]), {"BS": [b"x"]}),
        ({Decimal("2.5")}, {"NS": ["2.5"]}),
    ],
)
def test_to_attribute_value(value, av):
    assert to_av(value) == av


def test_number_sets_and_string_sets_hold_all_members():
    assert sorted(to_av({1, 2, 3})["NS"]) == ["1", "2", "3"]
    assert sorted(to_av({"a", "b"})["SS"]) == ["a", "b"]


def test_subclasses_of_builtin_types():
    class Color(enum.Enum):
        RED = "red"

    class Status(str, enum.Enum):
        OPEN = "open"

    class Level(enum.IntEnum):
        HIGH = 3

    Point = namedtuple("Point", "x y")
    assert to_av(Status.OPEN) == {"S": "open"}
    assert to_av(Level.HIGH) == {"N": "3"}
    assert to_av(OrderedDict(a=1)) == {"M": {"a": {"N": "1"}}}
    assert to_av(Point(1, 2)) == {"L": [{"N": "1"}, {"N": "2"}]}
    with pytest.raises(ValidationError):
        to_av(Color.RED)


@pytest.mark.parametrize("size", [3, 8])
def test_a_dict_subclass_keeps_its_own_order(size):
    # An OrderedDict after move_to_end iterates in another order than its storage; both cores
    # read a subclass through its items(), as a user sees it (small and presized maps alike).
    values = OrderedDict((f"k{i}", i) for i in range(size))
    values.move_to_end("k0")
    expected = [f"k{i}" for i in range(1, size)] + ["k0"]
    assert list(core.marshal_item(values)) == expected
    assert list(to_av({"m": values})["M"]["m"]["M"]) == expected
    stored = OrderedDict((k, {"N": "1"}) for k in reversed(expected))
    stored.move_to_end(expected[-1], last=False)
    read_order = [expected[-1]] + list(reversed(expected))[1:]
    assert list(core.unmarshal_item(stored)) == read_order
    assert list(from_av({"M": {"m": {"M": stored}}})["m"]) == read_order


def test_input_is_left_unchanged_and_output_is_fresh():
    inner = {"a": 1, "b": [2.5, "x"]}
    item = {f"k{i}": i for i in range(8)} | {"m": inner, "small": {"z": True}}
    before = copy.deepcopy(item)
    out = core.marshal_item(item)
    assert item == before and out is not item and out["m"]["M"] is not inner
    out["k0"]["N"] = "9"
    out["m"]["M"]["a"] = None
    out["small"]["M"].clear()
    assert item == before
    assert core.marshal_item(item) == to_av(before)["M"]


@pytest.mark.parametrize("size", [2, 8])
def test_containers_changed_during_conversion(size):
    """A Decimal subclass's ``__str__`` (Python code run mid-conversion) empties the
    containers being read: no crash; the cores may differ in what they make of it."""
    containers = []

    class Clearing(Decimal):
        def __str__(self):
            for c in containers:
                c.clear()
            return super().__str__()

    for _ in range(20):
        listed = [Clearing("1.5"), "x" * 10, 3] * size
        mapped = {f"k{i}": (Clearing("2.5") if i == 0 else [f"v{i}"]) for i in range(size)}
        containers[:] = [listed, mapped]
        item = {"m": mapped, "l": listed}
        try:
            out = core.marshal_item(item)
        except (RuntimeError, IndexError):
            continue
        assert out["m"]["M"].get("k0", {"N": "2.5"}) == {"N": "2.5"}
        assert repr(out)


@pytest.mark.parametrize(
    "bad",
    [
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
        set(),
        frozenset(),
        {1: "non-string key"},
        {"a": {(1, 2): "x"}},
        {1, "mixed"},
        {True},
        object(),
        10**38 + 1,  # 39 significant digits
        Decimal("1E+126"),
        Decimal("1E-131"),
        1e200,
        complex(1, 2),
    ],
)
def test_bad_values_raise_validation_error(bad):
    with pytest.raises(ValidationError):
        to_av(bad)


def test_nesting_limit():
    value = "leaf"
    for _ in range(32):
        value = [value]
    assert from_av(to_av(value)) == value
    with pytest.raises(ValidationError):
        to_av([value])
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(ValidationError):
        to_av(cyclic)


@pytest.mark.parametrize(
    "av, value",
    [
        ({"S": "x"}, "x"),
        ({"N": "42"}, 42),
        ({"N": "-42"}, -42),
        ({"N": "123456789012345678901234567890"}, 123456789012345678901234567890),
        ({"N": "4.75"}, 4.75),
        ({"N": "1E+2"}, 100.0),
        ({"N": "1e+21"}, 1e21),
        ({"BOOL": False}, False),
        ({"NULL": True}, None),
        ({"B": b"\x01"}, b"\x01"),
        ({"SS": ["a", "b"]}, {"a", "b"}),
        ({"NS": ["1", "2.5"]}, {1, 2.5}),
        ({"BS": [b"a"]}, {b"a"}),
        ({"L": [{"N": "1"}, {"M": {"k": {"S": "v"}}}]}, [1, {"k": "v"}]),
    ],
)
def test_from_attribute_value(av, value):
    result = from_av(av)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"S": "a", "N": "1"},
        {"X": 1},
        {"N": "abc"},
        {"N": "1_000"},
        {"N": " 1"},
        {"N": "nan"},
        {"N": "inf"},
        {"N": 5},
        {"S": 5},
        {"BOOL": 1},
        {"B": "base64 text is not bytes"},
        {"SS": "a"},
        {"SS": [1]},
        {"M": []},
        {"L": {}},
        "S",
        None,
    ],
)
def test_bad_attribute_values(bad):
    with pytest.raises(ValidationError):
        from_av(bad)


def test_whole_item_calls():
    """``marshal_item``/``unmarshal_item``: one call for boto3's ``Item`` form."""
    item = {"id": "a", "n": 7, "tags": {"x"}, "m": {"k": [1, None]}}
    stored = core.marshal_item(item)
    assert stored == to_av(item)["M"]
    assert stored == {
        "id": {"S": "a"},
        "n": {"N": "7"},
        "tags": {"SS": ["x"]},
        "m": {"M": {"k": {"L": [{"N": "1"}, {"NULL": True}]}}},
    }
    assert core.unmarshal_item(stored) == item
    assert core.marshal_item({}) == {} and core.unmarshal_item({}) == {}
    for bad in ([("id", "a")], "id", None):
        with pytest.raises(ValidationError, match="an item must be a dict"):
            core.marshal_item(bad)
        with pytest.raises(ValidationError, match="an item must be a dict"):
            core.unmarshal_item(bad)
    with pytest.raises(ValidationError, match="map keys must be str"):
        core.marshal_item({1: "a"})
    with pytest.raises(ValidationError, match="not an AttributeValue"):
        core.unmarshal_item({"id": "a"})


def test_round_trip_of_a_medium_item():
    item = {
        "id": "01HKS659000000000000000001",
        "n": 7,
        "f": 2.5,
        "d": Decimal("1.25"),
        "ok": True,
        "none": None,
        "bin": b"\x00\x01",
        "tags": {"a", "b"},
        "nested": {"m": {"x": [1, 2, {"y": "z"}]}},
        "list": [1, 2, 3],
    }
    back = from_av(to_av(item))
    expected = dict(item, d=1.25)  # generic reading gives floats; DecimalField gives Decimal
    assert back == expected


@settings(max_examples=400, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**15 - 1),
    st.integers(min_value=1, max_value=16),
    st.booleans(),
)
def test_decimal_number_text_reads_as_the_nearest_double(mantissa, fraction, negative):
    """``N`` text like ``97.25`` is read as exactly the double ``float(text)`` gives (the native
    core has a one-pass path for up to 15 digits; longer texts take the full parser)."""
    digits = str(mantissa).rjust(fraction + 1, "0")
    text = ("-" if negative else "") + digits[:-fraction] + "." + digits[-fraction:]
    value = from_av({"N": text})
    assert isinstance(value, float)
    assert struct.pack("<d", value) == struct.pack("<d", float(text))
