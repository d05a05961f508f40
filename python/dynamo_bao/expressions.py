"""Filters, conditions and sort-key conditions: DynamoBao's dict DSL compiled to DynamoDB text.

Two steps, as in PynamoDB's ``expressions`` package:

1. **Parse.** :func:`parse_filter` turns DynamoBao's dict DSL (``{"status": "active",
   "age": {"$gt": 21}, "$or": [...]}``) into small immutable condition objects
   (:class:`Comparison`, :class:`In`, :class:`Size`, :class:`And`, :class:`Or`, :class:`Not` …);
   :func:`parse_key_condition` turns a sort-key condition into a :class:`KeyCondition`. Parsing
   validates the shape (fields, operators, operand types) before anything is sent. Code can
   also build conditions directly: ``(Attr("age") > 21) & ~Attr("banned").exists()``.
2. **Compile.** One :class:`ExpressionBuilder` per request turns conditions into expression
   text and collects ``ExpressionAttributeNames`` / ``ExpressionAttributeValues``. Every part of
   the request (key condition, update expression, condition or filter) allocates its
   placeholders from the same builder, so no two parts can ever pick the same placeholder for
   different things — a field literally named ``pk``, ``n1`` or ``v1`` is just another field
   (DESIGN §6.9; DynamoBao's update ``#<field>`` and filter ``#n1`` namespaces collide, spec
   §11.12). Field names never appear in expression text, so any attribute name works.

This module does not know how values are stored: the caller passes ``encode_value(field,
value) -> AttributeValue`` (the model's marshalling) for filters and conditions, and
``encode(value) -> AttributeValue`` (the sortable key text, ``{"S": ...}``) for sort keys. The
only operands it encodes itself are ``$size`` numbers, which are sizes, not field values.

The output reproduces DynamoBao 0.6's request text and placeholder numbering (``#n1``/``:v1``
…, ``#pk = :pk AND #sk BETWEEN :sortKeyStart AND :sortKeyEnd``), so requests match the golden
recordings, except where DynamoBao is wrong (DESIGN §6.9, spec §11.18):

* ``$not`` negates its whole sub-expression: ``{"$not": {"a": 1, "b": 2}}`` compiles to
  ``NOT (#n1 = :v1 AND #n2 = :v2)``, where DynamoBao sends ``NOT #n1 = :v1 AND #n2 = :v2``.
* Sort keys: ``{"$gte": a, "$lte": b}`` is ``BETWEEN a AND b``; DynamoBao silently used only the
  first operator. Any other combination of operators is a :class:`QueryError`.
* ``{"$eq": None}`` / ``{"$ne": None}`` mean "absent" / "present", like ``field: None``:
  dynamo-bao never stores NULL (a null value removes the attribute), so comparing with NULL
  could never match.
* ``$in`` rejects an empty list and more than 100 values (DynamoDB's limits) before sending.
* ``$size`` takes a number DynamoDB can hold (at most 38 significant digits, magnitude 1e-130
  to below 1e126); anything else is a :class:`ValidationError` when the filter is parsed, as
  its other operand errors are. Negative and fractional sizes are kept: DynamoDB accepts them
  (they simply compare).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .exceptions import QueryError, ValidationError

__all__ = [
    "Condition",
    "Comparison",
    "Between",
    "BeginsWith",
    "Contains",
    "In",
    "Exists",
    "NotExists",
    "Size",
    "And",
    "Or",
    "Not",
    "Attr",
    "KeyCondition",
    "ExpressionBuilder",
    "parse_filter",
    "parse_key_condition",
    "parse_sort_key_condition",
    "check_fields",
    "iter_fields",
    "ValueEncoder",
    "KeyEncoder",
    "FieldCheck",
]

#: ``encode_value(field_name, value) -> AttributeValue`` for filter and condition operands.
#: For ``$contains`` on a set or list field the value is one element (or a substring).
ValueEncoder = Callable[[str, Any], dict]
#: ``encode(value) -> AttributeValue`` for sort-key operands (the sortable key text).
KeyEncoder = Callable[[Any], dict]
#: Known field names, or a predicate saying whether a name is a known field.
FieldCheck = Collection[str] | Callable[[str], bool]

COMPARISON_OPERATORS = {"=", "<>", "<", "<=", ">", ">="}
_DSL_COMPARISONS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_KEY_OPERATORS = {
    "$eq": "=",
    "$gt": ">",
    "$gte": ">=",
    "$lt": "<",
    "$lte": "<=",
    "$beginsWith": "begins_with",
    "$between": "between",
}
_KEY_OPERATOR_ARITY = {"=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "begins_with": 1, "between": 2}
MAX_IN_VALUES = 100  # DynamoDB's limit on the operands of IN


# --------------------------------------------------------------------------- condition objects


class Condition:
    """Base of the condition objects. Combine them with ``&`` (AND), ``|`` (OR), ``~`` (NOT).

    Truth-testing a condition raises ``TypeError``: ``a and b`` / ``a or b`` would silently
    drop one side of a filter, so the mistake is made loud (PynamoDB does the same). Test
    ``cond is not None`` instead.
    """

    __slots__ = ()

    def __and__(self, other: Condition) -> And:
        _require_condition(other, "&")
        return And(_flatten_and(self) + _flatten_and(other))

    def __or__(self, other: Condition) -> Or:
        _require_condition(other, "|")
        return Or(_flatten_or(self) + _flatten_or(other))

    def __invert__(self) -> Not:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError("a Condition has no truth value; combine conditions with &, | and ~")


def _require_condition(other: Any, op: str) -> None:
    if not isinstance(other, Condition):
        raise TypeError(f"cannot combine a Condition with {type(other).__name__} using {op}")


def _flatten_and(c: Condition) -> tuple[Condition, ...]:
    return c.conditions if isinstance(c, And) and not c.grouped else (c,)


def _flatten_or(c: Condition) -> tuple[Condition, ...]:
    return c.conditions if isinstance(c, Or) else (c,)


def _check_field_name(field: Any) -> None:
    if not isinstance(field, str) or not field:
        raise QueryError(f"Field names must be non-empty strings, got {field!r}")


@dataclass(frozen=True, slots=True)
class Comparison(Condition):
    """``field <op> value`` with op one of ``= <> < <= > >=``."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        _check_field_name(self.field)
        if self.op not in COMPARISON_OPERATORS:
            raise QueryError(f"Unsupported comparison operator: {self.op}")


@dataclass(frozen=True, slots=True)
class Between(Condition):
    """``field BETWEEN low AND high`` (inclusive). Not part of DynamoBao's filter DSL."""

    field: str
    low: Any
    high: Any

    def __post_init__(self) -> None:
        _check_field_name(self.field)


@dataclass(frozen=True, slots=True)
class BeginsWith(Condition):
    """``begins_with(field, prefix)``."""

    field: str
    prefix: Any

    def __post_init__(self) -> None:
        _check_field_name(self.field)


@dataclass(frozen=True, slots=True)
class Contains(Condition):
    """``contains(field, value)``: substring of a string, or element of a set or list."""

    field: str
    value: Any

    def __post_init__(self) -> None:
        _check_field_name(self.field)


@dataclass(frozen=True, slots=True)
class In(Condition):
    """``field IN (v1, v2, …)``; 1 to 100 values, as DynamoDB allows."""

    field: str
    values: tuple

    def __post_init__(self) -> None:
        _check_field_name(self.field)
        values = tuple(self.values)
        if not values:
            raise ValidationError("$in operator requires a non-empty array value", self.field)
        if len(values) > MAX_IN_VALUES:
            raise ValidationError(
                f"$in operator accepts at most {MAX_IN_VALUES} values", self.field
            )
        object.__setattr__(self, "values", values)


@dataclass(frozen=True, slots=True)
class Exists(Condition):
    """``attribute_exists(field)``."""

    field: str

    def __post_init__(self) -> None:
        _check_field_name(self.field)


@dataclass(frozen=True, slots=True)
class NotExists(Condition):
    """``attribute_not_exists(field)`` — also what ``field: None`` means in the DSL."""

    field: str

    def __post_init__(self) -> None:
        _check_field_name(self.field)


@dataclass(frozen=True, slots=True)
class Size(Condition):
    """``size(field) <op> value``: length of a string, binary, set, list or map."""

    field: str
    op: str
    value: int | float | Decimal

    def __post_init__(self) -> None:
        _check_field_name(self.field)
        if self.op not in COMPARISON_OPERATORS:
            raise ValidationError(f"Unsupported size comparison operator: {self.op}", self.field)
        if not _is_number(self.value):
            raise ValidationError("$size operator requires a numeric value", self.field)
        if not _dynamodb_number(self.value):
            raise ValidationError(
                "$size operator requires a number DynamoDB can hold (at most 38 significant "
                "digits, magnitude from 1e-130 to below 1e126)",
                self.field,
            )


@dataclass(frozen=True, slots=True)
class And(Condition):
    """All of ``conditions``.

    ``grouped`` is the difference between DynamoBao's two ANDs: several keys of one dict are
    joined without parentheses (``a AND b``), an explicit ``$and`` list is parenthesised
    (``(a AND b)``). Both are correct because AND binds tighter than OR; only ``NOT`` needs the
    ungrouped form wrapped, and the compiler does that.
    """

    conditions: tuple[Condition, ...]
    grouped: bool = False

    def __post_init__(self) -> None:
        _check_parts(self, "$and")


@dataclass(frozen=True, slots=True)
class Or(Condition):
    """Any of ``conditions``; always parenthesised: ``(a OR b)``."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        _check_parts(self, "$or")


@dataclass(frozen=True, slots=True)
class Not(Condition):
    """The negation of the whole of ``condition``."""

    condition: Condition

    def __post_init__(self) -> None:
        if not isinstance(self.condition, Condition):
            raise QueryError("$not requires a condition")


def _check_parts(cond: And | Or, op: str) -> None:
    parts = tuple(cond.conditions)
    if not parts:
        raise QueryError(f"{op} requires a non-empty array of conditions")
    for part in parts:
        if not isinstance(part, Condition):
            raise QueryError(f"{op} requires an array of conditions")
    object.__setattr__(cond, "conditions", parts)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return False


def _dynamodb_number(value: int | float | Decimal) -> bool:
    """Whether DynamoDB accepts ``value`` (finite, checked by the caller) as a number: at most
    38 significant digits and a magnitude in [1e-130, 1e126), or zero."""
    if isinstance(value, int) and -(10**38) < value < 10**38:
        return True  # the usual case, without building a Decimal
    if isinstance(value, int) and value.bit_length() > 420:
        return False  # beyond 1e126 (and possibly beyond Python's int-to-text limit)
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if number.is_zero():
        return True
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits) <= 38 and -130 <= number.adjusted() <= 125


def iter_fields(cond: Condition) -> Iterator[str]:
    """The field names a condition refers to, in expression order (repeats included)."""
    if isinstance(cond, (And, Or)):
        for part in cond.conditions:
            yield from iter_fields(part)
    elif isinstance(cond, Not):
        yield from iter_fields(cond.condition)
    else:
        yield cond.field  # type: ignore[attr-defined]


def _field_predicate(fields: FieldCheck | None) -> Callable[[str], bool] | None:
    if fields is None or callable(fields):
        return fields  # type: ignore[return-value]
    known = frozenset(fields)
    return known.__contains__


def check_fields(cond: Condition, fields: FieldCheck) -> Condition:
    """Raise ``QueryError("Unknown field in filter: <f>")`` for the first unknown field.

    For conditions built in Python; :func:`parse_filter` checks DSL input itself.
    """
    known = _field_predicate(fields)
    for field in iter_fields(cond):
        if known is not None and not known(field):
            raise QueryError(f"Unknown field in filter: {field}")
    return cond


# --------------------------------------------------------------------------- building in Python


class Attr:
    """A field, to build conditions with Python operators instead of the dict DSL.

    ``Attr("age") >= 21``, ``Attr("tags").contains("x")``, ``Attr("tags").size > 1``,
    ``Attr("handle") == None`` (absent). Like PynamoDB's attributes, ``==`` builds a condition,
    so an ``Attr`` is not hashable.
    """

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        _check_field_name(name)
        self.name = name

    def __repr__(self) -> str:
        return f"Attr({self.name!r})"

    def __eq__(self, value: Any) -> Condition:  # type: ignore[override]
        return NotExists(self.name) if value is None else Comparison(self.name, "=", value)

    def __ne__(self, value: Any) -> Condition:  # type: ignore[override]
        return Exists(self.name) if value is None else Comparison(self.name, "<>", value)

    def __lt__(self, value: Any) -> Comparison:
        return Comparison(self.name, "<", value)

    def __le__(self, value: Any) -> Comparison:
        return Comparison(self.name, "<=", value)

    def __gt__(self, value: Any) -> Comparison:
        return Comparison(self.name, ">", value)

    def __ge__(self, value: Any) -> Comparison:
        return Comparison(self.name, ">=", value)

    def between(self, low: Any, high: Any) -> Between:
        return Between(self.name, low, high)

    def begins_with(self, prefix: Any) -> BeginsWith:
        return BeginsWith(self.name, prefix)

    def contains(self, value: Any) -> Contains:
        return Contains(self.name, value)

    def is_in(self, values: Iterable[Any]) -> In:
        return In(self.name, tuple(values))

    def exists(self) -> Exists:
        return Exists(self.name)

    def not_exists(self) -> NotExists:
        return NotExists(self.name)

    @property
    def size(self) -> _SizeOf:
        return _SizeOf(self.name)


class _SizeOf:
    """``Attr(f).size``: comparing it builds a :class:`Size` condition."""

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, n: Any) -> Size:  # type: ignore[override]
        return Size(self.name, "=", n)

    def __ne__(self, n: Any) -> Size:  # type: ignore[override]
        return Size(self.name, "<>", n)

    def __lt__(self, n: Any) -> Size:
        return Size(self.name, "<", n)

    def __le__(self, n: Any) -> Size:
        return Size(self.name, "<=", n)

    def __gt__(self, n: Any) -> Size:
        return Size(self.name, ">", n)

    def __ge__(self, n: Any) -> Size:
        return Size(self.name, ">=", n)


# --------------------------------------------------------------------------- the filter DSL


def parse_filter(
    dsl: Mapping[str, Any] | Condition | None, fields: FieldCheck | None = None
) -> Condition | None:
    """DynamoBao's filter / condition DSL as a :class:`Condition`; ``None`` for no filter.

    ``fields`` (names or a predicate) rejects unknown fields with DynamoBao's
    ``QueryError("Unknown field in filter: <f>")``; ``None`` accepts any field. A
    :class:`Condition` may stand wherever a sub-filter dict may (top level, ``$and``/``$or``
    items, ``$not``).
    """
    known = _field_predicate(fields)
    if dsl is None:
        return None
    if isinstance(dsl, Condition):
        return check_fields(dsl, known) if known else dsl
    if not isinstance(dsl, Mapping):
        raise QueryError(f"A filter must be a dict or a Condition, got {type(dsl).__name__}")
    return _parse_object(dsl, known)


def _parse_object(obj: Mapping[str, Any], known: Callable[[str], bool] | None):
    """The keys of one dict, ANDed without parentheses (DynamoBao's implicit AND)."""
    parts: list[Condition] = []
    for key, spec in obj.items():
        if not isinstance(key, str):
            raise QueryError(f"Filter keys must be strings, got {key!r}")
        if key in ("$and", "$or"):
            parts.append(_parse_group(key, spec, known))
        elif key == "$not":
            parts.append(Not(_parse_nested(spec, "$not", known)))
        elif key.startswith("$"):
            raise QueryError(f"Unsupported operator: {key}")
        else:
            parts.extend(_parse_field(key, spec, known))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _parse_nested(spec: Any, op: str, known: Callable[[str], bool] | None) -> Condition:
    """One sub-filter: an item of ``$and``/``$or`` or the operand of ``$not``."""
    if isinstance(spec, Condition):
        return check_fields(spec, known) if known else spec
    if not isinstance(spec, Mapping):
        raise QueryError(f"{op} requires a condition object")
    cond = _parse_object(spec, known)
    if cond is None:
        raise QueryError(f"{op} requires a non-empty condition object")
    return cond


def _parse_group(op: str, spec: Any, known: Callable[[str], bool] | None) -> Condition:
    if not isinstance(spec, (list, tuple)):
        raise QueryError(f"{op} requires an array of conditions")
    if not spec:
        raise QueryError(f"{op} requires a non-empty array of conditions")
    parts = tuple(_parse_nested(item, op, known) for item in spec)
    return And(parts, grouped=True) if op == "$and" else Or(parts)


def _parse_field(field: str, spec: Any, known: Callable[[str], bool] | None) -> list[Condition]:
    _check_field_name(field)
    if known is not None and not known(field):
        raise QueryError(f"Unknown field in filter: {field}")
    if spec is None:
        return [NotExists(field)]
    if isinstance(spec, Condition):
        raise QueryError(f"Invalid condition for field {field}: use the Condition on its own")
    if not isinstance(spec, Mapping):
        return [Comparison(field, "=", spec)]
    if not spec:
        raise QueryError(f"Empty condition object for field: {field}")
    return [_parse_operator(field, op, value) for op, value in spec.items()]


def _parse_operator(field: str, op: Any, value: Any) -> Condition:
    if op in _DSL_COMPARISONS:
        symbol = _DSL_COMPARISONS[op]
        if value is None:
            if symbol == "=":
                return NotExists(field)
            if symbol == "<>":
                return Exists(field)
            raise QueryError(f"Operator {op} for field {field} requires a value, not null")
        return Comparison(field, symbol, value)
    if op in ("$contains", "$beginsWith"):
        if value is None:
            raise QueryError(f"Operator {op} for field {field} requires a value, not null")
        return Contains(field, value) if op == "$contains" else BeginsWith(field, value)
    if op == "$in":
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ValidationError("$in operator requires an array value", field)
        return In(field, tuple(value))
    if op == "$exists":
        if not isinstance(value, bool):
            raise ValidationError("$exists operator requires a boolean value", field)
        return Exists(field) if value else NotExists(field)
    if op == "$size":
        return _parse_size(field, value)
    raise QueryError(f"Invalid operator {op} for field {field}")


def _parse_size(field: str, value: Any) -> Size:
    if _is_number(value):
        return Size(field, "=", value)
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ValidationError(
                "$size operator with object value must have exactly one comparison operator",
                field,
            )
        ((op, n),) = value.items()
        if op not in _DSL_COMPARISONS:
            raise ValidationError(f"Unsupported size comparison operator: {op}", field)
        return Size(field, _DSL_COMPARISONS[op], n)
    raise ValidationError(
        "$size operator requires a number or object with comparison operators", field
    )


# --------------------------------------------------------------------------- sort-key conditions


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """A condition on the sort key of a query: ``op`` is one of ``= < <= > >= begins_with
    between``; ``values`` holds one operand (two for ``between``), not yet encoded."""

    op: str
    values: tuple

    def __post_init__(self) -> None:
        arity = _KEY_OPERATOR_ARITY.get(self.op)
        if arity is None:
            raise QueryError(f"Unsupported sort key operator: {self.op}")
        values = tuple(self.values)
        if len(values) != arity:
            raise QueryError(f"Sort key operator {self.op} takes {arity} value(s)")
        if any(v is None for v in values):
            raise QueryError("Sort key condition value cannot be undefined")
        object.__setattr__(self, "values", values)


def parse_key_condition(dsl: Any) -> KeyCondition:
    """A sort-key condition (the part after the field name) as a :class:`KeyCondition`.

    A plain value means ``=``; an operator dict holds exactly one of ``$eq $gt $gte $lt $lte
    $beginsWith $between`` — or ``$gte`` with ``$lte``, which becomes ``between`` (DESIGN §6.9;
    DynamoBao used only the first key). Other combinations are ambiguous (``$gt`` + ``$lt`` is
    exclusive, which a key condition cannot say) and raise :class:`QueryError`.
    """
    if isinstance(dsl, KeyCondition):
        return dsl
    if dsl is None:
        raise QueryError("Sort key condition value cannot be undefined")
    if not isinstance(dsl, Mapping):
        return KeyCondition("=", (dsl,))
    if not dsl:
        raise QueryError("Invalid condition format")
    for op in dsl:
        if op not in _KEY_OPERATORS:
            raise QueryError(f"Unsupported sort key operator: {op}")
    if len(dsl) > 1:
        if set(dsl) == {"$gte", "$lte"}:
            return KeyCondition("between", (dsl["$gte"], dsl["$lte"]))
        raise QueryError(
            f"Unsupported sort key condition {sorted(dsl)}: combine only $gte with $lte"
            " (BETWEEN); use $between or one operator"
        )
    ((op, value),) = dsl.items()
    if op == "$between":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise QueryError("$between requires an array with exactly 2 elements")
        return KeyCondition("between", tuple(value))
    return KeyCondition(_KEY_OPERATORS[op], (value,))


def parse_sort_key_condition(
    sk_condition: Mapping[str, Any], *, sort_key: str, index_name: str
) -> KeyCondition:
    """``{<sort key field>: condition}`` as given to ``query_by_index``: the field must be the
    index's sort key (DynamoBao's ``Field "<f>" is not the sort key for index "<i>"``)."""
    if not isinstance(sk_condition, Mapping) or len(sk_condition) != 1:
        raise QueryError("Invalid condition format")
    ((field, cond),) = sk_condition.items()
    if field != sort_key:
        raise QueryError(f'Field "{field}" is not the sort key for index "{index_name}"')
    return parse_key_condition(cond)


# --------------------------------------------------------------------------- compiling

_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_]+\Z")


class ExpressionBuilder:
    """Placeholders and expression text for ONE request.

    Use one builder for everything a request carries — key condition, update expression,
    condition or filter — then send ``builder.expression_attributes()``. All placeholders come
    from one table per kind (``#`` names, ``:`` values), so they cannot collide:

    * :meth:`name` / :meth:`value` with a ``hint`` give ``#<hint>`` / ``:<hint>`` (the readable
      form DynamoBao uses: ``#pk``, ``#seats``, ``:sortKeyValue``) when that placeholder is free
      — or already holds the same attribute / value — and otherwise, or when the hint is not
      placeholder text (``my-field``), the next free numbered one;
    * without a hint they number ``#n1, #n2 …`` / ``:v1, :v2 …``, skipping taken ones.

    Filters and conditions take a fresh ``#nK`` for every field reference, as DynamoBao does,
    so the recorded request bodies are reproduced exactly.
    """

    __slots__ = ("_names", "_values", "_name_count", "_value_count")

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, dict] = {}
        self._name_count = 0
        self._value_count = 0

    # ---- placeholders

    def name(self, attr: str, hint: str | None = None) -> str:
        """The ``#…`` placeholder standing for attribute ``attr``."""
        if not isinstance(attr, str) or not attr:
            raise QueryError(f"Attribute names must be non-empty strings, got {attr!r}")
        if hint is not None and _TOKEN_TEXT.match(hint):
            token = "#" + hint
            held = self._names.get(token)
            if held is None or held == attr:
                self._names[token] = attr
                return token
        while True:
            self._name_count += 1
            token = f"#n{self._name_count}"
            if token not in self._names:
                self._names[token] = attr
                return token

    def value(self, av: Mapping[str, Any], hint: str | None = None) -> str:
        """The ``:…`` placeholder standing for the AttributeValue ``av``."""
        if not isinstance(av, Mapping):
            raise TypeError(
                f"expected an AttributeValue dict such as {{'S': 'x'}}, got {type(av).__name__}"
            )
        if hint is not None and _TOKEN_TEXT.match(hint):
            token = ":" + hint
            held = self._values.get(token)
            if held is None or held == av:
                self._values[token] = dict(av)
                return token
        while True:
            self._value_count += 1
            token = f":v{self._value_count}"
            if token not in self._values:
                self._values[token] = dict(av)
                return token

    @property
    def names(self) -> dict[str, str]:
        """``ExpressionAttributeNames`` so far (a copy, in allocation order)."""
        return dict(self._names)

    @property
    def values(self) -> dict[str, dict]:
        """``ExpressionAttributeValues`` so far (a copy, in allocation order)."""
        return dict(self._values)

    def expression_attributes(self) -> dict[str, dict]:
        """The request parameters holding the placeholders; empty maps are left out, because
        DynamoDB rejects them."""
        out: dict[str, dict] = {}
        if self._names:
            out["ExpressionAttributeNames"] = dict(self._names)
        if self._values:
            out["ExpressionAttributeValues"] = dict(self._values)
        return out

    # ---- expressions

    def add_condition(self, condition: Condition, encode_value: ValueEncoder) -> str:
        """Compile a filter or condition; returns the expression text."""
        if not isinstance(condition, Condition):
            raise TypeError(
                "add_condition takes a Condition; parse a DSL dict with parse_filter() first"
            )
        return self._compile(condition, encode_value)

    def key_condition(
        self,
        pk_attr: str,
        pk_value: Mapping[str, Any],
        sk_attr: str | None = None,
        condition: KeyCondition | Any = None,
        encode: KeyEncoder | None = None,
    ) -> str:
        """``KeyConditionExpression`` text: ``#pk = :pk`` and, when ``condition`` is given, the
        sort-key part on ``sk_attr`` with operands converted by ``encode``.

        ``condition`` is a :class:`KeyCondition` or the DSL form :func:`parse_key_condition`
        takes. A ``between`` whose encoded bounds are out of order raises :class:`QueryError`
        here rather than a ValidationException from DynamoDB.
        """
        cond = None if condition is None else parse_key_condition(condition)
        if cond is not None and (sk_attr is None or encode is None):
            raise TypeError("a sort-key condition needs sk_attr and encode")
        text = f"{self.name(pk_attr, 'pk')} = {self.value(pk_value, 'pk')}"
        if cond is None:
            return text
        sk = self.name(sk_attr, "sk")
        if cond.op == "between":
            low, high = (encode(v) for v in cond.values)
            if _out_of_order(low, high):
                raise QueryError("$between requires the lower bound first")
            start = self.value(low, "sortKeyStart")
            end = self.value(high, "sortKeyEnd")
            return f"{text} AND {sk} BETWEEN {start} AND {end}"
        operand = self.value(encode(cond.values[0]), "sortKeyValue")
        if cond.op == "begins_with":
            return f"{text} AND begins_with({sk}, {operand})"
        return f"{text} AND {sk} {cond.op} {operand}"

    # ---- the compiler: the one place that knows DynamoDB's expression syntax

    def _compile(self, c: Condition, enc: ValueEncoder) -> str:
        if isinstance(c, Comparison):
            return f"{self.name(c.field)} {c.op} {self._operand(c.field, c.value, enc)}"
        if isinstance(c, BeginsWith):
            return f"begins_with({self.name(c.field)}, {self._operand(c.field, c.prefix, enc)})"
        if isinstance(c, Contains):
            return f"contains({self.name(c.field)}, {self._operand(c.field, c.value, enc)})"
        if isinstance(c, In):
            name = self.name(c.field)
            operands = ", ".join(self._operand(c.field, v, enc) for v in c.values)
            return f"{name} IN ({operands})"
        if isinstance(c, Between):
            name = self.name(c.field)
            low = self._operand(c.field, c.low, enc)
            high = self._operand(c.field, c.high, enc)
            return f"{name} BETWEEN {low} AND {high}"
        if isinstance(c, Exists):
            return f"attribute_exists({self.name(c.field)})"
        if isinstance(c, NotExists):
            return f"attribute_not_exists({self.name(c.field)})"
        if isinstance(c, Size):
            return f"size({self.name(c.field)}) {c.op} {self.value(_number_av(c.value))}"
        if isinstance(c, (And, Or)) and (c.grouped if isinstance(c, And) else True):
            (first, *rest) = c.conditions
            if not rest and _parenthesised(first):
                # "((a OR b))": DynamoDB rejects redundant parentheses
                return self._compile(first, enc)
        if isinstance(c, And):
            text = " AND ".join(self._compile(p, enc) for p in c.conditions)
            return f"({text})" if c.grouped else text
        if isinstance(c, Or):
            return "(" + " OR ".join(self._compile(p, enc) for p in c.conditions) + ")"
        if isinstance(c, Not):
            inner = self._compile(c.condition, enc)
            # NOT binds tighter than AND: "NOT a AND b" would negate only a (DynamoBao's bug).
            if isinstance(c.condition, And) and not c.condition.grouped:
                inner = f"({inner})"
            return f"NOT {inner}"
        raise TypeError(f"not a condition: {c!r}")

    def _operand(self, field: str, value: Any, enc: ValueEncoder) -> str:
        return self.value(enc(field, value))


def _parenthesised(c: Condition) -> bool:
    """Whether ``c`` compiles to text wrapped in parentheses (a group always does: its own,
    or those of its only part)."""
    return isinstance(c, Or) or (isinstance(c, And) and c.grouped)


def _number_av(n: int | float | Decimal) -> dict:
    return {"N": str(n)}


def _out_of_order(low: Mapping[str, Any], high: Mapping[str, Any]) -> bool:
    """True when both bounds are of one scalar type and low > high (as DynamoDB compares)."""
    if len(low) != 1 or len(high) != 1 or low.keys() != high.keys():
        return False
    ((kind, a),) = low.items()
    b = high[kind]
    try:
        if kind == "S":
            return a > b  # code-point order == DynamoDB's UTF-8 byte order
        if kind == "N":
            return Decimal(a) > Decimal(b)
        if kind == "B":
            return bytes(a) > bytes(b)
    except (TypeError, ValueError, ArithmeticError):
        return False
    return False
