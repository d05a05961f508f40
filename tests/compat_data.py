"""Access to the golden data recorded from DynamoBao (../shared/compat, or
$DYNAMO_BAO_COMPAT_DIR/.. for the scenarios folder)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
COMPAT = REPO.parent / "shared" / "compat"


def scenarios_dir() -> Path:
    return Path(os.environ.get("DYNAMO_BAO_COMPAT_DIR") or COMPAT / "scenarios")


def scenario_files() -> list[Path]:
    return sorted(scenarios_dir().glob("*.json"))


def load_models_yaml() -> dict:
    return yaml.safe_load((COMPAT / "models.yaml").read_text())["models"]


# DynamoBao field types -> core field kinds (the model layer will own this mapping).
FIELD_KINDS = {
    "StringField": "string",
    "UlidField": "string",
    "RelatedField": "string",
    "VersionField": "string",
    "IntegerField": "integer",
    "CounterField": "integer",
    "FloatField": "float",
    "BooleanField": "boolean",
    "DateTimeField": "datetime",
    "CreateDateField": "datetime",
    "ModifiedDateField": "datetime",
    "TtlField": "ttl",
    "BinaryField": "binary",
    "StringSetField": "string_set",
}


def schema_args(name: str, spec: dict) -> dict:
    """Keyword arguments of core.Schema for a model of models.yaml."""
    side = lambda v: None if v == "modelPrefix" else v  # noqa: E731
    pk = spec["primaryKey"]
    indexes = [
        (ix["indexId"], side(ix["partitionKey"]), side(ix["sortKey"]))
        for ix in (spec.get("indexes") or {}).values()
        if isinstance(ix, dict)
    ]
    if spec.get("iterable"):
        buckets = spec.get("iterationBuckets", 10)
    else:
        buckets = 0
    return dict(
        model_name=name,
        prefix=spec["modelPrefix"],
        fields=[(f, FIELD_KINDS[d["type"]]) for f, d in spec["fields"].items()],
        partition_key=side(pk["partitionKey"]),
        sort_key=side(pk.get("sortKey", "modelPrefix")),
        indexes=indexes,
        iteration_buckets=buckets,
        float_encoding="dynamo-bao",
    )


def to_boto3_form(av):
    """Golden AttributeValue JSON (B as base64) -> boto3's low-level form (B as bytes)."""
    if isinstance(av, dict) and len(av) == 1:
        ((tag, v),) = av.items()
        if tag == "B":
            return {"B": base64.b64decode(v)}
        if tag == "BS":
            return {"BS": [base64.b64decode(x) for x in v]}
        if tag == "M":
            return {"M": {k: to_boto3_form(x) for k, x in v.items()}}
        if tag == "L":
            return {"L": [to_boto3_form(x) for x in v]}
    return av


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
