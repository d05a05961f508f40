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

    ``field`` names the model field concerned, when there is one. A stored item that does not
    fit its model (written by another service, say) is one too, raised by every read of it:
    then ``primary_id`` is the item's public id (``None`` when the item has no readable key)
    and ``stored_type`` the AttributeValue type found (``"S"``, ``"N"`` …; ``None`` for a
    malformed one); both are ``None`` on other validation errors.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        primary_id: str | None = None,
        stored_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.primary_id = primary_id
        self.stored_type = stored_type


class InvalidTenantIdError(ValidationError):
    """A tenant id is not 1-64 characters of ``[A-Za-z0-9_.-]`` starting with a letter or digit."""


class QueryError(BaoError):
    """A query, sort-key condition, filter or cursor is invalid."""


class ItemNotFoundError(BaoError):
    """The item an update or delete names does not exist."""


class ConditionalError(BaoError):
    """A condition (user condition, version check, unique constraint) was not met.

    ``reasons`` lists, for a cancelled transaction, one entry per action in transaction order:
    ``{"code", "message", "model", "id", "constraint"}`` — ``model``/``id`` name the item the
    action belongs to (also for its unique-constraint rows), ``constraint`` the unique field a
    row action wrote (None for the item's own action). Empty for a single-item write. Unique
    values themselves never appear in reasons or messages.
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
    """A batch operation did not do everything: DynamoDB left part of it unprocessed even
    after retrying, or a request failed part-way (connection refused, a non-retryable error,
    an unknown outcome). The failure, when there was one, is the ``__cause__``. (When
    ``batch_put`` / ``batch_find`` fail before anything was done, that failure is raised
    itself: a missing table stays a :class:`ConfigurationError`.)

    ``unprocessed`` holds everything not done, so nothing is silently lost; ``done`` what was.
    ``Model.batch_put``: lists of model instances, so ``batch_put(err.unprocessed)`` writes the
    rest (``done`` are written, as ``batch_put`` would have returned them; the items of a
    request that failed with an unknown outcome are in ``unprocessed`` although they may have
    been written: putting them again is safe). ``Model.batch_find`` and the iteration and
    search reads: ``unprocessed`` the primary ids not read, ``done`` ``{id: instance}`` of the
    ids read that exist. :mod:`dynamo_bao.transport`'s own batch functions: items and keys in
    AttributeValue form.
    """

    def __init__(self, message: str, unprocessed: Any = None, done: Any = None) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed
        self.done = done


class BatchContextRequiredError(ConfigurationError):
    """A read ran outside a batch context while ``require_batch_context`` is on."""
