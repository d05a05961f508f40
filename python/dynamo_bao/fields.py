"""Field types of dynamo-bao models.

A field is a descriptor on a :class:`~dynamo_bao.model.BaoModel` subclass. It knows three things:

* ``kind`` — the core Schema kind its values are stored as (``string``, ``integer``, ``datetime``
  …); the core does the storing, type checks and key encoding, in one call per item;
* ``clean(value)`` — what the field accepts beyond the bare type and how it normalises it (a
  date given as an ISO string becomes an aware datetime, a list of tags a set, a related model
  instance its primary id), raising :class:`~dynamo_bao.exceptions.ValidationError` naming the
  field;
* ``initial_value()`` — the value of a new instance that was not given one (``default``, a value
  or a zero-argument callable; ``auto_assign`` ULIDs; the creation time).

Stored forms are DynamoBao's (spec §4): dates as epoch milliseconds, ``ttl`` as epoch seconds,
versions as ULIDs, string sets as ``SS``. Custom fields subclass one of these and override
``clean`` (and ``kind`` only to another core kind).

Decisions where DynamoBao is loose: values are type-checked (``IntegerField`` refuses ``1.5``,
``FloatField`` a number no float can hold, such as ``10**400`` or ``Decimal("1e400")``);
a ``default`` of ``0``/``False``/``""`` is honoured; datetimes must carry a timezone (a naive
datetime or ISO string without offset is ambiguous and refused; a date-only ISO string means
UTC midnight, as in JavaScript); ``TtlField`` takes an aware datetime or epoch *seconds*.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from . import clock
from .exceptions import ValidationError

if TYPE_CHECKING:
    from .model import BaoModel

__all__ = [
    "NO_DEFAULT",
    "Field",
    "StringField",
    "IntegerField",
    "FloatField",
    "DecimalField",
    "BooleanField",
    "DateTimeField",
    "CreateDateField",
    "ModifiedDateField",
    "UlidField",
    "RelatedField",
    "CounterField",
    "BinaryField",
    "StringSetField",
    "TrackedSet",
    "TtlField",
    "VersionField",
    "MapField",
    "ListField",
]

T = TypeVar("T")


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()

_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_RELATIVE_RE = re.compile(r"[+-][0-9]+")


class Field(Generic[T]):
    """Base of all fields: ``required``, ``default`` (a value or a zero-argument callable)."""

    kind: ClassVar[str] = "any"
    #: The name of the DynamoBao field type (models.yaml, errors).
    type_name: ClassVar[str] = "Field"

    def __init__(self, *, required: bool = False, default: Any = NO_DEFAULT) -> None:
        self.required = required
        self.default = default
        self.name: str = ""
        self.model: type[BaoModel] | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Field[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T | None: ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._data.get(self.name)

    def __set__(self, instance: Any, value: T | None) -> None:
        instance._assign(self, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or '?'}>"

    def error(self, message: str) -> ValidationError:
        return ValidationError(f"{self.name}: {message}", self.name)

    def initial_value(self) -> Any:
        """The value of a new instance that was not given one (``None``: no value)."""
        if self.default is NO_DEFAULT:
            return None
        return self.default() if callable(self.default) else self.default

    def clean(self, value: Any) -> Any:
        """``value`` as this field holds it, or a ValidationError; ``None`` means no value."""
        return value


class StringField(Field[str]):
    kind = "string"
    type_name = "StringField"

    def __init__(self, *, max_length: int | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.max_length = max_length

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(f"expected a str, got {type(value).__name__}")
        if self.max_length is not None and len(value) > self.max_length:
            raise self.error(f"longer than {self.max_length} characters")
        return value


class IntegerField(Field[int]):
    kind = "integer"
    type_name = "IntegerField"

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"expected an int, got {type(value).__name__}")
        return value


class FloatField(Field[float]):
    kind = "float"
    type_name = "FloatField"

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise self.error(f"expected a number, got {type(value).__name__}")
        try:
            number = float(value)
        except (OverflowError, ValueError):  # 10**400; a signalling NaN
            raise self.error("the number is out of a float's range") from None
        if not math.isfinite(number):  # float(Decimal("1e400")) is inf, not an error
            raise self.error(f"expected a finite number, got {number!r}")
        return number


class DecimalField(Field[Decimal]):
    kind = "decimal"
    type_name = "DecimalField"

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            raise self.error(f"expected a Decimal, got {type(value).__name__}")
        try:
            # A float goes through its shortest repr: Decimal(0.1) would keep binary noise.
            return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except ArithmeticError:
            raise self.error(f"not a number: {value!r}") from None


class BooleanField(Field[bool]):
    kind = "boolean"
    type_name = "BooleanField"

    def clean(self, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        raise self.error(f"expected a bool, got {type(value).__name__}")


def _aware_datetime(field: Field, value: Any, unit_ms: int) -> datetime | None:
    """An aware datetime from a datetime, an epoch number (``unit_ms`` ms per unit) or ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise field.error("naive datetimes are ambiguous; give a timezone")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(
                milliseconds=value * unit_ms
            )
        except OverflowError:
            raise field.error(f"timestamp {value} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise field.error(f"not an ISO 8601 date or datetime: {value!r}") from None
        if parsed.utcoffset() is None:
            if len(value) > 10:  # a time without an offset
                raise field.error(f"{value!r} has no timezone offset")
            parsed = parsed.replace(tzinfo=timezone.utc)  # date only: UTC midnight, as JS
        return parsed
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise field.error(
        f"expected a datetime, epoch number or ISO string, got {type(value).__name__}"
    )


class DateTimeField(Field[datetime]):
    """A point in time, stored as epoch milliseconds; read back as an aware UTC datetime.

    Accepts an aware ``datetime``, epoch milliseconds (int) or an ISO 8601 string.
    """

    kind = "datetime"
    type_name = "DateTimeField"

    def clean(self, value: Any) -> Any:
        return _aware_datetime(self, value, 1)


class CreateDateField(DateTimeField):
    """Set to the current time when the item is created; never changed by updates."""

    type_name = "CreateDateField"

    def __init__(self, **options: Any) -> None:
        options.setdefault("required", True)
        super().__init__(**options)

    def initial_value(self) -> Any:
        return clock.now()


class ModifiedDateField(DateTimeField):
    """Set to the current time on every create and update."""

    type_name = "ModifiedDateField"

    def __init__(self, **options: Any) -> None:
        options.setdefault("required", True)
        super().__init__(**options)

    def initial_value(self) -> Any:
        return clock.now()


class UlidField(Field[str]):
    """A ULID; ``auto_assign=True`` gives new instances a fresh one."""

    kind = "string"
    type_name = "UlidField"

    def __init__(self, *, auto_assign: bool = False, **options: Any) -> None:
        options.setdefault("required", True)
        super().__init__(**options)
        self.auto_assign = auto_assign

    def initial_value(self) -> Any:
        if self.auto_assign and self.default is NO_DEFAULT:
            return clock.new_ulid()
        return super().initial_value()

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or _ULID_RE.fullmatch(value) is None:
            raise self.error(f"invalid ULID {value!r}")
        return value


class RelatedField(Field[str]):
    """The primary id of an instance of another model (given as the id or the instance)."""

    kind = "string"
    type_name = "RelatedField"

    def __init__(self, model: str | type, **options: Any) -> None:
        super().__init__(**options)
        self.related_model = model if isinstance(model, str) else model.__name__

    def clean(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        primary_id = getattr(value, "primary_id", None)
        if isinstance(primary_id, str):
            return primary_id
        raise self.error(
            f"expected a primary id or a model instance, got {type(value).__name__}"
        )


class CounterField(Field[int]):
    """An integer changed atomically: ``"+1"`` / ``"-3"`` in an update or save become an ADD."""

    kind = "integer"
    type_name = "CounterField"

    def __init__(self, **options: Any) -> None:
        options.setdefault("default", 0)
        super().__init__(**options)

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _RELATIVE_RE.fullmatch(value):
            if len(value) > 39:  # sign + 38 digits: more is no DynamoDB number
                raise self.error("a relative change has at most 38 digits")
            return value  # a relative change, applied with ADD by the write path
        raise self.error(f"expected an int or a relative change like '+1', got {value!r}")


class BinaryField(Field[bytes]):
    kind = "binary"
    type_name = "BinaryField"

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise self.error(f"expected bytes, got {type(value).__name__}")


class TrackedSet(set):
    """The set a StringSetField holds. ``base`` holds the members as loaded (or given): the
    instance finds in-place changes (``add``, ``discard``, ``|=`` …) by comparing the set with
    its base, and ``save()`` sends the difference (ADD / DELETE), so members someone else
    added meanwhile are not overwritten. The set keeps no reference to its instance: a cycle
    per loaded instance would leave every page of instances to the garbage collector."""

    __slots__ = ("_field", "base")

    def __init__(self, field: str, members: Any = ()) -> None:
        super().__init__(members)
        self._field = field
        self.base = frozenset(self)

    def add(self, member: Any) -> None:
        if not isinstance(member, str):
            raise ValidationError(f"{self._field}: members must be str", self._field)
        super().add(member)

    def update(self, *others: Any) -> None:
        for other in others:
            for member in other:
                self.add(member)

    def __reduce__(self) -> Any:
        return (set, (list(self),))


class StringSetField(Field[set]):
    """A set of strings (``SS``); an empty set is not stored. Lists are accepted (deduplicated)."""

    kind = "string_set"
    type_name = "StringSetField"

    def __init__(
        self,
        *,
        max_string_length: int | None = None,
        max_member_count: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.max_string_length = max_string_length
        self.max_member_count = max_member_count

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        data = instance._data
        members = data.get(self.name)
        if not isinstance(members, TrackedSet):
            # Sets read from the table are wrapped on first access (absent: empty), with what
            # was loaded as the base that save() diffs against.
            members = data[self.name] = TrackedSet(self.name, members or ())
        return members

    def initial_value(self) -> Any:
        value = super().initial_value()
        return set() if value is None else set(value)

    def clean(self, value: Any) -> Any:
        if value is None:
            return set()
        if not isinstance(value, (set, frozenset, list, tuple)):
            raise self.error(f"expected a set of str, got {type(value).__name__}")
        members = set()
        for member in value:
            if not isinstance(member, str):
                raise self.error(f"members must be str, got {type(member).__name__}")
            if self.max_string_length is not None and len(member) > self.max_string_length:
                raise self.error(f"a member is longer than {self.max_string_length}")
            members.add(member)
        if self.max_member_count is not None and len(members) > self.max_member_count:
            raise self.error(f"more than {self.max_member_count} members")
        return members


class TtlField(Field[datetime]):
    """DynamoDB's time to live, stored as epoch seconds; the field must be named ``ttl``."""

    kind = "ttl"
    type_name = "TtlField"

    def clean(self, value: Any) -> Any:
        return _aware_datetime(self, value, 1000)


class VersionField(Field[str]):
    """A ULID replaced on every write, for optimistic locking."""

    kind = "string"
    type_name = "VersionField"

    def __init__(self, **options: Any) -> None:
        options.setdefault("required", True)
        super().__init__(**options)

    def initial_value(self) -> Any:
        if self.default is NO_DEFAULT:
            return clock.new_ulid()
        return super().initial_value()

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or len(value) != 26:
            raise self.error("a version must be a 26-character ULID")
        return value


class MapField(Field[dict]):
    """A nested document (``M``) of any storable values."""

    kind = "map"
    type_name = "MapField"

    def clean(self, value: Any) -> Any:
        if value is None or isinstance(value, dict):
            return value
        raise self.error(f"expected a dict, got {type(value).__name__}")


class ListField(Field[list]):
    """A list (``L``) of any storable values."""

    kind = "list"
    type_name = "ListField"

    def clean(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return list(value)
        raise self.error(f"expected a list, got {type(value).__name__}")


#: DynamoBao's field type names (models.yaml) → field classes.
FIELD_TYPES: dict[str, type[Field]] = {
    cls.type_name: cls
    for cls in (
        StringField,
        IntegerField,
        FloatField,
        DecimalField,
        BooleanField,
        DateTimeField,
        CreateDateField,
        ModifiedDateField,
        UlidField,
        RelatedField,
        CounterField,
        BinaryField,
        StringSetField,
        TtlField,
        VersionField,
        MapField,
        ListField,
    )
}
