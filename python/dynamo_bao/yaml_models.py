"""Models from DynamoBao's ``models.yaml`` (spec §8.1), so Python and JavaScript services can
share one definition of their models.

``load_models(path)`` reads a YAML file, or every ``*.yaml``/``*.yml`` file of a folder (merged
by model name), and returns ``{name: model class}``. Field types are DynamoBao's names
(``StringField``, ``UlidField`` …, plus ``DecimalField``, ``MapField``, ``ListField``); options
are DynamoBao's camelCase ones (``required``, ``defaultValue``, ``autoAssign``, ``model``,
``maxLength``, ``maxStringLength``, ``maxMemberCount``). As DynamoBao's codegen does, an
``iterable`` model without ``iterationBuckets`` gets 10 buckets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .exceptions import ConfigurationError
from .fields import FIELD_TYPES, Field, RelatedField
from .model import BaoModel, Index, PrimaryKey, UniqueConstraint

__all__ = ["load_models", "models_from_definitions"]

_OPTION_NAMES = {
    "required": "required",
    "defaultValue": "default",
    "autoAssign": "auto_assign",
    "maxLength": "max_length",
    "maxStringLength": "max_string_length",
    "maxMemberCount": "max_member_count",
}


def load_models(path: str | Path) -> dict[str, type[BaoModel]]:
    """Model classes from a ``models.yaml`` file or a folder of YAML files."""
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    elif path.is_file():
        files = [path]
    else:
        raise ConfigurationError(f"models file or folder not found: {path}")
    definitions: dict[str, Any] = {}
    for file in files:
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigurationError(f"{file}: invalid YAML: {err}") from err
        models = loaded.get("models") if isinstance(loaded, dict) else None
        if not isinstance(models, dict):
            raise ConfigurationError(f"{file}: expected a top-level 'models' mapping")
        definitions.update(models)
    return models_from_definitions(definitions)


def models_from_definitions(definitions: dict[str, Any]) -> dict[str, type[BaoModel]]:
    """Model classes from already parsed ``models:`` definitions."""
    return {name: _model_class(name, spec) for name, spec in definitions.items()}


def _field(model: str, name: str, spec: Any) -> Field:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigurationError(f"{model}.{name}: a field needs a 'type'")
    field_type = FIELD_TYPES.get(spec["type"])
    if field_type is None:
        raise ConfigurationError(f"{model}.{name}: Field type '{spec['type']}' not found")
    options = {}
    for key, value in spec.items():
        if key in ("type", "model"):
            continue
        if key not in _OPTION_NAMES:
            raise ConfigurationError(f"{model}.{name}: unknown field option '{key}'")
        options[_OPTION_NAMES[key]] = value
    try:
        if field_type is RelatedField:
            if "model" not in spec:
                raise ConfigurationError(f"{model}.{name}: a RelatedField needs 'model'")
            return RelatedField(spec["model"], **options)
        return field_type(**options)
    except TypeError as err:
        raise ConfigurationError(f"{model}.{name}: {err}") from None


def _model_class(name: str, spec: Any) -> type[BaoModel]:
    if not isinstance(spec, dict):
        raise ConfigurationError(f"model {name}: expected a mapping")
    attrs: dict[str, Any] = {
        field_name: _field(name, field_name, field_spec)
        for field_name, field_spec in (spec.get("fields") or {}).items()
    }
    if "modelPrefix" in spec:
        attrs["model_prefix"] = spec["modelPrefix"]
    key = spec.get("primaryKey") or {}
    if "partitionKey" in key:
        attrs["primary_key"] = PrimaryKey(key["partitionKey"], key.get("sortKey", "modelPrefix"))
    indexes: dict[str, Any] = {}
    for index_name, index in (spec.get("indexes") or {}).items():
        if index == "primaryKey":
            indexes[index_name] = attrs.get("primary_key")
        elif isinstance(index, dict):
            indexes[index_name] = Index(
                index.get("partitionKey"), index.get("sortKey"), index.get("indexId")
            )
        else:
            raise ConfigurationError(f"model {name}: invalid index '{index_name}'")
    attrs["indexes"] = indexes
    attrs["unique_constraints"] = {
        constraint_name: UniqueConstraint(c.get("field"), str(c.get("uniqueConstraintId")))
        for constraint_name, c in (spec.get("uniqueConstraints") or {}).items()
    }
    attrs["iterable"] = spec.get("iterable", False)
    attrs["iteration_buckets"] = spec.get("iterationBuckets", 10)
    attrs["table_type"] = spec.get("tableType", "standard")
    if "searchable" in spec:
        attrs["search_config"] = spec["searchable"]
    return type(name, (BaoModel,), attrs)
