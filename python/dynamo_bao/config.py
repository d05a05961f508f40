"""Library configuration: a dict (DynamoBao's shape, snake_case keys) over ``DYNAMO_BAO_*``
environment variables over defaults.

```python
{
    "aws": {"region": "us-east-1", "endpoint_url": None},
    "db": {"table_name": "my-app-table"},
    "tenancy": {"enabled": True},
    "keys": {"float_encoding": "sortable"},     # or "dynamo-bao" for tables shared with JS
    "batch": {"require_batch_context": False, "coalesce_window_ms": 2},
    "transport": {"wire": "fast"},              # or "boto3": botocore writes and reads bodies
    "cursors": {"secret": "…"},                 # ≥ 16 characters: cursors valid across processes
    "models": [User, Post],                     # or a path to models.yaml / a folder of them
    "client": boto3_client,                     # optional: the caller's own client
}
```

Environment variables (used where the dict says nothing): ``DYNAMO_BAO_REGION``,
``DYNAMO_BAO_ENDPOINT_URL``, ``DYNAMO_BAO_TABLE`` (the CLI's too), ``DYNAMO_BAO_TENANCY_ENABLED``,
``DYNAMO_BAO_FLOAT_ENCODING``, ``DYNAMO_BAO_REQUIRE_BATCH_CONTEXT``,
``DYNAMO_BAO_COALESCE_WINDOW_MS``, ``DYNAMO_BAO_WIRE``, ``DYNAMO_BAO_CURSOR_SECRET``,
``DYNAMO_BAO_MODELS``.

``cursors.secret`` keys the cursors of queries and searches (:mod:`dynamo_bao.cursors`): with
it, a cursor is valid in every process sharing the secret; without it, only in the process that
issued it, until that process exits. It must be at least 16 characters (a shorter one is a
:class:`ConfigurationError`) and is never shown in ``repr(Config)``.

``transport.wire`` picks who writes request bodies and reads response bodies: ``"fast"`` (the
default) the core, through botocore event handlers on the manager's client
(:mod:`dynamo_bao.wire`); ``"boto3"`` botocore itself. Both give the same results; boto3
keeps credentials, signing, retries and HTTP either way. The choice belongs to the client: a
client shared by several managers uses the fast path once one of them installed it.

``batch.require_batch_context`` makes reads (``find``, ``batch_find``,
``find_by_unique_constraint`` and what uses them) outside a batch context an error;
``batch.coalesce_window_ms`` is how long concurrent ``afind`` calls in a batch context wait to
be sent together as one BatchGetItem (milliseconds, 0–1000, default 2).
Unknown keys are a :class:`ConfigurationError` — a typo must not silently turn a setting off
(say, tenancy).

Decisions (malformed is never "off"):

- On/off settings (``tenancy.enabled``, ``batch.require_batch_context``) take only ``True`` or
  ``False`` in the dict (not ``None``, ``"yes"`` or ``1``); their environment variables take
  ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off`` in any case, surrounding
  spaces ignored. A blank or unknown value of ``DYNAMO_BAO_TENANCY_ENABLED`` or
  ``DYNAMO_BAO_REQUIRE_BATCH_CONTEXT`` is an error. A missing section or key (and an unset
  variable) means off — the documented default.
- A section that is present must be a mapping: ``"tenancy": None`` (or ``"batch": None``, any
  section) is an error, not "use the defaults".
- Other settings keep their behaviour: ``None`` in the dict (``"endpoint_url": None``) and a
  blank environment variable mean "not set".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .cursors import check_secret
from .exceptions import ConfigurationError

__all__ = ["Config", "load_config"]

_SECTIONS: dict[str, tuple[str, ...]] = {
    "aws": ("region", "endpoint_url"),
    "db": ("table_name",),
    "tenancy": ("enabled",),
    "keys": ("float_encoding",),
    "batch": ("require_batch_context", "coalesce_window_ms"),
    "transport": ("wire",),
    "cursors": ("secret",),
}
_TOP_LEVEL = (*_SECTIONS, "models", "client")
_ENV = {
    ("aws", "region"): "DYNAMO_BAO_REGION",
    ("aws", "endpoint_url"): "DYNAMO_BAO_ENDPOINT_URL",
    ("db", "table_name"): "DYNAMO_BAO_TABLE",
    ("tenancy", "enabled"): "DYNAMO_BAO_TENANCY_ENABLED",
    ("keys", "float_encoding"): "DYNAMO_BAO_FLOAT_ENCODING",
    ("batch", "require_batch_context"): "DYNAMO_BAO_REQUIRE_BATCH_CONTEXT",
    ("batch", "coalesce_window_ms"): "DYNAMO_BAO_COALESCE_WINDOW_MS",
    ("transport", "wire"): "DYNAMO_BAO_WIRE",
    ("cursors", "secret"): "DYNAMO_BAO_CURSOR_SECRET",
}
#: On/off settings: only True or False in the dict; these words (any case) in the environment.
_FLAGS = {("tenancy", "enabled"), ("batch", "require_batch_context")}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    """The resolved settings of one :class:`~dynamo_bao.manager.ModelManager`."""

    table_name: str
    region: str | None = None
    endpoint_url: str | None = None
    tenancy_enabled: bool = False
    float_encoding: str = "sortable"
    require_batch_context: bool = False
    coalesce_window_ms: float = 2.0
    wire: str = "fast"
    models: Any = ()
    client: Any = None
    #: Key material of cursors (:mod:`dynamo_bao.cursors`); never shown in repr.
    cursor_secret: str | bytes | None = field(default=None, repr=False)


def _flag(section: str, key: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    """An on/off setting: the dict's True/False, else the environment's word, else off. Anything
    else — None in the dict, a blank or unknown word — is an error, never "off"."""
    if key in given:
        value = given[key]
        if isinstance(value, bool):
            return value
        raise ConfigurationError(f"{section}.{key} must be True or False, got {value!r}")
    name = _ENV[section, key]
    raw = environ.get(name)
    if raw is None:
        return False
    word = raw.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConfigurationError(
        f"{name} must be one of {', '.join(sorted(_TRUE | _FALSE))} (or unset), got {raw!r}"
    )


def load_config(
    config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Resolve settings from ``config`` (a dict as above), then the environment, then defaults."""
    config = dict(config or {})
    environ = os.environ if environ is None else environ
    unknown = [key for key in config if key not in _TOP_LEVEL]
    if unknown:
        raise ConfigurationError(
            f"unknown configuration key {unknown[0]!r}; known: {', '.join(_TOP_LEVEL)}"
        )
    values: dict[tuple[str, str], Any] = {}
    for section, keys in _SECTIONS.items():
        given = config.get(section, {})  # absent: defaults; present, it must be a mapping
        if not isinstance(given, Mapping):
            raise ConfigurationError(
                f"configuration section {section!r} must be a mapping, got {given!r:.100}"
            )
        for key in given:
            if key not in keys:
                raise ConfigurationError(
                    f"unknown configuration key '{section}.{key}'; known: {', '.join(keys)}"
                )
        for key in keys:
            if (section, key) in _FLAGS:
                values[section, key] = _flag(section, key, given, environ)
            elif given.get(key) is not None:
                values[section, key] = given[key]
            elif environ.get(_ENV[section, key]):
                values[section, key] = environ[_ENV[section, key]]

    table_name = values.get(("db", "table_name"))
    if not table_name or not isinstance(table_name, str):
        raise ConfigurationError(
            "a table name is required: db.table_name in the config or DYNAMO_BAO_TABLE"
        )
    float_encoding = values.get(("keys", "float_encoding"), "sortable")
    if float_encoding not in ("sortable", "dynamo-bao"):
        raise ConfigurationError(
            f"keys.float_encoding must be 'sortable' or 'dynamo-bao', not {float_encoding!r}"
        )
    window = values.get(("batch", "coalesce_window_ms"), 2.0)
    try:
        if isinstance(window, bool):
            raise ValueError
        window = float(window)
    except (TypeError, ValueError):
        window = -1.0
    if not 0 <= window <= 1000:
        raise ConfigurationError(
            "batch.coalesce_window_ms must be a number of milliseconds from 0 to 1000, "
            f"got {values.get(('batch', 'coalesce_window_ms'))!r}"
        )
    wire = values.get(("transport", "wire"), "fast")
    if wire not in ("fast", "boto3"):
        raise ConfigurationError(f"transport.wire must be 'fast' or 'boto3', not {wire!r}")
    models = config.get("models")
    if models is None:
        models = environ.get("DYNAMO_BAO_MODELS") or ()
    return Config(
        table_name=table_name,
        region=values.get(("aws", "region")),
        endpoint_url=values.get(("aws", "endpoint_url")),
        tenancy_enabled=values["tenancy", "enabled"],
        float_encoding=float_encoding,
        require_batch_context=values["batch", "require_batch_context"],
        coalesce_window_ms=window,
        wire=wire,
        models=models,
        client=config.get("client"),
        cursor_secret=check_secret(values.get(("cursors", "secret"))),
    )
