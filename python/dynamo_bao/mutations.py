"""Writes. ``create`` builds the whole item in the core (one call) and sends it as one UpdateItem
conditioned on the item not existing — as DynamoBao does, never PutItem — or, when the model has
unique values, as a TransactWriteItems of the constraint rows and that update; the item is then
re-read with a consistent read (DESIGN §6.8).
"""

from __future__ import annotations

import functools
from typing import Any

from . import batch, capacity, clock, transport
from .capacity import READ, WRITE
from .exceptions import ConditionalError, ConfigurationError, ItemNotFoundError, ValidationError
from .expressions import ExpressionBuilder, parse_filter
from .fields import CounterField, ModifiedDateField, StringField, StringSetField, VersionField
from .query import ObjectNotFound, bound, instance_of, value_encoder
from .search import SEARCH_TEXT_ATTRIBUTE, build_search_text
from .unique import constrained_values, constraint_key, put_row

__all__ = ["batch_put", "create", "create_instance", "create_request", "update", "delete"]


def _check_required(instance: Any) -> None:
    for name, field in type(instance)._fields.items():
        value = instance._data.get(name)
        if field.required and (value is None or (isinstance(field, StringField) and value == "")):
            raise ValidationError(f"Field is required: {name}", name)


def _written(
    manager: Any, tenant: str | None, result: Any, spent: list[dict], primary_id: str
) -> Any:
    """A write's result: it carries the capacity of the write's requests, and a batch context
    caches it (DESIGN §6.6: writes keep the request cache current)."""
    result._add_capacity(spent)
    context = batch.current()
    if context is not None:
        context.remember_written(manager, tenant, type(result), primary_id, result)
    return result


def create(cls: Any, data: dict[str, Any]) -> Any:
    return create_instance(cls(data))


def batch_put(cls: Any, entries: list[Any]) -> list[Any]:
    """Write many new items with BatchWriteItem (chunks of 25); returns the instances written.

    For bulk loads: each entry is a dict of field values or an unsaved instance of ``cls``,
    validated, defaulted and keyed exactly as ``create`` does, all before the first request.
    Unlike ``create`` it is unconditional — an item with the same key is replaced — because
    BatchWriteItem takes no conditions; for the same reason a model with unique constraints is
    refused (its constraint rows need transactions). What DynamoDB leaves unprocessed is
    retried; what stays unwritten raises BatchIncompleteError carrying those items."""
    if cls.unique_constraints:
        raise ConfigurationError(
            f"{cls.__name__} has unique constraints, which batch_put cannot keep: use create"
        )
    manager, tenant = bound(cls)
    instances = [entry if isinstance(entry, cls) else cls(entry) for entry in entries]
    schema = cls._schema
    items, seen = [], set()
    for instance in instances:
        if instance._persisted:
            raise ValidationError(f"batch_put takes new {cls.__name__} items, not stored ones")
        _check_required(instance)
        item = schema.to_item(instance._data, tenant)
        if cls.search_config:
            text = build_search_text(cls.search_config, instance._data)
            if text is not None:
                item[SEARCH_TEXT_ATTRIBUTE] = {"S": text}
        key = item["_pk"]["S"], item["_sk"]["S"]
        if key in seen:  # DynamoDB refuses the whole request; say which item instead
            raise ValidationError(f"batch_put got two items with the id {instance.primary_id}")
        seen.add(key)
        items.append(item)
    consumed: list[dict] = []
    transport.batch_write(manager.client, manager.table_name, items, consumed=consumed)
    spent = capacity.shares(WRITE, consumed, len(instances))
    for instance in instances:
        instance._changes = set()
        instance._persisted = True
        _written(manager, tenant, instance, spent, instance.primary_id)
    return instances


def create_request(instance: Any, tenant: str | None) -> dict[str, Any]:
    """The UpdateItem parameters that create ``instance`` (without the table name): the whole
    item from the core in one call, SET attribute by attribute, on condition the item does not
    exist yet."""
    cls = type(instance)
    _check_required(instance)
    item = cls._schema.to_item(instance._data, tenant)
    key = {"_pk": item.pop("_pk"), "_sk": item.pop("_sk")}
    if cls.search_config:
        text = build_search_text(cls.search_config, instance._data)
        if text is not None:
            item[SEARCH_TEXT_ATTRIBUTE] = {"S": text}
    expression, condition, names, placeholders = _create_template(cls, tuple(item))
    return {
        "Key": key,
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": dict(names),
        "ExpressionAttributeValues": dict(zip(placeholders, item.values(), strict=True)),
    }


@functools.lru_cache(maxsize=1024)
def _create_template(cls: Any, attrs: tuple[str, ...]) -> tuple[str, str, dict, tuple[str, ...]]:
    """The create expression for one set of attributes, built once: ``SET #a = :a, …`` and
    the not-exists condition, their names, and the value placeholders in attribute order."""
    builder = ExpressionBuilder()
    parts, placeholders = [], []
    for i, attr in enumerate(attrs):
        # A distinct stand-in value per attribute: the real values are filled in per request.
        value = builder.value({"N": str(i)}, hint=attr)
        parts.append(f"{builder.name(attr, hint=attr)} = {value}")
        placeholders.append(value)
    condition = f"attribute_not_exists({builder.name('_pk', hint='pk')})"
    return "SET " + ", ".join(parts), condition, builder.names, tuple(placeholders)


def create_instance(instance: Any) -> Any:
    """Store a new instance (see :func:`create`); returns the stored instance."""
    cls = type(instance)
    manager, tenant = bound(cls)
    update = create_request(instance, tenant)
    schema = cls._schema
    key = update["Key"]
    constraints = constrained_values(cls, instance._data)
    table, client = manager.table_name, manager.client
    if not constraints:
        try:
            response = transport.update_item(client, table, ReturnValues="ALL_NEW", **update)
        except ConditionalError as err:
            raise ConditionalError("Condition check failed") from err
        result = instance_of(cls, response["Attributes"])
        spent = capacity.records(WRITE, response)
        return _written(manager, tenant, result, spent, result.primary_id)

    primary_id = schema.primary_id(instance._data)
    transaction = [
        put_row(cls, table, constraint, value, primary_id, tenant)
        for constraint, value in constraints
    ]
    transaction.append({"Update": {"TableName": table, **update}})
    written, reasons = transport.transact_write(client, transaction)
    if reasons is not None:
        failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
        if failed and failed[0] < len(constraints):
            field = constraints[failed[0]][0].field
            raise ConditionalError(f"{field} must be unique")
        raise ConditionalError("Condition check failed")
    reread = transport.get_item(client, table, key, consistent=True)
    stored = reread.get("Item")
    if stored is None:
        raise ConditionalError("Failed to fetch saved item")
    spent = capacity.records(WRITE, written) + capacity.records(READ, reread)
    return _written(manager, tenant, instance_of(cls, stored), spent, primary_id)


def delete(cls: Any, primary_id: str, condition: Any = None) -> Any:
    """Delete an item (and its unique-constraint rows, in one transaction) and return it as it
    was. A missing item is :class:`ItemNotFoundError`; an unmet ``condition`` (the dict DSL)
    is :class:`ConditionalError`."""
    manager, tenant = bound(cls)
    table, client = manager.table_name, manager.client
    key = cls._schema.key_from_id(primary_id, tenant)
    # The condition is compiled before the read, so a bad one is refused before any request.
    builder = ExpressionBuilder()
    params: dict[str, Any] = {"Key": key}
    parsed = parse_filter(condition, fields=set(cls._fields))
    if parsed is not None:
        params["ConditionExpression"] = builder.add_condition(parsed, value_encoder(cls))
        params.update(builder.expression_attributes())
    read = transport.get_item(client, table, key, consistent=True)
    stored = read.get("Item")
    if stored is None:
        raise ItemNotFoundError("Item not found")
    instance = instance_of(cls, stored)
    instance._add_capacity(capacity.records(READ, read))
    constraints = constrained_values(cls, instance._data)
    if not constraints:
        try:
            response = transport.delete_item(client, table, ReturnValues="ALL_OLD", **params)
        except ConditionalError:
            raise ConditionalError("Delete condition not met") from None
        return _deleted(manager, tenant, instance, capacity.records(WRITE, response), primary_id)
    transaction = [{"Delete": {"TableName": table, **params}}]
    for constraint, value in constraints:
        transaction.append(
            {
                "Delete": {
                    "TableName": table,
                    "Key": constraint_key(cls, constraint, value, tenant),
                    "ConditionExpression": "relatedId = :relatedId AND relatedModel = :modelName",
                    "ExpressionAttributeValues": {
                        ":relatedId": {"S": instance.primary_id},
                        ":modelName": {"S": cls.__name__},
                    },
                }
            }
        )
    written, reasons = transport.transact_write(client, transaction)
    if reasons is not None:
        raise ConditionalError("Delete condition not met")
    return _deleted(manager, tenant, instance, capacity.records(WRITE, written), primary_id)


def _deleted(
    manager: Any, tenant: str | None, instance: Any, spent: list[dict], primary_id: str
) -> Any:
    """A delete's result (the item as it was, with what the delete cost); a batch context
    now knows the id as not found."""
    instance._add_capacity(spent)
    context = batch.current()
    if context is not None:
        gone = ObjectNotFound(type(instance), primary_id)
        context.remember_written(manager, tenant, type(instance), primary_id, gone)
    return instance


def _stored_forms(cls: Any, changes: dict) -> dict:
    """The stored forms of every changed value that is set, in one call into the core (which
    refuses values it cannot store)."""
    to_store = {}
    for name, value in changes.items():
        field = cls._fields[name]
        relative = isinstance(field, CounterField) and isinstance(value, str)
        emptied = isinstance(field, StringSetField) and not value
        if value is not None and not relative and not emptied:
            to_store[name] = value
    return cls._schema.marshal_fields(to_store)


def _assignments(
    cls: Any, loaded: dict, changes: dict, stored: dict, builder: ExpressionBuilder,
    set_bases: dict | None = None,
) -> tuple[list[str], list[str], list[str], list[str]]:
    """SET / REMOVE / ADD / DELETE clauses for the changed fields (DynamoBao's rules: null
    removes, a relative counter adds, a string set sends only its additions or removals when
    it has only one kind of change); ``stored`` is :func:`_stored_forms` of ``changes``.
    String sets are diffed against ``set_bases`` (what a saved instance loaded), else against
    the item as just read."""
    sets, removes, adds, deletes = [], [], [], []
    loaded = {**loaded, **(set_bases or {})}
    for name, value in changes.items():
        field = cls._fields[name]
        placeholder = builder.name(name, hint=name)
        if value is None or (isinstance(field, StringSetField) and not value):
            removes.append(placeholder)
        elif isinstance(field, CounterField) and isinstance(value, str):
            adds.append(f"{placeholder} {builder.value({'N': str(int(value))}, hint=name)}")
        elif isinstance(field, StringSetField) and loaded.get(name):
            added, removed = value - loaded[name], loaded[name] - value
            if added and removed:
                sets.append(f"{placeholder} = {builder.value(stored[name], hint=name)}")
            elif added:
                adds.append(f"{placeholder} {builder.value({'SS': sorted(added)}, hint=name)}")
            elif removed:
                deletes.append(f"{placeholder} {builder.value({'SS': sorted(removed)}, name)}")
        else:
            sets.append(f"{placeholder} = {builder.value(stored[name], hint=name)}")
    return sets, removes, adds, deletes


def _check_index_pairs(cls: Any, changes: dict, merged: dict) -> None:
    """An update that sets one side of an index whose other side has no value would leave the
    item out of that index: refuse it, as DynamoBao does — but a model-prefix side never counts
    as "set by the update" (DynamoBao's check misfired on those, spec §11.9)."""
    for index_name, index in (cls.indexes or {}).items():
        pk, sk = getattr(index, "partition_key", None), getattr(index, "sort_key", None)
        if not hasattr(index, "index_id") or "modelPrefix" in (pk, sk):
            continue
        for given, other, what, other_what in ((pk, sk, "partition", "sort"),
                                               (sk, pk, "sort", "partition")):
            if changes.get(given) is not None and merged.get(other) is None:
                raise ValidationError(
                    f'Update includes GSI {what} key "{given}" for index "{index_name}" but '
                    f'is missing {other_what} key "{other}". Include both fields or use '
                    "forceReindex.",
                    other,
                )


def update(
    cls: Any,
    primary_id: str,
    changes: dict[str, Any] | None,
    condition: Any = None,
    force_reindex: bool = False,
    *,
    set_bases: dict | None = None,
) -> Any:
    """Update an existing item and return it as stored.

    Only the given fields change (null removes a field; ``"+n"`` on a counter adds); modified
    dates and versions are renewed; index, iteration and search attributes are recomputed from
    the stored item merged with the changes. The update carries an existence condition, so a
    concurrently deleted item is not resurrected (DESIGN §6.8); ``condition`` (the dict DSL)
    is ANDed to it. Changed unique values move their constraint rows in one transaction.
    """
    manager, tenant = bound(cls)
    table, client = manager.table_name, manager.client
    schema = cls._schema
    key = schema.key_from_id(primary_id, tenant)

    # Everything the caller gave is checked before the pre-read: bad input sends no request.
    cleaned: dict[str, Any] = {}
    for name, value in (changes or {}).items():
        field = cls._fields.get(name)
        if field is None:
            raise ValidationError(f"{cls.__name__}: unknown field {name!r}", name)
        if name in (schema.partition_key, schema.sort_key):
            raise ValidationError(f"{cls.__name__}.{name}: key fields cannot be updated", name)
        cleaned[name] = field.clean(value)
        if field.required and (
            cleaned[name] is None or (isinstance(field, StringField) and cleaned[name] == "")
        ):
            raise ValidationError(f"Field is required: {name}", name)
    with clock.one_instant():
        for name, field in cls._fields.items():
            if isinstance(field, (ModifiedDateField, VersionField)):
                cleaned[name] = field.initial_value()
    stored_forms = _stored_forms(cls, cleaned)
    builder = ExpressionBuilder()
    user = None
    parsed = parse_filter(condition, fields=set(cls._fields))
    if parsed is not None:
        user = builder.add_condition(parsed, value_encoder(cls))

    pre_read = transport.get_item(client, table, key, consistent=True)
    stored = pre_read.get("Item")
    if stored is None:
        raise ItemNotFoundError("Item not found")
    spent = capacity.records(READ, pre_read)
    loaded = schema.from_item(stored)

    merged = {**loaded, **cleaned}
    for name, value in cleaned.items():
        if isinstance(cls._fields[name], CounterField) and isinstance(value, str):
            merged[name] = int(loaded.get(name) or 0) + int(value)
    merged = {name: value for name, value in merged.items() if value is not None}
    _check_index_pairs(cls, cleaned, merged)

    sets, removes, adds, deletes = _assignments(
        cls, loaded, cleaned, stored_forms, builder, set_bases
    )
    index_keys = schema.index_keys(merged, tenant)
    for attr, av in index_keys.items():
        sets.append(f"{builder.name(attr, hint=attr)} = {builder.value(av, hint=attr)}")
    for index_id, _, _ in schema.indexes:
        for attr in (f"_{index_id}_pk", f"_{index_id}_sk"):
            if attr in stored and attr not in index_keys:
                removes.append(builder.name(attr, hint=attr))  # a side was removed
    search = cls.search_config
    if search and (force_reindex or any(name in cleaned for name in search.get("fields", ()))):
        text = build_search_text(search, merged)
        attr = builder.name(SEARCH_TEXT_ATTRIBUTE, hint="searchText")
        if text is None:
            removes.append(attr)
        else:
            sets.append(f"{attr} = {builder.value({'S': text}, hint='searchText')}")

    clauses = [
        f"{verb} {', '.join(parts)}"
        for verb, parts in (("SET", sets), ("REMOVE", removes), ("ADD", adds), ("DELETE", deletes))
        if parts
    ]
    exists = f"attribute_exists({builder.name('_pk', hint='pk')})"
    params = {
        "Key": key,
        "UpdateExpression": " ".join(clauses),
        # The builder parenthesises every OR, so ANDing needs no extra parentheses (DynamoDB
        # rejects redundant ones).
        "ConditionExpression": exists if user is None else f"{exists} AND {user}",
        **builder.expression_attributes(),
    }

    moved = []  # (constraint, old value, new value) of the unique values this update changes
    for constraint in (cls.unique_constraints or {}).values():
        if constraint.field in cleaned:
            old, new = loaded.get(constraint.field), cleaned[constraint.field]
            if old != new:
                moved.append((constraint, old, new))
    if not moved:
        try:
            response = transport.update_item(client, table, ReturnValues="ALL_NEW", **params)
        except ConditionalError:
            raise ConditionalError("Condition check failed") from None
        spent += capacity.records(WRITE, response)
        result = instance_of(cls, response["Attributes"])
        return _written(manager, tenant, result, spent, primary_id)

    transaction: list[dict] = []
    owners: list[str | None] = []
    for constraint, old, new in moved:
        if old not in (None, ""):
            transaction.append({
                "Delete": {
                    "TableName": table,
                    "Key": constraint_key(cls, constraint, str(old), tenant),
                    "ConditionExpression": "relatedId = :relatedId AND relatedModel = :modelName",
                    "ExpressionAttributeValues": {
                        ":relatedId": {"S": primary_id},
                        ":modelName": {"S": cls.__name__},
                    },
                }
            })
            owners.append(None)
        if new not in (None, ""):
            transaction.append(put_row(cls, table, constraint, str(new), primary_id, tenant))
            owners.append(constraint.field)
    transaction.append({"Update": {"TableName": table, **params}})
    owners.append(None)
    written, reasons = transport.transact_write(client, transaction)
    if reasons is not None:
        failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
        if failed and owners[failed[0]] is not None:
            raise ConditionalError(f"{owners[failed[0]]} must be unique")
        raise ConditionalError("Condition check failed")
    reread = transport.get_item(client, table, key, consistent=True)
    spent += capacity.records(WRITE, written) + capacity.records(READ, reread)
    return _written(manager, tenant, instance_of(cls, reread["Item"]), spent, primary_id)
