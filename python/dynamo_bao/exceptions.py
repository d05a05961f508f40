"""The exceptions of dynamo-bao.

Every error the library raises on purpose is a :class:`BaoError`. Both cores (Rust and pure
Python) raise these very classes, so code catching them never depends on the core in use.
Errors that come from AWS are chained (``raise ... from err``), so the botocore exception stays
reachable as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BaoError",
    "ConfigurationError",
    "ValidationError",
    "InvalidTenantIdError",
    "QueryError",
    "ItemNotFoundError",
    "ConditionalError",
    "TransactionCanceledError",
    "TenantRequiredError",
    "TenantMismatchError",
    "BatchIncompleteError",
    "BatchContextRequiredError",
]


class BaoError(Exception):
    """Base class of every error dynamo-bao raises itself."""


class ConfigurationError(BaoError):
    """A model, schema, table or library setting is invalid (found before any request)."""


class ValidationError(BaoError, ValueError):
    """A value cannot be stored or used as given: wrong type, out of range, not allowed in a key.

    ``field`` names the model field concerned, when there is one.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidTenantIdError(ValidationError):
    """A tenant id is not 1-64 characters of ``[A-Za-z0-9_.-]`` starting with a letter or digit."""


class QueryError(BaoError):
    """A query, sort-key condition, filter or cursor is invalid."""


class ItemNotFoundError(BaoError):
    """The item an update or delete names does not exist."""


class ConditionalError(BaoError):
    """A condition (user condition, version check, unique constraint) was not met.

    ``reasons`` lists, for a cancelled transaction, one entry per action:
    ``{"code", "message", "model", "id"}`` (``model``/``id`` name the item or the unique
    constraint the action wrote; empty for a single-item write).
    """

    def __init__(self, message: str, reasons: list[dict] | None = None) -> None:
        super().__init__(message)
        self.reasons: list[dict] = list(reasons or ())


class TransactionCanceledError(BaoError):
    """DynamoDB cancelled a transaction for a reason other than a failed condition (after
    retrying conflicts and throttling): ``reasons`` as on :class:`ConditionalError`."""

    def __init__(self, message: str, reasons: list[dict] | None = None) -> None:
        super().__init__(message)
        self.reasons: list[dict] = list(reasons or ())


class TenantRequiredError(BaoError):
    """Tenancy is enabled and no tenant could be resolved for the operation."""


class TenantMismatchError(BaoError):
    """An instance (or cached object) of one tenant was used while another tenant is current.

    An instance belongs to the tenant it was loaded or created in (``instance.tenant_id``);
    saving, updating or following its relations under another tenant is refused before any
    request — never a write into the other tenant.
    """


class BatchIncompleteError(BaoError):
    """A batch operation could not process every key, even after retrying.

    ``unprocessed`` holds what is left (keys or write requests, as DynamoDB returned them), so
    nothing is silently lost.
    """

    def __init__(self, message: str, unprocessed: Any = None) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed


class BatchContextRequiredError(ConfigurationError):
    """A read ran outside a batch context while ``require_batch_context`` is on."""
