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
    "TenantRequiredError",
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
    """A condition (user condition, version check, unique constraint) was not met."""


class TenantRequiredError(BaoError):
    """Tenancy is enabled and no tenant could be resolved for the operation."""


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
