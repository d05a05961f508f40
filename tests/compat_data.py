"""Access to the golden data recorded from DynamoBao: ``tests/compat`` (a copy of the project's
shared compat folder, so a fresh clone tests itself; ``.ci/run`` checks the copy is current), or
the scenarios folder in ``$DYNAMO_BAO_COMPAT_DIR``."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPAT = REPO / "tests" / "compat"


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


# Where our stored items deliberately differ from DynamoBao's (DESIGN §6). Nothing else may.
RELATIVE_COUNTER = re.compile(r"0*[+-][0-9]+")


def deliberate_difference(
    golden: dict, ours: dict, attr: str, tenant: str | None, prefix: str
) -> str | None:
    """Why an attribute may differ from DynamoBao's (DESIGN §6), or None."""
    g, o = golden.get(attr, {}).get("S"), ours.get(attr, {}).get("S")
    # §6.3: a modelPrefix partition key gets the tenant ("set" -> "[acme]#set").
    if (
        attr == "_pk"
        and g
        and o
        and "#" not in g
        and re.fullmatch(r"\[[^\]]+\]#" + re.escape(g), o)
    ):
        return "§6.3 tenant on modelPrefix partition keys"
    # Spec quirk 2: a relative counter update wrote "000000000000000000+1" (or "-2") as a GSI
    # sort key; we encode the stored counter value.
    if attr.startswith("_gsi") and attr.endswith("_sk") and g and RELATIVE_COUNTER.fullmatch(g):
        return "relative counter in a GSI key"
    # §6.4: a composite id as sort key is kept whole; DynamoBao stored only its first part.
    if attr == "_sk" and o and g and o.startswith(g + "##__SK__##"):
        return "§6.4 composite sort key kept whole"
    return None
