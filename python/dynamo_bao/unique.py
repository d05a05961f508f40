"""Unique constraints: one row per constrained value, written in the same transaction as the
item (DynamoBao's layout, spec §2.2): ``_pk = [T]#_raft_uc#_ucN#P#field:value``,
``_sk = "_raft_uc"``, ``uniqueValue``, ``relatedId``, ``relatedModel`` (+ ``_gsi_test_id``,
the tenant, when there is one). The transaction's conditions are the real guard; a value
held by another item cancels the transaction and is reported as a ConditionalError naming
the field (``"<field> must be unique"``, with ``.reasons``). A row's put condition also holds
when the row already names the same item, so a re-sent transaction whose first try was applied
passes it; whether such a transaction was the caller's own is decided by reading the rows
(:mod:`dynamo_bao.mutations`).
"""

from __future__ import annotations

from typing import Any

from . import core
from .exceptions import ValidationError

__all__ = ["UNIQUE_SK", "constraint_key", "constrained_values", "put_row", "unique_text"]

UNIQUE_SK = "_raft_uc"


def constraint_key(cls: Any, constraint: Any, value: str, tenant: str | None) -> dict:
    """The table key of the constraint row for ``value``; a value the core refuses in a key
    (too long for DynamoDB's 2048-byte partition key, a lone surrogate) is a ValidationError
    naming the field."""
    try:
        pk = core.format_unique_key(
            tenant, constraint.constraint_id, cls._schema.prefix, constraint.field, value
        )
    except ValidationError as err:
        if type(err) is not ValidationError:
            raise  # InvalidTenantIdError
        field = constraint.field
        raise ValidationError(f"{cls.__name__}.{field}: {err}", field) from None
    return {"_pk": {"S": pk}, "_sk": {"S": UNIQUE_SK}}


def unique_text(cls: Any, field: str, value: Any) -> str:
    """The text a unique value is keyed by: a str as it is, an int (not a bool) as its
    decimal text; anything else is a ValidationError naming the field — for writes and for
    ``find_by_<field>`` alike, so a lookup never sends ``str()`` of a dict or a float."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(
        f"{cls.__name__}.{field}: unique values must be str or int, got {type(value).__name__}",
        field,
    )



def constrained_values(cls: Any, values: dict) -> list[tuple[Any, str]]:
    """``(constraint, value text)`` for every constraint whose field has a non-empty value."""
    out = []
    for constraint in cls.unique_constraints.values():
        value = values.get(constraint.field)
        if value is not None and value != "":
            out.append((constraint, unique_text(cls, constraint.field, value)))
    return out


def put_row(
    cls: Any, table: str, constraint: Any, value: str, primary_id: str, tenant: str | None
) -> dict:
    """The TransactWriteItems ``Put`` of a constraint row, failing when another item holds it."""
    key = constraint_key(cls, constraint, value, tenant)
    item = dict(
        key,
        uniqueValue=key["_pk"],
        relatedId={"S": primary_id},
        relatedModel={"S": cls.__name__},
    )
    if tenant is not None:
        item["_gsi_test_id"] = {"S": tenant}
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#pk) OR "
            "(relatedId = :relatedId AND relatedModel = :modelName)",
            "ExpressionAttributeNames": {"#pk": "_pk"},
            "ExpressionAttributeValues": {
                ":relatedId": {"S": primary_id},
                ":modelName": {"S": cls.__name__},
            },
        }
    }
