"""Writes. ``create`` builds the whole item in the core (one call) and sends it as one UpdateItem
conditioned on the item not existing — as DynamoBao does, never PutItem — or, when the model has
unique values, as a TransactWriteItems of the constraint rows and that update; the item is then
re-read with a consistent read (DESIGN §6.8).
"""

from __future__ import annotations

from typing import Any

from . import transport
from .exceptions import ConditionalError, ItemNotFoundError, ValidationError
from .expressions import ExpressionBuilder, parse_filter
from .fields import StringField
from .query import bound, instance_of, value_encoder
from .search import SEARCH_TEXT_ATTRIBUTE, build_search_text
from .unique import constrained_values, constraint_key, put_row

__all__ = ["create", "delete"]


def _check_required(instance: Any) -> None:
    for name, field in type(instance)._fields.items():
        value = instance._data.get(name)
        if field.required and (value is None or (isinstance(field, StringField) and value == "")):
            raise ValidationError(f"Field is required: {name}", name)


def create(cls: Any, data: dict[str, Any]) -> Any:
    manager, tenant = bound(cls)
    instance = cls(data)
    _check_required(instance)
    schema = cls._schema
    item = schema.to_item(instance._data, tenant)
    key = {"_pk": item.pop("_pk"), "_sk": item.pop("_sk")}
    if cls.search_config:
        text = build_search_text(cls.search_config, instance._data)
        if text is not None:
            item[SEARCH_TEXT_ATTRIBUTE] = {"S": text}
    builder = ExpressionBuilder()
    assignments = [
        f"{builder.name(attr, hint=attr)} = {builder.value(av, hint=attr)}"
        for attr, av in item.items()
    ]
    update = {
        "Key": key,
        "UpdateExpression": "SET " + ", ".join(assignments),
        "ConditionExpression": f"attribute_not_exists({builder.name('_pk', hint='pk')})",
        **builder.expression_attributes(),
    }
    constraints = constrained_values(cls, instance._data)
    table, client = manager.table_name, manager.client
    if not constraints:
        response = transport.update_item(client, table, ReturnValues="ALL_NEW", **update)
        return instance_of(cls, response["Attributes"])

    primary_id = schema.primary_id(instance._data)
    transaction = [
        put_row(cls, table, constraint, value, primary_id, tenant)
        for constraint, value in constraints
    ]
    transaction.append({"Update": {"TableName": table, **update}})
    _, reasons = transport.transact_write(client, transaction)
    if reasons is not None:
        failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
        if failed and failed[0] < len(constraints):
            field = constraints[failed[0]][0].field
            raise ConditionalError(f"{field} must be unique")
        raise ConditionalError("Condition check failed")
    stored = transport.get_item(client, table, key, consistent=True).get("Item")
    if stored is None:
        raise ConditionalError("Failed to fetch saved item")
    return instance_of(cls, stored)


def delete(cls: Any, primary_id: str, condition: Any = None) -> Any:
    """Delete an item (and its unique-constraint rows, in one transaction) and return it as it
    was. A missing item is :class:`ItemNotFoundError`; an unmet ``condition`` (the dict DSL)
    is :class:`ConditionalError`."""
    manager, tenant = bound(cls)
    table, client = manager.table_name, manager.client
    key = cls._schema.key_from_id(primary_id, tenant)
    stored = transport.get_item(client, table, key, consistent=True).get("Item")
    if stored is None:
        raise ItemNotFoundError("Item not found")
    instance = instance_of(cls, stored)
    builder = ExpressionBuilder()
    params: dict[str, Any] = {"Key": key}
    if condition:
        parsed = parse_filter(condition, fields=set(cls._fields))
        params["ConditionExpression"] = builder.add_condition(parsed, value_encoder(cls))
        params.update(builder.expression_attributes())
    constraints = constrained_values(cls, instance._data)
    if not constraints:
        try:
            transport.delete_item(client, table, ReturnValues="ALL_OLD", **params)
        except ConditionalError:
            raise ConditionalError("Delete condition not met") from None
        return instance
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
    _, reasons = transport.transact_write(client, transaction)
    if reasons is not None:
        raise ConditionalError("Delete condition not met")
    return instance
