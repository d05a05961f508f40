"""Search on the embedded server: ``_searchText`` written by DynamoBao's rules, ``search_all`` /
``search_bucket`` with terms or query strings, ``$and``/``$or``, filters, paging with cursors
that return every match exactly once, cursors bound to tenant, model, query and scope, the
bounded fan-out, and the errors — raised before any request is sent."""

from __future__ import annotations

import contextlib
import math
from collections import Counter

import pytest

import dynamo_bao as bao
from dynamo_bao import fields
from dynamo_bao.exceptions import ConfigurationError, QueryError, ValidationError
from dynamo_bao.search import (
    SearchResult,
    build_search_text,
    normalize,
    tokenize_search_query,
)

from .conftest import unique_table_name

BUCKETS = 3


class Note(bao.BaoModel):
    model_prefix = "note"
    note_id = fields.UlidField(auto_assign=True)
    title = fields.StringField(required=True)
    body = fields.StringField()
    status = fields.StringField(default="open")
    rank = fields.IntegerField()
    primary_key = bao.PrimaryKey("note_id")
    iterable = True
    iteration_buckets = BUCKETS
    search_config = {"fields": ["title", "body"], "minTermLength": 2, "dedupe": True}


class Memo(bao.BaoModel):
    model_prefix = "memo"
    memo_id = fields.UlidField(auto_assign=True)
    title = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("memo_id")
    iterable = True
    iteration_buckets = BUCKETS
    search_config = {"fields": ["title"], "caseSensitive": True}


class Draft(bao.BaoModel):
    """Searchable but not iterable: _searchText is written, search_all refuses."""

    model_prefix = "drft"
    draft_id = fields.UlidField(auto_assign=True)
    title = fields.StringField()
    kind = fields.StringField(default="draft")
    primary_key = bao.PrimaryKey("draft_id")
    indexes = {"byKind": bao.Index("kind", "draft_id", "gsi1")}
    search_config = {"fields": ["title"]}


class Plain(bao.BaoModel):
    model_prefix = "plain"
    plain_id = fields.UlidField(auto_assign=True)
    primary_key = bao.PrimaryKey("plain_id")
    iterable = True


NOTES = [
    {"title": "Printer on 3rd floor is JAMMED!!", "body": "The printer needs service.",
     "status": "open", "rank": 1},
    {"title": "Café déjà vu — ÜBER wifi", "body": "Wi-Fi drops at the café.", "status": "open",
     "rank": 2},
    {"title": "Reset password", "body": "for Bob", "status": "closed", "rank": 3},
    {"title": "New printer order", "body": "Buy a colour printer", "status": "closed",
     "rank": 4},
    {"title": "Coffee machine", "body": "descale the machine", "status": "open", "rank": 5},
]


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("search")},
        "tenancy": {"enabled": True},
        "models": [Note, Memo, Draft, Plain],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture(scope="module")
def notes(manager):
    with bao.TenantContext.tenant("acme"):
        acme = {n["title"]: Note.create(n).primary_id for n in NOTES}
    with bao.TenantContext.tenant("globex"):
        globex = {"printer": Note.create({"title": "Globex printer"}).primary_id}
    return {"acme": acme, "globex": globex}


@contextlib.contextmanager
def recorded(client):
    sent: list = []

    def record(request=None, **_):
        sent.append(request)

    client.meta.events.register("before-send.dynamodb", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-send.dynamodb", record)


def _operations(requests) -> Counter:
    return Counter(r.headers["X-Amz-Target"].decode().split(".")[-1] for r in requests)


def _titles(result: SearchResult) -> set[str]:
    return {item.title for item in result.items}


def _stored(manager, primary_id, tenant):
    key = Note._schema.key_from_id(primary_id, tenant)
    return manager.client.get_item(TableName=manager.table_name, Key=key)["Item"]


# --------------------------------------------------------------------------- text


def test_normalize_and_tokenize():
    assert normalize("Café déjà vu — ÜBER wifi!") == "café déjà vu über wifi"
    assert normalize("Wi-Fi\t\tdrops", case_sensitive=True) == "Wi Fi drops"
    assert normalize("x²  ٣ 中文") == "x² ٣ 中文"  # numbers and letters of any script stay
    assert tokenize_search_query('printer "3rd floor"  jammed') == ["printer", "3rd floor",
                                                                      "jammed"]
    assert tokenize_search_query('a "" b "unclosed phrase') == ["a", "b", "unclosed phrase"]
    config = {"fields": ["a", "b"], "minTermLength": 2, "dedupe": True}
    assert build_search_text(config, {"a": "A b a", "b": "Ab cd ab"}) == "ab cd"
    assert build_search_text(config, {"a": "!!!"}) is None


def test_search_text_written_by_the_rules(manager):
    with bao.TenantContext.tenant("writes"):
        note = Note.create({"title": "Hello, World!", "body": "a big World"})
        assert _stored(manager, note.primary_id, "writes")["_searchText"] == {
            "S": "hello world big"
        }
        Note.update(note.primary_id, {"status": "closed"})  # no source field: untouched
        assert _stored(manager, note.primary_id, "writes")["_searchText"] == {
            "S": "hello world big"
        }
        Note.update(note.primary_id, {"body": "Fixed it"})  # title back-filled
        assert _stored(manager, note.primary_id, "writes")["_searchText"] == {
            "S": "hello world fixed it"
        }
        Note.update(note.primary_id, {"title": "?", "body": None})  # empty: removed
        assert "_searchText" not in _stored(manager, note.primary_id, "writes")
        empty = Note.create({"title": "!"})
        assert "_searchText" not in _stored(manager, empty.primary_id, "writes")


def test_search_config_is_checked_when_the_model_is_declared():
    def declare(config):
        type("Bad", (bao.BaoModel,), {
            "model_prefix": "bad",
            "bad_id": fields.UlidField(auto_assign=True),
            "title": fields.StringField(),
            "rank": fields.IntegerField(),
            "primary_key": bao.PrimaryKey("bad_id"),
            "search_config": config,
        })

    for config, message in [
        ({"fields": []}, "non-empty"),
        ({"fields": ["nope"]}, '"nope" but that field is not defined'),
        ({"fields": ["rank"]}, "must be a string field"),
        ({"fields": ["title"], "minTermLength": 0}, "minTermLength"),
        ({"fields": ["title"], "dedupe": "yes"}, "dedupe"),
        ({"fields": ["title"], "stemming": True}, "unknown search_config key"),
        (["title"], "must be a dict"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            declare(config)


# --------------------------------------------------------------------------- searching


def test_terms_operators_and_query_strings(manager, notes):
    with bao.TenantContext.tenant("acme"):
        assert _titles(Note.search_all(["printer"])) == {
            "Printer on 3rd floor is JAMMED!!", "New printer order"
        }
        assert _titles(Note.search_all(["PRINTER", "jammed"])) == {
            "Printer on 3rd floor is JAMMED!!"
        }
        assert _titles(Note.search_all(["WIFI", "café"])) == {"Café déjà vu — ÜBER wifi"}
        assert _titles(Note.search_all(["printer", "password"], "$or")) == {
            "Printer on 3rd floor is JAMMED!!", "New printer order", "Reset password"
        }
        assert _titles(Note.search_all('"3rd floor" printer')) == {
            "Printer on 3rd floor is JAMMED!!"
        }
        assert _titles(Note.search_all('"floor 3rd"')) == set()
        # Terms shorter than minTermLength (2) are dropped: "a" does not narrow the search.
        assert _titles(Note.search_all(["a", "machine"])) == {"Coffee machine"}
        result = Note.search_all("printer")
        assert result.cursor is None and result.consumed_capacity


def test_case_sensitive_model(manager):
    with bao.TenantContext.tenant("acme"):
        Memo.create({"title": "Quarterly Report"})
        Memo.create({"title": "quarterly numbers"})
        assert {m.title for m in Memo.search_all("Quarterly").items} == {"Quarterly Report"}
        assert {m.title for m in Memo.search_all("quarterly").items} == {"quarterly numbers"}


def test_each_tenant_searches_only_its_own_items(manager, notes):
    with bao.TenantContext.tenant("globex"):
        found = Note.search_all("printer").items
        assert [n.primary_id for n in found] == [notes["globex"]["printer"]]
    with bao.TenantContext.tenant("initech"):
        assert Note.search_all("printer").items == []


def test_filters(manager, notes):
    with bao.TenantContext.tenant("acme"):
        # A field the index does not project: applied to the items read.
        open_printers = Note.search_all("printer", filter={"status": "open"})
        assert _titles(open_printers) == {"Printer on 3rd floor is JAMMED!!"}
        ranked = Note.search_all(["printer", "machine"], "$or", filter={"rank": {"$gte": 4}})
        assert _titles(ranked) == {"New printer order", "Coffee machine"}
        # _searchText only: sent with the query, operand normalised.
        with recorded(manager.client) as sent:
            fuser = Note.search_all("printer", filter={"_searchText": {"$contains": "Service!"}})
        assert _titles(fuser) == {"Printer on 3rd floor is JAMMED!!"}
        assert any(b'"service"' in r.body for r in sent if b"Query" in r.headers["X-Amz-Target"])


def test_search_text_filter_on_any_query(manager):
    with bao.TenantContext.tenant("acme"):
        Draft.create({"title": "Budget plan 2025"})
        Draft.create({"title": "Holiday plan"})
        found = Draft.query_by_index("byKind", "draft", filter={"_searchText": {
            "$contains": "BUDGET!"}})
        assert [d.title for d in found.items] == ["Budget plan 2025"]
        with pytest.raises(QueryError, match="Unknown field in filter: _searchText"):
            Plain.iterate_all(filter={"_searchText": {"$contains": "x"}})


def test_paging_returns_every_match_exactly_once(manager):
    with bao.TenantContext.tenant("paging"):
        matching = {Note.create({"title": f"alpha item {i}"}).primary_id for i in range(23)}
        for i in range(9):
            Note.create({"title": f"beta item {i}"})
        for limit, batch_size in [(4, 3), (5, 100), (1, 2), (7, 1)]:
            seen, cursor, calls = [], None, 0
            while True:
                result = Note.search_all("alpha", limit=limit, cursor=cursor,
                                         batch_size=batch_size)
                assert len(result.items) <= limit
                seen.extend(item.primary_id for item in result.items)
                calls += 1
                cursor = result.cursor
                if cursor is None:
                    break
                assert calls < 200
            assert len(seen) == len(set(seen)) and set(seen) == matching, (limit, batch_size)
        # With a filter applied to the items read, still exactly once.
        seen, cursor = [], None
        while True:
            result = Note.search_all("item", limit=3, cursor=cursor, batch_size=4,
                                     filter={"title": {"$beginsWith": "alpha"}})
            seen.extend(item.primary_id for item in result.items)
            cursor = result.cursor
            if cursor is None:
                break
        assert sorted(seen) == sorted(matching)
        everything = Note.search_all("alpha", limit=None)
        assert {n.primary_id for n in everything.items} == matching and everything.cursor is None
        assert len(Note.search_all("alpha", limit=math.inf).items) == 23


def test_search_bucket(manager, notes):
    from dynamo_bao import core

    with bao.TenantContext.tenant("acme"):
        found = []
        for bucket in range(BUCKETS):
            result = Note.search_bucket(bucket, "printer")
            assert all(core.iteration_bucket(n.primary_id, BUCKETS) == bucket
                       for n in result.items)
            found.extend(n.primary_id for n in result.items)
        assert set(found) == {
            notes["acme"]["Printer on 3rd floor is JAMMED!!"], notes["acme"]["New printer order"]
        }
        with pytest.raises(ValidationError, match="Invalid bucket number"):
            Note.search_bucket(BUCKETS, "printer")


def test_fan_out_is_bounded(manager):
    with bao.TenantContext.tenant("fanout"):
        for i in range(12):
            Note.create({"title": f"rare word {i}"})
        # A query that matches nothing: each call sends at most max_queries Queries and hands
        # back a cursor until every bucket was read to its end.
        cursor, calls = None, 0
        while True:
            with recorded(manager.client) as sent:
                result = Note.search_all("absent", cursor=cursor, batch_size=2, max_queries=2)
            assert _operations(sent)["Query"] <= 2 and result.items == []
            calls += 1
            cursor = result.cursor
            if cursor is None:
                break
        assert calls > 1
        # Per bucket, too.
        with recorded(manager.client) as sent:
            result = Note.search_all("absent", batch_size=1, max_queries_per_bucket=1)
        assert _operations(sent)["Query"] == BUCKETS and result.cursor is not None
        # Only what is returned is read.
        with recorded(manager.client) as sent:
            result = Note.search_all("rare", limit=2)
        assert len(result.items) == 2
        assert sum(r.body.count(b'"_sk"') for r in sent if b"BatchGet" in
                   r.headers["X-Amz-Target"]) == 2


def test_cursors_are_bound_to_tenant_model_query_and_scope(manager):
    with bao.TenantContext.tenant("cursors"):
        for i in range(6):
            Note.create({"title": f"gamma {i}"})
            Memo.create({"title": f"gamma {i}"})
        cursor = Note.search_all("gamma", limit=1).cursor
        assert cursor is not None
        assert Note.search_all("gamma", limit=1, cursor=cursor).items  # valid where made
        bucket_cursor = None
        for bucket in range(BUCKETS):
            bucket_cursor = bucket_cursor or Note.search_bucket(bucket, "gamma", limit=1).cursor
        with recorded(manager.client) as sent:
            # Every misuse is the same error, which does not say which check failed.
            for call in [
                lambda: Note.search_all("delta", limit=1, cursor=cursor),  # another query
                lambda: Note.search_all("gamma", "$or", cursor=cursor),
                lambda: Note.search_all("gamma", cursor=cursor, filter={"rank": 1}),
                lambda: Memo.search_all("gamma", limit=1, cursor=cursor),  # another model
                lambda: Note.search_all("gamma", cursor="not a cursor"),
                lambda: Note.search_all("gamma", cursor=cursor[:-4]),
                lambda: Note.search_all("gamma", cursor=42),
            ]:
                with pytest.raises(QueryError, match="^invalid cursor"):
                    call()
            if bucket_cursor is not None:  # another scope
                with pytest.raises(QueryError, match="^invalid cursor"):
                    Note.search_all("gamma", cursor=bucket_cursor)
        assert sent == []
    with bao.TenantContext.tenant("intruder"), recorded(manager.client) as sent:
        with pytest.raises(QueryError, match="^invalid cursor"):
            Note.search_all("gamma", limit=1, cursor=cursor)
    assert sent == []
    assert "cursors" not in cursor  # the tenant id is not readable from the cursor
    import base64
    assert b"cursors" not in base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Note.search_all([]), "at least one non-empty term"),
        (lambda: Note.search_all("  !!  "), "at least one non-empty term"),
        (lambda: Note.search_all(["a"]), "at least one non-empty term"),  # shorter than 2
        (lambda: Note.search_all(["ok", 3]), "terms must be strings"),
        (lambda: Note.search_all(42), "list of strings or a query string"),
        (lambda: Note.search_all("ok", "$xor"), "operator must be one of"),
        (lambda: Note.search_all("ok", limit=0), "limit"),
        (lambda: Note.search_all("ok", limit=2.5), "limit"),
        (lambda: Note.search_all("ok", batch_size=0), "batch_size"),
        (lambda: Note.search_all("ok", max_queries_per_bucket=0), "max_queries_per_bucket"),
        (lambda: Note.search_all("ok", max_queries=0), "max_queries"),
        (lambda: Note.search_all("ok", max_queries=10**6), "max_queries"),
        (lambda: Note.search_all("ok", concurrency=0), "concurrency"),
    ],
)
def test_bad_arguments_fail_before_any_request(manager, call, message):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        with pytest.raises(ValidationError, match=message):
            call()
    assert sent == []


def test_models_that_cannot_be_searched(manager):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        with pytest.raises(ConfigurationError, match="not searchable"):
            Plain.search_all("x")
        with pytest.raises(ConfigurationError, match="not configured as iterable"):
            Draft.search_all("budget")
        with pytest.raises(bao.QueryError, match="Unknown field"):
            Note.search_all("ok", filter={"colour": "red"})
    assert sent == []


def test_search_needs_the_search_index(dynamodb_client):
    class Lone(bao.BaoModel):
        model_prefix = "lone"
        lone_id = fields.UlidField(auto_assign=True)
        title = fields.StringField()
        primary_key = bao.PrimaryKey("lone_id")
        iterable = True
        search_config = {"fields": ["title"]}

    manager = bao.init_models({
        "db": {"table_name": unique_table_name("nosearch")},
        "models": [Lone],
        "client": dynamodb_client,
    })
    manager.create_table(include_search_index=False)
    try:
        Lone.create({"title": "hello"})
        with pytest.raises(ConfigurationError, match="iter_search_index.*bao update-table"):
            Lone.search_all("hello")
        assert [x.title for batch in Lone.iterate_all() for x in batch] == ["hello"]
    finally:
        manager.delete_table()


def test_query_hash_is_the_same_in_every_process():
    """A cursor made by one process must be accepted by another: the query digest may not
    depend on set order or hash seeds."""
    import subprocess
    import sys

    code = (
        "from dynamo_bao.expressions import parse_filter\n"
        "from dynamo_bao.search import query_digest\n"
        "f = parse_filter({'labels': {'alpha', 'beta', 'gamma', 'delta', 'eps'}, 'n': 1.5})\n"
        "print(query_digest({'fields': ['t']}, ['x'], '$and', f))\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1
