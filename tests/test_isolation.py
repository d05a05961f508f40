"""Tenant isolation under load, and failing closed (DESIGN §6.1–6.3).

* 16 threads and then 64 asyncio tasks interleave every kind of read and write across several
  tenants of one table, all using the same unique values, the same index values and the same
  composite keys; each sees only what its own tenant wrote.
* Afterwards a raw scan proves every stored key (item, index, iteration and unique-constraint
  keys) starts with the ``[tenant]#`` of the code that wrote it.
* Hostile tenant ids are refused by every entry point, and operations without a tenant fail,
  both before a single request is sent (counted with a botocore ``before-call`` handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.concurrency import run_in_thread
from dynamo_bao.exceptions import InvalidTenantIdError, TenantRequiredError
from dynamo_bao.testing import cleanup_test_data, init_test_models_with_tenant


class IsoMember(bao.BaoModel):
    model_prefix = "im"
    member_id = fields.UlidField(auto_assign=True)
    email = fields.StringField(required=True)
    team = fields.StringField(required=True)
    writer = fields.StringField(required=True)  # the tenant the test wrote it in: the evidence
    score = fields.IntegerField(default=0)
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("member_id")
    indexes = {"byTeam": bao.Index("team", "created_at", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True


class IsoEntry(bao.BaoModel):
    """A composite key: the same ``owner`` partition exists in every tenant."""

    model_prefix = "ie"
    owner = fields.StringField(required=True)
    entry_id = fields.UlidField(auto_assign=True)
    writer = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("owner", "entry_id")


class IsoTag(bao.BaoModel):
    """Partitioned by the model prefix (``_pk = [T]#it``, DESIGN §6.3); the same names in
    every tenant."""

    model_prefix = "it"
    name = fields.StringField(required=True)
    writer = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("modelPrefix", "name")


MODELS = [IsoMember, IsoEntry, IsoTag]
TENANTS = ["acme", "globex", "initech"]
WORKERS = 16
SOME_ID = "01HKS659000000000000000001"
#: Attributes that hold a key and so must start with the writer's "[tenant]#".
TENANT_KEY_ATTRIBUTES = (
    "_pk", "_gsi1_pk", "_gsi2_pk", "_gsi3_pk", "_gsi4_pk", "_gsi5_pk", "_iter_pk", "uniqueValue"
)


@pytest.fixture
def client(dynamodb_endpoint):
    """A client of this test's own, so request counters see only this test's requests.

    Its connection pool is as large as the number of threads sharing it. It retries server
    errors more often than usual because moto's server is not thread-safe: TransactWriteItems
    deep-copies the whole table, unguarded, to roll back with, and a concurrent write makes that
    copy fail with a 500 — before the transaction has changed anything, so a retry is safe.
    (None of this workload's transactions is meant to fail, so moto's rollback, which would
    restore that copy over concurrent writes, never runs.)
    """
    return transport.make_client(
        endpoint_url=dynamodb_endpoint,
        config=Config(
            max_pool_connections=2 * WORKERS, retries={"mode": "standard", "max_attempts": 12}
        ),
    )


@pytest.fixture
def manager(client, table_name):
    bao.TenantContext.clear_resolvers()
    manager = bao.init_models({
        "db": {"table_name": table_name},
        "tenancy": {"enabled": True},
        "models": MODELS,
        "client": client,
    })
    manager.create_table()
    yield manager
    bao.TenantContext.clear_resolvers()


@contextlib.contextmanager
def counting(client) -> Iterator[list[str]]:
    """The operations the client sends during the block (botocore's ``before-call`` event)."""
    sent: list[str] = []

    def record(model, **_):
        sent.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)


# --------------------------------------------------------------------------- the workload

#: One call of a script: (model class or instance, method name, positional arguments).
Step = tuple[Any, str, tuple[Any, ...]]


class Ledger:
    """Who wrote what: primary id → tenant, shared by all workers (under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writers: dict[str, str] = {}

    def record(self, primary_id: str, tenant: str) -> None:
        with self.lock:
            assert primary_id not in self.writers
            self.writers[primary_id] = tenant

    def member_ids(self) -> list[str]:
        with self.lock:
            return [pid for pid in self.writers if "##__SK__##" not in pid]


def unit_of_work(worker: int, tenant: str, ledger: Ledger) -> Generator[Step, Any, None]:
    """One worker's turn in one tenant, as a script of library calls.

    It yields each call as ``(owner, method name, args)`` and receives its result, so the same
    script is driven by a thread (calling the method) and by an asyncio task (awaiting the
    method's async twin, or the sync method through ``run_in_thread``; tasks switch at every
    call). The script asserts that every result belongs to ``tenant`` — the tenant its driver
    set in its own context.
    """
    email = f"w{worker}@example.com"  # the same unique value in every tenant
    team = f"team-{worker}"  # the same GSI partition in every tenant
    member = yield IsoMember, "create", ({"email": email, "team": team, "writer": tenant},)
    ledger.record(member.primary_id, tenant)
    assert member.writer == tenant

    updated = yield IsoMember, "update", (member.primary_id, {"score": worker + 1})
    assert (updated.writer, updated.score) == (tenant, worker + 1)

    found = yield IsoMember, "find", (member.primary_id,)
    assert (found.writer, found.score) == (tenant, worker + 1)
    found.score = worker + 100
    saved = yield found, "save", ()
    assert (saved.writer, saved.score) == (tenant, worker + 100)

    by_email = yield IsoMember, "find_by_email", (email,)
    assert (by_email.primary_id, by_email.writer) == (member.primary_id, tenant)

    page = yield IsoMember, "query_by_index", ("byTeam", team)
    assert [(m.primary_id, m.writer) for m in page.items] == [(member.primary_id, tenant)]

    # Another tenant's member id names nothing here (with the async API in a batch context,
    # such reads of many tasks and tenants are coalesced: still per tenant).
    everyone = ledger.member_ids()
    strangers = [pid for pid in everyone if ledger.writers[pid] != tenant]
    if strangers:
        stranger = yield IsoMember, "find", (strangers[-1],)
        assert not stranger.exists()

    # Ask for every member id written so far, in any tenant: only this tenant's come back.
    batch = yield IsoMember, "batch_find", (everyone,)
    assert member.primary_id in batch
    assert {m.writer for m in batch.values()} == {tenant}
    assert set(batch) == {pid for pid in everyone if ledger.writers[pid] == tenant}

    entry = yield IsoEntry, "create", ({"owner": f"o{worker}", "writer": tenant},)
    ledger.record(entry.primary_id, tenant)
    entries = yield IsoEntry, "query_by_primary_key", (f"o{worker}",)
    assert [(e.primary_id, e.writer) for e in entries.items] == [(entry.primary_id, tenant)]

    # The tenant's one tag partition ("[T]#it") is shared by all its workers, so each reads
    # its own name only: moto builds a new item in steps (keys first, then the attributes), so
    # a neighbour's tag may be seen half-written — DynamoDB itself writes an item atomically.
    tag = yield IsoTag, "create", ({"name": f"w{worker}", "writer": tenant},)
    tags = yield IsoTag, "query_by_primary_key", (IsoTag.model_prefix, {"name": f"w{worker}"})
    assert [(t.primary_id, t.writer) for t in tags.items] == [(tag.primary_id, tenant)]

    # A short-lived tag: the same name is created and deleted in every tenant.
    doomed = yield IsoTag, "create", ({"name": f"gone-{worker}", "writer": tenant},)
    deleted = yield IsoTag, "delete", (doomed.primary_id,)
    assert deleted.writer == tenant
    gone = yield IsoTag, "find", (doomed.primary_id,)
    assert not gone.exists()


def tenant_of_turn(worker: int, turn: int) -> str:
    return TENANTS[(worker + turn) % len(TENANTS)]


def run_sync(script: Generator[Step, Any, None]) -> None:
    result = None
    with contextlib.suppress(StopIteration):
        while True:
            owner, method, args = script.send(result)
            result = getattr(owner, method)(*args)


async def run_async(script: Generator[Step, Any, None], *, twins: bool) -> None:
    """Drive a script from a task: with ``twins`` through the async API (``afind``,
    ``acreate``, ``asave`` …), else the sync API on worker threads (``run_in_thread``)."""
    result = None
    with contextlib.suppress(StopIteration):
        while True:
            owner, method, args = script.send(result)
            if twins:
                result = await getattr(owner, "a" + method)(*args)
            else:
                result = await run_in_thread(getattr(owner, method), *args)


def assert_every_key_carries_its_writer(client, table: str, ledger: Ledger) -> None:
    """(c) A raw scan: each key attribute of each item starts with its writer's ``[tenant]#``.

    The writer comes from the test's own records: the ``writer`` attribute of model items and,
    for unique-constraint rows, the ledger entry of the item the row points to.
    """
    items = transport.scan_items(client, table)
    checked = dict.fromkeys(TENANT_KEY_ATTRIBUTES, 0)
    unique_rows = 0
    for item in items:
        if item["_sk"]["S"] == "_raft_uc":
            writer = ledger.writers[item["relatedId"]["S"]]
            assert item["_gsi_test_id"]["S"] == writer
            unique_rows += 1
        else:
            writer = item["writer"]["S"]
        for attribute in TENANT_KEY_ATTRIBUTES:
            if attribute in item:
                assert item[attribute]["S"].startswith(f"[{writer}]#"), (attribute, item)
                checked[attribute] += 1
    turns = WORKERS * len(TENANTS)
    # members + their unique rows + entries + tags; the short-lived tags left nothing
    assert len(items) == 4 * turns
    assert unique_rows == turns
    assert checked["_pk"] == 4 * turns
    assert checked["_gsi1_pk"] == checked["_iter_pk"] == turns  # members only
    assert checked["uniqueValue"] == turns
    assert len(ledger.writers) == 2 * turns


# --------------------------------------------------------------------------- (a) (b) (c)


def test_threads_interleaving_tenants_see_only_their_own(manager, client):
    ledger = Ledger()
    start = threading.Barrier(WORKERS, timeout=60)

    def worker(n: int) -> None:
        # A plain pool thread starts with an empty context: it sets its tenant itself.
        assert bao.TenantContext.get_current_tenant() is None
        for turn in range(len(TENANTS)):
            start.wait()  # every thread starts each turn together: maximal interleaving
            tenant = tenant_of_turn(n, turn)
            with bao.TenantContext.tenant(tenant):
                try:
                    run_sync(unit_of_work(n, tenant, ledger))
                except BaseException:
                    start.abort()
                    raise

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(worker, n) for n in range(WORKERS)]
    errors = [f.exception() for f in futures if f.exception() is not None]
    # The failing worker's error, not the BrokenBarrierError it caused in the others.
    errors.sort(key=lambda err: isinstance(err, threading.BrokenBarrierError))
    if errors:
        raise errors[0]
    assert_every_key_carries_its_writer(client, manager.table_name, ledger)


@pytest.mark.parametrize(
    "api", ["sync API via run_in_thread", "async API in one batch context for all tenants"]
)
def test_asyncio_tasks_interleaving_tenants_see_only_their_own(manager, client, api):
    """With the async API, all tasks share one batch context: concurrent ``afind`` calls are
    coalesced into BatchGetItems and results cached — per tenant, never across (§6.6)."""
    ledger = Ledger()
    twins = api.startswith("async")

    async def turn_of(n: int, turn: int) -> None:
        tenant = tenant_of_turn(n, turn)
        async with bao.TenantContext.tenant(tenant):
            await run_async(unit_of_work(n, tenant, ledger), twins=twins)
            assert bao.TenantContext.get_current_tenant() == tenant

    async def main() -> None:
        # Turns of one worker run one after another (they reuse its unique values per
        # tenant only across tenants); all workers' turns interleave at every await.
        async def worker(n: int) -> None:
            for turn in range(len(TENANTS)):
                await turn_of(n, turn)

        batch = bao.batch_context() if twins else contextlib.nullcontext()
        with bao.TenantContext.tenant("outer"):
            async with batch:
                await asyncio.gather(*(worker(n) for n in range(WORKERS)))
            assert bao.TenantContext.get_current_tenant() == "outer"

    asyncio.run(main())
    assert_every_key_carries_its_writer(client, manager.table_name, ledger)


def test_cleanup_of_one_tenant_leaves_the_others(manager, client):
    """The same workload, then one tenant's data removed: the scan shows only the others."""
    ledger = Ledger()
    for n in range(2):
        for tenant in TENANTS[:2]:
            with bao.TenantContext.tenant(tenant):
                run_sync(unit_of_work(n, tenant, ledger))
    assert cleanup_test_data(TENANTS[0], MODELS) == 2 * 4
    keys = [item["_pk"]["S"] for item in transport.scan_items(client, manager.table_name)]
    assert len(keys) == 2 * 4
    assert all(key.startswith(f"[{TENANTS[1]}]#") for key in keys)


# --------------------------------------------------------------------------- (d)

_VALID_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_valid_part = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,8}", fullmatch=True)
_bad_piece = st.sampled_from(
    ["#", "[", "]", "]#", "#[", " ", "\t", "\n", "\x00", "/", ":", "é", "ü", "💥", "\u200b",
     "\u00a0", "Ａ", "٣"]
)
HOSTILE_TENANT_IDS = st.one_of(
    st.just(""),
    st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u3000", min_size=1, max_size=5),
    st.builds(lambda a, bad, b: a + bad + b, _valid_part | st.just(""), _bad_piece,
              _valid_part | st.just("")),
    st.text(min_size=1, max_size=20),  # arbitrary unicode (filtered to invalid below)
    st.text(alphabet="abcXYZ019_.-", min_size=65, max_size=200).map(lambda s: "a" + s),
    st.sampled_from(["a]#u", "[a]#u#1", "acme]#im#x", "a]#_raft_uc#_uc1", "x]#[y", "[acme]",
                     "-acme", ".acme", "_acme", "acme\n", "ACME#"]),
    st.builds(lambda a, b: f"{a}]#{b}", _valid_part, _valid_part),
).filter(lambda tenant_id: not _VALID_TENANT.fullmatch(tenant_id))


def _never_called(*_: Any) -> None:
    raise AssertionError("the function ran although the tenant id is invalid")


async def _never_awaited() -> None:
    raise AssertionError("the coroutine ran although the tenant id is invalid")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(tenant_id=HOSTILE_TENANT_IDS)
def test_hostile_tenant_ids_are_refused_everywhere_before_any_request(
    manager, client, tenant_id
):
    with counting(client) as sent, bao.TenantContext.tenant("good"):
        with pytest.raises(InvalidTenantIdError):
            bao.TenantContext.tenant(tenant_id)
        with pytest.raises(InvalidTenantIdError):
            bao.TenantContext.run_with_tenant(tenant_id, _never_called)
        with pytest.raises(InvalidTenantIdError):
            bao.TenantContext.with_tenant(tenant_id, IsoMember.find, SOME_ID)
        with pytest.raises(InvalidTenantIdError):
            bao.TenantContext.run_with_tenant(tenant_id, _never_awaited)
        with pytest.raises(InvalidTenantIdError):
            bao.TenantContext.set_current_tenant(tenant_id)
        assert bao.TenantContext.get_current_tenant() == "good"  # unchanged by the refusal
        with pytest.raises(InvalidTenantIdError):
            init_test_models_with_tenant({"db": {"table_name": "never"}}, tenant_id)
        with pytest.raises(InvalidTenantIdError):
            cleanup_test_data(tenant_id, MODELS)

        # A resolver's answer is validated too, for reads and writes alike.
        bao.TenantContext.add_resolver(lambda: tenant_id)
        try:
            with bao.TenantContext.tenant(None):
                for call in (
                    lambda: IsoMember.find(SOME_ID),
                    lambda: IsoMember.create({"email": "e@x", "team": "t", "writer": "w"}),
                    lambda: IsoMember.find_by_email("e@x"),
                    lambda: IsoMember.query_by_index("byTeam", "t"),
                    lambda: IsoTag.create({"name": "n", "writer": "w"}),
                ):
                    with pytest.raises(InvalidTenantIdError):
                        call()
        finally:
            bao.TenantContext.clear_resolvers()
    assert sent == []
    assert transport.scan_items(client, manager.table_name) == []


# --------------------------------------------------------------------------- (e)


def _every_operation(loaded: IsoMember) -> dict[str, Callable[[], Any]]:
    changed = IsoMember._from_stored(dict(loaded._data), loaded.tenant_id)
    changed.score = 99
    return {
        "create": lambda: IsoMember.create({"email": "n@x", "team": "t", "writer": "w"}),
        "update": lambda: IsoMember.update(loaded.primary_id, {"score": 1}),
        "delete": lambda: IsoMember.delete(loaded.primary_id),
        "find": lambda: IsoMember.find(loaded.primary_id),
        "batch_find": lambda: IsoMember.batch_find([loaded.primary_id, SOME_ID]),
        "find_by_unique_constraint": lambda: IsoMember.find_by_unique_constraint(
            "uniqueEmail", loaded.email
        ),
        "find_by_email": lambda: IsoMember.find_by_email(loaded.email),
        "query_by_index": lambda: IsoMember.query_by_index("byTeam", loaded.team),
        "query_by_primary_key": lambda: IsoEntry.query_by_primary_key("o1"),
        "query_by_model_prefix": lambda: IsoTag.query_by_primary_key(IsoTag.model_prefix),
        "save (new)": lambda: IsoMember(email="s@x", team="t", writer="w").save(),
        "save (loaded)": lambda: changed.save(),
        "create (composite key)": lambda: IsoEntry.create({"owner": "o1", "writer": "w"}),
        "count": lambda: IsoMember.count(),
        "iterate_all": lambda: next(iter(IsoMember.iterate_all())),
        "iterate_all (threads)": lambda: next(iter(IsoMember.iterate_all(concurrency=4))),
        # the async API (a fresh event loop per call: each runs in a copy of this context)
        "afind": lambda: asyncio.run(IsoMember.afind(loaded.primary_id)),
        "acreate": lambda: asyncio.run(IsoMember.acreate({"email": "n@x", "team": "t",
                                                           "writer": "w"})),
        "aupdate": lambda: asyncio.run(IsoMember.aupdate(loaded.primary_id, {"score": 1})),
        "adelete": lambda: asyncio.run(IsoMember.adelete(loaded.primary_id)),
        "abatch_find": lambda: asyncio.run(IsoMember.abatch_find([loaded.primary_id])),
        "afind_by_email": lambda: asyncio.run(IsoMember.afind_by_email(loaded.email)),
        "aquery_by_index": lambda: asyncio.run(IsoMember.aquery_by_index("byTeam", "t")),
        "asave (loaded)": lambda: asyncio.run(changed.asave()),
        "afind in a batch context": lambda: asyncio.run(_afind_in_batch(loaded.primary_id)),
    }


async def _afind_in_batch(primary_id: str) -> Any:
    async with bao.batch_context():
        return await asyncio.gather(IsoMember.afind(primary_id), IsoMember.afind(SOME_ID))


@pytest.mark.parametrize("no_answer_resolver", [False, True])
def test_no_tenant_no_request(manager, client, no_answer_resolver):
    with bao.TenantContext.tenant("acme"):
        loaded = IsoMember.create({"email": "a@x", "team": "t", "writer": "acme"})
    operations = _every_operation(loaded)
    if no_answer_resolver:
        bao.TenantContext.add_resolver(lambda: None)  # consulted, answers nothing

    def attempt_all() -> list[str]:
        assert bao.TenantContext.get_current_tenant() is None
        refused = []
        for name, operation in operations.items():
            with pytest.raises(TenantRequiredError):
                operation()
            refused.append(name)
        return refused

    with counting(client) as sent:
        # A brand-new context has no tenant ...
        assert contextvars.Context().run(attempt_all) == list(operations)
        # ... nor does a `tenant(None)` block inside a tenant's code ...
        with bao.TenantContext.tenant("acme"):
            with bao.TenantContext.tenant(None):
                attempt_all()
            # ... nor a plain thread started from it (no process-wide fallback).
            outcome: list[BaseException] = []

            def in_thread() -> None:
                try:
                    attempt_all()
                except BaseException as err:  # reported to the test thread
                    outcome.append(err)

            thread = threading.Thread(target=in_thread)
            thread.start()
            thread.join()
            assert outcome == []
    assert sent == []
    with bao.TenantContext.tenant("acme"):
        assert IsoMember.find(loaded.primary_id).score == 0  # nothing was changed


def test_init_test_models_sets_only_the_current_contexts_tenant(client, table_name):
    async def other_task() -> str | None:
        return bao.TenantContext.get_current_tenant()

    def inside() -> tuple[str | None, str | None]:
        init_test_models_with_tenant(
            {"db": {"table_name": table_name}, "models": MODELS, "client": client}, "acme"
        )
        seen: list[str | None] = []
        thread = threading.Thread(target=lambda: seen.append(
            bao.TenantContext.get_current_tenant()))
        thread.start()
        thread.join()
        return bao.TenantContext.get_current_tenant(), seen[0]

    assert contextvars.Context().run(inside) == ("acme", None)
    assert bao.TenantContext.get_current_tenant() is None
    assert asyncio.run(other_task()) is None
