"""The pure-Python core: the reference implementation of the core interface.

The Rust extension (``dynamo_bao._native``) implements exactly the same functions and the same
``Schema`` class, and must give identical results and raise identical exception classes; a
hypothesis test drives both with the same inputs. Everything here is about text and values only:
no I/O, no boto3, no tenant resolution (callers pass the tenant they resolved).

Decisions written down here, where DynamoBao's behaviour had to be fixed (DESIGN §6):

* Tenant ids are 1-64 characters of ``[A-Za-z0-9_.-]`` starting with a letter or digit. An
  empty or malformed tenant is an :class:`InvalidTenantIdError`, never "no tenant"; only
  ``None`` means "no tenant".
* Model prefixes are 1-10 characters of ``[A-Za-z0-9_]``.
* Key values may not be empty; a primary partition-key value may not contain ``##__SK__##``.
  Primary ids are split at the *first* separator only.
* Index encodings (``encode_index_value``) sort as the values do:

  - integer: ``0 <= n < 10**20`` is zero-padded to 20 digits, as DynamoBao does. Larger values
    are ``":" + 2-digit digit count + digits`` (``":" > "9"``, so they follow). Negative values
    ``-10**20 <= n < 0`` are ``"-" + zero-padded 20 digits of 10**20 + n`` (``"-" < "0"``, and
    -2 gets a smaller complement than -1); more negative ones ``"," + 2-digit (99 - digit
    count) + nines' complement of the digits``.
  - datetime: epoch milliseconds, encoded as an integer (so dates from 1970 match DynamoBao;
    epoch 0 is padded too, where DynamoBao wrote ``"0"``).
  - float (default ``"sortable"``): the value's shortest round-trip decimal digits ``d1d2…``
    and exponent ``e`` (value = d1.d2… × 10**e). Zero is ``"0"``; positive values are
    ``"1" + 3-digit (e + 400) + "." + digits``; negative ones
    ``"-" + 3-digit (599 - e) + "." + nines' complement of the digits + "~"`` (the ``~``
    makes a shorter mantissa sort after a longer one, as it must for negatives). Ints and
    Decimals encode by their exact decimal value, so 3, 3.0 and Decimal("3.00") agree.
  - float with ``float_encoding="dynamo-bao"``: JavaScript's ``toExponential(20)`` (round half
    up on the exact binary value, exponent without padding) — identical to DynamoBao, not
    sortable.
  - boolean ``"1"``/``"0"``; string as is.
* Numbers stored as ``N``: ints as decimal text, Decimals as ``str(d)``, floats in
  ECMAScript ``Number.prototype.toString`` form (``4.75``, ``1e+21``, ``1.5e-7``) so that items
  are byte-identical to those DynamoBao writes. DynamoDB's limits are enforced before sending:
  at most 38 significant digits, magnitude between 1e-130 and 1e126, finite.
* Nesting: documents may be at most 32 containers deep (DynamoDB's limit); deeper (or cyclic)
  values are a :class:`ValidationError`.
* Reading a stored attribute that does not fit its field (another service stored ``age`` as
  S) is a :class:`ValidationError` that names the item by its public id, found from the item's
  own ``_pk``/``_sk`` (tenant and prefix taken off) only on this error path; ``err.field``,
  ``err.primary_id`` and ``err.stored_type`` say the rest. The wording is
  ``"<Model> item '<id>': attribute '<name>' holds <stored>; its <kind> field expects
  <what>"``, where ``<stored>`` is the type and, for S and N, the text cut to 40 characters
  (``"(id unknown)"`` when the item carries no key of this model). Both cores word it alike.
* Text: every ``str`` that is stored (``S``, ``SS`` members, map keys, key parts) must have a
  UTF-8 form; a lone surrogate is a :class:`ValidationError` (botocore would send it escaped,
  and DynamoDB answers with a server error). Map keys and attribute names may not be empty
  (DynamoDB refuses them at any depth).
* Sizes (DynamoDB's limits, in UTF-8 bytes): partition keys (``_pk``, ``_gsiN_pk``, unique
  rows) at most 2048, sort keys (``_sk``, ``_gsiN_sk``, ``_iter_sk`` — the primary id) at most
  1024, a :class:`ValidationError` naming the field otherwise. :func:`item_size` counts an
  item as DynamoDB does (numbers as its documentation estimates them, never more than it
  counts); the write paths refuse items over :data:`MAX_ITEM_BYTES` with it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from ..exceptions import ConfigurationError, InvalidTenantIdError, ValidationError

__all__ = [
    "NAME",
    "SK_SEPARATOR",
    "MAX_DEPTH",
    "validate_tenant_id",
    "validate_model_prefix",
    "format_primary_key",
    "format_gsi_key",
    "format_unique_key",
    "format_iteration_key",
    "iteration_bucket",
    "format_primary_id",
    "parse_primary_id",
    "encode_index_value",
    "to_attribute_value",
    "from_attribute_value",
    "marshal_item",
    "unmarshal_item",
    "item_size",
    "MAX_ITEM_BYTES",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "Schema",
    "MAX_JSON_DEPTH",
    "encode_request",
    "decode_response",
]

NAME = "python"
SK_SEPARATOR = "##__SK__##"
MAX_DEPTH = 32
UNIQUE_KEY_SK = "_raft_uc"
#: DynamoDB's limits on key values (UTF-8 bytes) and on a whole item (``item_size``).
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_ITEM_BYTES = 400 * 1024

_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_PREFIX_RE = re.compile(r"[A-Za-z0-9_]{1,10}")
_INDEX_ID_RE = re.compile(r"gsi[1-5]")
_CONSTRAINT_RE = re.compile(r"_?uc([1-3])")
_INT_LITERAL_RE = re.compile(r"-?[0-9]+")
# Number text: [+-]digits[.digits][e[+-]digits] with at least one digit before the exponent.
# The one definition of number text, for reading N values and for Decimals.
_NUMBER_TEXT_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")


def _split_number(text: str) -> tuple[str, str, str, str | None] | None:
    m = _NUMBER_TEXT_RE.fullmatch(text)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    sign, ip, fp, exp = m.groups()
    return sign, ip, fp or "", exp

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
_ONE_S = timedelta(seconds=1)

_FLOAT_ENCODINGS = ("sortable", "dynamo-bao")
_INDEX_KINDS = ("string", "integer", "float", "boolean", "datetime")


# --------------------------------------------------------------------------------------------
# Tenant ids and model prefixes


def validate_tenant_id(tid: Any) -> str:
    """Return ``tid`` if it is a valid tenant id, else raise :class:`InvalidTenantIdError`."""
    if not isinstance(tid, str):
        raise InvalidTenantIdError(
            f"tenant id must be a str, got {type(tid).__name__}"
        )
    if _TENANT_RE.fullmatch(tid) is None:
        raise InvalidTenantIdError(
            f"invalid tenant id {tid!r}: use 1-64 characters of A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return tid


def validate_model_prefix(prefix: Any) -> str:
    """Return ``prefix`` if it is a valid model prefix, else raise :class:`ConfigurationError`."""
    if not isinstance(prefix, str) or _PREFIX_RE.fullmatch(prefix) is None:
        raise ConfigurationError(
            f"invalid model prefix {prefix!r}: use 1-10 characters of A-Z a-z 0-9 _"
        )
    return prefix


# --------------------------------------------------------------------------------------------
# Keys


def _tenant_part(tenant: Any) -> str:
    if tenant is None:
        return ""
    return "[" + validate_tenant_id(tenant) + "]#"


def _check_text(value: str, what: str) -> str:
    # Lone surrogates cannot be sent to DynamoDB (not UTF-8); refuse them in keys up front.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"{what} contains a lone surrogate") from None
    return value


def _utf8_len(text: str) -> int:
    """UTF-8 length of text already checked to have no lone surrogates."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _long_key(text: str, limit: int) -> bool:
    # A code point is at most 4 UTF-8 bytes: short texts need no encoding to be counted.
    return len(text) * 4 > limit and _utf8_len(text) > limit


def _key_too_long(what: str, text: str, limit: int) -> ValidationError:
    return ValidationError(
        f"{what} is {_utf8_len(text)} bytes long; DynamoDB allows at most {limit} bytes"
    )


def _check_key_size(text: str, limit: int, what: str) -> str:
    if _long_key(text, limit):
        raise _key_too_long(what, text, limit)
    return text


def _check_tenant(tenant: Any) -> None:
    if tenant is not None:
        validate_tenant_id(tenant)


def _key_value(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValidationError(f"{what} must not be empty")
    return _check_text(value, what)


def _partition_value(value: Any) -> str:
    value = _key_value(value, "partition key value")
    if SK_SEPARATOR in value:
        raise ValidationError(
            f"partition key value {value!r} must not contain {SK_SEPARATOR!r}"
        )
    return value


def format_primary_key(tenant: str | None, prefix: str, value: str | None) -> str:
    """``_pk`` of an item: ``"[T]#P#v"`` (``"P#v"`` without tenant).

    ``value=None`` is a model whose partition key is its prefix: ``"[T]#P"`` (``"P"``).
    """
    head = _tenant_part(tenant) + validate_model_prefix(prefix)
    if value is None:
        return head
    return _check_key_size(
        head + "#" + _partition_value(value), MAX_PARTITION_KEY_BYTES, "partition key"
    )


def format_gsi_key(tenant: str | None, prefix: str, index_id: str, value: str) -> str:
    """``_gsiN_pk``: ``"[T]#P#gsiN#v"`` (``"P#gsiN#v"`` without tenant)."""
    head = _tenant_part(tenant) + validate_model_prefix(prefix)
    if not isinstance(index_id, str) or _INDEX_ID_RE.fullmatch(index_id) is None:
        raise ConfigurationError(f"invalid index id {index_id!r}: use gsi1 .. gsi5")
    text = head + "#" + index_id + "#" + _key_value(value, "index key value")
    return _check_key_size(text, MAX_PARTITION_KEY_BYTES, "index partition key")


def _constraint_number(constraint_id: Any) -> str:
    if type(constraint_id) is str:
        m = _CONSTRAINT_RE.fullmatch(constraint_id)
        if m is not None:
            return m.group(1)
    raise ConfigurationError(
        f"invalid unique constraint id {constraint_id!r}: use uc1, uc2 or uc3"
    )


def format_unique_key(
    tenant: str | None, constraint_id: str, prefix: str, field: str, value: str
) -> str:
    """``_pk`` of a unique-constraint row: ``"[T]#_raft_uc#_ucN#P#field:v"``.

    ``constraint_id`` is given as declared (``"uc1"``; DynamoBao's ``"_uc1"`` works too).
    """
    head = _tenant_part(tenant)
    number = _constraint_number(constraint_id)
    prefix = validate_model_prefix(prefix)
    if not isinstance(field, str) or not field or not field.isascii():
        raise ConfigurationError(f"invalid field name {field!r}")
    value = _key_value(value, "unique value")
    text = f"{head}{UNIQUE_KEY_SK}#_uc{number}#{prefix}#{field}:{value}"
    return _check_key_size(text, MAX_PARTITION_KEY_BYTES, "unique-constraint key")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and type(value) is not bool


def _check_buckets(buckets: Any) -> int:
    if not _is_int(buckets) or not 1 <= buckets <= 1000:
        raise ConfigurationError(
            f"iteration buckets must be an int between 1 and 1000, got {buckets!r}"
        )
    return buckets


def format_iteration_key(tenant: str | None, prefix: str, bucket: int, buckets: int) -> str:
    """``_iter_pk``: ``"[T]#P#iter"`` for one bucket, else ``"[T]#P#iter#007"``."""
    head = _tenant_part(tenant) + validate_model_prefix(prefix) + "#iter"
    _check_buckets(buckets)
    if not _is_int(bucket) or not 0 <= bucket < buckets:
        raise ValidationError(f"bucket {bucket!r} is out of range 0..{buckets - 1}")
    if buckets == 1:
        return head
    return f"{head}#{bucket:03d}"


def iteration_bucket(primary_id: str, buckets: int) -> int:
    """DynamoBao's bucket: Java's 32-bit ``String.hashCode`` over UTF-16 units, ``abs % n``."""
    if not isinstance(primary_id, str):
        raise ValidationError(f"primary id must be a str, got {type(primary_id).__name__}")
    _check_buckets(buckets)
    _check_text(primary_id, "primary id")
    h = 0
    data = primary_id.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h = (h * 31 + (data[i] | (data[i + 1] << 8))) & 0xFFFFFFFF
    if h >= 0x80000000:
        h -= 0x100000000
    return abs(h) % buckets


def format_primary_id(pk: str | None, sk: str | None) -> str:
    """The public id of an item: ``pk``, ``sk`` (prefix partition) or ``"pk##__SK__##sk"``."""
    if pk is None and sk is None:
        raise ValidationError("a primary id needs a partition or a sort key value")
    if sk is None:
        return _partition_value(pk)
    sk = _key_value(sk, "sort key value")
    if pk is None:
        return sk
    return _partition_value(pk) + SK_SEPARATOR + sk


def parse_primary_id(primary_id: str, has_sort_key: bool) -> tuple[str, str | None]:
    """Split a primary id into ``(pk, sk)`` at the first separator.

    Without a sort key, the id is the partition value and ``sk`` is ``None``.
    """
    primary_id = _key_value(primary_id, "primary id")
    if not has_sort_key:
        return _partition_value(primary_id), None
    pk, sep, sk = primary_id.partition(SK_SEPARATOR)
    if not sep:
        raise ValidationError(
            f"primary id {primary_id!r} has no {SK_SEPARATOR!r}; "
            "the model has a composite key (pk##__SK__##sk)"
        )
    return _key_value(pk, "partition key value"), _key_value(sk, "sort key value")


# --------------------------------------------------------------------------------------------
# Numbers as decimal digits


def _decimal_parts(text: str) -> tuple[bool, str, int] | None:
    """``(negative, digits, e10)`` with value = d1.d2... × 10**e10, or ``None`` for zero.

    ``text`` is a finite decimal literal (``str`` of an int, a Decimal or a float repr).
    """
    split = _split_number(text)
    if split is None:
        raise ValidationError(f"not a finite number: {text!r}")
    sign, ip, fp, exp = split
    raw = ip + fp
    stripped = raw.lstrip("0")
    if not stripped:
        return None
    e10 = (int(exp) if exp else 0) + len(ip) - (len(raw) - len(stripped)) - 1
    return sign == "-", stripped.rstrip("0"), e10


def _int_text(n: int) -> str:
    """Decimal text of an int (its subclasses' own ``__str__`` aside); one too long for
    Python's int-to-text limit is far beyond what DynamoDB or a key can hold."""
    try:
        return int.__repr__(n)
    except ValueError:
        raise ValidationError("integer has too many digits to be stored") from None


def _number_text(value: Any) -> str:
    """Exact decimal text of an int, a finite float (shortest repr) or a finite Decimal."""
    t = type(value)
    if t is int:
        return _int_text(value)
    if t is float:
        if not math.isfinite(value):
            raise ValidationError(f"cannot store a non-finite number: {value!r}")
        return repr(value)
    if t is bool:
        raise ValidationError("expected a number, got bool")
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return _number_text(float(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"cannot store a non-finite number: {value!r}")
        return str(value)
    raise ValidationError(f"expected a number, got {t.__name__}")


def _check_dynamodb_number(parts: tuple[bool, str, int] | None, text: str) -> None:
    if parts is None:
        return
    _, digits, e10 = parts
    if len(digits) > 38:
        raise ValidationError(
            f"number {text} has more than 38 significant digits (DynamoDB's limit)"
        )
    if not -130 <= e10 <= 125:
        raise ValidationError(
            f"number {text} is out of DynamoDB's range (1e-130 to 1e126 in magnitude)"
        )


def _js_number_text(parts: tuple[bool, str, int] | None) -> str:
    """ECMAScript ``Number::toString`` layout of (sign, shortest digits, exponent)."""
    if parts is None:
        return "0"
    negative, s, e10 = parts
    k = len(s)
    n = e10 + 1
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + s
    else:
        e = n - 1
        mant = s if k == 1 else s[0] + "." + s[1:]
        out = mant + ("e+" if e >= 0 else "e-") + str(abs(e))
    return "-" + out if negative else out


def _n_text(value: Any) -> str:
    """The text of an ``N`` attribute for a number, checked against DynamoDB's limits."""
    text = _number_text(value)
    parts = _decimal_parts(text)
    _check_dynamodb_number(parts, text)
    if isinstance(value, float):
        return _js_number_text(parts)
    return text


def _parse_n(text: Any) -> int | float:
    if not isinstance(text, str) or _split_number(text) is None:
        raise ValidationError(f"invalid number text {text!r}")
    if _INT_LITERAL_RE.fullmatch(text) is not None:
        return int(text)
    return float(text)


# --------------------------------------------------------------------------------------------
# Index value encodings


def _encode_integer(n: int) -> str:
    if n >= 0:
        if n < 10**20:
            return f"{n:020d}"
        digits = _int_text(n)
        if len(digits) > 99:
            raise ValidationError("integer has too many digits to be used in a key")
        return f":{len(digits):02d}{digits}"
    if n >= -(10**20):
        return f"-{10**20 + n:020d}"
    digits = _int_text(-n)
    if len(digits) > 99:
        raise ValidationError("integer has too many digits to be used in a key")
    return f",{99 - len(digits):02d}{digits.translate(_NINES)}"


_NINES = str.maketrans("0123456789", "9876543210")


def _encode_float_sortable(value: Any) -> str:
    parts = _decimal_parts(_number_text(value))
    if parts is None:
        return "0"
    negative, digits, e10 = parts
    if not -400 <= e10 <= 599:
        raise ValidationError("number is out of range for a key")
    if negative:
        return f"-{599 - e10:03d}.{digits.translate(_NINES)}~"
    return f"1{e10 + 400:03d}.{digits}"


_EXACT = Context(prec=2000)
_TWENTY_PLACES = Decimal(1).scaleb(-20)


def _encode_float_dynamo_bao(value: Any) -> str:
    text = _number_text(value)
    parts = _decimal_parts(text)
    if parts is None:
        return "0." + "0" * 20 + "e+0"
    if not -400 <= parts[2] <= 599:
        raise ValidationError("number is out of range for a key")
    exact = Decimal(float(value)) if isinstance(value, float) else Decimal(text)
    negative = exact.is_signed()
    exact = abs(exact)
    # 21 significant digits, ties away from zero (ECMAScript picks the larger n), computed on
    # the exact value: 2000 digits hold any double exactly, and a longer Decimal gets more.
    ctx = _EXACT if len(parts[1]) < 1900 else Context(prec=len(parts[1]) + 100)
    e10 = exact.adjusted()
    q = exact.scaleb(-e10, context=ctx)
    q = q.quantize(_TWENTY_PLACES, rounding=ROUND_HALF_UP, context=ctx)
    if q >= 10:
        e10 += 1
        q = (q / 10).quantize(_TWENTY_PLACES, rounding=ROUND_HALF_UP, context=ctx)
    out = f"{q:.20f}e{'+' if e10 >= 0 else '-'}{abs(e10)}"
    return "-" + out if negative else out


def _datetime_ms(value: Any, what: str = "datetime") -> int:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValidationError(
                f"{what} must be timezone-aware (naive datetimes are ambiguous)"
            )
        return (value - _EPOCH) // _ONE_MS
    if _is_int(value):
        return int(value)
    raise ValidationError(
        f"{what} must be an aware datetime or epoch milliseconds (int), "
        f"got {type(value).__name__}"
    )


def _check_float_encoding(float_encoding: Any) -> str:
    if float_encoding not in _FLOAT_ENCODINGS:
        raise ConfigurationError(
            f"invalid float encoding {float_encoding!r}: use 'sortable' or 'dynamo-bao'"
        )
    return float_encoding


def encode_index_value(kind: str, value: Any, float_encoding: str = "sortable") -> str:
    """The sortable text of ``value`` as used in keys (DynamoBao's ``toGsi``, fixed)."""
    _check_float_encoding(float_encoding)
    if kind == "string":
        return _key_value(value, "string key value")
    if kind == "integer":
        if not _is_int(value):
            raise ValidationError(f"integer key value must be an int, got {type(value).__name__}")
        return _encode_integer(value)
    if kind == "float":
        if type(value) is bool:
            raise ValidationError("float key value must be a number, got bool")
        if float_encoding == "dynamo-bao":
            return _encode_float_dynamo_bao(value)
        return _encode_float_sortable(value)
    if kind == "boolean":
        if type(value) is not bool:
            raise ValidationError(f"boolean key value must be a bool, got {type(value).__name__}")
        return "1" if value else "0"
    if kind == "datetime":
        return _encode_integer(_datetime_ms(value))
    raise ConfigurationError(
        f"unknown index value kind {kind!r}: use one of {', '.join(_INDEX_KINDS)}"
    )


# --------------------------------------------------------------------------------------------
# Generic marshalling (boto3 low-level AttributeValue form; B holds raw bytes)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, Decimal))) and type(value) is not bool


def _is_bytes(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview))


def _set_to_av(value: set | frozenset) -> dict:
    if not value:
        raise ValidationError("cannot store an empty set (DynamoDB has no empty sets)")
    first = next(iter(value))
    if isinstance(first, str):
        if not all(isinstance(m, str) for m in value):
            raise ValidationError("a set must hold members of one type (str, numbers or bytes)")
        members = list(value)
        for m in members:
            _check_str(m)
        return {"SS": members}
    if _is_number(first):
        if not all(_is_number(m) for m in value):
            raise ValidationError("a set must hold members of one type (str, numbers or bytes)")
        return {"NS": [_n_text(m) for m in value]}
    if _is_bytes(first):
        if not all(_is_bytes(m) for m in value):
            raise ValidationError("a set must hold members of one type (str, numbers or bytes)")
        return {"BS": [bytes(m) for m in value]}
    raise ValidationError(
        f"set members must be str, numbers or bytes, got {type(first).__name__}"
    )


def _lone_surrogate() -> ValidationError:
    return ValidationError("text contains a lone surrogate (not valid Unicode, cannot be stored)")


def _check_str(value: str) -> None:
    """Refuse text that has no UTF-8 form: botocore would send it escaped and DynamoDB answer
    with a server error (the fast wire path refuses it too, later)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _lone_surrogate() from None


def _check_name(name: Any) -> None:
    """A map key or attribute name: a non-empty str (DynamoDB refuses empty names at any
    depth) with a UTF-8 form."""
    if not isinstance(name, str):
        raise ValidationError(f"map keys must be str, got {type(name).__name__}")
    if not name:
        raise ValidationError("map keys and attribute names must not be empty")
    _check_str(name)


def _too_deep() -> ValidationError:
    return ValidationError(f"value is nested deeper than {MAX_DEPTH} levels")


def _to_av(value: Any, depth: int) -> dict:
    # Exact types first (the common case), then subclasses (str/int enums, OrderedDict,
    # namedtuples...), in the same order as the Rust core.
    t = type(value)
    if t is str:
        if not value.isascii():
            _check_str(value)
        return {"S": value}
    if t is bool:
        return {"BOOL": value}
    if t is int or t is float:
        return {"N": _n_text(value)}
    if value is None:
        return {"NULL": True}
    if t is dict:
        return _map_to_av(value, depth)
    if t is list or t is tuple:
        return _list_to_av(value, depth)
    if isinstance(value, str):
        _check_str(value)
        return {"S": value}
    if _is_number(value):
        return {"N": _n_text(value)}
    if isinstance(value, dict):
        return _map_to_av(value, depth)
    if isinstance(value, (list, tuple)):
        return _list_to_av(value, depth)
    if _is_bytes(value):
        return {"B": bytes(value)}
    if isinstance(value, (set, frozenset)):
        return _set_to_av(value)
    raise ValidationError(f"cannot store a value of type {t.__name__}")


def _map_to_av(value: dict, depth: int) -> dict:
    if depth >= MAX_DEPTH:
        raise _too_deep()
    out = {}
    for k, v in value.items():
        if type(k) is not str or not k or not k.isascii():
            _check_name(k)
        out[k] = _to_av(v, depth + 1)
    return {"M": out}


def _list_to_av(value: list | tuple, depth: int) -> dict:
    if depth >= MAX_DEPTH:
        raise _too_deep()
    return {"L": [_to_av(v, depth + 1) for v in value]}


def to_attribute_value(value: Any) -> dict:
    """A Python value as a DynamoDB AttributeValue (``{"S": ...}``, ``{"M": {...}}`` …)."""
    return _to_av(value, 0)


def _from_av(av: Any, depth: int) -> Any:
    if not isinstance(av, dict) or len(av) != 1:
        raise ValidationError(f"not an AttributeValue: {av!r}")
    ((tag, v),) = av.items()
    if tag == "S":
        if not isinstance(v, str):
            raise ValidationError("S value must be a str")
        return v
    if tag == "N":
        return _parse_n(v)
    if tag == "BOOL":
        if type(v) is not bool:
            raise ValidationError("BOOL value must be a bool")
        return v
    if tag == "NULL":
        return None
    if tag == "M":
        if not isinstance(v, dict):
            raise ValidationError("M value must be a dict")
        if depth >= MAX_DEPTH:
            raise _too_deep()
        return {k: _from_av(x, depth + 1) for k, x in v.items()}
    if tag == "L":
        if not isinstance(v, list):
            raise ValidationError("L value must be a list")
        if depth >= MAX_DEPTH:
            raise _too_deep()
        return [_from_av(x, depth + 1) for x in v]
    if tag == "B":
        return _binary_from_av(v)
    if tag == "SS":
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValidationError("SS value must be a list of str")
        return set(v)
    if tag == "NS":
        if not isinstance(v, list):
            raise ValidationError("NS value must be a list of number strings")
        return {_parse_n(x) for x in v}
    if tag == "BS":
        if not isinstance(v, list):
            raise ValidationError("BS value must be a list of bytes")
        return {_binary_from_av(x) for x in v}
    raise ValidationError(f"unknown AttributeValue type {tag!r}")


def _binary_from_av(v: Any) -> bytes:
    t = type(v)
    if t is bytes:
        return v
    if t is bytearray or t is memoryview:
        return bytes(v)
    raise ValidationError("B value must be bytes")


def from_attribute_value(av: dict) -> Any:
    """The Python value of a DynamoDB AttributeValue (inverse of :func:`to_attribute_value`)."""
    return _from_av(av, 0)


def _item_dict(item: Any) -> dict:
    if not isinstance(item, dict):
        raise ValidationError(f"an item must be a dict, got {type(item).__name__}")
    return item


def marshal_item(item: dict) -> dict:
    """A whole item as boto3's low-level ``Item``: ``{name: AttributeValue}``. The same as
    ``to_attribute_value(item)["M"]``, in one call."""
    return _map_to_av(_item_dict(item), 0)["M"]


def _number_size(text: Any) -> int:
    # DynamoDB: about one byte per two significant digits, plus one. Digit pairs aligned to
    # the decimal point can take one byte more; this never counts more than DynamoDB does.
    parts = _decimal_parts(text) if isinstance(text, str) else None
    if parts is None:
        if not isinstance(text, str) or _split_number(text) is None:
            raise ValidationError(f"invalid number text {text!r}")
        return 1
    return (len(parts[1]) + 1) // 2 + 1


def _text_size(value: Any) -> int:
    if not isinstance(value, str):
        raise ValidationError("S value must be a str")
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _lone_surrogate() from None


def _blob_size(value: Any) -> int:
    if not _is_bytes(value):
        raise ValidationError("B value must be bytes")
    return memoryview(value).nbytes


def _av_size(av: Any, depth: int) -> int:
    if not isinstance(av, dict) or len(av) != 1:
        raise ValidationError(f"not an AttributeValue: {av!r}")
    ((tag, v),) = av.items()
    if tag == "S":
        if type(v) is str and v.isascii():
            return len(v)  # the common case first
        return _text_size(v)
    if tag == "N":
        return _number_size(v)
    if tag == "BOOL" or tag == "NULL":
        return 1
    if tag == "B":
        return _blob_size(v)
    if tag == "M" or tag == "L":
        if depth >= MAX_DEPTH:
            raise _too_deep()
        if tag == "M":
            if not isinstance(v, dict):
                raise ValidationError("M value must be a dict")
            members = v.items()
            size = 3 + len(v) + sum(_text_size(k) for k in v)
            return size + sum(_av_size(x, depth + 1) for _, x in members)
        if not isinstance(v, list):
            raise ValidationError("L value must be a list")
        return 3 + len(v) + sum(_av_size(x, depth + 1) for x in v)
    if tag == "SS" or tag == "NS" or tag == "BS":
        if not isinstance(v, list):
            raise ValidationError(f"{tag} value must be a list")
        member = _text_size if tag == "SS" else _number_size if tag == "NS" else _blob_size
        return sum(member(x) for x in v)
    raise ValidationError(f"unknown AttributeValue type {tag!r}")


def item_size(item: dict) -> int:
    """DynamoDB's size of an item in AttributeValue form (what its 400 KB limit counts):
    UTF-8 bytes of every attribute name and string, raw bytes of binaries, 1 for a boolean or
    null, ``(significant digits + 1) // 2 + 1`` for a number, 3 for a list or map plus 1 per
    member (and the map's key names), sets as the sum of their members. Numbers are counted
    as DynamoDB's documentation estimates them, which is never more than it counts, so an
    item this refuses is one DynamoDB refuses."""
    size = 0
    for name, av in _item_dict(item).items():
        size += (len(name) if type(name) is str and name.isascii() else _text_size(name))
        size += _av_size(av, 1)
    return size


def unmarshal_item(item: dict) -> dict:
    """The values of a whole item of AttributeValues (inverse of :func:`marshal_item`). The
    same as ``from_attribute_value({"M": item})``, in one call."""
    return {k: _from_av(x, 1) for k, x in _item_dict(item).items()}


# --------------------------------------------------------------------------------------------
# Schema: a model compiled once


_FIELD_KINDS = (
    "string",
    "integer",
    "float",
    "decimal",
    "boolean",
    "datetime",
    "ttl",
    "binary",
    "string_set",
    "map",
    "list",
    "any",
)
# Which index encoding a field kind uses in keys; kinds absent here cannot be key parts.
_KEY_ENCODING = {
    "string": "string",
    "integer": "integer",
    "float": "float",
    "decimal": "float",
    "boolean": "boolean",
    "datetime": "datetime",
    "ttl": "integer",
}


class Schema:
    """A model compiled once: field kinds, primary key, GSIs and iteration.

    ``fields`` is a sequence of ``(name, kind)`` in declaration order; kinds are ``string``,
    ``integer``, ``float``, ``decimal``, ``boolean``, ``datetime`` (stored as epoch ms),
    ``ttl`` (epoch seconds), ``binary``, ``string_set``, ``map``, ``list`` and ``any``.
    ``partition_key``/``sort_key`` name fields; ``None`` means the model prefix (DynamoBao's
    ``"modelPrefix"``). ``indexes`` is a sequence of ``(index_id, pk_field, sk_field)`` with the
    same ``None`` convention. ``iteration_buckets`` is 0 for a model that is not iterable.

    Values are plain Python: datetimes are timezone-aware ``datetime`` objects (epoch
    milliseconds as ``int`` are accepted when writing; ``ttl`` accepts epoch seconds), sets are
    ``set``, binaries ``bytes``, decimals ``Decimal``.
    """

    __slots__ = (
        "model_name",
        "prefix",
        "field_names",
        "partition_key",
        "sort_key",
        "indexes",
        "iteration_buckets",
        "float_encoding",
        "_kinds",
    )

    def __init__(
        self,
        model_name: str,
        prefix: str,
        fields: Any,
        partition_key: str | None,
        sort_key: str | None = None,
        indexes: Any = None,
        iteration_buckets: int = 0,
        float_encoding: str = "sortable",
    ) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise ConfigurationError(f"invalid model name {model_name!r}")
        self.model_name = model_name
        self.prefix = validate_model_prefix(prefix)
        self.float_encoding = _check_float_encoding(float_encoding)
        kinds: dict[str, str] = {}
        for entry in fields:
            try:
                name, kind = entry
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{model_name}: fields must be (name, kind) pairs, got {entry!r}"
                ) from None
            if not isinstance(name, str) or not name or name.startswith("_"):
                raise ConfigurationError(
                    f"{model_name}: invalid field name {name!r} (names starting with _ "
                    "are reserved)"
                )
            if kind not in _FIELD_KINDS:
                raise ConfigurationError(
                    f"{model_name}.{name}: unknown field kind {kind!r}"
                )
            if name in kinds:
                raise ConfigurationError(f"{model_name}: duplicate field {name!r}")
            kinds[name] = kind
        self._kinds = kinds
        self.field_names = tuple(kinds)
        if partition_key is None and sort_key is None:
            raise ConfigurationError(
                f"{model_name}: partition key and sort key cannot both be the model prefix"
            )
        self.partition_key = self._key_field(partition_key, "partition key")
        self.sort_key = self._key_field(sort_key, "sort key")
        seen_ids = set()
        compiled = []
        for entry in indexes or ():
            try:
                index_id, pk, sk = entry
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{model_name}: indexes must be (index_id, pk, sk) triples, got {entry!r}"
                ) from None
            if not isinstance(index_id, str) or _INDEX_ID_RE.fullmatch(index_id) is None:
                raise ConfigurationError(
                    f"{model_name}: invalid index id {index_id!r}: use gsi1 .. gsi5"
                )
            if index_id in seen_ids:
                raise ConfigurationError(f"{model_name}: index id {index_id} used twice")
            seen_ids.add(index_id)
            what = f"index {index_id}"
            compiled.append(
                (index_id, self._key_field(pk, what + " partition key"),
                 self._key_field(sk, what + " sort key"))
            )
        self.indexes = tuple(compiled)
        if not _is_int(iteration_buckets) or iteration_buckets != 0:
            _check_buckets(iteration_buckets)
        self.iteration_buckets = iteration_buckets

    def _key_field(self, name: Any, what: str) -> str | None:
        if name is None:
            return None
        kind = self._kinds.get(name) if type(name) is str else None
        if kind is None:
            raise ConfigurationError(f"{self.model_name}: {what} {name!r} is not a field")
        if kind not in _KEY_ENCODING:
            raise ConfigurationError(
                f"{self.model_name}: {what} {name!r} is a {kind} field, which cannot be "
                "part of a key"
            )
        return name

    def __repr__(self) -> str:
        return f"<Schema {self.model_name} prefix={self.prefix!r} fields={len(self._kinds)}>"

    # -- values to stored form ------------------------------------------------------------

    def _field_error(self, name: str, message: str) -> ValidationError:
        return ValidationError(f"{self.model_name}.{name}: {message}", name)

    def _field_to_av(self, name: str, kind: str, value: Any) -> dict | None:
        """Stored form of one field value; ``None`` when nothing is to be stored."""
        try:
            if kind == "string":
                if not isinstance(value, str):
                    raise ValidationError(f"expected str, got {type(value).__name__}")
                if not value.isascii():
                    _check_str(value)
                return {"S": value}
            if kind == "integer":
                if not _is_int(value):
                    raise ValidationError(f"expected int, got {type(value).__name__}")
                return {"N": _n_text(value)}
            if kind == "float" or kind == "decimal":
                if type(value) is bool:
                    raise ValidationError("expected a number, got bool")
                return {"N": _n_text(value)}
            if kind == "boolean":
                if type(value) is not bool:
                    raise ValidationError(f"expected bool, got {type(value).__name__}")
                return {"BOOL": value}
            if kind == "datetime":
                return {"N": _n_text(_datetime_ms(value))}
            if kind == "ttl":
                if isinstance(value, datetime):
                    return {"N": _n_text(_datetime_ms(value) // 1000)}
                if _is_int(value):
                    return {"N": _n_text(value)}
                raise ValidationError(
                    "expected an aware datetime or epoch seconds (int), "
                    f"got {type(value).__name__}"
                )
            if kind == "binary":
                if _is_bytes(value):
                    return {"B": bytes(value)}
                raise ValidationError(f"expected bytes, got {type(value).__name__}")
            if kind == "string_set":
                return self._string_set_to_av(value)
            if kind == "map":
                if not isinstance(value, dict):
                    raise ValidationError(f"expected dict, got {type(value).__name__}")
                return _to_av(value, 0)
            if kind == "list":
                if not isinstance(value, (list, tuple)):
                    raise ValidationError(f"expected list, got {type(value).__name__}")
                return _to_av(value, 0)
            return _to_av(value, 0)
        except ValidationError as err:
            raise self._field_error(name, str(err)) from None

    @staticmethod
    def _string_set_to_av(value: Any) -> dict | None:
        if not isinstance(value, (set, frozenset, list, tuple)):
            raise ValidationError(f"expected a set of str, got {type(value).__name__}")
        for m in value:
            if not isinstance(m, str):
                raise ValidationError(f"set members must be str, got {type(m).__name__}")
            _check_str(m)
        # A list keeps its order (first occurrence wins), as DynamoBao does.
        members = list(value) if isinstance(value, (set, frozenset)) else list(dict.fromkeys(value))
        if not members:
            return None
        return {"SS": members}

    def _key_text(self, name: str, value: Any) -> str:
        try:
            return encode_index_value(_KEY_ENCODING[self._kinds[name]], value, self.float_encoding)
        except ValidationError as err:
            raise self._field_error(name, str(err)) from None

    def _required_key_text(self, values: dict, name: str | None, what: str) -> str | None:
        if name is None:
            return None
        value = values.get(name)
        if value is None:
            raise self._field_error(name, f"the {what} needs a value")
        return self._key_text(name, value)

    def _primary_parts(self, values: dict) -> tuple[str | None, str | None]:
        pk = self._required_key_text(values, self.partition_key, "partition key")
        sk = self._required_key_text(values, self.sort_key, "sort key")
        if pk is not None and SK_SEPARATOR in pk:
            raise self._field_error(
                self.partition_key,
                f"partition key value {pk!r} must not contain {SK_SEPARATOR!r}",
            )
        return pk, sk

    def _key_too_long(self, name: str | None, what: str, text: str, limit: int) -> Exception:
        err = _key_too_long(what, text, limit)
        return err if name is None else self._field_error(name, str(err))

    def _key_from_parts(self, pk: str | None, sk: str | None, tenant: Any) -> dict:
        # Parts already checked (non-empty, UTF-8, no separator in pk): only sizes are left.
        head = _tenant_part(tenant) + self.prefix
        pk_text = head if pk is None else head + "#" + pk
        if _long_key(pk_text, MAX_PARTITION_KEY_BYTES):
            raise self._key_too_long(
                self.partition_key, "partition key", pk_text, MAX_PARTITION_KEY_BYTES
            )
        if sk is not None and _long_key(sk, MAX_SORT_KEY_BYTES):
            raise self._key_too_long(self.sort_key, "sort key", sk, MAX_SORT_KEY_BYTES)
        return {
            "_pk": {"S": pk_text},
            "_sk": {"S": self.prefix if sk is None else sk},
        }

    def _check_values(self, values: Any) -> None:
        if not isinstance(values, dict):
            raise ValidationError(
                f"{self.model_name}: values must be a dict, got {type(values).__name__}"
            )
        for name in values:
            if name not in self._kinds:
                raise ValidationError(f"{self.model_name}: unknown field {name!r}", name)

    def marshal_fields(self, values: dict) -> dict:
        """Stored form of the given fields only (``None`` → ``{"NULL": True}``)."""
        self._check_values(values)
        out = {}
        for name, value in values.items():
            if value is None:
                out[name] = {"NULL": True}
                continue
            av = self._field_to_av(name, self._kinds[name], value)
            out[name] = {"NULL": True} if av is None else av
        return out

    def primary_id(self, values: dict) -> str:
        """The public id of the item these values describe."""
        self._check_values(values)
        pk, sk = self._primary_parts(values)
        return format_primary_id(pk, sk)

    def key(self, values: dict, tenant: str | None) -> dict:
        """``{"_pk": ..., "_sk": ...}`` of the item these values describe."""
        self._check_values(values)
        _check_tenant(tenant)
        pk, sk = self._primary_parts(values)
        return self._key_from_parts(pk, sk, tenant)

    def key_from_id(self, primary_id: str, tenant: str | None) -> dict:
        """``{"_pk": ..., "_sk": ...}`` of the item with this primary id."""
        _check_tenant(tenant)
        if self.partition_key is None:
            sk = _key_value(primary_id, "primary id")
            return self._key_from_parts(None, sk, tenant)
        pk, sk = parse_primary_id(primary_id, self.sort_key is not None)
        return self._key_from_parts(pk, sk, tenant)

    def index_keys(self, values: dict, tenant: str | None) -> dict:
        """GSI keys computable from ``values`` (both sides present) and iteration keys."""
        self._check_values(values)
        _check_tenant(tenant)
        out: dict = {}
        self._add_index_keys(values, tenant, out)
        if self.iteration_buckets:
            pk, sk = self._primary_parts(values)
            self._add_iteration_keys(format_primary_id(pk, sk), tenant, out)
        return out

    def _add_index_keys(self, values: dict, tenant: Any, out: dict) -> None:
        prefix = self.prefix
        for index_id, pk_name, sk_name in self.indexes:
            pk_value = None if pk_name is None else values.get(pk_name)
            sk_value = None if sk_name is None else values.get(sk_name)
            # Sparse index: written only when both sides have a value.
            if (pk_name is not None and pk_value is None) or (
                sk_name is not None and sk_value is None
            ):
                continue
            pk_text = prefix if pk_name is None else self._key_text(pk_name, pk_value)
            sk_text = prefix if sk_name is None else self._key_text(sk_name, sk_value)
            gsi_pk = f"{_tenant_part(tenant)}{prefix}#{index_id}#{pk_text}"
            if _long_key(gsi_pk, MAX_PARTITION_KEY_BYTES):
                raise self._key_too_long(
                    pk_name, f"{index_id} partition key", gsi_pk, MAX_PARTITION_KEY_BYTES
                )
            if _long_key(sk_text, MAX_SORT_KEY_BYTES):
                raise self._key_too_long(
                    sk_name, f"{index_id} sort key", sk_text, MAX_SORT_KEY_BYTES
                )
            out[f"_{index_id}_pk"] = {"S": gsi_pk}
            out[f"_{index_id}_sk"] = {"S": sk_text}

    def _add_iteration_keys(self, primary_id: str, tenant: Any, out: dict) -> None:
        buckets = self.iteration_buckets
        bucket = iteration_bucket(primary_id, buckets)
        if _long_key(primary_id, MAX_SORT_KEY_BYTES):
            # The iteration index's sort key is the primary id.
            raise self._key_too_long(
                self.partition_key or self.sort_key, "primary id (the iteration sort key)",
                primary_id, MAX_SORT_KEY_BYTES,
            )
        out["_iter_pk"] = {"S": format_iteration_key(tenant, self.prefix, bucket, buckets)}
        out["_iter_sk"] = {"S": primary_id}

    def to_item(self, values: dict, tenant: str | None) -> dict:
        """The whole item: stored fields (``None`` and empty sets omitted), keys, GSI keys
        (where both sides have a value) and iteration keys."""
        self._check_values(values)
        _check_tenant(tenant)
        pk, sk = self._primary_parts(values)
        item = self._key_from_parts(pk, sk, tenant)
        for name, kind in self._kinds.items():
            value = values.get(name)
            if value is None:
                continue
            av = self._field_to_av(name, kind, value)
            if av is not None:
                item[name] = av
        self._add_index_keys(values, tenant, item)
        if self.iteration_buckets:
            self._add_iteration_keys(format_primary_id(pk, sk), tenant, item)
        return item

    # -- stored form to values -------------------------------------------------------------

    def _field_from_av(self, kind: str, av: Any) -> Any:
        """One field's value; a ValidationError saying why not (:meth:`from_item` names the
        item and the attribute)."""
        if not isinstance(av, dict) or len(av) != 1:
            raise ValidationError(f"not an AttributeValue: {av!r}")
        ((tag, v),) = av.items()
        if tag == "NULL":
            return None
        if kind == "string":
            if tag == "S" and isinstance(v, str):  # str subclasses too, as generic reading
                return v
        elif kind == "integer":
            if tag == "N":
                n = _parse_n(v)
                if type(n) is int:
                    return n
                raise ValidationError(f"stored number {v!r} is not an integer")
        elif kind == "float":
            if tag == "N":
                return float(_parse_n_checked(v))
        elif kind == "decimal":
            if tag == "N":
                return Decimal(_parse_n_checked(v))
        elif kind == "boolean":
            if tag == "BOOL" and type(v) is bool:
                return v
        elif kind == "datetime" or kind == "ttl":
            if tag == "N":
                n = _parse_n(v)
                if type(n) is not int:
                    raise ValidationError(f"stored timestamp {v!r} is not an integer")
                try:
                    if kind == "datetime":
                        return _EPOCH + n * _ONE_MS
                    return _EPOCH + n * _ONE_S
                except OverflowError:
                    raise ValidationError(
                        f"stored timestamp {v!r} is out of range"
                    ) from None
        elif kind == "binary":
            if tag == "B":
                return _binary_from_av(v)
        elif kind == "string_set":
            if tag == "SS":
                return _from_av(av, 0)
        elif kind == "map":
            if tag == "M":
                return _from_av(av, 0)
        elif kind == "list":
            if tag == "L":
                return _from_av(av, 0)
        else:
            return _from_av(av, 0)
        raise ValidationError(f"stored attribute of type {tag} does not fit a {kind} field")

    def from_item(self, item: dict) -> dict:
        """Field values of a stored item; attributes that are not fields are ignored. An
        attribute that does not fit its field is a :class:`ValidationError` naming the item
        (see :meth:`_misfit`)."""
        if not isinstance(item, dict):
            raise ValidationError(
                f"{self.model_name}: an item must be a dict, got {type(item).__name__}"
            )
        out = {}
        for name, kind in self._kinds.items():
            av = item.get(name)
            if av is not None:
                try:
                    out[name] = self._field_from_av(kind, av)
                except ValidationError as err:
                    raise self._misfit(item, name, kind, av, str(err)) from None
        return out

    def _misfit(self, item: dict, name: str, kind: str, av: Any, reason: str) -> ValidationError:
        """The error of a stored attribute that does not fit its field (the cold path): it
        names the item's primary id (from its ``_pk``/``_sk``), the attribute, what is stored
        (S and N text cut to 40 characters) and what the field expects, e.g.
        ``User item 'u1': attribute 'age' holds S 'abc'; its integer field expects an integer
        (N)``. The native core words it identically."""
        primary_id = self.stored_primary_id(item)
        tag = _stored_tag(av)
        if tag is None:
            stored = "a malformed AttributeValue"
        elif tag == "S" or tag == "N":
            stored = f"{tag} '{_preview(next(iter(av.values())))}'"
        elif tag == "BOOL":
            stored = "BOOL true" if next(iter(av.values())) else "BOOL false"
        elif kind == "any" or _KIND_TAG.get(kind) == tag:
            stored = f"{tag} that cannot be read ({reason})"
        else:
            stored = tag
        who = "(id unknown)" if primary_id is None else f"'{primary_id}'"
        return ValidationError(
            f"{self.model_name} item {who}: attribute '{name}' holds {stored}; its {kind} "
            f"field expects {_EXPECTED[kind]}",
            name,
            primary_id=primary_id,
            stored_type=tag,
        )

    def stored_primary_id(self, item: Any) -> str | None:
        """The public id of a stored item, from its ``_pk``/``_sk`` (tenant and model prefix
        taken off); ``None`` when they are missing or not this model's keys."""
        if not isinstance(item, dict):
            return None
        pk, sk = _s_text(item.get("_pk")), _s_text(item.get("_sk"))
        if pk is None or sk is None:
            return None
        return self._id_of_keys(pk, sk)

    def _id_of_keys(self, pk: str, sk: str) -> str | None:
        if pk.startswith("["):
            end = pk.find("]#")  # tenant ids hold no "]"
            if end < 0:
                return None
            pk = pk[end + 2 :]
        prefix = self.prefix
        if not pk.startswith(prefix):
            return None
        rest = pk[len(prefix) :]
        if self.partition_key is None:
            if rest:
                return None
            pk_value = None
        else:
            if len(rest) < 2 or rest[0] != "#":
                return None
            pk_value = rest[1:]
        if self.sort_key is None:
            if sk != prefix:
                return None
            return pk_value
        if not sk:
            return None
        return sk if pk_value is None else pk_value + SK_SEPARATOR + sk

    def from_items(self, items: list) -> list:
        """:meth:`from_item` over a whole page of items."""
        if type(items) is not list:
            raise ValidationError(
                f"{self.model_name}: items must be a list, got {type(items).__name__}"
            )
        return [self.from_item(item) for item in items]

    def encode_key_value(self, field: str, value: Any) -> str:
        """``value`` encoded as field ``field`` is in keys (for key conditions)."""
        if field not in self._kinds:
            raise ValidationError(f"{self.model_name}: unknown field {field!r}", field)
        if self._kinds[field] not in _KEY_ENCODING:
            raise ValidationError(
                f"{self.model_name}.{field}: a {self._kinds[field]} field cannot be part of a key",
                field,
            )
        return self._key_text(field, value)


# What a field of each kind expects, in the words of a misfit error (both cores).
_EXPECTED = {
    "string": "a string (S)",
    "integer": "an integer (N)",
    "float": "a number (N)",
    "decimal": "a number (N)",
    "boolean": "a boolean (BOOL)",
    "datetime": "epoch milliseconds (N)",
    "ttl": "epoch seconds (N)",
    "binary": "binary data (B)",
    "string_set": "a string set (SS)",
    "map": "a map (M)",
    "list": "a list (L)",
    "any": "a readable AttributeValue",
}
# The AttributeValue type each kind is stored as.
_KIND_TAG = {
    "string": "S",
    "integer": "N",
    "float": "N",
    "decimal": "N",
    "boolean": "BOOL",
    "datetime": "N",
    "ttl": "N",
    "binary": "B",
    "string_set": "SS",
    "map": "M",
    "list": "L",
}
# The Python type of each AttributeValue type's value (boto3's low-level form).
_AV_VALUE_TYPES: dict[str, Any] = {
    "S": str,
    "N": str,
    "BOOL": bool,
    "NULL": object,
    "B": (bytes, bytearray, memoryview),
    "M": dict,
    "L": list,
    "SS": list,
    "NS": list,
    "BS": list,
}
_PREVIEW_CHARS = 40


def _stored_tag(av: Any) -> str | None:
    """The type of a well-formed AttributeValue (at its top level), else ``None``."""
    if not isinstance(av, dict) or len(av) != 1:
        return None
    ((tag, v),) = av.items()
    expected = _AV_VALUE_TYPES.get(tag)
    if expected is None or not isinstance(v, expected):
        return None
    return str(tag)


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "..."


def _s_text(av: Any) -> str | None:
    if isinstance(av, dict) and len(av) == 1:
        text = av.get("S")
        if isinstance(text, str):
            return text
    return None


def _parse_n_checked(text: Any) -> str:
    if not isinstance(text, str) or _split_number(text) is None:
        raise ValidationError(f"invalid number text {text!r}")
    return text


# The wire codec (DynamoDB JSON bodies) lives in its own module.
from ._pure_wire import MAX_JSON_DEPTH, decode_response, encode_request  # noqa: E402
