"""Every item DynamoBao wrote in the golden scenarios, read with the core Schema and written
back, must come out byte for byte the same (in boto3's AttributeValue form) — except for the
deliberate differences of DESIGN §6 listed below. The replay of whole operations through the
model API comes with the models issue; this checks the core's item layout on its own."""

from __future__ import annotations

import pytest

from .compat_data import (
    compat_schemas,
    deliberate_difference,
    load_json,
    scenario_files,
    to_boto3_form,
)

SCENARIOS = scenario_files()


def _schemas():
    return {schema.prefix: schema for schema in compat_schemas().values()}


def _tenant_and_prefix(pk: str) -> tuple[str | None, str]:
    tenant = None
    if pk.startswith("["):
        tenant, pk = pk[1:].split("]#", 1)
    return tenant, pk.split("#", 1)[0]


def _items(scenario: dict):
    for op in scenario["operations"]:
        for item in op.get("table_changes", {}).get("put", []):
            yield op["step"], item
    for item in scenario["final_items"]:
        yield "final", item


@pytest.mark.skipif(not SCENARIOS, reason="golden scenarios not found")
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_golden_items_round_trip(path):
    schemas = _schemas()
    scenario = load_json(path)
    checked = 0
    failures = []
    for step, raw in _items(scenario):
        if raw["_sk"]["S"] == "_raft_uc":
            continue  # unique-constraint rows are written by the model layer
        golden = to_boto3_form_item(raw)
        golden.pop("_searchText", None)  # computed by the model layer (search)
        tenant, prefix = _tenant_and_prefix(golden["_pk"]["S"])
        schema = schemas[prefix]
        # A tenant-owned modelPrefix item looks tenant-less in DynamoBao's layout; the
        # scenario says which tenant wrote it.
        if tenant is None and schema.partition_key is None:
            tenant = _writer_tenant(scenario, step)
        ours = schema.to_item(schema.from_item(golden), tenant)
        for attr in sorted(set(golden) | set(ours)):
            g, o = golden.get(attr), ours.get(attr)
            if g is not None and o is not None and "SS" in g:
                g, o = set(g["SS"]), set(o.get("SS", ()))  # sets compare as sets
            if g == o:
                continue
            if deliberate_difference(golden, ours, attr, None if schema.partition_key is None
                           else tenant, prefix):
                continue
            failures.append(f"step {step} {golden['_pk']['S']} {attr}: golden {g!r} ours {o!r}")
        checked += 1
    assert checked > 0
    assert not failures, "\n".join(failures)


def to_boto3_form_item(raw: dict) -> dict:
    return {k: to_boto3_form(v) for k, v in raw.items()}


def _writer_tenant(scenario: dict, step) -> str | None:
    if step == "final":
        return None
    for op in scenario["operations"]:
        if op["step"] == step:
            return op.get("tenant")
    return None
