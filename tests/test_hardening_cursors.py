"""Issue 13, item 9: one cursor codec (:mod:`dynamo_bao.cursors`) for query and search cursors.

A cursor shows neither the tenant id nor a key value (not even base64-decoded); any change to
it, its use under another tenant, and (without ``cursors.secret``) its use after the process
key changed are one ``QueryError`` before any request; with a secret it works in a fresh
manager (another process) sharing the secret and not under another secret. A start key that
authenticates but names another index, partition, model or tenant is refused before it is
sent, and so are search positions outside their scope or bucket. Requests are counted with a
botocore ``before-call`` handler on the manager's own client.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

import dynamo_bao as bao
from dynamo_bao import core, cursors, fields, transport
from dynamo_bao.config import load_config
from dynamo_bao.exceptions import ConfigurationError, QueryError
from dynamo_bao.search import query_digest

BUCKETS = 3
SECRET_A = "secret A: at least sixteen characters"
SECRET_B = "secret B: at least sixteen characters"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class CurTicket(bao.BaoModel):
    model_prefix = "hcr"
    ticket_id = fields.UlidField(auto_assign=True)
    queue = fields.StringField(required=True)
    title = fields.StringField(required=True)
    rank = fields.IntegerField(default=0)
    primary_key = bao.PrimaryKey("ticket_id")
    indexes = {"byQueue": bao.Index("queue", "rank", "gsi1")}
    iterable = True
    iteration_buckets = BUCKETS
    search_config = {"fields": ["title"]}


class CurLine(bao.BaoModel):
    """A composite key: the partition is the owner."""

    model_prefix = "hcl"
    owner = fields.StringField(required=True)
    line_id = fields.UlidField(auto_assign=True)
    primary_key = bao.PrimaryKey("owner", "line_id")


MODELS = [CurTicket, CurLine]
QUEUE = "queue-secret-value"  # a key value that must not show in cursors
OWNER = "owner-secret-value"


@pytest.fixture
def client(dynamodb_endpoint: str) -> Any:
    return transport.make_client(endpoint_url=dynamodb_endpoint)


@pytest.fixture
def make_manager(client: Any, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``make(secret=None)``: a new manager of the models on one table (a new manager with a
    new Config is what another process would have)."""
    monkeypatch.delenv("DYNAMO_BAO_CURSOR_SECRET", raising=False)
    created: list = []

    def make(secret: str | None = None) -> Any:
        config: dict[str, Any] = {
            "db": {"table_name": table_name},
            "tenancy": {"enabled": True},
            "models": MODELS,
            "client": client,
        }
        if secret is not None:
            config["cursors"] = {"secret": secret}
        manager = bao.init_models(config)
        if not created:
            manager.create_table()
        created.append(manager)
        return manager

    return make


@pytest.fixture
def data(make_manager: Any) -> dict[str, Any]:
    """Tickets and lines in acme and globex (same queue and owner values in both)."""
    manager = make_manager()
    ids: dict[str, list[str]] = {}
    for tenant in ("acme", "globex"):
        with bao.TenantContext.tenant(tenant):
            ids[tenant] = [
                CurTicket.create(
                    {"queue": QUEUE, "title": f"printer jam {i}", "rank": i}
                ).primary_id
                for i in range(7)
            ]
            for _ in range(5):
                CurLine.create({"owner": OWNER})
    return {"manager": manager, "ids": ids}


@contextlib.contextmanager
def counting(client: Any) -> Iterator[list[str]]:
    """The operations the client sends during the block (botocore's ``before-call``)."""
    sent: list[str] = []

    def record(model: Any, **_: Any) -> None:
        sent.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)


def refused(client: Any, call: Any) -> None:
    """``call()`` raises the one invalid-cursor QueryError and sends nothing."""
    with counting(client) as sent, pytest.raises(QueryError) as raised:
        call()
    assert sent == []
    assert str(raised.value) == str(cursors.invalid())


def b64_bytes(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def query_page(cursor: str | None = None) -> Any:
    return CurTicket.query_by_index("byQueue", QUEUE, limit=2, start_key=cursor)


def search_page(cursor: str | None = None) -> Any:
    return CurTicket.search_all("printer", limit=2, batch_size=2, cursor=cursor)


def mutations(cursor: str) -> Iterator[str]:
    """Every one-character change of the text (replace, delete, insert) and every one-byte
    change of the decoded bytes."""
    for i, char in enumerate(cursor):
        yield cursor[:i] + ALPHABET[(ALPHABET.index(char) + 1) % 64] + cursor[i + 1 :]
        yield cursor[:i] + cursor[i + 1 :]
        yield cursor[:i] + "=" + cursor[i:]
    yield cursor + "A"
    yield cursor + "="
    raw = b64_bytes(cursor)
    for i in range(len(raw)):
        changed = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]
        yield base64.urlsafe_b64encode(changed).decode().rstrip("=")


# --------------------------------------------------------------------------- what shows


def test_cursors_show_neither_tenant_nor_key(data):
    with bao.TenantContext.tenant("acme"):
        query_cursor = query_page().last_evaluated_key
        line_cursor = CurLine.query_by_primary_key(OWNER, limit=2).last_evaluated_key
        search_cursor = search_page().cursor
    ids = data["ids"]["acme"]
    for cursor in (query_cursor, line_cursor, search_cursor):
        assert isinstance(cursor, str)
        raw = b64_bytes(cursor)
        for secret in ("acme", QUEUE, OWNER, "_pk", "hcr", *ids):
            assert secret not in cursor
            assert secret.encode() not in raw


# --------------------------------------------------------------------------- use elsewhere


def test_a_cursor_of_acme_is_refused_under_globex(data):
    client = data["manager"].client
    with bao.TenantContext.tenant("acme"):
        query_cursor = query_page().last_evaluated_key
        search_cursor = search_page().cursor
    with bao.TenantContext.tenant("globex"):
        refused(client, lambda: query_page(query_cursor))
        refused(client, lambda: search_page(search_cursor))
        # … and the same for the same index of another model, or another index.
        refused(client, lambda: CurLine.query_by_primary_key(OWNER, start_key=query_cursor))
    with bao.TenantContext.tenant("acme"):
        some_id = data["ids"]["acme"][0]
        refused(client, lambda: CurTicket.query_by_primary_key(some_id, start_key=query_cursor))
        refused(client, lambda: CurLine.query_by_primary_key(OWNER, start_key=query_cursor))
        assert query_page(query_cursor).items  # where it was made, it works


def test_every_single_change_of_a_query_cursor_is_refused(data):
    client = data["manager"].client
    with bao.TenantContext.tenant("acme"):
        cursor = query_page().last_evaluated_key
        changed = set(mutations(cursor)) - {cursor}
        assert len(changed) > 3 * len(cursor)
        for forged in changed:
            refused(client, lambda forged=forged: query_page(forged))
        for junk in ("", "not a cursor", 42, 3.5, b"bytes", "é" * 40, "A" * 500):
            refused(client, lambda junk=junk: query_page(junk))
        assert query_page(cursor).items  # the unchanged one still works


def test_every_single_change_of_a_search_cursor_is_refused(data):
    client = data["manager"].client
    with bao.TenantContext.tenant("acme"):
        cursor = search_page().cursor
        assert cursor is not None
        for forged in set(mutations(cursor)) - {cursor}:
            refused(client, lambda forged=forged: search_page(forged))
        assert search_page(cursor).items


# --------------------------------------------------------------------------- keys


def test_a_secret_keeps_cursors_valid_across_managers(make_manager, data):
    manager = make_manager(SECRET_A)
    with bao.TenantContext.tenant("acme"):
        first = query_page()
        search_first = search_page()
        expected = [t.primary_id for t in query_page(first.last_evaluated_key).items]
        expected_search = [t.primary_id for t in search_page(search_first.cursor).items]
    make_manager(SECRET_A)  # another process with the same secret
    with bao.TenantContext.tenant("acme"):
        assert [t.primary_id for t in query_page(first.last_evaluated_key).items] == expected
        assert [t.primary_id for t in search_page(search_first.cursor).items] == (
            expected_search
        )
    cursors.new_process_key()  # the secret, not the process key, signs these
    with bao.TenantContext.tenant("acme"):
        assert [t.primary_id for t in query_page(first.last_evaluated_key).items] == expected
    for other in (SECRET_B, None):  # another secret, or none: refused
        make_manager(other)
        with bao.TenantContext.tenant("acme"):
            refused(manager.client, lambda: query_page(first.last_evaluated_key))
            refused(manager.client, lambda: search_page(search_first.cursor))


def test_without_a_secret_a_cursor_dies_with_its_process_key(data):
    client = data["manager"].client
    with bao.TenantContext.tenant("acme"):
        query_cursor = query_page().last_evaluated_key
        search_cursor = search_page().cursor
        assert query_page(query_cursor).items and search_page(search_cursor).items
        cursors.new_process_key()  # what another process, or a restart, has
        refused(client, lambda: query_page(query_cursor))
        refused(client, lambda: search_page(search_cursor))


def test_paging_with_the_codec_returns_every_item_once(data):
    with bao.TenantContext.tenant("acme"):
        seen, cursor = [], None
        while True:
            page = query_page(cursor)
            seen.extend(t.primary_id for t in page.items)
            cursor = page.last_evaluated_key
            if cursor is None:
                break
        assert sorted(seen) == sorted(data["ids"]["acme"])
        found, cursor = [], None
        while True:
            result = search_page(cursor)
            found.extend(t.primary_id for t in result.items)
            cursor = result.cursor
            if cursor is None:
                break
        assert sorted(found) == sorted(data["ids"]["acme"])


def test_without_tenancy_cursors_page_and_stay_bound(client, table_name, data):
    """No tenant (tenancy off) is a tenant of its own for cursors: acme's cursor is refused."""
    with bao.TenantContext.tenant("acme"):
        acme_cursor = query_page().last_evaluated_key
    manager = bao.init_models(
        {"db": {"table_name": table_name}, "models": MODELS, "client": client}
    )
    with bao.TenantContext.tenant(None):
        refused(manager.client, lambda: query_page(acme_cursor))
        for i in range(3):
            CurTicket.create({"queue": QUEUE, "title": f"plain {i}", "rank": i})
        first = query_page()
        rest = query_page(first.last_evaluated_key)
        assert {t.primary_id for t in first.items} | {t.primary_id for t in rest.items} == {
            t.primary_id for t in CurTicket.query_by_index("byQueue", QUEUE).items
        }


# --------------------------------------------------------------------------- forged payloads


def _query_cursor(manager: Any, model: Any, index: str, payload: Any, tenant: str = "acme"):
    return cursors.encode(manager, "query", tenant, cursors.model_label(model), index, payload)


def test_a_start_key_of_another_index_or_partition_is_refused(data):
    manager = data["manager"]
    client = manager.client
    with bao.TenantContext.tenant("acme"):
        first = query_page().items[-1]
    pk = CurTicket._schema.key_from_id(first.primary_id, "acme")["_pk"]["S"]
    good = {
        "_pk": pk,
        "_sk": "hcr",
        "_gsi1_pk": core.format_gsi_key("acme", "hcr", "gsi1", QUEUE),
        "_gsi1_sk": CurTicket._schema.encode_key_value("rank", first.rank),
    }
    other_pk = CurTicket._schema.key_from_id(data["ids"]["globex"][0], "globex")["_pk"]["S"]
    line_pk = core.format_primary_key("acme", "hcl", OWNER)
    forged = [
        {k: v for k, v in good.items() if not k.startswith("_gsi1")},  # the table key only
        {**good, "_gsi2_pk": good["_gsi1_pk"]},  # an extra attribute
        {**{k.replace("gsi1", "gsi2"): v for k, v in good.items()}},  # another index
        {**good, "_gsi1_pk": core.format_gsi_key("acme", "hcr", "gsi1", "other-queue")},
        {**good, "_gsi1_pk": core.format_gsi_key("globex", "hcr", "gsi1", QUEUE)},
        {**good, "_pk": other_pk},  # another tenant's item
        {**good, "_pk": line_pk},  # another model's partition
        {**good, "_pk": "hcr#" + first.primary_id},  # no tenant
        {**good, "_sk": "other"},  # not this model's sort key
        {**good, "_gsi1_sk": 7},  # not a string
        {**good, "_pk": {"S": pk}},
        [good],
        "text",
        None,
    ]
    with bao.TenantContext.tenant("acme"):
        for payload in forged:
            cursor = _query_cursor(manager, CurTicket, "byQueue", payload)
            refused(client, lambda cursor=cursor: query_page(cursor))
        # The checker accepts what the library itself would make.
        assert query_page(_query_cursor(manager, CurTicket, "byQueue", good)).items

        lines = CurLine.query_by_primary_key(OWNER).items
        line_key = CurLine._schema.key_from_id(lines[0].primary_id, "acme")
        line_good = {name: av["S"] for name, av in line_key.items()}
        for payload in [
            {**line_good, "_pk": core.format_primary_key("acme", "hcl", "another-owner")},
            {**line_good, "_pk": core.format_primary_key("acme", "hcr", OWNER)},
            {**line_good, "_pk": core.format_primary_key("globex", "hcl", OWNER)},
            {**line_good, "_sk": ""},
            {**line_good, "_gsi1_pk": "x", "_gsi1_sk": "y"},
        ]:
            cursor = _query_cursor(manager, CurLine, "primaryKey", payload)
            refused(client, lambda cursor=cursor: CurLine.query_by_primary_key(
                OWNER, start_key=cursor))
        good_cursor = _query_cursor(manager, CurLine, "primaryKey", line_good)
        assert CurLine.query_by_primary_key(OWNER, start_key=good_cursor).count == 4


def test_forged_search_positions_are_refused(data):
    manager = data["manager"]
    client = manager.client
    with bao.TenantContext.tenant("acme"):
        cursor = search_page().cursor
    # What search_page's cursor is bound to: the query digest and the scope.
    bound = [query_digest(CurTicket.search_config, ["printer"], "$and", None), [0, 1, 2]]
    payload = cursors.decode(
        manager, "search", "acme", cursors.model_label(CurTicket), bound, cursor
    )
    assert set(payload) == {"p", "x"}
    ids = data["ids"]["acme"]
    by_bucket = {core.iteration_bucket(i, BUCKETS): i for i in ids}
    bucket, some_id = next(iter(by_bucket.items()))
    wrong_bucket = (bucket + 1) % BUCKETS
    forged = [
        {"p": {str(wrong_bucket): some_id}, "x": []},  # an id of another bucket
        {"p": {str(BUCKETS): some_id}, "x": []},  # a bucket outside the scope
        {"p": {}, "x": [BUCKETS]},
        {"p": {}, "x": [0, 0]},
        {"p": {str(bucket): some_id}, "x": [bucket]},  # both resumed and finished
        {"p": {"0" + str(bucket): some_id}, "x": []},
        {"p": {str(bucket): ""}, "x": []},  # not an id
        {"p": {str(bucket): 5}, "x": []},
        {"p": {str(bucket): some_id}, "x": [True]},
        {"p": {str(bucket): some_id}},
        {"p": [], "x": []},
        ["p"],
    ]
    with bao.TenantContext.tenant("acme"):
        for forged_payload in forged:
            forged_cursor = cursors.encode(
                manager, "search", "acme", cursors.model_label(CurTicket), bound, forged_payload
            )
            refused(client, lambda c=forged_cursor: search_page(c))
        control = cursors.encode(
            manager, "search", "acme", cursors.model_label(CurTicket), bound,
            {"p": {str(bucket): some_id}, "x": []},
        )
        with counting(client) as sent:
            result = search_page(control)  # accepted: resumes that bucket after some_id
        assert sent and some_id not in {t.primary_id for t in result.items}


# --------------------------------------------------------------------------- configuration


def test_the_secret_is_configured_checked_and_not_shown(monkeypatch):
    base = {"db": {"table_name": "t"}}
    assert load_config({**base, "cursors": {"secret": SECRET_A}}).cursor_secret == SECRET_A
    monkeypatch.setenv("DYNAMO_BAO_CURSOR_SECRET", SECRET_B)
    config = load_config(base)
    assert config.cursor_secret == SECRET_B
    assert SECRET_B not in repr(config) and "secret" not in repr(config)
    for bad in ("short", "x" * 15, b"y" * 15, 12345678901234567, ["x" * 20]):
        with pytest.raises(ConfigurationError, match="at least 16"):
            bao.init_models({**base, "cursors": {"secret": bad}})
    monkeypatch.setenv("DYNAMO_BAO_CURSOR_SECRET", "too short")
    with pytest.raises(ConfigurationError, match="DYNAMO_BAO_CURSOR_SECRET"):
        load_config(base)
    with pytest.raises(ConfigurationError, match="unknown configuration key 'cursors.key'"):
        load_config({**base, "cursors": {"key": SECRET_A}})
