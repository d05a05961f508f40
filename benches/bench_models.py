"""The model path, native vs pure core: a model instance to its create request (UpdateItem
parameters), and a response page of 100 items to model instances."""

from __future__ import annotations

import pytest

import dynamo_bao as bao
from dynamo_bao.core import _pure as pure
from dynamo_bao.mutations import create_request
from dynamo_bao.query import instances_of

from items import (
    FIELD_CLASSES,
    MEDIUM,
    MEDIUM_FIELDS,
    MEDIUM_PAGE,
    PAGE_SIZE,
    TENANT,
    medium_schema,
)

native = pytest.importorskip("dynamo_bao._native")

def _model(name: str, core) -> type:
    attrs = {field: FIELD_CLASSES[kind]() for field, kind in MEDIUM_FIELDS}
    attrs.update(
        model_prefix="usr",
        primary_key=bao.PrimaryKey("user_id"),
        indexes={"byOrg": bao.Index("org_id", "created_at", "gsi1")},
        iterable=True,
        iteration_buckets=8,
    )
    cls = type(name, (bao.BaoModel,), attrs)
    cls._schema = medium_schema(core)  # the same model compiled by the core under test
    return cls


MODELS = {"native": _model("UserNative", native), "pure": _model("UserPure", pure)}


@pytest.mark.benchmark(group="model create request, medium")
@pytest.mark.parametrize("competitor", list(MODELS))
def bench_create_request(measure, competitor: str) -> None:
    cls = MODELS[competitor]

    def build():
        return create_request(cls(MEDIUM), TENANT)

    out = measure(competitor, build, values=41)
    assert out["Key"]["_pk"]["S"].startswith(f"[{TENANT}]#usr#")


@pytest.mark.benchmark(group=f"model page of {PAGE_SIZE} to instances")
@pytest.mark.parametrize("competitor", list(MODELS))
def bench_page_to_instances(measure, competitor: str) -> None:
    cls = MODELS[competitor]
    out = measure(competitor, instances_of, cls, MEDIUM_PAGE, TENANT, values=35 * PAGE_SIZE)
    assert len(out) == PAGE_SIZE and out[0].user_id and out[0].tenant_id == TENANT
