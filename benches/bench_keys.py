"""Key formatting, tenant validation and index encodings: native core, pure core and plain Python.

The plain-Python baseline is what perf-baseline.md measured as "regex check + # check +
f-string": a compiled-regex tenant check, a separator check on the value and an f-string. It
validates less than the cores do (they also check the model prefix, the index id, empty values
and lone surrogates), so it is a floor for Python code, not an equivalent.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from dynamo_bao import _native as native
from dynamo_bao.core import _pure as pure

TENANT = "acme-corp"
PREFIX = "usr"
USER_ID = "01HZX3K9M7Q2V8T4B6N1C5D0EF"
ORG_ID = "org-042"
WHEN = datetime(2024, 6, 1, 12, 0, 0, 123_000, tzinfo=timezone.utc)
CORES = {"native": native, "pure": pure}

_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_SEPARATOR = "##__SK__##"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)

BASELINE = "f-string+regex"
CALLS = 100  # calls per timed run (see conftest.batched)


def baseline_primary_key(tenant: str, prefix: str, value: str) -> str:
    if _TENANT_RE.fullmatch(tenant) is None:
        raise ValueError(tenant)
    if _SEPARATOR in value:
        raise ValueError(value)
    return f"[{tenant}]#{prefix}#{value}"


def baseline_gsi_key(tenant: str, prefix: str, index_id: str, value: str) -> str:
    if _TENANT_RE.fullmatch(tenant) is None:
        raise ValueError(tenant)
    if "#" in index_id:
        raise ValueError(index_id)
    return f"[{tenant}]#{prefix}#{index_id}#{value}"


def baseline_validate_tenant_id(tenant: str) -> str:
    if _TENANT_RE.fullmatch(tenant) is None:
        raise ValueError(tenant)
    return tenant


def _keys_with(primary, gsi):
    def keys(tenant: str, pk: str, gsi_value: str) -> tuple[str, str]:
        return primary(tenant, PREFIX, pk), gsi(tenant, PREFIX, "gsi1", gsi_value)

    return keys


KEY_PAIRS = {
    "native": _keys_with(native.format_primary_key, native.format_gsi_key),
    "pure": _keys_with(pure.format_primary_key, pure.format_gsi_key),
    BASELINE: _keys_with(baseline_primary_key, baseline_gsi_key),
}
PRIMARY = {
    "native": native.format_primary_key,
    "pure": pure.format_primary_key,
    BASELINE: baseline_primary_key,
}
VALIDATE = {
    "native": native.validate_tenant_id,
    "pure": pure.validate_tenant_id,
    BASELINE: baseline_validate_tenant_id,
}


@pytest.mark.benchmark(group="keys format_primary_key")
@pytest.mark.parametrize("competitor", list(PRIMARY))
def bench_primary_key(measure, competitor: str) -> None:
    out = measure(competitor, PRIMARY[competitor], TENANT, PREFIX, USER_ID, calls=CALLS)
    assert out == f"[{TENANT}]#{PREFIX}#{USER_ID}"


@pytest.mark.benchmark(group="keys format_primary_key + format_gsi_key")
@pytest.mark.parametrize("competitor", list(KEY_PAIRS))
def bench_primary_and_gsi_keys(measure, competitor: str) -> None:
    out = measure(competitor, KEY_PAIRS[competitor], TENANT, USER_ID, ORG_ID, calls=CALLS)
    assert out == (f"[{TENANT}]#{PREFIX}#{USER_ID}", f"[{TENANT}]#{PREFIX}#gsi1#{ORG_ID}")


@pytest.mark.benchmark(group="keys validate_tenant_id")
@pytest.mark.parametrize("competitor", list(VALIDATE))
def bench_validate_tenant_id(measure, competitor: str) -> None:
    assert measure(competitor, VALIDATE[competitor], TENANT, calls=CALLS) == TENANT


# --------------------------------------------------------------------------------------------
# Index encodings


def baseline_integer(value: int) -> str:
    if type(value) is not int or not 0 <= value < 10**20:
        raise ValueError(value)
    return f"{value:020d}"


def baseline_datetime(value: datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError(value)
    return f"{(value - _EPOCH) // _ONE_MS:020d}"


ENCODINGS = {
    # kind: (value, plain-Python baseline or None)
    "integer": (1_717_243, baseline_integer),
    "float": (97.25, None),
    "datetime": (WHEN, baseline_datetime),
}


def _encoding_cases() -> list:
    cases = []
    for kind, (_value, baseline) in ENCODINGS.items():
        mark = pytest.mark.benchmark(group=f"keys encode_index_value {kind}")
        competitors = ["native", "pure"] + ([BASELINE] if baseline else [])
        for competitor in competitors:
            cases.append(pytest.param(kind, competitor, id=f"{kind}-{competitor}", marks=mark))
    return cases


@pytest.mark.parametrize(("kind", "competitor"), _encoding_cases())
def bench_encode_index_value(measure, kind: str, competitor: str) -> None:
    value, baseline = ENCODINGS[kind]
    if competitor == BASELINE:
        out = measure(competitor, baseline, value, calls=CALLS)
    else:
        out = measure(
            competitor, CORES[competitor].encode_index_value, kind, value, calls=CALLS
        )
    assert out == pure.encode_index_value(kind, value)
