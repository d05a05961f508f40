"""dynamo-bao: DynamoDB single-table modelling with built-in multi-tenancy.

The Python counterpart of the JavaScript library DynamoBao, reading and writing the same table
layout. Its hot path (keys, index encodings, tenant validation, marshalling) is a Rust
extension; a pure-Python core with the same interface stands in where it is not available
(see :mod:`dynamo_bao.core`).
"""

from __future__ import annotations

from . import fields
from .batch import (
    batch_context,
    get_batch_context_capacity,
    run_with_batch_context,
)
from .exceptions import (
    BaoError,
    BatchContextRequiredError,
    BatchIncompleteError,
    ConditionalError,
    ConfigurationError,
    InvalidTenantIdError,
    ItemNotFoundError,
    QueryError,
    TenantMismatchError,
    TenantRequiredError,
    TransactionCanceledError,
    ValidationError,
)
from .manager import ModelManager, init_models
from .model import BaoModel, Index, PrimaryKey, UniqueConstraint
from .tenancy import TenantContext
from .yaml_models import load_models

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "fields",
    "BaoModel",
    "PrimaryKey",
    "Index",
    "UniqueConstraint",
    "load_models",
    "init_models",
    "ModelManager",
    "TenantContext",
    "run_with_batch_context",
    "batch_context",
    "get_batch_context_capacity",
    "BatchContextRequiredError",
    "BaoError",
    "BatchIncompleteError",
    "ConditionalError",
    "ConfigurationError",
    "InvalidTenantIdError",
    "ItemNotFoundError",
    "QueryError",
    "TenantMismatchError",
    "TenantRequiredError",
    "TransactionCanceledError",
    "ValidationError",
]
