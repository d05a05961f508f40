"""``afind`` coalescing vs one GetItem per call, on the embedded server (HTTP, moto).

Three ways to read the same 100 items (one tenant, ids known) from async code:

- ``coalesced``: 100 concurrent ``afind`` calls inside a batch context — one BatchGetItem
  (100 keys) sent from one worker thread after the coalescing window;
- ``concurrent GetItem``: 100 concurrent ``afind`` calls outside a batch context — one GetItem
  each, on the event loop's default thread pool;
- ``sequential GetItem``: 100 ``afind`` calls awaited one after the other.

Each timed run reads all 100 items (a fresh batch context per run, so nothing is cached between
runs). The ratios against ``coalesced`` are printed after the module (``report.py`` shows the
medians side by side). The server is local, so network latency — what coalescing saves most on
real DynamoDB — is near zero here, and moto itself needs ~140 ms to answer one BatchGetItem of
100 items on a 2-core machine (``coalesced`` is within a few ms of that raw call): the ratio is a
lower bound of the real gain. Measured here: coalesced ~0.17-0.24 s, concurrent GetItem ~0.45 s
(2-2.5×), sequential GetItem ~0.6 s (2.5-3.3×).
"""

from __future__ import annotations

import asyncio

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.local import local_dynamodb

ITEMS = 100
TENANT = "bench"
ROUNDS = 7
MEDIANS: dict[str, float] = {}


class BenchUser(bao.BaoModel):
    model_prefix = "bu"
    user_id = fields.StringField(required=True)
    name = fields.StringField()
    age = fields.IntegerField()
    primary_key = bao.PrimaryKey("user_id")


IDS = [f"user{i:03d}" for i in range(ITEMS)]


@pytest.fixture(scope="module")
def loop(request):
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
    if MEDIANS.get("coalesced"):
        base = MEDIANS["coalesced"]
        lines = ["", "afind coalescing on the embedded server (median per run):"] + [
            f"  {name}: {median * 1e3:.1f} ms per {ITEMS} reads ({median / base:.1f}× coalesced)"
            for name, median in MEDIANS.items()
        ]
        # Through the terminal reporter, with pytest's output capture suspended.
        plugins = request.config.pluginmanager
        reporter = plugins.get_plugin("terminalreporter")
        with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
            for line in lines:
                reporter.write_line(line)


@pytest.fixture(scope="module")
def seeded():
    with local_dynamodb() as url:
        manager = bao.init_models({
            "db": {"table_name": "bench-async"},
            "tenancy": {"enabled": True},
            "models": [BenchUser],
            "client": transport.make_client(endpoint_url=url),
        })
        manager.create_table()
        with bao.TenantContext.tenant(TENANT):
            for i, user_id in enumerate(IDS):
                BenchUser.create({"user_id": user_id, "name": f"User {i}", "age": 20 + i % 50})
        yield manager


async def coalesced() -> list:
    async with bao.TenantContext.tenant(TENANT), bao.batch_context():
        return await asyncio.gather(*(BenchUser.afind(i) for i in IDS))


async def concurrent_get_item() -> list:
    async with bao.TenantContext.tenant(TENANT):
        return await asyncio.gather(*(BenchUser.afind(i) for i in IDS))


async def sequential_get_item() -> list:
    async with bao.TenantContext.tenant(TENANT):
        return [await BenchUser.afind(i) for i in IDS]


CASES = {
    "coalesced": coalesced,
    "concurrent GetItem": concurrent_get_item,
    "sequential GetItem": sequential_get_item,
}


@pytest.mark.benchmark(group="async 100 afind, embedded server")
@pytest.mark.parametrize("competitor", list(CASES))
def bench_afind(benchmark, loop, seeded, competitor: str) -> None:
    case = CASES[competitor]
    benchmark.extra_info["competitor"] = competitor
    users = benchmark.pedantic(
        lambda: loop.run_until_complete(case()), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    if benchmark.stats is not None:  # None under --benchmark-disable (the CI smoke run)
        MEDIANS[competitor] = benchmark.stats.stats.median
    assert [u.user_id for u in users] == IDS
