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

__all__ = [
    "load_models",
    "read_definitions",
    "models_from_definitions",
    "model_attributes",
    "field_declaration",
    "MODEL_ATTRIBUTES",
]

_OPTION_NAMES = {
    "required": "required",
    "defaultValue": "default",
    "autoAssign": "auto_assign",
    "maxLength": "max_length",
    "maxStringLength": "max_string_length",
    "maxMemberCount": "max_member_count",
}

#: The class attributes a YAML model sets besides its fields; a field may not take these names.
MODEL_ATTRIBUTES = (
    "model_prefix",
    "primary_key",
    "indexes",
    "unique_constraints",
    "iterable",
    "iteration_buckets",
    "table_type",
    "search_config",
)


def load_models(path: str | Path) -> dict[str, type[BaoModel]]:
    """Model classes from a ``models.yaml`` file or a folder of YAML files."""
    return models_from_definitions(read_definitions(path))


def read_definitions(path: str | Path) -> dict[str, Any]:
    """The merged ``models:`` mappings of a YAML file or of a folder's ``*.yaml``/``*.yml``
    files (in name order; a later file's model replaces an earlier one of the same name)."""
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
    return definitions


def models_from_definitions(definitions: dict[str, Any]) -> dict[str, type[BaoModel]]:
    """Model classes from already parsed ``models:`` definitions."""
    return {name: _model_class(name, spec) for name, spec in definitions.items()}


def field_declaration(
    model: str, name: str, spec: Any
) -> tuple[type[Field], tuple[Any, ...], dict[str, Any]]:
    """The field class and constructor arguments a YAML field spec declares (validated)."""
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
    if field_type is RelatedField:
        if not isinstance(spec.get("model"), str):
            raise ConfigurationError(f"{model}.{name}: a RelatedField needs 'model' (a name)")
        return field_type, (spec["model"],), options
    return field_type, (), options


def _field(model: str, name: str, spec: Any) -> Field:
    field_type, args, options = field_declaration(model, name, spec)
    try:
        return field_type(*args, **options)
    except TypeError as err:
        raise ConfigurationError(f"{model}.{name}: {err}") from None


def _mapping(model: str, spec: dict[str, Any], key: str) -> dict[str, Any]:
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigurationError(f"model {model}: '{key}' must be a mapping")
    return value


def _model_class(name: str, spec: Any) -> type[BaoModel]:
    return type(name, (BaoModel,), model_attributes(name, spec))


def model_attributes(name: str, spec: Any) -> dict[str, Any]:
    """The class namespace of a YAML model: its fields (in declaration order), then the
    attributes of :data:`MODEL_ATTRIBUTES` it sets. An index aliasing the primary key is the
    very ``primary_key`` object."""
    if not isinstance(spec, dict):
        raise ConfigurationError(f"model {name}: expected a mapping")
    attrs: dict[str, Any] = {}
    for field_name, field_spec in _mapping(name, spec, "fields").items():
        if field_name in MODEL_ATTRIBUTES:
            raise ConfigurationError(
                f"{name}.{field_name}: a field cannot be named like the model attribute"
                f" '{field_name}'"
            )
        attrs[field_name] = _field(name, field_name, field_spec)
    if "modelPrefix" in spec:
        attrs["model_prefix"] = spec["modelPrefix"]
    key = _mapping(name, spec, "primaryKey")
    if "partitionKey" in key:
        attrs["primary_key"] = PrimaryKey(key["partitionKey"], key.get("sortKey", "modelPrefix"))
    indexes: dict[str, Any] = {}
    for index_name, index in _mapping(name, spec, "indexes").items():
        if index == "primaryKey":
            indexes[index_name] = attrs.get("primary_key")
        elif isinstance(index, dict):
            indexes[index_name] = Index(
                index.get("partitionKey"), index.get("sortKey"), index.get("indexId")
            )
        else:
            raise ConfigurationError(f"model {name}: invalid index '{index_name}'")
    attrs["indexes"] = indexes
    constraints = _mapping(name, spec, "uniqueConstraints")
    for constraint_name, constraint in constraints.items():
        if not isinstance(constraint, dict):
            raise ConfigurationError(f"model {name}: invalid unique constraint '{constraint_name}'")
    attrs["unique_constraints"] = {
        constraint_name: UniqueConstraint(c.get("field"), str(c.get("uniqueConstraintId")))
        for constraint_name, c in constraints.items()
    }
    attrs["iterable"] = spec.get("iterable", False)
    attrs["iteration_buckets"] = spec.get("iterationBuckets", 10)
    attrs["table_type"] = spec.get("tableType", "standard")
    if "searchable" in spec:
        attrs["search_config"] = spec["searchable"]
    return attrs
