"""Reads: ``find``, ``batch_find`` and ``find_by_unique_constraint``.

Each read resolves the tenant when it runs (fail closed with tenancy enabled), builds keys in
the core, and reads through the transport. A missing item is an :class:`ObjectNotFound`, whose
``exists()`` is False, so ``Model.find(id)`` never returns None.

Decisions:

* Arguments are checked before any request, as :class:`ValidationError`: ``limit`` must be
  ``None`` or a positive int that is not a bool, at most 2³¹−1 (DynamoDB's ``Limit`` is a
  32-bit integer), so ``0``, ``-1``, ``"5"``, ``True`` and ``1.5`` are refused — the same
  class as search's limit errors; a unique value to look up must be a str or an int (not a
  bool), as writes require (:func:`dynamo_bao.unique.unique_text`), so ``find_by_email(1.5)``
  no longer looks up the text ``"1.5"``; sort-key operands longer than DynamoDB's 1024 bytes
  are refused (partition values are held to 2048 bytes by the core's key formatting).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import batch, capacity, concurrency, core, cursors, transport
from .exceptions import (
    BaoError,
    BatchIncompleteError,
    ConfigurationError,
    QueryError,
    TenantMismatchError,
    ValidationError,
)
from .expressions import ExpressionBuilder, parse_filter, parse_sort_key_condition
from .fields import ListField, StringSetField
from .search import SEARCH_TEXT_ATTRIBUTE, filter_fields, search_text_operand
from .tenancy import TenantContext
from .unique import constraint_key, unique_text

__all__ = [
    "ObjectNotFound",
    "QueryResult",
    "find",
    "batch_find",
    "find_by_unique_constraint",
    "query_by_index",
    "query_by_primary_key",
    "bound",
    "bound_to",
    "check_tenant",
]


class ObjectNotFound(capacity.CapacityCarrier):
    """What a read returns for an id with no item: falsy, and ``exists()`` is False. Like an
    instance it carries the capacity its read consumed."""

    __slots__ = ("model", "primary_id")

    def __init__(self, model: type, primary_id: str) -> None:
        self.model = model
        self.primary_id = primary_id

    def exists(self) -> bool:
        return False

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<ObjectNotFound {self.model.__name__} {self.primary_id}>"


def bound(cls: Any) -> tuple[Any, str | None]:
    """The manager of a model class and the tenant of the operation starting now."""
    manager = cls._manager
    if manager is None:
        raise ConfigurationError(
            f"Model {cls.__name__} is not registered: pass it to init_models()"
        )
    return manager, TenantContext.resolve(required=manager.config.tenancy_enabled)


def bound_to(instance: Any) -> tuple[Any, str | None]:
    """:func:`bound` for an operation on ``instance`` (save, relation helpers): the tenant
    resolved now must be the instance's own, else :class:`TenantMismatchError` before any
    request — an instance never reads or writes another tenant's rows."""
    manager, tenant = bound(type(instance))
    check_tenant(instance, tenant)
    return manager, tenant


def check_tenant(instance: Any, tenant: str | None) -> None:
    """Refuse to use ``instance`` in the operation of ``tenant`` unless it belongs to it.

    The message names the instance and its own tenant, not the current one (the caller knows
    that): whoever reads it learns nothing about a tenant other than the instance's."""
    if instance._tenant != tenant:
        owner = "no tenant" if instance._tenant is None else f"tenant {instance._tenant!r}"
        raise TenantMismatchError(
            f"{instance!r:.200} belongs to {owner}, not to the tenant of this operation: use "
            "it in its own tenant (TenantContext.tenant(instance.tenant_id))"
        )


def instance_of(cls: Any, item: dict, tenant: str | None) -> Any:
    """The instance of a stored item read in ``tenant``."""
    return cls._from_stored(cls._schema.from_item(item), tenant)


def instances_of(cls: Any, items: list[dict], tenant: str | None) -> list[Any]:
    """Model instances of a page of items read in ``tenant``: one core call for the page."""
    from_stored = cls._from_stored
    return [from_stored(values, tenant) for values in cls._schema.from_items(items)]


def find(
    cls: Any, primary_id: str, *, consistent: bool = False, bypass_cache: bool = False
) -> Any:
    """One GetItem — inside a batch context, the cached result when there is one (unless
    ``bypass_cache``); the result (ObjectNotFound too) is cached there."""
    manager, tenant = bound(cls)
    context = batch.check_required(manager)
    if context is not None and not bypass_cache:
        hit = context.lookup(manager, tenant, cls, primary_id)
        if hit is not batch.MISSING:
            return hit
    schema = cls._schema
    key = schema.key_from_id(primary_id, tenant)
    response = transport.get_item(
        manager.client, manager.table_name, key, consistent=consistent, schema=schema
    )
    values = response.get("Item")
    if values is None:
        result = ObjectNotFound(cls, primary_id)
    else:
        result = cls._from_stored(values, tenant)
    result._add_capacity(capacity.records(capacity.READ, response))
    if context is not None:
        context.remember(manager, tenant, cls, primary_id, result)
    return result


def batch_find(cls: Any, primary_ids: list[str]) -> dict[str, Any]:
    """``{id: instance}`` of the ids that exist (duplicates read once). Inside a batch context
    cached ids are not read again, and what is read (missing ids as ObjectNotFound) is
    cached."""
    manager, tenant = bound(cls)
    context = batch.check_required(manager)
    ids = list(dict.fromkeys(primary_ids or ()))
    cached: dict[str, Any] = {}
    if context is not None:
        for primary_id in ids:
            hit = context.lookup(manager, tenant, cls, primary_id)
            if hit is not batch.MISSING:
                cached[primary_id] = hit
    to_read = [primary_id for primary_id in ids if primary_id not in cached]
    found, consumed = batch_read(cls, manager, tenant, to_read)
    share = capacity.shares(capacity.READ, consumed, len(to_read))
    for primary_id in to_read:
        result = found.get(primary_id)
        if result is not None:
            result._add_capacity(share)
        if context is not None:
            if result is None:
                result = ObjectNotFound(cls, primary_id)
                result._add_capacity(share)
            context.remember(manager, tenant, cls, primary_id, result)
    out = {}
    for primary_id in ids:
        result = cached.get(primary_id) or found.get(primary_id)
        if result is not None and result.exists():
            out[primary_id] = result
    return out


def batch_read(
    cls: Any, manager: Any, tenant: str | None, primary_ids: list[str]
) -> tuple[dict[str, Any], list[dict]]:
    """Read distinct ids of one model and tenant with BatchGetItem, no cache involved:
    ``({id: instance} of those that exist, the responses' ConsumedCapacity entries)``.

    More than 100 keys are read as concurrent chunks of 100 (threads in the caller's
    context). When keys stay unprocessed after the retries, or a chunk's request fails
    (connection refused, a non-retryable error: its cause chained), the other chunks still
    finish and one :class:`BatchIncompleteError` carries every id not read
    (``unprocessed``, primary ids, in the order asked) and ``{id: instance}`` of the ids read
    that exist (``done``); when no id at all was read, the failed request's own error is
    raised (a missing table stays a ConfigurationError). An item that does not fit its
    model raises its own error, as a read without fault would. A response holding an item
    that was not asked for is a :class:`ValidationError` (see
    :func:`dynamo_bao.transport.batch_get`).
    """
    if not primary_ids:
        return {}, []
    schema = cls._schema
    by_key: dict[tuple[str, str], str] = {}
    for primary_id in primary_ids:
        by_key[transport.stored_key(schema.key_from_id(primary_id, tenant))] = primary_id
    keys = [{"_pk": {"S": pk}, "_sk": {"S": sk}} for pk, sk in by_key]
    client, table = manager.client, manager.table_name
    chunks = [keys[i : i + BATCH_GET_LIMIT] for i in range(0, len(keys), BATCH_GET_LIMIT)]

    def key_of(values: dict) -> tuple[str, str]:
        return transport.stored_key(schema.key(values, tenant))

    def read(chunk: list[dict]) -> tuple[list[dict], list[dict], BatchIncompleteError | None]:
        consumed: list[dict] = []
        try:
            # Model values, decoded in one pass; the transport checked each one's key against
            # the chunk's (an id asked for may be answered once).
            found = transport.batch_get(
                client, table, chunk, consumed=consumed, schema=schema, key_of=key_of
            )
            return found, consumed, None
        except BatchIncompleteError as err:
            return list(err.done or ()), consumed, err

    items: list[dict] = []
    consumed: list[dict] = []
    unread: set[tuple[str, str]] = set()
    failures: list[BatchIncompleteError] = []
    for chunk_items, chunk_consumed, error in concurrency.map_in_context(read, chunks):
        items.extend(chunk_items)
        consumed.extend(chunk_consumed)
        if error is not None:
            failures.append(error)
            unread.update(transport.stored_key(key) for key in error.unprocessed or ())
    # Items come back in any order: match them to the asked ids by their key.
    from_stored = cls._from_stored
    found = {by_key[key_of(values)]: from_stored(values, tenant) for values in items}
    if failures:
        not_read = [primary_id for key, primary_id in by_key.items() if key in unread]
        cause = failures[0].__cause__  # the first failed chunk's (None: left unprocessed)
        if cause is not None and len(not_read) == len(by_key):
            raise cause  # nothing read: the ids asked for are what is left
        why = cause if cause is not None else "unprocessed after retrying"
        raise BatchIncompleteError(
            f"{len(not_read)} of {len(by_key)} {cls.__name__} ids were not read: {why}",
            unprocessed=not_read,
            done=found,
        ) from cause
    return found, consumed


#: Keys per BatchGetItem request (DynamoDB's limit).
BATCH_GET_LIMIT = 100


def find_by_unique_constraint(cls: Any, name: str, value: Any) -> Any:
    constraint = cls.unique_constraints.get(name)
    if constraint is None:
        raise ConfigurationError(f"Unknown unique constraint '{name}' in {cls.__name__}")
    if value is None or value == "":
        raise ValidationError(f"{constraint.field} value is required", constraint.field)
    text = unique_text(cls, constraint.field, value)  # as writes key it: str or int only
    manager, tenant = bound(cls)
    batch.check_required(manager)  # before the constraint row is read
    key = constraint_key(cls, constraint, text, tenant)
    response = transport.get_item(manager.client, manager.table_name, key)
    row = response.get("Item")
    if row is None or row.get("relatedModel", {}).get("S") != cls.__name__:
        missing = ObjectNotFound(cls, text)
        missing._add_capacity(capacity.records(capacity.READ, response))
        return missing
    # The constraint row's read is not added to the instance: it may be the batch context's
    # cached object, which other reads share (the context's sum counts the row read).
    return find(cls, row["relatedId"]["S"])


# ------------------------------------------------------------------------------------------
# Queries


@dataclass
class QueryResult(capacity.ReadCost):
    """One page of a query: model instances, their count, the cursor of the next page (an
    opaque string, or None on the last page) and the capacity the query consumed."""

    items: list[Any] = field(default_factory=list)
    count: int = 0
    last_evaluated_key: str | None = None
    consumed_capacity: list[dict] = field(default_factory=list)


DEFAULT_QUERY_LIMIT = 100  # DynamoBao's defaultQueryLimit


def _encode_cursor(manager: Any, tenant: str | None, cls: Any, index: str, key: dict) -> str:
    """The cursor of a LastEvaluatedKey (:mod:`dynamo_bao.cursors`): encrypted and bound to
    the tenant, model and index, so it reveals neither the tenant nor the key."""
    model = cursors.model_label(cls)
    return cursors.encode(manager, "query", tenant, model, index, _json_key(key))


def _decode_cursor(
    manager: Any,
    cursor: Any,
    tenant: str | None,
    cls: Any,
    index: str,
    names: frozenset[str],
    partition: tuple[str, str],
) -> dict:
    """The ExclusiveStartKey of a cursor made by the same tenant, model and index, checked to
    be a key of this very query before it is sent: exactly the attributes ``names``, all
    strings, the partition ``(attribute, value)`` this query sends, and a table key of this
    model in this tenant. Anything else is the one invalid-cursor QueryError (DESIGN §6.10)."""
    payload = cursors.decode(manager, "query", tenant, cursors.model_label(cls), index, cursor)
    if (
        not isinstance(payload, dict)
        or payload.keys() != names
        or not all(isinstance(value, str) for value in payload.values())
        or payload[partition[0]] != partition[1]
        or not _is_table_key(cls, tenant, payload["_pk"], payload["_sk"])
    ):
        raise cursors.invalid()
    return {name: {"S": value} for name, value in payload.items()}


def _is_table_key(cls: Any, tenant: str | None, pk: str, sk: str) -> bool:
    """Whether ``_pk``/``_sk`` are the key of an item of this model in this tenant: the primary
    id read off them must give back exactly this key (core key functions, both cores)."""
    schema = cls._schema
    head = core.format_primary_key(tenant, schema.prefix, None)
    try:
        if schema.partition_key is None:
            primary_id = sk
        elif pk.startswith(head + "#"):
            pk_value = pk[len(head) + 1 :]
            primary_id = core.format_primary_id(pk_value, sk if schema.sort_key else None)
        else:
            return False
        key = schema.key_from_id(primary_id, tenant)
    except BaoError:
        return False
    return key == {"_pk": {"S": pk}, "_sk": {"S": sk}}


def _json_key(key: dict) -> dict:
    if not all(set(av) == {"S"} for av in key.values()):
        raise QueryError("unexpected key attribute types in LastEvaluatedKey")
    return {name: av["S"] for name, av in key.items()}


def value_encoder(cls: Any) -> Callable[[str, Any], dict]:
    """Filter and condition operands in the stored form of their field."""
    schema = cls._schema

    def encode(field_name: str, value: Any) -> dict:
        if field_name == SEARCH_TEXT_ATTRIBUTE and cls.search_config:
            return search_text_operand(cls, value)  # normalised like the stored text
        model_field = cls._fields[field_name]
        if isinstance(model_field, StringSetField) and isinstance(value, str):
            return core.to_attribute_value(value)  # $contains on a set: one member
        if isinstance(model_field, ListField) and not isinstance(value, (list, tuple)):
            return core.to_attribute_value(value)  # $contains on a list: one element
        return schema.marshal_fields({field_name: model_field.clean(value)})[field_name]

    return encode


def _key_encoder(cls: Any, field_name: str | None) -> Callable[[Any], dict]:
    """Sort-key operands in the field's sortable key text."""
    if field_name is None:
        return lambda value: {"S": core.encode_index_value("string", value)}
    model_field = cls._fields[field_name]
    return lambda value: {
        "S": cls._schema.encode_key_value(field_name, model_field.clean(value))
    }


def _sort_key_encoder(cls: Any, field_name: str | None) -> Callable[[Any], dict]:
    """:func:`_key_encoder` for sort-key operands, which DynamoDB refuses over 1024 bytes."""
    encode = _key_encoder(cls, field_name)

    def checked(value: Any) -> dict:
        av = encode(value)
        text = av["S"]
        if len(text) * 4 > core.MAX_SORT_KEY_BYTES and (
            len(text.encode("utf-8")) > core.MAX_SORT_KEY_BYTES
        ):
            raise ValidationError(
                f"{cls.__name__}.{field_name or 'modelPrefix'}: a sort-key operand is longer "
                f"than DynamoDB's {core.MAX_SORT_KEY_BYTES} bytes",
                field_name,
            )
        return av

    return checked


#: DynamoDB's Limit is a 32-bit integer of at least 1.
MAX_LIMIT = 2**31 - 1


def check_limit(limit: Any) -> int | None:
    """``None`` or a positive int (not a bool) up to :data:`MAX_LIMIT`; anything else is a
    ValidationError before any request (``"5"``, ``1.5``, ``True``, 0 and -1 included)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be a positive integer (at most {MAX_LIMIT}) or None, got {limit!r:.40}"
        )
    return limit


def query_by_index(
    cls: Any,
    index_name: str,
    pk_value: Any,
    sk_condition: Mapping[str, Any] | None = None,
    **options: Any,
) -> QueryResult:
    """Query a GSI, or the table key when ``index_name`` names an alias of the primary key.

    Options: ``limit``, ``start_key`` (a cursor from ``last_evaluated_key``), ``direction``
    (``"ASC"``/``"DESC"``), ``filter`` (the dict DSL) and ``count_only``, which counts every
    page unless ``limit`` is given (DESIGN §6.11). Otherwise one page of at most ``limit``
    (default 100) items is returned, with a cursor for the next. ``load_related=True`` loads
    the RelatedFields (``related_fields``, default all) of the page's items with one batch read
    per target model; ``related_only=True`` (one related field) makes the items those related
    instances (:mod:`dynamo_bao.relations`).
    """
    index = (cls.indexes or {}).get(index_name)
    if index is None:
        raise QueryError(f'Index "{index_name}" not found in {cls.__name__} model')
    return _query(cls, index_name, index, pk_value, sk_condition, **options)


def query_by_primary_key(
    cls: Any, pk_value: Any, sk_condition: Mapping[str, Any] | None = None, **options: Any
) -> QueryResult:
    """Query one partition of the table key (e.g. a composite-key model's items of one parent)."""
    return _query(cls, "primaryKey", cls.primary_key, pk_value, sk_condition, **options)


def _side(name: str) -> str | None:
    return None if name == "modelPrefix" else name


def _query(
    cls: Any,
    index_name: str,
    index: Any,
    pk_value: Any,
    sk_condition: Mapping[str, Any] | None,
    *,
    limit: int | None = None,
    start_key: str | None = None,
    direction: str = "ASC",
    filter: Mapping[str, Any] | None = None,
    count_only: bool = False,
    load_related: bool = False,
    related_fields: list[str] | None = None,
    related_only: bool = False,
) -> QueryResult:
    from . import relations  # relations builds on this module

    if direction not in ("ASC", "DESC"):
        raise QueryError(f"direction must be 'ASC' or 'DESC', not {direction!r}")
    check_limit(limit)
    schema = cls._schema
    builder = ExpressionBuilder()
    pk_field, sk_field = _side(index.partition_key), _side(index.sort_key)
    cond = None
    if sk_condition is not None:
        cond = parse_sort_key_condition(
            sk_condition, sort_key=index.sort_key, index_name=index_name
        )
    condition = parse_filter(filter, fields=filter_fields(cls)) if filter is not None else None
    related = relations.related_options(
        cls, load_related, related_fields, related_only, count_only
    )
    manager, tenant = bound(cls)
    pk_text = (
        _key_encoder(cls, pk_field)(pk_value)["S"] if pk_field is not None else str(pk_value)
    )
    params: dict[str, Any] = {}
    if not hasattr(index, "index_id"):  # an alias of the table key
        pk_attr, sk_attr = "_pk", "_sk"
        pk_av = {"S": core.format_primary_key(tenant, schema.prefix, pk_text if pk_field else None)}
    else:
        pk_attr, sk_attr = f"_{index.index_id}_pk", f"_{index.index_id}_sk"
        pk_av = {"S": core.format_gsi_key(tenant, schema.prefix, index.index_id, pk_text)}
        params["IndexName"] = index.index_id
    params["KeyConditionExpression"] = builder.key_condition(
        pk_attr, pk_av, sk_attr, cond, _sort_key_encoder(cls, sk_field) if cond else None
    )
    if condition is not None:
        params["FilterExpression"] = builder.add_condition(condition, value_encoder(cls))
    params.update(builder.expression_attributes())
    params["ScanIndexForward"] = direction == "ASC"
    if count_only:
        params["Select"] = "COUNT"
    if limit is not None or not count_only:
        params["Limit"] = DEFAULT_QUERY_LIMIT if limit is None else limit
    if start_key is not None:
        names = frozenset({"_pk", "_sk", pk_attr, sk_attr})
        params["ExclusiveStartKey"] = _decode_cursor(
            manager, start_key, tenant, cls, index_name, names, (pk_attr, pk_av["S"])
        )

    result = QueryResult()
    while True:
        response = transport.query(
            manager.client, manager.table_name, schema=None if count_only else schema, **params
        )
        result.consumed_capacity.append(response.get("ConsumedCapacity") or {})
        result.count += response.get("Count", 0)
        if not count_only:
            from_stored = cls._from_stored
            result.items.extend(
                from_stored(values, tenant) for values in response.get("Items", ())
            )
        last = response.get("LastEvaluatedKey")
        if last and count_only and limit is None:
            params["ExclusiveStartKey"] = last  # count every page
            continue
        result.last_evaluated_key = (
            _encode_cursor(manager, tenant, cls, index_name, last) if last else None
        )
        if related is not None:
            relations.attach_related(result, related, related_only)
        return result
