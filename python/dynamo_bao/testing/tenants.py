"""Per-tenant test data: models initialised for one test tenant, and that tenant's data removed.

The Python counterparts of DynamoBao's ``initTestModelsWithTenant`` and ``cleanupTestData``
(tutorial, "Testing with Multi-Tenancy"): each test runs in a fresh tenant of a shared table,
and afterwards exactly what the test's models wrote for that tenant is deleted — never another
tenant's items, never another model's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from .. import core, transport
from ..concurrency import map_in_context
from ..config import Config
from ..exceptions import ConfigurationError
from ..manager import ModelManager, init_models
from ..model import BaoModel
from ..tenancy import TenantContext
from ..unique import UNIQUE_SK

__all__ = ["init_test_models_with_tenant", "cleanup_test_data"]

#: Model-prefix slot of the unique-constraint rows' keys (``[T]#_raft_uc#_ucN#P#field:v``).
_UNIQUE_ROWS = "_raft_uc"
#: Deletes in flight at once while cleaning up.
_DELETE_WORKERS = 8


def init_test_models_with_tenant(
    config: Mapping[str, Any] | Config, tenant_id: str, *, create_table: bool = True
) -> ModelManager:
    """``init_models(config)`` with tenancy enabled, and ``tenant_id`` set for the current
    context (thread or asyncio task); returns the :class:`ModelManager`.

    Decisions the tutorial leaves open:

    * ``tenancy.enabled`` is forced on (whatever ``config`` says): the point is that every
      operation of the test runs in, and is confined to, its tenant.
    * With ``create_table`` (the default) the table is created if it does not exist. That is
      idempotent — an existing table costs one CreateTable refusal and two Describe requests — so
      a suite can call this before every test without coordinating who creates the table. Pass
      ``create_table=False`` for a table managed elsewhere (it is then not checked).
    * ``tenant_id`` is validated before anything else happens, so an invalid one raises
      :class:`~dynamo_bao.exceptions.InvalidTenantIdError` without a request.
    * The tenant is set with ``TenantContext.set_current_tenant``, i.e. for the rest of the
      current context; clear it after the test (``TenantContext.clear_tenant()``), or use the
      pytest plugin's ``bao_tenant`` fixture, which restores the previous tenant itself.
    """
    tenant_id = core.validate_tenant_id(tenant_id)
    if isinstance(config, Config):
        resolved: Mapping[str, Any] | Config = dataclasses.replace(config, tenancy_enabled=True)
    else:
        resolved = dict(config or {})
        tenancy = resolved.get("tenancy") or {}
        if not isinstance(tenancy, Mapping):
            raise ConfigurationError("configuration section 'tenancy' must be a mapping")
        resolved["tenancy"] = {**tenancy, "enabled": True}
    manager = init_models(resolved)
    if create_table:
        manager.create_table()
    TenantContext.set_current_tenant(tenant_id)
    return manager


def _model_classes(models: Any) -> list[type[BaoModel]]:
    if isinstance(models, ModelManager):
        return list(models.models.values())
    if isinstance(models, Mapping):
        models = models.values()
    if isinstance(models, type):
        models = [models]
    classes = list(models) if isinstance(models, Iterable) else [models]
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaoModel)) or cls._schema is None:
            raise ConfigurationError(f"cleanup_test_data: {cls!r} is not a model class")
        if cls._manager is None:
            raise ConfigurationError(
                f"cleanup_test_data: model {cls.__name__} is not registered: pass it to "
                "init_models()"
            )
    return classes


def cleanup_test_data(tenant_id: str, models: Any) -> int:
    """Delete every item ``models`` wrote for ``tenant_id``; return how many were deleted.

    ``models`` is a model class, an iterable or ``{name: class}`` mapping of them, or a
    :class:`ModelManager` (all its models). Deleted are, per table the models are bound to:

    * the models' items — ``_pk`` is ``[tenant]#<prefix>`` or starts with ``[tenant]#<prefix>#``
      (their index and iteration keys live on the same items and go with them);
    * the tenant's unique-constraint rows whose ``relatedModel`` is one of the models.

    The table is scanned in full (every page) with a filter on those keys, so this is for test
    tables, not production ones. Items of other tenants and of other models are left alone
    (prefix ``u`` does not match ``us``: the ``#`` after the prefix is part of the match).
    An invalid ``tenant_id`` raises ``InvalidTenantIdError`` before any request.
    """
    tenant_id = core.validate_tenant_id(tenant_id)
    by_table: dict[tuple[int, str], tuple[ModelManager, list[type[BaoModel]]]] = {}
    for cls in _model_classes(models):
        manager = cls._manager
        entry = by_table.setdefault((id(manager.client), manager.table_name), (manager, []))
        entry[1].append(cls)
    deleted = 0
    for manager, classes in by_table.values():
        deleted += _cleanup_table(manager, tenant_id, classes)
    return deleted


def _cleanup_table(manager: ModelManager, tenant_id: str, classes: list[type[BaoModel]]) -> int:
    names: dict[str, str] = {"#pk": "_pk", "#sk": "_sk", "#model": "relatedModel"}
    values: dict[str, dict[str, str]] = {}
    clauses: list[str] = []
    for n, prefix in enumerate(dict.fromkeys(cls._schema.prefix for cls in classes)):
        partition = core.format_primary_key(tenant_id, prefix, None)  # "[T]#P"
        values[f":p{n}"] = {"S": partition}
        values[f":s{n}"] = {"S": partition + "#"}
        clauses.append(f"#pk = :p{n} OR begins_with(#pk, :s{n})")
    unique_rows = core.format_primary_key(tenant_id, _UNIQUE_ROWS, None) + "#"
    values[":uc"] = {"S": unique_rows}
    values[":ucsk"] = {"S": UNIQUE_SK}
    model_names = list(dict.fromkeys(cls.__name__ for cls in classes))
    for n, name in enumerate(model_names):
        values[f":m{n}"] = {"S": name}
    related = ", ".join(f":m{n}" for n in range(len(model_names)))
    clauses.append(f"(begins_with(#pk, :uc) AND #sk = :ucsk AND #model IN ({related}))")

    items = transport.scan_items(
        manager.client,
        manager.table_name,
        FilterExpression=" OR ".join(clauses),
        ProjectionExpression="#pk, #sk",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
    keys = [{"_pk": item["_pk"], "_sk": item["_sk"]} for item in items]

    def delete(key: dict[str, Any]) -> None:
        transport.delete_item(manager.client, manager.table_name, Key=key)

    map_in_context(delete, keys, max_workers=_DELETE_WORKERS)
    return len(keys)
