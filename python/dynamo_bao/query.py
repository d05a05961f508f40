"""Reads: ``find``, ``batch_find`` and ``find_by_unique_constraint``.

Each read resolves the tenant when it runs (fail closed with tenancy enabled), builds keys in
the core, and reads through the transport. A missing item is an :class:`ObjectNotFound`, whose
``exists()`` is False, so ``Model.find(id)`` never returns None.
"""

from __future__ import annotations

from typing import Any

from . import transport
from .exceptions import ConfigurationError, ValidationError
from .tenancy import TenantContext
from .unique import constraint_key

__all__ = ["ObjectNotFound", "find", "batch_find", "find_by_unique_constraint", "bound"]


class ObjectNotFound:
    """What a read returns for an id with no item: falsy, and ``exists()`` is False."""

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


def instance_of(cls: Any, item: dict) -> Any:
    return cls._from_stored(cls._schema.from_item(item))


def find(cls: Any, primary_id: str, *, consistent: bool = False) -> Any:
    manager, tenant = bound(cls)
    key = cls._schema.key_from_id(primary_id, tenant)
    response = transport.get_item(manager.client, manager.table_name, key, consistent=consistent)
    item = response.get("Item")
    return ObjectNotFound(cls, primary_id) if item is None else instance_of(cls, item)


def batch_find(cls: Any, primary_ids: list[str]) -> dict[str, Any]:
    """``{id: instance}`` of the ids that exist (duplicates read once)."""
    manager, tenant = bound(cls)
    schema = cls._schema
    by_key: dict[tuple[str, str], str] = {}
    for primary_id in dict.fromkeys(primary_ids):
        key = schema.key_from_id(primary_id, tenant)
        by_key[key["_pk"]["S"], key["_sk"]["S"]] = primary_id
    keys = [{"_pk": {"S": pk}, "_sk": {"S": sk}} for pk, sk in by_key]
    found = {}
    for item in transport.batch_get(manager.client, manager.table_name, keys):
        primary_id = by_key[item["_pk"]["S"], item["_sk"]["S"]]
        found[primary_id] = instance_of(cls, item)
    return {pid: found[pid] for pid in by_key.values() if pid in found}


def find_by_unique_constraint(cls: Any, name: str, value: Any) -> Any:
    constraint = cls.unique_constraints.get(name)
    if constraint is None:
        raise ConfigurationError(f"Unknown unique constraint '{name}' in {cls.__name__}")
    if value is None or value == "":
        raise ValidationError(f"{constraint.field} value is required", constraint.field)
    manager, tenant = bound(cls)
    key = constraint_key(cls, constraint, str(value), tenant)
    row = transport.get_item(manager.client, manager.table_name, key).get("Item")
    if row is None or row.get("relatedModel", {}).get("S") != cls.__name__:
        return ObjectNotFound(cls, str(value))
    return find(cls, row["relatedId"]["S"])
