"""``init_models`` and the ``ModelManager``: one table, one client, one registry of models.

Unlike DynamoBao there is one manager for all tenants (spec §11.5): the tenant is only a
parameter of key building, resolved per operation, never a property of a manager or a class.
``init_models`` binds each registered model class to its manager (``Model._manager``) and, when
the configuration asks for DynamoBao's float key encoding, recompiles the class's Schema with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import relations, transport, wire
from .config import Config, load_config
from .exceptions import ConfigurationError
from .model import BaoModel, compile_schema
from .yaml_models import load_models

__all__ = ["ModelManager", "init_models"]


class ModelManager:
    """The registered models of one table, and the boto3 client all their requests go through."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._client = config.client
        self._models: dict[str, type[BaoModel]] = {}
        self._prefixes: dict[str, str] = {}

    @property
    def table_name(self) -> str:
        return self.config.table_name

    @property
    def client(self) -> Any:
        """The boto3 low-level client every request goes through (the caller's, or our own),
        with the fast wire path installed unless ``transport.wire`` is ``"boto3"``."""
        if self._client is None:
            client = transport.make_client(self.config.region, self.config.endpoint_url)
            if self.config.wire == "fast":
                wire.install(client)
            self._client = client
        elif self.config.wire == "fast" and not wire.installed(self._client):
            wire.install(self._client)  # the caller's client: handlers on it, never global
        return self._client

    @property
    def models(self) -> Mapping[str, type[BaoModel]]:
        return dict(self._models)

    def register(self, models: Iterable[type[BaoModel]]) -> None:
        """Add model classes; model prefixes must be unique within the table. Helpers that
        join two registered models (``user.query_posts()``, ``tag.get_posts()``) are generated
        here, once both sides are known (:mod:`dynamo_bao.relations`)."""
        models = list(models)
        for cls in models:
            if not (isinstance(cls, type) and issubclass(cls, BaoModel)):
                raise ConfigurationError(f"Model {cls!r} must be a BaoModel subclass")
            if cls._schema is None:
                raise ConfigurationError(f"Model {cls.__name__} has no model_prefix")
            name, prefix = cls.__name__, cls._schema.prefix
            owner = self._prefixes.get(prefix)
            if owner is not None and owner != name:
                raise ConfigurationError(
                    f"model prefix {prefix!r} is used by both {owner} and {name}"
                )
            if self.config.float_encoding != cls._schema.float_encoding:
                cls._schema = compile_schema(cls, self.config.float_encoding)
            self._models[name] = cls
            self._prefixes[prefix] = name
            cls._manager = self
        relations.install_relationship_helpers(self._models)

    def get_model(self, name: str) -> type[BaoModel]:
        try:
            return self._models[name]
        except KeyError:
            raise ConfigurationError(f"Model {name} not found") from None

    def create_table(self, include_search_index: bool = True) -> bool:
        """Create the table (idempotent; waits until ACTIVE). True when it was created."""
        return transport.create_table(self.client, self.table_name, include_search_index)

    def delete_table(self) -> None:
        transport.delete_table(self.client, self.table_name)


def _models_of(spec: Any) -> list[type[BaoModel]]:
    if isinstance(spec, (str, Path)):
        return list(load_models(spec).values())
    if isinstance(spec, Mapping):
        return list(spec.values())
    return list(spec or ())


def init_models(config: Mapping[str, Any] | Config | None = None) -> ModelManager:
    """A :class:`ModelManager` for ``config`` (a dict, see :mod:`dynamo_bao.config`), with its
    models registered and bound to it."""
    resolved = config if isinstance(config, Config) else load_config(config)
    manager = ModelManager(resolved)
    manager.register(_models_of(resolved.models))
    return manager
