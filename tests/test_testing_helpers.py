"""dynamo_bao.testing: init_test_models_with_tenant, cleanup_test_data and the pytest plugin
(run for real with pytester against the embedded server)."""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.config import load_config
from dynamo_bao.exceptions import ConfigurationError, InvalidTenantIdError
from dynamo_bao.testing import cleanup_test_data, init_test_models_with_tenant

pytest_plugins = ["pytester"]


class Card(bao.BaoModel):
    model_prefix = "hc"
    card_id = fields.UlidField(auto_assign=True)
    email = fields.StringField(required=True)
    status = fields.StringField(default="open")
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("card_id")
    indexes = {"byStatus": bao.Index("status", "created_at", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True


class CardNote(bao.BaoModel):
    """Prefix ``hcx`` starts with Card's ``hc``; its partition key is the model prefix."""

    model_prefix = "hcx"
    note_id = fields.UlidField(auto_assign=True)
    text = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("modelPrefix", "note_id")


class Badge(bao.BaoModel):
    model_prefix = "hcy"
    badge_id = fields.UlidField(auto_assign=True)
    code = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("badge_id")
    unique_constraints = {"uniqueCode": bao.UniqueConstraint("code", "uc1")}


MODELS = [Card, CardNote, Badge]


@contextlib.contextmanager
def counting(client) -> Iterator[list[str]]:
    """The names of the operations the client sends while the block runs."""
    sent: list[str] = []

    def record(model, **_):
        sent.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)


@pytest.fixture
def no_tenant_after():
    yield
    bao.TenantContext.clear_tenant()


def config_for(table: str, client, **extra):
    return {"db": {"table_name": table}, "models": MODELS, "client": client, **extra}


def stored_keys(client, table: str) -> list[str]:
    return sorted(item["_pk"]["S"] for item in transport.scan_items(client, table))


# --------------------------------------------------------------------------- init


def test_init_enables_tenancy_creates_the_table_and_sets_the_tenant(
    dynamodb_client, table_name, no_tenant_after
):
    config = config_for(table_name, dynamodb_client, tenancy={"enabled": False})
    manager = init_test_models_with_tenant(config, "tenant-a")
    assert manager.config.tenancy_enabled is True
    assert config["tenancy"] == {"enabled": False}  # the caller's dict is not changed
    assert bao.TenantContext.get_current_tenant() == "tenant-a"
    assert manager.get_model("Card") is Card and Card._manager is manager
    card = Card.create({"email": "a@example.com"})
    assert Card.find(card.primary_id).email == "a@example.com"
    assert all(key.startswith("[tenant-a]#") for key in stored_keys(dynamodb_client, table_name))

    # Again for another tenant: the existing table is kept (data and all).
    again = init_test_models_with_tenant(config, "tenant-b")
    assert bao.TenantContext.get_current_tenant() == "tenant-b"
    assert again.table_name == table_name
    assert not Card.find(card.primary_id).exists()
    assert len(stored_keys(dynamodb_client, table_name)) == 2  # item and its unique row


def test_init_accepts_a_resolved_config(dynamodb_client, table_name, no_tenant_after):
    resolved = load_config(config_for(table_name, dynamodb_client))
    assert resolved.tenancy_enabled is False
    manager = init_test_models_with_tenant(resolved, "t1")
    assert manager.config.tenancy_enabled is True
    assert transport.table_exists(dynamodb_client, table_name)


def test_init_without_table_creation(dynamodb_client, table_name, no_tenant_after):
    with counting(dynamodb_client) as sent:
        init_test_models_with_tenant(
            config_for(table_name, dynamodb_client), "t1", create_table=False
        )
    assert sent == []
    assert not transport.table_exists(dynamodb_client, table_name)


@pytest.mark.parametrize("tenant_id", ["", "a#b", "[a]", "a]#u", " a", "x" * 65, "é"])
def test_init_refuses_an_invalid_tenant_before_anything(dynamodb_client, table_name, tenant_id):
    with counting(dynamodb_client) as sent, pytest.raises(InvalidTenantIdError):
        init_test_models_with_tenant(config_for(table_name, dynamodb_client), tenant_id)
    assert sent == []
    assert bao.TenantContext.get_current_tenant() is None


def test_init_keeps_refusing_unknown_settings(dynamodb_client, table_name):
    with pytest.raises(ConfigurationError, match="tenancy.strict"):
        init_test_models_with_tenant(
            config_for(table_name, dynamodb_client, tenancy={"strict": True}), "t1"
        )
    with pytest.raises(ConfigurationError, match="'tenancy' must be a mapping"):
        init_test_models_with_tenant(
            config_for(table_name, dynamodb_client, tenancy=True), "t1"
        )


# --------------------------------------------------------------------------- cleanup


def _write_everything(tenant: str) -> None:
    with bao.TenantContext.tenant(tenant):
        for n in range(3):
            Card.create({"email": f"{n}@example.com"})  # same unique values in every tenant
        for n in range(2):
            CardNote.create({"text": f"note {n}"})
            Badge.create({"code": f"code-{n}"})


def test_cleanup_deletes_exactly_the_tenants_items_of_the_given_models(
    dynamodb_client, table_name, no_tenant_after
):
    manager = init_test_models_with_tenant(config_for(table_name, dynamodb_client), "t1")
    _write_everything("t1")
    _write_everything("t2")
    before = stored_keys(dynamodb_client, table_name)
    assert len(before) == 2 * (3 + 3 + 2 + 2 + 2)

    # Card only: its 3 items and 3 unique rows; not CardNote ("hcx" starts with "hc"), not
    # Badge's unique rows (same tenant, same "_raft_uc" prefix, another relatedModel).
    assert cleanup_test_data("t1", [Card]) == 6
    after = stored_keys(dynamodb_client, table_name)
    gone = sorted(set(before) - set(after))
    assert len(gone) == 6
    assert all(
        key.startswith("[t1]#hc#") or key.startswith("[t1]#_raft_uc#_uc1#hc#email:")
        for key in gone
    )
    assert cleanup_test_data("t1", [Card]) == 0

    # The rest of t1 (a manager means all its models); t2 keeps everything it had.
    assert cleanup_test_data("t1", manager) == 2 + 2 + 2
    after = stored_keys(dynamodb_client, table_name)
    assert after == sorted(key for key in before if key.startswith("[t2]#"))
    assert len(after) == 12
    with bao.TenantContext.tenant("t2"):
        assert Card.find_by_email("0@example.com").exists()
    # The deleted unique values are free again in t1.
    with bao.TenantContext.tenant("t1"):
        Card.create({"email": "0@example.com"})
        Badge.create({"code": "code-0"})
    assert cleanup_test_data("t1", {"Card": Card, "Badge": Badge}) == 4


def test_cleanup_reads_every_page(dynamodb_client, table_name, no_tenant_after):
    init_test_models_with_tenant(config_for(table_name, dynamodb_client), "bulk")
    filler = "x" * 4000
    table = Card._manager.table_name
    # ~1.2 MB of CardNote items: a Scan page holds at most 1 MB, so at least two pages.
    for n in range(300):
        transport.put_item(
            dynamodb_client,
            table,
            {"_pk": {"S": "[bulk]#hcx"}, "_sk": {"S": f"{n:04d}"}, "text": {"S": filler}},
        )
    with bao.TenantContext.tenant("other"):
        CardNote.create({"text": "stays"})
    with counting(dynamodb_client) as sent:
        assert cleanup_test_data("bulk", [CardNote]) == 300
    assert sent.count("Scan") >= 2
    assert sent.count("DeleteItem") == 300
    assert [k for k in stored_keys(dynamodb_client, table_name)] == ["[other]#hcx"]


def test_cleanup_refuses_bad_input_before_any_request(dynamodb_client, table_name):
    bao.init_models(config_for(table_name, dynamodb_client))

    class Unbound(bao.BaoModel):
        model_prefix = "hcu"
        unbound_id = fields.UlidField(auto_assign=True)
        primary_key = bao.PrimaryKey("unbound_id")

    with counting(dynamodb_client) as sent:
        with pytest.raises(InvalidTenantIdError):
            cleanup_test_data("a]#u", [Card])
        with pytest.raises(InvalidTenantIdError):
            cleanup_test_data("", [Card])
        with pytest.raises(ConfigurationError, match="not registered"):
            cleanup_test_data("t1", [Card, Unbound])
        with pytest.raises(ConfigurationError, match="not a model class"):
            cleanup_test_data("t1", ["Card"])
    assert sent == []


# --------------------------------------------------------------------------- plugin


def test_plugin_is_registered_as_an_entry_point():
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("dynamo_bao") == "dynamo_bao.testing.plugin"


PLUGIN_USER = textwrap.dedent(
    """
    import asyncio
    import threading

    import dynamo_bao as bao
    from dynamo_bao import fields, transport
    from dynamo_bao.concurrency import map_in_context

    SEEN = {}


    class Thing(bao.BaoModel):
        model_prefix = "thing"
        thing_id = fields.UlidField(auto_assign=True)
        name = fields.StringField(required=True)
        primary_key = bao.PrimaryKey("thing_id")


    def test_fixtures(bao_endpoint, bao_client, bao_table, bao_tenant):
        assert bao_endpoint.startswith("http://")
        assert bao_client.meta.endpoint_url == bao_endpoint
        assert transport.describe_table(bao_client, bao_table)["TableStatus"] == "ACTIVE"
        assert bao.TenantContext.get_current_tenant() == bao_tenant
        assert len(bao_tenant) == 26
        bao.init_models({"db": {"table_name": bao_table}, "tenancy": {"enabled": True},
                         "models": [Thing], "client": bao_client})
        thing = Thing.create({"name": "one"})
        assert [key.startswith(f"[{bao_tenant}]#thing#") for key in
                [i["_pk"]["S"] for i in transport.scan_items(bao_client, bao_table)]] == [True]
        # library threads and tasks carry the tenant
        assert map_in_context(lambda pid: Thing.find(pid).name, [thing.thing_id] * 2) == [
            "one", "one"]
        assert asyncio.run(asyncio.to_thread(Thing.find, thing.thing_id)).name == "one"
        SEEN.setdefault("tenants", []).append(bao_tenant)
        SEEN.setdefault("tables", []).append(bao_table)


    def test_fresh_tenant_and_table_each_time(bao_client, bao_table, bao_tenant):
        assert bao_tenant not in SEEN["tenants"]
        assert bao_table not in SEEN["tables"]
        assert not transport.table_exists(bao_client, SEEN["tables"][0])


    def test_tenant_restored_after_the_test():
        assert bao.TenantContext.get_current_tenant() is None


    def test_a_plain_thread_has_no_tenant(bao_tenant):
        seen = []
        thread = threading.Thread(target=lambda: seen.append(
            bao.TenantContext.get_current_tenant()))
        thread.start()
        thread.join()
        assert seen == [None]
    """
)


def test_plugin_fixtures_against_a_given_endpoint(pytester, monkeypatch, dynamodb_endpoint):
    monkeypatch.setenv("DYNAMO_BAO_TEST_ENDPOINT", dynamodb_endpoint)
    pytester.makepyfile(test_user=PLUGIN_USER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_plugin_starts_the_embedded_server_without_an_endpoint(pytester, monkeypatch):
    monkeypatch.delenv("DYNAMO_BAO_TEST_ENDPOINT", raising=False)
    pytester.makepyfile(
        test_embedded=textwrap.dedent(
            """
            from dynamo_bao import transport
            from dynamo_bao.transport import is_local_endpoint

            def test_embedded(bao_endpoint, bao_client, bao_table):
                assert is_local_endpoint(bao_endpoint)
                assert transport.table_exists(bao_client, bao_table)
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_can_be_disabled(pytester):
    pytester.makepyfile(test_off="def test_uses(bao_tenant):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:dynamo_bao", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'bao_tenant' not found*"])
