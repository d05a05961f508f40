"""The core: keys, tenant-id validation, index encodings and item marshalling.

Two implementations share one interface: the Rust extension ``dynamo_bao._native`` and the
pure-Python ``dynamo_bao.core._pure``. ``DYNAMO_BAO_CORE=native|python`` forces one; by default
the native core is used when it imports, else the pure one (with a one-time warning).
``NAME`` says which is active. Both raise the classes of :mod:`dynamo_bao.exceptions`.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

__all__ = [
    "NAME",
    "SK_SEPARATOR",
    "MAX_DEPTH",
    "validate_tenant_id",
    "validate_model_prefix",
    "format_primary_key",
    "format_gsi_key",
    "format_unique_key",
    "format_iteration_key",
    "iteration_bucket",
    "format_primary_id",
    "parse_primary_id",
    "encode_index_value",
    "to_attribute_value",
    "from_attribute_value",
    "marshal_item",
    "unmarshal_item",
    "item_size",
    "MAX_ITEM_BYTES",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "Schema",
    "MAX_JSON_DEPTH",
    "encode_request",
    "decode_response",
    "load",
]


def load(name: str | None = None) -> ModuleType:
    """The core module called ``name`` (``"native"`` or ``"python"``); ``None`` = default."""
    if name == "python":
        from . import _pure

        return _pure
    if name == "native":
        from .. import _native

        return _native
    if name is not None:
        raise ValueError(f"DYNAMO_BAO_CORE must be 'native' or 'python', not {name!r}")
    try:
        from .. import _native
    except ImportError as err:
        warnings.warn(
            f"dynamo_bao: the native core is not available ({err}); using the pure-Python "
            "core, which is slower. Set DYNAMO_BAO_CORE=python to silence this.",
            RuntimeWarning,
            stacklevel=3,
        )
        from . import _pure

        return _pure
    return _native


_impl = load(os.environ.get("DYNAMO_BAO_CORE") or None)

NAME: str = _impl.NAME
SK_SEPARATOR: str = _impl.SK_SEPARATOR
MAX_DEPTH: int = _impl.MAX_DEPTH
validate_tenant_id = _impl.validate_tenant_id
validate_model_prefix = _impl.validate_model_prefix
format_primary_key = _impl.format_primary_key
format_gsi_key = _impl.format_gsi_key
format_unique_key = _impl.format_unique_key
format_iteration_key = _impl.format_iteration_key
iteration_bucket = _impl.iteration_bucket
format_primary_id = _impl.format_primary_id
parse_primary_id = _impl.parse_primary_id
encode_index_value = _impl.encode_index_value
to_attribute_value = _impl.to_attribute_value
from_attribute_value = _impl.from_attribute_value
marshal_item = _impl.marshal_item
unmarshal_item = _impl.unmarshal_item
item_size = _impl.item_size
MAX_ITEM_BYTES: int = _impl.MAX_ITEM_BYTES
MAX_PARTITION_KEY_BYTES: int = _impl.MAX_PARTITION_KEY_BYTES
MAX_SORT_KEY_BYTES: int = _impl.MAX_SORT_KEY_BYTES
Schema = _impl.Schema
MAX_JSON_DEPTH: int = _impl.MAX_JSON_DEPTH
encode_request = _impl.encode_request
decode_response = _impl.decode_response
