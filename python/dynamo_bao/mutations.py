"""Writes. ``create`` builds the whole item in the core (one call) and sends it as one UpdateItem
conditioned on the item not existing — as DynamoBao does, never PutItem — or, when the model has
unique values, as a TransactWriteItems of the constraint rows and that update; the item is then
re-read with a consistent read (DESIGN §6.8).

Decisions (sizes, issue 13): an item over DynamoDB's 400 KB (the core's ``item_size``) is a
ValidationError before any request — for ``create`` and ``batch_put`` the whole item, for
``update`` first the values it SETs (before the pre-read), then its result estimated from the
pre-read item (a lower bound of DynamoDB's own count, so nothing DynamoDB takes is refused).

Decisions (writes that tell the truth, issue 13):

* A failed condition answered to a *re-sent* attempt (botocore's ``RetryAttempts`` > 0, or a
  transaction whose earlier try's outcome is unknown) may be the caller's own write, applied by
  the attempt whose response was lost. It is checked against the stored item — the one the
  failure carried (every conditional write asks for ``ReturnValuesOnConditionCheckFailure=
  ALL_OLD``), else a consistent GetItem — and reported as a success (with the stored item, as a
  normal success returns) when it is the write's own: for ``create`` every attribute it SET; for
  ``update`` the new version it wrote (VersionField models: decisive), else every value it SET
  (counters and string sets excepted: others' writes change them) and none it REMOVEd; for
  ``delete`` the item absent (and no unique row left naming it). Unique rows are checked too:
  a put row must name the item, a released one must not. A first-attempt failure is a real
  failure and costs no read (except below).
* "Gone" after a re-sent delete counts as success: it is what the caller asked for, though a
  concurrent deleter in the same moment would look the same. The deleted item (from the
  pre-read) is returned.
* An update of a model with a VersionField is conditioned on the version its pre-read found
  (``attribute_not_exists`` when the item has none) — DynamoBao only checks a version the
  caller passes as ``condition``. So a re-sent relative update fails its condition and is
  recognised by its new version: never applied twice. A first attempt that fails because
  another writer changed the version meanwhile (seen from the returned item, else a consistent
  GetItem) starts the whole update again from a fresh pre-read, up to :data:`VERSION_REDOS`
  times, so concurrent increments still all count as they do in DynamoBao; a re-sent attempt
  that finds a third version cannot tell whether its own landed in between and is a
  ConditionalError. Without a VersionField a lost counter update may be applied twice (README).
* A cancelled transaction: the first action (in transaction order) whose condition failed
  decides the ConditionalError — a unique row put: ``"<field> must be unique"`` (DynamoBao's
  text); the item: ``"Condition check failed: <Model> <id>"`` (``"Delete condition not met: …"``
  for delete); a released row that is not the item's: names the item and field. Anything else
  (conflicts and throttling that outlasted the retries, ValidationError, no reason given) is a
  TransactionCanceledError. Single-item writes keep DynamoBao's texts without the id.
* ``.reasons``: one ``{"code", "message", "model", "id", "constraint"}`` per action, in
  transaction order; ``model``/``id`` are the item's the action is for (also for its unique
  rows), ``constraint`` the unique field of a row action (None for the item). Unique values
  are never put in reasons or messages. Errors chain the botocore ClientError.

Decisions (stored items that do not fit their model, issue 13 — written by another service,
say ``age`` as S): reads raise the core's ValidationError naming the item; ``delete`` and
``update`` are the way out.

* ``delete(id)`` reads such an item leniently: it is deleted, and the instance returned holds
  the attributes that fit (those that do not are left unset). Its unique rows are released
  for the constrained fields that fit; a constrained field that does not fit names no row
  that can be known for sure, so none is released for it.
* ``update(id, changes)`` reads it leniently too, and goes ahead when the changes repair every
  attribute that does not fit — a value or None for each (a relative counter change does not
  repair one; modified dates and versions, renewed by every update, repair themselves) — so
  the stored item fits again and the returned instance can be read. Otherwise it is a
  ValidationError naming the item and each attribute still to repair, after the pre-read and
  before any write. A key field that does not fit cannot be updated: only ``delete`` helps. As
  for delete, no unique row is released for a constrained field that did not fit.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from . import batch, capacity, clock, core, transport
from .capacity import READ, WRITE
from .exceptions import (
    BatchIncompleteError,
    ConditionalError,
    ConfigurationError,
    ItemNotFoundError,
    TransactionCanceledError,
    ValidationError,
)
from .expressions import ExpressionBuilder, parse_filter
from .fields import CounterField, ModifiedDateField, StringField, StringSetField, VersionField
from .query import ObjectNotFound, bound, bound_to, check_tenant, instance_of, value_encoder
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
    refused (its constraint rows need transactions). An entry of any other type (another
    model's instance, None …) is a ValidationError before any request. What DynamoDB leaves
    unprocessed is retried.

    Decisions: when items stay unwritten or a request fails part-way (its cause chained),
    :class:`BatchIncompleteError` carries the caller's instances: ``unprocessed`` those not
    known to be written, still new, so ``batch_put(err.unprocessed)`` writes the rest (those
    of a request whose outcome is unknown may have been written: putting them again is
    safe); ``done`` those written, stored and cached as on success. A request failing before
    any item was written raises its own error (a missing table, an unreachable endpoint: a
    ConfigurationError …): all the caller's entries are what is left."""
    if cls.unique_constraints:
        raise ConfigurationError(
            f"{cls.__name__} has unique constraints, which batch_put cannot keep: use create"
        )
    manager, tenant = bound(cls)
    instances = []
    for entry in entries:
        if isinstance(entry, cls):
            check_tenant(entry, tenant)  # built under another tenant: not written into this one
        else:
            if not isinstance(entry, Mapping):  # another model's instance, a number, None ...
                raise ValidationError(
                    f"{cls.__name__}.batch_put takes dicts of field values or new "
                    f"{cls.__name__} instances, got {type(entry).__name__}"
                )
            entry = cls(entry)
            entry._tenant = tenant  # built by this operation, for its tenant
        instances.append(entry)
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
        _check_item_size(cls, item)
        key = transport.stored_key(item)
        if key in seen:  # DynamoDB refuses the whole request; say which item instead
            raise ValidationError(f"batch_put got two items with the id {instance.primary_id}")
        seen.add(key)
        items.append(item)
    consumed: list[dict] = []
    written, failure = instances, None
    try:
        transport.batch_write(manager.client, manager.table_name, items, consumed=consumed)
    except BatchIncompleteError as err:
        # Reported as the caller's instances (in their order): batch_put(err.unprocessed)
        # writes the rest; the written ones are marked stored below, as on success.
        failure = err
        done = {transport.stored_key(item) for item in err.done or ()}
        written = [
            i for i, item in zip(instances, items, strict=True)
            if transport.stored_key(item) in done
        ]
    spent = capacity.shares(WRITE, consumed, len(written))
    for instance in written:
        instance._changes = set()
        instance._persisted = True
        _written(manager, tenant, instance, spent, instance.primary_id)
    if failure is not None:
        if not written and failure.__cause__ is not None:
            raise failure.__cause__  # nothing done: the caller's entries are what is left
        raise BatchIncompleteError(
            str(failure),
            unprocessed=[instance for instance in instances if not instance._persisted],
            done=written,
        ) from failure.__cause__
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
    _check_item_size(cls, key, item)
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
    """Store a new instance (see :func:`create`) in its own tenant — under another one it is
    a TenantMismatchError before any request; returns the stored instance."""
    cls = type(instance)
    manager, tenant = bound_to(instance)
    update = create_request(instance, tenant)
    schema = cls._schema
    key = update["Key"]
    constraints = constrained_values(cls, instance._data)
    table, client = manager.table_name, manager.client
    if not constraints:
        try:
            response = transport.update_item(
                client, table, ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD", **update,
            )
        except ConditionalError as err:
            # A re-sent create that finds the item may have found its own first attempt.
            spent = []
            if transport.retry_attempts(err) > 0:
                now = _stored_now(
                    client, table, key, transport.failed_condition_item(err), spent
                )
                if _holds(now, _created_item(cls, instance, tenant)):
                    result = instance_of(cls, now, tenant)
                    return _written(manager, tenant, result, spent, result.primary_id)
            raise ConditionalError("Condition check failed") from err.__cause__ or err
        result = instance_of(cls, response["Attributes"], tenant)
        spent = capacity.records(WRITE, response)
        return _written(manager, tenant, result, spent, result.primary_id)

    primary_id = schema.primary_id(instance._data)
    transaction = [
        put_row(cls, table, constraint, value, primary_id, tenant)
        for constraint, value in constraints
    ]
    actions = [
        _action(cls, primary_id, f"{constraint.field} must be unique", constraint.field)
        for constraint, _ in constraints
    ]
    transaction.append({
        "Update": {"TableName": table, **update, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    })
    actions.append(_action(cls, primary_id, f"Condition check failed: {cls.__name__} {primary_id}"))
    written, cancelled = transport.transact_write(client, transaction)
    if cancelled is not None:
        spent = []
        if cancelled.retried:
            # Its own write if the item is what it wrote and every row it put is its own.
            now = _stored_now(client, table, key, _reason_item(cancelled, len(constraints)), spent)
            if _holds(now, _created_item(cls, instance, tenant)) and all(
                _row_owner(client, table, cls, constraint, value, tenant, spent) == primary_id
                for constraint, value in constraints
            ):
                result = instance_of(cls, now, tenant)
                return _written(manager, tenant, result, spent, primary_id)
        raise _cancellation_error(cancelled, actions) from cancelled.error
    reread = transport.get_item(client, table, key, consistent=True)
    stored = reread.get("Item")
    if stored is None:
        raise ConditionalError("Failed to fetch saved item")
    spent = capacity.records(WRITE, written) + capacity.records(READ, reread)
    return _written(manager, tenant, instance_of(cls, stored, tenant), spent, primary_id)


def _fitting_values(cls: Any, stored: dict) -> tuple[dict, dict[str, ValidationError]]:
    """The values of a stored item's attributes that fit their fields, and the errors of those
    that do not. Only for an item whose whole read failed (one core call per attribute)."""
    schema = cls._schema
    values: dict[str, Any] = {}
    misfits: dict[str, ValidationError] = {}
    keys = {name: stored[name] for name in ("_pk", "_sk") if name in stored}
    for name in schema.field_names:
        av = stored.get(name)
        if av is None:
            continue
        try:
            values.update(schema.from_item({**keys, name: av}))
        except ValidationError as err:
            misfits[name] = err
    return values, misfits


def _deletable(cls: Any, stored: dict, tenant: str | None, primary_id: str) -> Any:
    """delete's pre-read as an instance; an item that does not fit its model is one too, with
    the attributes that fit (module doc). A string key field that does not fit takes its value
    from the id (its key text is the value), so the instance still has its id."""
    try:
        return instance_of(cls, stored, tenant)
    except ValidationError:
        values, _ = _fitting_values(cls, stored)
        schema = cls._schema
        if schema.partition_key is None:
            parts = {schema.sort_key: primary_id}
        else:
            pk, sk = core.parse_primary_id(primary_id, schema.sort_key is not None)
            parts = {schema.partition_key: pk, schema.sort_key: sk}
        for name, text in parts.items():
            if name is not None and name not in values and cls._fields[name].kind == "string":
                values[name] = text
        return cls._from_stored(values, tenant)


def _updatable(cls: Any, stored: dict, cleaned: dict) -> dict:
    """update's pre-read as values; an item that does not fit its model is read leniently when
    ``cleaned`` repairs every attribute that does not fit, else refused (module doc)."""
    try:
        return cls._schema.from_item(stored)
    except ValidationError as err:
        values, misfits = _fitting_values(cls, stored)
        left = [
            error for name, error in misfits.items()
            if name not in cleaned
            or (isinstance(cls._fields[name], CounterField) and isinstance(cleaned[name], str))
        ]
        if not left:
            return values
        raise ValidationError(
            "; ".join(str(error) for error in left)
            + ". Give every such field a value (or None) in the same update to repair the item",
            left[0].field,
            primary_id=left[0].primary_id,
            stored_type=left[0].stored_type,
        ) from err


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
    instance = _deletable(cls, stored, tenant, primary_id)
    instance._add_capacity(capacity.records(READ, read))
    constraints = constrained_values(cls, instance._data)
    if "ConditionExpression" in params:
        params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if not constraints:
        try:
            response = transport.delete_item(client, table, ReturnValues="ALL_OLD", **params)
        except ConditionalError as err:
            # A re-sent delete whose condition finds no item: the first attempt deleted it.
            spent: list = []
            if transport.retry_attempts(err) > 0 and _stored_now(
                client, table, key, transport.failed_condition_item(err), spent
            ) is None:
                return _deleted(manager, tenant, instance, spent, primary_id)
            raise ConditionalError("Delete condition not met") from err.__cause__ or err
        return _deleted(manager, tenant, instance, capacity.records(WRITE, response), primary_id)
    transaction = [{"Delete": {"TableName": table, **params}}]
    actions = [_action(cls, primary_id, f"Delete condition not met: {cls.__name__} {primary_id}")]
    for constraint, value in constraints:
        actions.append(_action(
            cls, primary_id,
            f"Delete condition not met: {cls.__name__} {primary_id} does not hold its "
            f"{constraint.field} unique row",
            constraint.field,
        ))
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
    written, cancelled = transport.transact_write(client, transaction)
    if cancelled is not None:
        spent = []
        # Its own, re-sent delete if the item is gone and no row still names it.
        if cancelled.retried and _stored_now(
            client, table, key, _reason_item(cancelled, 0), spent
        ) is None and all(
            _row_owner(client, table, cls, constraint, value, tenant, spent) != primary_id
            for constraint, value in constraints
        ):
            return _deleted(manager, tenant, instance, spent, primary_id)
        raise _cancellation_error(cancelled, actions) from cancelled.error
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


def _check_item_size(cls: Any, *parts: dict) -> None:
    """Refuse an item (given as AttributeValue dicts, summed) larger than DynamoDB's 400 KB
    before it is sent. The size is the core's ``item_size``: DynamoDB's own rules, counting
    numbers as its documentation estimates them, never more than it does — so only items
    DynamoDB would refuse are refused here."""
    size = 0
    for part in parts:
        size += core.item_size(part)
    if size > core.MAX_ITEM_BYTES:
        raise ValidationError(
            f"{cls.__name__}: the item is {size} bytes, more than DynamoDB's limit of 400 KB "
            f"({core.MAX_ITEM_BYTES} bytes)"
        )


def _check_updated_size(
    cls: Any, stored: dict, cleaned: dict, stored_forms: dict, index_keys: dict
) -> None:
    """An update whose result would exceed 400 KB: the stored item with the changed fields
    replaced by the values SET (counters added to and removed fields left out), the index
    and iteration keys recomputed and the search text left out — a lower bound of what
    DynamoDB will compute, so only updates it would refuse are refused."""
    dropped = {*cleaned, *index_keys, SEARCH_TEXT_ATTRIBUTE}
    dropped.update(n for n in stored if n.startswith(("_gsi", "_iter")))
    kept = {name: av for name, av in stored.items() if name not in dropped}
    _check_item_size(cls, kept, stored_forms, index_keys)


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
    instance: Any = None,
    _redo: int = 0,
) -> Any:
    """Update an existing item and return it as stored.

    Only the given fields change (null removes a field; ``"+n"`` on a counter adds); modified
    dates and versions are renewed; index, iteration and search attributes are recomputed from
    the stored item merged with the changes. The update carries an existence condition, so a
    concurrently deleted item is not resurrected (DESIGN §6.8) — on a model with a VersionField
    also the version it read (see the module's decisions); ``condition`` (the dict DSL) is
    ANDed to it. Changed unique values move their constraint rows in one transaction.
    ``instance`` (``save()`` of a loaded instance) must belong to the current tenant.
    """
    manager, tenant = bound(cls) if instance is None else bound_to(instance)
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
    _check_item_size(cls, stored_forms)  # the values SET alone, before the pre-read
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
    loaded = _updatable(cls, stored, cleaned)

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
    _check_updated_size(cls, stored, cleaned, stored_forms, index_keys)
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
    version = next((n for n, f in cls._fields.items() if isinstance(f, VersionField)), None)
    lock = None
    if version is not None:
        # Optimistic lock on the version just read: a re-sent update fails it and is then
        # recognised by the new version it wrote — never applied twice.
        lock = stored.get(version)
        held = builder.name(version, hint=version)
        exists += (
            f" AND attribute_not_exists({held})" if lock is None
            else f" AND {held} = {builder.value(lock, hint='read_' + version)}"
        )
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
    # What this write looks like stored (its new version, else the values it SETs and REMOVEs;
    # counters and string sets also depend on what others did, so they are not compared).
    if version is not None:
        own: tuple[dict, tuple] = ({version: stored_forms[version]}, ())
    else:
        own = (
            {
                name: av for name, av in stored_forms.items()
                if not isinstance(cls._fields[name], StringSetField)
            } | index_keys,
            tuple(name for name, value in cleaned.items() if value is None),
        )
    redo = {
        "lock": (version, lock) if version is not None else None,
        "left": VERSION_REDOS - _redo,
    }

    def again() -> Any:
        return update(
            cls, primary_id, changes, condition, force_reindex,
            set_bases=set_bases, instance=instance, _redo=_redo + 1,
        )

    if not moved:
        try:
            response = transport.update_item(
                client, table, ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD", **params,
            )
        except ConditionalError as err:
            outcome, now = _after_failed_update(
                client, table, key, transport.failed_condition_item(err),
                transport.retry_attempts(err) > 0, own, redo, spent,
            )
            if outcome == "own":
                return _written(manager, tenant, instance_of(cls, now, tenant), spent, primary_id)
            if outcome == "redo":
                return again()
            raise ConditionalError("Condition check failed") from err.__cause__ or err
        spent += capacity.records(WRITE, response)
        result = instance_of(cls, response["Attributes"], tenant)
        return _written(manager, tenant, result, spent, primary_id)

    transaction: list[dict] = []
    actions: list[dict] = []
    failed_here = f"Condition check failed: {cls.__name__} {primary_id}"
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
            actions.append(_action(
                cls, primary_id,
                f"{failed_here} does not hold its {constraint.field} unique row",
                constraint.field,
            ))
        if new not in (None, ""):
            transaction.append(put_row(cls, table, constraint, str(new), primary_id, tenant))
            actions.append(_action(
                cls, primary_id, f"{constraint.field} must be unique", constraint.field
            ))
    transaction.append({
        "Update": {"TableName": table, **params, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    })
    actions.append(_action(cls, primary_id, failed_here))
    written, cancelled = transport.transact_write(client, transaction)
    if cancelled is not None:
        last = len(transaction) - 1
        only_item = _failed_action(cancelled, last) and not any(
            _failed_action(cancelled, i) for i in range(last)
        )
        outcome, now = _after_failed_update(
            client, table, key, _reason_item(cancelled, last), cancelled.retried, own,
            redo if only_item else None, spent,
        )
        if outcome == "own" and _rows_moved(client, table, cls, moved, primary_id, tenant, spent):
            return _written(manager, tenant, instance_of(cls, now, tenant), spent, primary_id)
        if outcome == "redo":
            return again()
        raise _cancellation_error(cancelled, actions) from cancelled.error
    reread = transport.get_item(client, table, key, consistent=True)
    spent += capacity.records(WRITE, written) + capacity.records(READ, reread)
    return _written(manager, tenant, instance_of(cls, reread["Item"], tenant), spent, primary_id)


# --------------------------------------------------------------------------- truthful writes
# What a write reports when its answer is a failed condition or a cancelled transaction:
# whether the stored state is the caller's own, already applied write (a lost response that
# botocore re-sent), and otherwise which item or unique constraint failed and why.

#: Times an update of a VersionField model is started again from a fresh pre-read when another
#: writer changed the version between its pre-read and its write.
VERSION_REDOS = 3


def _normal(av: Any) -> Any:
    """An AttributeValue in a form that compares equal however the server wrote it (numbers
    by value, sets unordered)."""
    if not isinstance(av, dict) or len(av) != 1:
        return av
    ((kind, value),) = av.items()
    if kind == "N":
        return kind, Decimal(value)
    if kind in ("SS", "BS"):
        return kind, frozenset(bytes(v) if kind == "BS" else v for v in value)
    if kind == "NS":
        return kind, frozenset(Decimal(v) for v in value)
    if kind == "M":
        return kind, {name: _normal(member) for name, member in value.items()}
    if kind == "L":
        return kind, [_normal(member) for member in value]
    if kind == "B":
        return kind, bytes(value)
    return kind, value


def _holds(stored: dict | None, expected: dict, removed: tuple | list = ()) -> bool:
    """Whether the stored item has every attribute value of ``expected`` and none of
    ``removed``: the test of "the stored item is this write's own"."""
    if stored is None:
        return False
    for attr, value in expected.items():
        held = stored.get(attr)
        if held is None or _normal(held) != _normal(value):
            return False
    return not any(attr in stored for attr in removed)


def _stored_now(
    client: Any, table: str, key: dict, failed_item: dict | None, spent: list
) -> dict | None:
    """The item as stored after a failed condition: what the failure carried
    (``ReturnValuesOnConditionCheckFailure``), else — the item is absent, or the server does
    not return it — a consistent GetItem (its capacity goes to ``spent``)."""
    if failed_item is not None:
        return failed_item
    read = transport.get_item(client, table, key, consistent=True)
    spent += capacity.records(READ, read)
    return read.get("Item")


def _row_owner(
    client: Any, table: str, cls: Any, constraint: Any, value: str, tenant: str | None, spent: list
) -> str | None:
    """The id of the ``cls`` item holding the constraint row of ``value`` (None: no row, or
    another model's)."""
    read = transport.get_item(
        client, table, constraint_key(cls, constraint, value, tenant), consistent=True
    )
    spent += capacity.records(READ, read)
    row = read.get("Item")
    if row is None or row.get("relatedModel") != {"S": cls.__name__}:
        return None
    return (row.get("relatedId") or {}).get("S")


def _rows_moved(
    client: Any, table: str, cls: Any, moved: list, primary_id: str, tenant: str | None,
    spent: list,
) -> bool:
    """Whether the unique values an update moves are moved: the rows of the new values name
    the item, those of the old values do not (absent, or another item's by now)."""
    for constraint, old, new in moved:
        for value, held in ((old, False), (new, True)):
            if value in (None, ""):
                continue
            owner = _row_owner(client, table, cls, constraint, str(value), tenant, spent)
            if (owner == primary_id) is not held:
                return False
    return True


def _action(cls: Any, primary_id: str, failure: str, constraint: str | None = None) -> dict:
    """How one transaction action is named in ``.reasons`` and what its failed condition
    means (``failure``: the message of the ConditionalError it causes)."""
    return {"model": cls.__name__, "id": primary_id, "constraint": constraint, "failure": failure}


def _reasons(cancelled: Any, actions: list[dict]) -> list[dict]:
    """``.reasons`` of a cancelled transaction: per action, in transaction order, DynamoDB's
    code and message and the model, id (and unique field) of the action."""
    given = cancelled.reasons
    out = []
    for i, action in enumerate(actions):
        reason = given[i] if i < len(given) else {}
        out.append({
            "code": str(reason.get("Code") or "None"),
            "message": str(reason.get("Message") or ""),
            "model": action["model"],
            "id": action["id"],
            "constraint": action["constraint"],
        })
    return out


def _failed_action(cancelled: Any, index: int) -> bool:
    given = cancelled.reasons
    return index < len(given) and given[index].get("Code") == "ConditionalCheckFailed"


def _reason_item(cancelled: Any, index: int) -> dict | None:
    given = cancelled.reasons
    item = given[index].get("Item") if index < len(given) else None
    return item if isinstance(item, dict) else None


def _cancellation_error(cancelled: Any, actions: list[dict]) -> Exception:
    """The error of a cancelled transaction: a failed condition is a ConditionalError naming
    the first action that failed (its item, or its unique constraint); anything else a
    TransactionCanceledError. Both carry ``.reasons``; the caller chains the botocore error."""
    reasons = _reasons(cancelled, actions)
    for action, reason in zip(actions, reasons, strict=True):
        if reason["code"] == "ConditionalCheckFailed":
            return ConditionalError(action["failure"], reasons)
    codes = ", ".join(reason["code"] for reason in reasons if reason["code"] != "None")
    item = actions[-1] if actions else {"model": "?", "id": "?"}
    return TransactionCanceledError(
        f"{item['model']} {item['id']}: the transaction was cancelled "
        f"({codes or 'DynamoDB gave no reason'})",
        reasons,
    )


def _created_item(cls: Any, instance: Any, tenant: str | None) -> dict:
    """Every attribute ``create`` SETs (as :func:`create_request` builds them): what its own
    write looks like stored."""
    item = cls._schema.to_item(instance._data, tenant)
    if cls.search_config:
        text = build_search_text(cls.search_config, instance._data)
        if text is not None:
            item[SEARCH_TEXT_ATTRIBUTE] = {"S": text}
    return item


def _after_failed_update(
    client: Any,
    table: str,
    key: dict,
    failed_item: dict | None,
    retried: bool,
    own: tuple[dict, tuple],
    redo: dict | None,
    spent: list,
) -> tuple[str, dict | None]:
    """What an update whose condition failed should report: ``("own", item)`` when the answer
    came from a re-sent attempt and the stored item is this update's own write; ``("redo",
    None)`` when the first attempt failed only because another writer changed the version
    since the pre-read (the update is started again, ``redo["left"]`` more times); else
    ``("failed", None)``. A first-attempt failure of a model without a version is a real
    failure and costs no read."""
    if retried:
        now = _stored_now(client, table, key, failed_item, spent)
        return ("own", now) if _holds(now, *own) else ("failed", None)
    if redo is not None and redo["lock"] is not None and redo["left"] > 0:
        version, read = redo["lock"]
        now = _stored_now(client, table, key, failed_item, spent)
        if now is not None and _normal(now.get(version)) != _normal(read):
            return "redo", None
    return "failed", None
