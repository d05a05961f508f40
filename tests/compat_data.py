"""Access to the golden data recorded from DynamoBao (../shared/compat, or
$DYNAMO_BAO_COMPAT_DIR/.. for the scenarios folder)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPAT = REPO.parent / "shared" / "compat"


def scenarios_dir() -> Path:
    return Path(os.environ.get("DYNAMO_BAO_COMPAT_DIR") or COMPAT / "scenarios")


def scenario_files() -> list[Path]:
    return sorted(scenarios_dir().glob("*.json"))


def compat_models() -> dict:
    """The golden data's models, loaded from its models.yaml by our own loader."""
    from dynamo_bao.yaml_models import load_models

    return load_models(COMPAT / "models.yaml")


def compat_schemas() -> dict:
    """Core schemas of the compat models, by model name, with DynamoBao's float keys."""
    from dynamo_bao.model import compile_schema

    return {
        name: compile_schema(cls, float_encoding="dynamo-bao")
        for name, cls in compat_models().items()
    }


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
