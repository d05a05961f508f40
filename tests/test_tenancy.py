"""TenantContext: per thread and per task, nested scopes restore, fail closed, validated ids."""

import asyncio
import threading

import pytest

from dynamo_bao import TenantContext
from dynamo_bao.exceptions import InvalidTenantIdError, TenantRequiredError


@pytest.fixture(autouse=True)
def clean_tenancy():
    TenantContext.clear_resolvers()
    TenantContext.clear_tenant()
    yield
    TenantContext.clear_resolvers()
    TenantContext.clear_tenant()


def test_scopes_nest_and_restore():
    assert TenantContext.get_current_tenant() is None
    with TenantContext.tenant("acme"):
        assert TenantContext.get_current_tenant() == "acme"
        assert TenantContext.with_tenant("globex", TenantContext.get_current_tenant) == "globex"
        assert TenantContext.get_current_tenant() == "acme"
    assert TenantContext.get_current_tenant() is None
    assert TenantContext.run_with_tenant("acme", lambda x, y=0: (x, y,
                                         TenantContext.get_current_tenant()), 1, y=2) == (
        1, 2, "acme")


def test_scope_restores_after_an_exception():
    with pytest.raises(ValueError):
        with TenantContext.tenant("acme"):
            raise ValueError("boom")
    assert TenantContext.get_current_tenant() is None


@pytest.mark.parametrize("bad", ["", "a#b", "x]#a#[y", " a", "a" * 65, 7, b"acme"])
def test_invalid_tenant_ids(bad):
    with pytest.raises(InvalidTenantIdError):
        TenantContext.tenant(bad)
    with pytest.raises(InvalidTenantIdError):
        TenantContext.run_with_tenant(bad, lambda: None)
    with pytest.raises(InvalidTenantIdError):
        TenantContext.set_current_tenant(bad)


def test_run_with_no_tenant_hides_the_callers_and_asks_the_resolvers():
    """The tutorial's ``runWithTenant(null, fn)``: the caller's tenant does not leak into the
    block; the resolvers decide, and with none answering it fails closed."""
    try:
        with TenantContext.tenant("outer"):
            inside = TenantContext.run_with_tenant(None, TenantContext.get_current_tenant)
            assert inside is None
            with pytest.raises(TenantRequiredError):
                TenantContext.run_with_tenant(None, TenantContext.resolve, True)
            TenantContext.add_resolver(lambda: "from-header")
            assert TenantContext.run_with_tenant(None, TenantContext.resolve, True) == (
                "from-header"
            )
            assert TenantContext.get_current_tenant() == "outer"
    finally:
        TenantContext.clear_resolvers()


def test_fail_closed_and_resolvers():
    assert TenantContext.resolve(required=False) is None
    with pytest.raises(TenantRequiredError):
        TenantContext.resolve(required=True)
    TenantContext.add_resolver(lambda: None)
    TenantContext.add_resolver(lambda: "from-resolver")
    assert TenantContext.resolve(required=True) == "from-resolver"
    with TenantContext.tenant("acme"):
        assert TenantContext.resolve(required=True) == "acme"  # the context comes first
    TenantContext.clear_resolvers()
    TenantContext.add_resolver(lambda: "bad#tenant")
    with pytest.raises(InvalidTenantIdError):
        TenantContext.resolve(required=True)
    with pytest.raises(TypeError):
        TenantContext.add_resolver("not callable")


def test_set_current_tenant_is_per_thread():
    TenantContext.set_current_tenant("main")
    seen = {}

    def worker(name):
        seen[name, "before"] = TenantContext.get_current_tenant()
        TenantContext.set_current_tenant(name)
        barrier.wait()
        seen[name, "after"] = TenantContext.get_current_tenant()

    barrier = threading.Barrier(4)
    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert seen[f"t{i}", "before"] is None  # a new thread starts without a tenant
        assert seen[f"t{i}", "after"] == f"t{i}"
    assert TenantContext.get_current_tenant() == "main"


def test_tasks_keep_their_own_tenant():
    async def job(tenant):
        async with TenantContext.tenant(tenant):
            await asyncio.sleep(0.01)
            first = TenantContext.get_current_tenant()
            await asyncio.sleep(0.01)
            return first, TenantContext.get_current_tenant()

    async def coroutine_in_tenant():
        await asyncio.sleep(0)
        return TenantContext.get_current_tenant()

    async def main():
        results = await asyncio.gather(*(job(f"tenant{i}") for i in range(20)))
        awaited = await TenantContext.run_with_tenant("acme", coroutine_in_tenant)
        return results, awaited, TenantContext.get_current_tenant()

    results, awaited, after = asyncio.run(main())
    assert results == [(f"tenant{i}", f"tenant{i}") for i in range(20)]
    assert awaited == "acme"
    assert after is None
