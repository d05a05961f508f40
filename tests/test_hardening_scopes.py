"""Scopes that a mistake cannot bypass (issue 13, items 3, 4, 6 and 8).

* One ``TenantContext.tenant("acme")`` object and one ``batch_context()`` object, made once at
  module level, are entered from many pool threads and asyncio tasks at the same time and
  re-entered inside themselves; afterwards every worker is exactly as before, so an operation
  there fails closed with ``TenantRequiredError`` before any request.
* ``run_with_tenant(t, fn)`` runs whatever ``fn`` gives back in ``t`` — a value, a coroutine,
  any awaitable, a generator (each resumption), an async generator (``asend``/``athrow``/
  ``aclose`` too) — and the caller's tenant is untouched between resumptions and after;
  ``run_with_batch_context`` likewise keeps its batch context around what ``fn`` gives back.
* ``get_current_tenant()`` answers as DynamoBao's ``getCurrentTenant``: the context, else the
  first resolver that answers (validated), else None.
* A malformed ``tenancy`` section (or ``batch.require_batch_context``) is a
  ``ConfigurationError``, never "silently off".

Requests are counted with a botocore ``before-send`` handler on this module's own client, so
"before any request" includes retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import dynamo_bao as bao
from dynamo_bao import batch, fields, tenancy, transport
from dynamo_bao.config import load_config
from dynamo_bao.exceptions import (
    ConfigurationError,
    InvalidTenantIdError,
    TenantRequiredError,
)

from .conftest import unique_table_name

TenantContext = bao.TenantContext

#: Made once and shared by every thread and task of this module (item 3).
ACME = TenantContext.tenant("acme")
BATCH = bao.batch_context()


class HsItem(bao.BaoModel):
    model_prefix = "hscitem"
    item_id = fields.StringField(required=True)
    owner = fields.StringField()
    primary_key = bao.PrimaryKey("item_id")


@pytest.fixture(scope="module")
def client(dynamodb_endpoint):
    return transport.make_client(endpoint_url=dynamodb_endpoint)


@pytest.fixture(scope="module")
def manager(client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("hscopes")},
        "tenancy": {"enabled": True},
        "models": [HsItem],
        "client": client,
    })
    manager.create_table()
    with TenantContext.tenant("acme"):
        HsItem.create({"item_id": "i1", "owner": "acme"})
    with TenantContext.tenant("globex"):
        HsItem.create({"item_id": "i1", "owner": "globex"})
    yield manager
    manager.delete_table()


@pytest.fixture(autouse=True)
def clean_tenancy():
    TenantContext.clear_resolvers()
    TenantContext.clear_tenant()
    yield
    TenantContext.clear_resolvers()
    TenantContext.clear_tenant()


@contextlib.contextmanager
def sending(client) -> Iterator[list[str]]:
    """The operations that reached the wire through ``client`` in the block (retries too)."""
    sent: list[str] = []

    def record(request, **_):
        sent.append(request.headers.get("X-Amz-Target", b"?"))

    client.meta.events.register("before-send.dynamodb", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-send.dynamodb", record)


def fails_closed(client) -> bool:
    """This thread or task has no tenant: an operation refuses before any request."""
    assert TenantContext.get_current_tenant() is None
    assert not batch.is_inside_batch_context()
    assert transport.capacity_meters() == ()
    with sending(client) as sent:
        with pytest.raises(TenantRequiredError):
            HsItem.find("i1")
    assert sent == []
    return True


def on_every_worker(pool: ThreadPoolExecutor, workers: int, fn) -> list[Any]:
    """``fn()`` once on each of the pool's ``workers`` threads (a barrier holds each one)."""
    barrier = threading.Barrier(workers, timeout=30)

    def job():
        barrier.wait()  # no thread takes a second job: every worker runs exactly one
        return threading.get_ident(), fn()

    results = [f.result() for f in [pool.submit(job) for _ in range(workers)]]
    assert len({ident for ident, _ in results}) == workers
    return [result for _, result in results]


# --------------------------------------------------------------------------- item 3


@pytest.mark.parametrize("workers", [2, 8])
def test_one_tenant_scope_shared_by_pool_threads(manager, client, workers):
    overlap = threading.Barrier(workers, timeout=30)

    def job(n: int) -> tuple[str | None, ...]:
        with ACME:
            if n < workers:
                overlap.wait()  # the first jobs are all inside the one object at once
            first = TenantContext.get_current_tenant()
            with ACME:  # re-entered inside itself
                time.sleep(0.0005)
                inner = HsItem.find("i1").owner
            after_inner = TenantContext.get_current_tenant()
            with TenantContext.tenant(None):
                hidden = TenantContext.get_current_tenant()
            return first, inner, after_inner, hidden

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = [f.result() for f in [pool.submit(job, n) for n in range(20 * workers)]]
        assert set(results) == {("acme", "acme", "acme", None)}
        assert on_every_worker(pool, workers, lambda: fails_closed(client)) == [True] * workers


def test_one_tenant_scope_shared_by_tasks(manager, client):
    async def job(n: int) -> tuple[Any, ...]:
        async with ACME:
            await asyncio.sleep(0.001 * (n % 3))
            first = TenantContext.get_current_tenant()
            async with ACME:
                with ACME:
                    await asyncio.sleep(0)
                found = await HsItem.afind("i1")
            await asyncio.sleep(0.001 * (n % 2))
            last = TenantContext.get_current_tenant()
        return first, found.owner, last, TenantContext.get_current_tenant()

    async def main():
        results = await asyncio.gather(*(job(n) for n in range(40)))
        return results, TenantContext.get_current_tenant()

    results, after = asyncio.run(main())
    assert set(results) == {("acme", "acme", "acme", None)}
    assert after is None
    assert fails_closed(client)


def test_tenant_scope_entered_by_threads_and_tasks_together(manager, client):
    """Pool threads and the tasks of an event loop use the one object concurrently."""

    def thread_job() -> str | None:
        with ACME:
            time.sleep(0.001)
            return TenantContext.get_current_tenant()

    async def main(pool):
        loop = asyncio.get_running_loop()

        async def task_job():
            async with ACME:
                await asyncio.sleep(0.001)
                return TenantContext.get_current_tenant()

        seen = await asyncio.gather(
            *(loop.run_in_executor(pool, thread_job) for _ in range(30)),
            *(task_job() for _ in range(30)),
        )
        return seen, TenantContext.get_current_tenant()

    with ThreadPoolExecutor(max_workers=4) as pool:
        seen, after = asyncio.run(main(pool))
        assert seen == ["acme"] * 60 and after is None
        assert on_every_worker(pool, 4, lambda: fails_closed(client)) == [True] * 4


def test_exit_in_a_copied_context_restores_that_context():
    """A copy of the context taken inside the block (as a task or a library thread gets)
    may leave the block itself: the copy is as before the block, the original unchanged."""
    with TenantContext.tenant("outer"):
        ACME.__enter__()
        try:
            copy = contextvars.copy_context()
            copy.run(ACME.__exit__, None, None, None)  # today: ValueError (other Context)
            assert copy[tenancy._current] == "outer"
            assert TenantContext.get_current_tenant() == "acme"
        finally:
            ACME.__exit__(None, None, None)
        assert TenantContext.get_current_tenant() == "outer"
    assert TenantContext.get_current_tenant() is None


def test_scopes_exited_out_of_order_restore_the_state_before_the_outer_one():
    globex = TenantContext.tenant("globex")
    ACME.__enter__()
    globex.__enter__()
    ACME.__exit__(None, None, None)  # leaves the inner one too
    assert TenantContext.get_current_tenant() is None
    globex.__exit__(None, None, None)  # already left: changes nothing
    assert TenantContext.get_current_tenant() is None


def test_one_batch_scope_shared_by_pool_threads(manager, client):
    workers = 6
    overlap = threading.Barrier(workers, timeout=30)

    def job(n: int) -> bool:
        with ACME, BATCH as outer:
            if n < workers:
                overlap.wait()
            assert batch.current() is outer
            first = HsItem.find("i1")
            with sending(client) as sent:
                assert HsItem.find("i1") is first  # this block's own cache
            assert sent == []
            with BATCH as inner:  # re-entered: a fresh context inside
                assert batch.current() is inner and inner is not outer
                assert HsItem.find("i1") is not first
            assert batch.current() is outer
            assert bao.get_batch_context_capacity()["read"] > 0
        return True

    with ThreadPoolExecutor(max_workers=workers) as pool:
        assert all(f.result() for f in [pool.submit(job, n) for n in range(10 * workers)])
        assert on_every_worker(pool, workers, lambda: fails_closed(client)) == [True] * workers


def test_one_batch_scope_shared_by_tasks(manager, client):
    async def job(n: int) -> bool:
        async with ACME:
            async with BATCH as outer:
                await asyncio.sleep(0.001 * (n % 3))
                assert batch.current() is outer
                first = await HsItem.afind("i1")
                async with BATCH as inner:
                    await asyncio.sleep(0)
                    assert batch.current() is inner and inner is not outer
                assert batch.current() is outer
                assert await HsItem.afind("i1") is first
        assert not batch.is_inside_batch_context()
        return True

    async def main():
        results = await asyncio.gather(*(job(n) for n in range(30)))
        return results, batch.is_inside_batch_context()

    results, inside = asyncio.run(main())
    assert all(results) and inside is False
    assert fails_closed(client)


def test_batch_scope_exit_in_a_copied_context():
    BATCH.__enter__()
    try:
        copy = contextvars.copy_context()
        copy.run(BATCH.__exit__, None, None, None)
        assert copy.run(batch.is_inside_batch_context) is False
        assert copy.run(transport.capacity_meters) == ()
        assert batch.is_inside_batch_context()
    finally:
        BATCH.__exit__(None, None, None)
    assert not batch.is_inside_batch_context()
    assert transport.capacity_meters() == ()


# --------------------------------------------------------------------------- item 4


def test_with_tenant_is_an_alias():
    assert TenantContext.with_tenant is TenantContext.run_with_tenant


def test_a_value_and_a_plain_function(manager):
    assert TenantContext.run_with_tenant("acme", lambda: HsItem.find("i1").owner) == "acme"
    assert TenantContext.get_current_tenant() is None
    TenantContext.run_with_tenant("acme", TenantContext.set_current_tenant, "globex")
    assert TenantContext.get_current_tenant() is None  # what fn set stays inside


def test_what_an_awaited_coroutine_sets_stays_inside():
    async def sets() -> str | None:
        TenantContext.set_current_tenant("globex")
        await asyncio.sleep(0)
        return TenantContext.get_current_tenant()

    async def main():
        with TenantContext.tenant("outer"):
            inside = await TenantContext.run_with_tenant("acme", lambda: sets())
            return inside, TenantContext.get_current_tenant()

    assert asyncio.run(main()) == ("globex", "outer")


async def _tenant_after_a_step() -> str | None:
    await asyncio.sleep(0)
    return TenantContext.get_current_tenant()


async def _owner() -> str:
    return (await HsItem.afind("i1")).owner


class _Awaitable:
    """Not a coroutine: an object with ``__await__``."""

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return TenantContext.get_current_tenant()


def _returns_a_coroutine():  # not ``async def``
    return _owner()


def _returns_a_task():
    return asyncio.ensure_future(_tenant_after_a_step())


def _returns_a_future():
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.set_result, "done")
    return future


@pytest.mark.parametrize(
    "fn, expected",
    [
        (_owner, "acme"),  # a coroutine function
        (functools.partial(_owner), "acme"),
        (_returns_a_coroutine, "acme"),
        (lambda: _tenant_after_a_step(), "acme"),
        (_Awaitable, "acme"),
        (_returns_a_task, "acme"),  # a task made inside runs in the tenant
        (_returns_a_future, "done"),  # already runs elsewhere: awaited in t, harmless
    ],
    ids=["async-def", "partial", "returns-coroutine", "lambda", "__await__", "task", "future"],
)
def test_awaitables_run_in_the_tenant(manager, fn, expected):
    async def main():
        with TenantContext.tenant("outer"):
            awaitable = TenantContext.run_with_tenant("acme", fn)
            assert TenantContext.get_current_tenant() == "outer"
            result = await awaitable
            after = TenantContext.get_current_tenant()
        return result, after

    assert asyncio.run(main()) == (expected, "outer")


def test_an_awaitable_in_no_tenant_fails_closed(manager, client):
    async def main():
        with TenantContext.tenant("acme"), sending(client) as sent:
            with pytest.raises(TenantRequiredError):
                await TenantContext.run_with_tenant(None, _returns_a_coroutine)
            assert TenantContext.get_current_tenant() == "acme"
        return sent

    assert asyncio.run(main()) == []


def _generator(log: list):
    """Reports the tenant of each resumption; its own tenant change stays inside it."""
    received = yield TenantContext.get_current_tenant()
    log.append(("sent", received, TenantContext.get_current_tenant()))
    try:
        yield HsItem.find("i1").owner
    except KeyError:
        log.append(("thrown", TenantContext.get_current_tenant()))
    TenantContext.set_current_tenant("inner")  # its own business: never the caller's
    try:
        yield TenantContext.get_current_tenant()
    finally:
        log.append(("closed", TenantContext.get_current_tenant()))


def test_a_generator_runs_each_resumption_in_the_tenant(manager):
    log: list = []
    with TenantContext.tenant("outer"):
        gen = TenantContext.run_with_tenant("acme", _generator, log)
        assert TenantContext.get_current_tenant() == "outer"
        assert next(gen) == "acme"
        assert TenantContext.get_current_tenant() == "outer"
        assert gen.send("hello") == "acme"  # a model read in acme
        assert TenantContext.get_current_tenant() == "outer"
        assert gen.throw(KeyError("x")) == "inner"
        assert TenantContext.get_current_tenant() == "outer"
        gen.close()
        assert TenantContext.get_current_tenant() == "outer"
    assert log == [("sent", "hello", "acme"), ("thrown", "acme"), ("closed", "inner")]
    assert TenantContext.get_current_tenant() is None


def test_a_generator_returns_its_value_and_raises_its_errors():
    def gen():
        yield TenantContext.get_current_tenant()
        return "finished"

    def failing():
        yield 1
        raise LookupError(TenantContext.get_current_tenant())

    wrapped = TenantContext.run_with_tenant("acme", gen)
    assert list(wrapped) == ["acme"]

    def delegate():
        return (yield from TenantContext.run_with_tenant("acme", gen))

    with pytest.raises(StopIteration) as stop:
        d = delegate()
        next(d)
        next(d)
    assert stop.value.value == "finished"
    with pytest.raises(LookupError, match="acme"):
        list(TenantContext.run_with_tenant("acme", failing))
    assert TenantContext.get_current_tenant() is None


def test_a_generator_resumed_from_other_threads(manager):
    def gen():
        for _ in range(3):
            yield TenantContext.get_current_tenant(), HsItem.find("i1").owner

    wrapped = TenantContext.run_with_tenant("acme", gen)
    with ThreadPoolExecutor(max_workers=2) as pool:
        seen = [pool.submit(next, wrapped).result() for _ in range(3)]
        assert seen == [("acme", "acme")] * 3
        assert [f.result() for f in [pool.submit(TenantContext.get_current_tenant)
                                     for _ in range(4)]] == [None] * 4


async def _agenerator(log: list):
    received = yield TenantContext.get_current_tenant()
    log.append(("sent", received, TenantContext.get_current_tenant()))
    try:
        yield (await HsItem.afind("i1")).owner
    except KeyError:
        log.append(("thrown", TenantContext.get_current_tenant()))
    await asyncio.sleep(0)
    try:
        yield TenantContext.get_current_tenant()
    finally:
        await asyncio.sleep(0)
        log.append(("closed", TenantContext.get_current_tenant()))


def test_an_async_generator_runs_each_step_in_the_tenant(manager):
    log: list = []

    async def main():
        with TenantContext.tenant("outer"):
            agen = TenantContext.run_with_tenant("acme", _agenerator, log)
            assert TenantContext.get_current_tenant() == "outer"
            assert await agen.__anext__() == "acme"
            assert TenantContext.get_current_tenant() == "outer"
            assert await agen.asend("hello") == "acme"
            assert TenantContext.get_current_tenant() == "outer"
            assert await agen.athrow(KeyError("x")) == "acme"
            assert TenantContext.get_current_tenant() == "outer"
            await agen.aclose()
            return TenantContext.get_current_tenant()

    assert asyncio.run(main()) == "outer"
    assert log == [("sent", "hello", "acme"), ("thrown", "acme"), ("closed", "acme")]


def test_cancelling_a_step_of_an_async_generator_reaches_it_in_the_tenant():
    log: list = []

    async def agen():
        try:
            await asyncio.Event().wait()
            yield "never"
        except asyncio.CancelledError:
            log.append(TenantContext.get_current_tenant())
            raise

    async def main():
        wrapped = TenantContext.run_with_tenant("acme", agen)
        step = asyncio.ensure_future(wrapped.__anext__())
        await asyncio.sleep(0.01)
        step.cancel()
        with pytest.raises(asyncio.CancelledError):
            await step
        return TenantContext.get_current_tenant()

    assert asyncio.run(main()) is None
    assert log == ["acme"]


def test_a_generator_based_coroutine_is_awaited_in_the_tenant():
    @types.coroutine
    def legacy():
        yield  # a bare yield: one trip through the event loop
        return TenantContext.get_current_tenant()

    async def main():
        return await TenantContext.run_with_tenant("acme", legacy)

    assert asyncio.run(main()) == "acme"


def test_an_async_generator_in_async_for_and_interleaved_tasks(manager):
    async def agen(n):
        for _ in range(3):
            await asyncio.sleep(0)
            yield TenantContext.get_current_tenant()

    async def consume(tenant):
        out = []
        with TenantContext.tenant(tenant):
            async for seen in TenantContext.run_with_tenant("acme", agen, 3):
                out.append((seen, TenantContext.get_current_tenant()))
        return out

    async def main():
        return await asyncio.gather(*(consume(f"c{i}") for i in range(5)))

    assert asyncio.run(main()) == [[("acme", f"c{i}")] * 3 for i in range(5)]


def test_run_with_batch_context_covers_what_fn_gives_back(manager):
    def gen():
        context = batch.current()
        assert context is not None
        first = HsItem.find("i1")
        yield context
        yield batch.current() is context and HsItem.find("i1") is first

    def returns_a_coroutine():
        context = batch.current()
        first = HsItem.find("i1")

        async def rest():
            await asyncio.sleep(0)
            return batch.current() is context and await HsItem.afind("i1") is first

        return rest()

    async def agen():
        context = batch.current()
        await asyncio.sleep(0)
        yield context is not None
        yield batch.current() is context

    with TenantContext.tenant("acme"):
        wrapped = bao.run_with_batch_context(gen)
        assert not batch.is_inside_batch_context()
        assert next(wrapped) is not None
        assert not batch.is_inside_batch_context()
        assert next(wrapped) is True

        async def main():
            assert await bao.run_with_batch_context(returns_a_coroutine) is True
            assert not batch.is_inside_batch_context()
            seen = [x async for x in bao.run_with_batch_context(agen)]
            return seen, batch.is_inside_batch_context()

        assert asyncio.run(main()) == ([True, True], False)
    assert not batch.is_inside_batch_context()


# --------------------------------------------------------------------------- item 6


def test_get_current_tenant_asks_the_resolvers():
    assert TenantContext.get_current_tenant() is None
    TenantContext.add_resolver(lambda: None)
    assert TenantContext.get_current_tenant() is None
    TenantContext.add_resolver(lambda: "from-resolver")
    TenantContext.add_resolver(lambda: "never-asked")
    assert TenantContext.get_current_tenant() == "from-resolver"
    with TenantContext.tenant("acme"):
        assert TenantContext.get_current_tenant() == "acme"  # the context first
    with TenantContext.tenant(None):  # no tenant in context: the resolvers answer
        assert TenantContext.get_current_tenant() == "from-resolver"
    TenantContext.clear_resolvers()
    TenantContext.add_resolver(lambda: "bad#tenant")
    with pytest.raises(InvalidTenantIdError):
        TenantContext.get_current_tenant()
    with TenantContext.tenant("acme"):
        assert TenantContext.get_current_tenant() == "acme"  # not consulted


def test_get_current_tenant_agrees_with_what_operations_use(manager, client):
    TenantContext.add_resolver(lambda: "globex")
    assert TenantContext.get_current_tenant() == "globex"
    assert HsItem.find("i1").owner == "globex"


# --------------------------------------------------------------------------- item 8

TABLE = {"db": {"table_name": "t"}}


@pytest.mark.parametrize(
    "config, env",
    [
        ({"tenancy": None}, {}),
        ({"tenancy": {"enabled": None}}, {}),
        ({"tenancy": {"enabled": None}}, {"DYNAMO_BAO_TENANCY_ENABLED": "true"}),
        ({"tenancy": {"enabled": "true"}}, {}),  # booleans only in the dict
        ({"tenancy": {"enabled": "false"}}, {}),
        ({"tenancy": {"enabled": 1}}, {}),
        ({"tenancy": {"enabled": 0}}, {}),
        ({"tenancy": {"enabled": ""}}, {}),
        ({"tenancy": []}, {}),
        ({"tenancy": True}, {}),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": ""}),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "   "}),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "maybe"}),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "2"}),
        ({"batch": None}, {}),
        ({"batch": {"require_batch_context": None}}, {}),
        ({"batch": {"require_batch_context": "yes"}}, {}),
        ({}, {"DYNAMO_BAO_REQUIRE_BATCH_CONTEXT": ""}),
        ({}, {"DYNAMO_BAO_REQUIRE_BATCH_CONTEXT": "sometimes"}),
        ({"aws": None}, {}),
    ],
)
def test_malformed_flags_are_configuration_errors(config, env):
    with pytest.raises(ConfigurationError):
        load_config({**TABLE, **config}, env)


@pytest.mark.parametrize(
    "config, env, enabled",
    [
        ({}, {}, False),  # no section: off (the documented default)
        ({"tenancy": {}}, {}, False),  # no key: off
        ({"tenancy": {"enabled": True}}, {}, True),
        ({"tenancy": {"enabled": False}}, {"DYNAMO_BAO_TENANCY_ENABLED": "true"}, False),
        ({"tenancy": {}}, {"DYNAMO_BAO_TENANCY_ENABLED": "true"}, True),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": " TRUE "}, True),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "1"}, True),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "on"}, True),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "yes"}, True),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "false"}, False),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "0"}, False),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "Off"}, False),
        ({}, {"DYNAMO_BAO_TENANCY_ENABLED": "no"}, False),
    ],
)
def test_well_formed_tenancy_settings(config, env, enabled):
    assert load_config({**TABLE, **config}, env).tenancy_enabled is enabled


def test_blank_other_settings_still_mean_unset():
    config = load_config(
        {**TABLE, "aws": {"endpoint_url": None}},
        {"DYNAMO_BAO_REGION": "", "DYNAMO_BAO_REQUIRE_BATCH_CONTEXT": "true"},
    )
    assert config.region is None and config.endpoint_url is None
    assert config.require_batch_context is True


def test_the_error_names_the_setting():
    with pytest.raises(ConfigurationError, match="DYNAMO_BAO_TENANCY_ENABLED"):
        load_config(TABLE, {"DYNAMO_BAO_TENANCY_ENABLED": ""})
    with pytest.raises(ConfigurationError, match="tenancy.enabled"):
        load_config({**TABLE, "tenancy": {"enabled": None}}, {})
    with pytest.raises(ConfigurationError, match="'tenancy'"):
        load_config({**TABLE, "tenancy": None}, {})
