"""Walking every item of an iterable model, and counting them (spec §5.12, DESIGN §7).

An iterable model writes ``_iter_pk`` (its bucket, ``"[T]#P#iter#007"``) and ``_iter_sk`` (the
primary id) on every item. :func:`iterate_all` queries the ``iter_index`` partition of each
bucket page by page (``Limit=batch_size``) and reads each page's items with one BatchGetItem,
yielding a list of instances per page — in the order the index returned them (DynamoBao
yields them in BatchGet's order). Empty pages are skipped; a row whose item was deleted in the
meantime simply vanishes.

Decisions where DynamoBao differs or is silent:

* **Filters work on any field.** ``iter_index`` projects only keys, so DynamoBao refused every
  filter a user can write. Here the filter (the dict DSL) is evaluated on the items read by
  BatchGet, with DynamoDB's own semantics (:func:`matches`: types must agree, ``<>`` is true
  for a missing attribute, numbers compare as numbers …) and operands in the stored form of
  their field, exactly as a server-side filter would see them. It reads every item of the
  model, as DynamoBao's hydration did anyway. Every operand is encoded once when the call is
  made (:func:`check_operands`), so a bad one is a :class:`ValidationError` before any
  request, whatever the tenant holds.
* **The tenant is resolved when ``iterate_all`` is called**, and the whole walk stays in it,
  even when the returned iterator is consumed somewhere else. Errors in the arguments, a
  missing tenant and a non-iterable model are raised by the call itself, before any request.
* **Concurrency is opt-in and bounded.** ``concurrency=n`` walks ``n`` buckets at a time (one
  page of each per round, through :func:`dynamo_bao.concurrency.map_in_context`, so each
  worker carries the caller's context); batches still come out bucket by bucket within a
  round. The default walks one bucket after the other.
* **``count()``** sums ``Select=COUNT`` queries over every page of every bucket (never only the
  first page, spec §11.21). With a filter it cannot count on the index (KEYS_ONLY: a filter on
  a field would see the field as absent and count wrongly), so it counts the items
  :func:`iterate_all` yields with that filter, which reads them.
* A missing index is a :class:`ConfigurationError` telling to run ``bao update-table``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import capacity, core, transport
from .concurrency import map_in_context
from .exceptions import BatchIncompleteError, ConfigurationError, QueryError, ValidationError
from .expressions import (
    And,
    BeginsWith,
    Between,
    Comparison,
    Condition,
    Contains,
    Exists,
    ExpressionBuilder,
    In,
    Not,
    NotExists,
    Or,
    Size,
    ValueEncoder,
    parse_filter,
)
from .query import bound, instances_of, value_encoder
from .search import filter_fields
from .table import ITERATION_INDEX_NAME, ITERATION_PK_ATTRIBUTE, ITERATION_SK_ATTRIBUTE

__all__ = [
    "CountResult",
    "MAX_CONCURRENCY",
    "iterate_all",
    "iterate_bucket",
    "count",
    "matches",
]

#: Upper bound of buckets walked at the same time by one call (threads it starts).
MAX_CONCURRENCY = 16
DEFAULT_BATCH_SIZE = 100


@dataclass
class CountResult(capacity.ReadCost):
    """The number of items, and the ConsumedCapacity of each request that counted them (the
    Queries; with a filter also the BatchGetItems that read the items)."""

    count: int = 0
    consumed_capacity: list[dict] = field(default_factory=list)

    def __int__(self) -> int:
        return self.count


# --------------------------------------------------------------------------- argument checks


def require_iterable(cls: Any, what: str = "iteration") -> int:
    """The model's bucket count; a model that is not iterable is a ConfigurationError."""
    if not getattr(cls, "iterable", False):
        raise ConfigurationError(
            f"Model {cls.__name__} is not configured as iterable ({what} needs iterable = True)"
        )
    return int(cls.iteration_buckets)


def check_bucket(cls: Any, bucket: Any) -> int:
    buckets = require_iterable(cls)
    if isinstance(bucket, bool) or not isinstance(bucket, int) or not 0 <= bucket < buckets:
        raise ValidationError(f"Invalid bucket number {bucket!r}. Must be 0-{buckets - 1}")
    return bucket


def check_positive_int(name: str, value: Any, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValidationError(f"{name} must be at most {maximum}, got {value!r}")
    return value


def check_operands(condition: Condition, encode: ValueEncoder) -> None:
    """Encode every operand of a filter evaluated on the items read (:func:`matches`) once,
    before any request: a value its field cannot hold (``{"age": "abc"}`` on an integer) is
    refused up front — also in an empty tenant, where no item would ever have been compared.
    Compiling the condition is what encodes each operand exactly as DynamoDB would get it."""
    ExpressionBuilder().add_condition(condition, encode)


def parse_item_filter(cls: Any, filter: Any) -> Condition | None:
    """A user filter (dict DSL or Condition) checked against the model's fields."""
    return parse_filter(filter, fields=filter_fields(cls)) if filter is not None else None


# --------------------------------------------------------------------------- requests


@dataclass
class Page:
    """One Query page of an iteration partition."""

    ids: list[str]
    last_key: dict | None
    count: int
    capacity: dict


def bucket_partition(cls: Any, tenant: str | None, bucket: int) -> str:
    return core.format_iteration_key(tenant, cls._schema.prefix, bucket, cls.iteration_buckets)


def start_key_after(cls: Any, tenant: str | None, bucket: int, primary_id: str) -> dict:
    """The ExclusiveStartKey that resumes a bucket right after the item ``primary_id``."""
    key = cls._schema.key_from_id(primary_id, tenant)
    return {
        ITERATION_PK_ATTRIBUTE: {"S": bucket_partition(cls, tenant, bucket)},
        ITERATION_SK_ATTRIBUTE: {"S": primary_id},
        **key,
    }


def query_page(
    cls: Any,
    manager: Any,
    tenant: str | None,
    bucket: int,
    *,
    index_name: str = ITERATION_INDEX_NAME,
    limit: int | None = None,
    start_key: dict | None = None,
    add_filter: Callable[[ExpressionBuilder], str] | None = None,
    count_only: bool = False,
) -> Page:
    """One Query of a bucket's partition on an iteration index."""
    builder = ExpressionBuilder()
    params: dict[str, Any] = {
        "IndexName": index_name,
        "KeyConditionExpression": builder.key_condition(
            ITERATION_PK_ATTRIBUTE, {"S": bucket_partition(cls, tenant, bucket)}
        ),
    }
    if add_filter is not None:
        params["FilterExpression"] = add_filter(builder)
    params.update(builder.expression_attributes())
    if count_only:
        params["Select"] = "COUNT"
    if limit is not None:
        params["Limit"] = limit
    if start_key is not None:
        params["ExclusiveStartKey"] = start_key
    response = transport.query(manager.client, manager.table_name, **params)
    ids = [index_row_id(item) for item in response.get("Items", ())]
    last_key = response.get("LastEvaluatedKey") or None
    if last_key is not None:
        index_row_id(last_key)  # search resumes from it: the same shape is required
    return Page(
        ids=ids,
        last_key=last_key,
        count=int(response.get("Count", 0)),
        capacity=response.get("ConsumedCapacity") or {},
    )


def index_row_id(row: Any) -> str:
    """The primary id an iteration-index row (or LastEvaluatedKey) holds in ``_iter_sk``; a
    row without one is a malformed answer, refused as a :class:`ValidationError`."""
    value = row.get(ITERATION_SK_ATTRIBUTE) if isinstance(row, dict) else None
    text = value.get("S") if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise ValidationError(
            f"the {ITERATION_INDEX_NAME} answer holds a row without a string "
            f"{ITERATION_SK_ATTRIBUTE}: the response is malformed"
        )
    return text


def read_items(
    cls: Any, manager: Any, tenant: str | None, ids: Iterable[str], consumed: list | None = None
) -> dict[str, dict]:
    """``{id: stored item}`` of the ids that exist (one BatchGetItem per 100 ids); the
    responses' ConsumedCapacity entries are appended to ``consumed``.

    Keys left unread or a failed request raise :class:`BatchIncompleteError` whose
    ``unprocessed`` are the primary ids not read and ``done`` ``{id: instance}`` of those
    read (before any filter), the cause chained — always, even when nothing of this read was
    done: it is part of a walk whose index query already ran. A response holding an item
    that was not asked for is a :class:`ValidationError` (the transport checks every stored
    key)."""
    schema = cls._schema
    by_key: dict[tuple[str, str], str] = {}
    for primary_id in dict.fromkeys(ids):
        key = schema.key_from_id(primary_id, tenant)
        by_key[transport.stored_key(key)] = primary_id
    if not by_key:
        return {}
    keys = [{"_pk": {"S": pk}, "_sk": {"S": sk}} for pk, sk in by_key]
    try:
        items = transport.batch_get(manager.client, manager.table_name, keys, consumed=consumed)
    except BatchIncompleteError as err:
        unread = {transport.stored_key(key) for key in err.unprocessed or ()}
        read = list(err.done or ())
        done = dict(zip(_ids_of(by_key, read), instances_of(cls, read, tenant), strict=True))
        raise BatchIncompleteError(
            f"{len(unread)} of {len(by_key)} {cls.__name__} ids were not read: "
            f"{err.__cause__ or 'unprocessed after retrying'}",
            unprocessed=[primary_id for key, primary_id in by_key.items() if key in unread],
            done=done,
        ) from err.__cause__
    return dict(zip(_ids_of(by_key, items), items, strict=True))


def _ids_of(by_key: dict[tuple[str, str], str], items: list[dict]) -> list[str]:
    """The primary ids of items the transport checked were asked for (by their stored key)."""
    return [by_key[transport.stored_key(item)] for item in items]


def hydrate(
    cls: Any,
    manager: Any,
    tenant: str | None,
    ids: list[str],
    condition: Condition | None,
    encode: ValueEncoder | None,
    consumed: list | None = None,
) -> list[Any]:
    """Instances of the ids that exist and match ``condition``, in the order of ``ids``."""
    found = read_items(cls, manager, tenant, ids, consumed)
    items = [found[i] for i in dict.fromkeys(ids) if i in found]
    if condition is not None:
        assert encode is not None
        items = [item for item in items if matches(condition, item, encode)]
    return instances_of(cls, items, tenant)


# --------------------------------------------------------------------------- iteration


def iterate_all(
    cls: Any,
    batch_size: int = DEFAULT_BATCH_SIZE,
    filter: Mapping[str, Any] | Condition | None = None,
    *,
    concurrency: int = 1,
) -> Iterator[list[Any]]:
    """Every item of the model, as lists of instances (one list per index page)."""
    buckets = require_iterable(cls)
    return _iterate(cls, list(range(buckets)), batch_size, filter, concurrency)


def iterate_bucket(
    cls: Any,
    bucket: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    filter: Mapping[str, Any] | Condition | None = None,
) -> Iterator[list[Any]]:
    """The items of one iteration bucket (0 .. iteration_buckets-1), as lists of instances."""
    return _iterate(cls, [check_bucket(cls, bucket)], batch_size, filter, 1)


def _iterate(
    cls: Any,
    buckets: list[int],
    batch_size: int,
    filter: Any,
    concurrency: int,
    consumed: list | None = None,
) -> Iterator[list[Any]]:
    check_positive_int("batch_size", batch_size)
    check_positive_int("concurrency", concurrency, MAX_CONCURRENCY)
    condition = parse_item_filter(cls, filter)
    encode = value_encoder(cls) if condition is not None else None
    if condition is not None:
        check_operands(condition, encode)
    manager, tenant = bound(cls)
    return _walk(
        cls, manager, tenant, buckets, batch_size, condition, encode, concurrency, consumed
    )


def _walk(
    cls: Any,
    manager: Any,
    tenant: str | None,
    buckets: list[int],
    batch_size: int,
    condition: Condition | None,
    encode: ValueEncoder | None,
    concurrency: int,
    consumed: list | None,
) -> Iterator[list[Any]]:
    """Rounds of one page from each of up to ``concurrency`` unfinished buckets (lowest
    first), each page read and filtered by its worker; batches yielded in bucket order."""
    remaining = list(buckets)
    start_keys: dict[int, dict | None] = dict.fromkeys(buckets)

    def one_page(bucket: int) -> tuple[list[Any], dict | None]:
        page = query_page(
            cls, manager, tenant, bucket, limit=batch_size, start_key=start_keys[bucket]
        )
        if consumed is not None and page.capacity:
            consumed.append(page.capacity)
        batch = hydrate(cls, manager, tenant, page.ids, condition, encode, consumed)
        return batch, page.last_key

    while remaining:
        round_buckets = remaining[:concurrency]
        results = map_in_context(one_page, round_buckets, max_workers=concurrency)
        for bucket, (_, last_key) in zip(round_buckets, results, strict=True):
            if last_key is None:
                remaining.remove(bucket)
            start_keys[bucket] = last_key
        for batch, _ in results:
            if batch:
                yield batch


# --------------------------------------------------------------------------- counting


def count(
    cls: Any,
    filter: Mapping[str, Any] | Condition | None = None,
    *,
    concurrency: int = 1,
) -> CountResult:
    """How many items the model has in the current tenant (matching ``filter``)."""
    buckets = require_iterable(cls, "count")
    check_positive_int("concurrency", concurrency, MAX_CONCURRENCY)
    if parse_item_filter(cls, filter) is not None:  # an empty filter counts on the index
        result = CountResult()
        for batch in _iterate(
            cls, list(range(buckets)), DEFAULT_BATCH_SIZE, filter, concurrency,
            result.consumed_capacity,
        ):
            result.count += len(batch)
        return result
    manager, tenant = bound(cls)

    def count_bucket(bucket: int) -> tuple[int, list[dict]]:
        total, capacities, start_key = 0, [], None
        while True:
            page = query_page(cls, manager, tenant, bucket, start_key=start_key, count_only=True)
            total += page.count
            capacities.append(page.capacity)
            if page.last_key is None:
                return total, capacities
            start_key = page.last_key

    result = CountResult()
    for total, capacities in map_in_context(
        count_bucket, range(buckets), max_workers=concurrency
    ):
        result.count += total
        result.consumed_capacity.extend(capacities)
    return result


# --------------------------------------------------------------------------- client-side filter


def matches(condition: Condition, item: Mapping[str, dict], encode: ValueEncoder) -> bool:
    """Whether a stored item (AttributeValue form) satisfies ``condition`` as a DynamoDB
    filter would: operands in their field's stored form (``encode``), comparisons only
    between values of one type, ``<>`` true for a missing attribute, functions of a
    missing attribute false."""
    if isinstance(condition, And):
        return all(matches(part, item, encode) for part in condition.conditions)
    if isinstance(condition, Or):
        return any(matches(part, item, encode) for part in condition.conditions)
    if isinstance(condition, Not):
        return not matches(condition.condition, item, encode)
    if isinstance(condition, Exists):
        return condition.field in item
    if isinstance(condition, NotExists):
        return condition.field not in item
    name = condition.field  # type: ignore[attr-defined]
    value = item.get(name)
    if isinstance(condition, Comparison):
        operand = encode(name, condition.value)
        if condition.op == "=":
            return value is not None and _equal(value, operand)
        if condition.op == "<>":
            return value is None or not _equal(value, operand)
        return value is not None and _compare(value, operand, condition.op)
    if value is None:
        return False
    if isinstance(condition, Between):
        low, high = encode(name, condition.low), encode(name, condition.high)
        return _compare(value, low, ">=") and _compare(value, high, "<=")
    if isinstance(condition, In):
        return any(_equal(value, encode(name, v)) for v in condition.values)
    if isinstance(condition, BeginsWith):
        operand = encode(name, condition.prefix)
        kind = _kind(value)
        if kind != _kind(operand) or kind not in ("S", "B"):
            return False
        if kind == "B":
            return bytes(value["B"]).startswith(bytes(operand["B"]))
        return bool(value["S"].startswith(operand["S"]))
    if isinstance(condition, Contains):
        return _contains(value, encode(name, condition.value))
    if isinstance(condition, Size):
        size = _size(value)
        return size is not None and _compare({"N": str(size)}, {"N": str(condition.value)},
                                              condition.op)
    raise QueryError(f"cannot evaluate condition {condition!r}")


def _kind(av: Mapping[str, Any]) -> str:
    return next(iter(av))


def _number(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None


def _equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    kind = _kind(a)
    if kind != _kind(b):
        return False
    x, y = a[kind], b[kind]
    if kind == "N":
        return _number(x) == _number(y)
    if kind == "NS":
        return {_number(n) for n in x} == {_number(n) for n in y}
    if kind in ("SS", "BS"):
        return {bytes(v) if kind == "BS" else v for v in x} == {
            bytes(v) if kind == "BS" else v for v in y
        }
    if kind == "B":
        return bytes(x) == bytes(y)
    if kind == "L":
        return len(x) == len(y) and all(_equal(p, q) for p, q in zip(x, y, strict=True))
    if kind == "M":
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    return bool(x == y)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "=": lambda x, y: x == y,
    "<>": lambda x, y: x != y,
}


def _compare(a: Mapping[str, Any], b: Mapping[str, Any], op: str) -> bool:
    """Ordering of two scalars of one type (S by code point = DynamoDB's UTF-8 byte order,
    N numerically, B by bytes); anything else does not compare."""
    kind = _kind(a)
    if kind != _kind(b) or kind not in ("S", "N", "B"):
        return False
    x, y = a[kind], b[kind]
    if kind == "N":
        x, y = _number(x), _number(y)
        if x is None or y is None:
            return False
    elif kind == "B":
        x, y = bytes(x), bytes(y)
    return _ORDER[op](x, y)


def _contains(value: Mapping[str, Any], operand: Mapping[str, Any]) -> bool:
    kind, wanted = _kind(value), _kind(operand)
    held = value[kind]
    if kind == "S":
        return wanted == "S" and operand["S"] in held
    if kind == "SS":
        return wanted == "S" and operand["S"] in held
    if kind == "NS":
        number = _number(operand["N"]) if wanted == "N" else None
        return number is not None and any(_number(n) == number for n in held)
    if kind == "BS":
        return wanted == "B" and bytes(operand["B"]) in {bytes(v) for v in held}
    if kind == "L":
        return any(_equal(element, operand) for element in held)
    return False


def _size(value: Mapping[str, Any]) -> int | None:
    kind = _kind(value)
    if kind in ("S", "B", "SS", "NS", "BS", "L", "M"):
        return len(value[kind])
    return None
