"""Parity of the two wire paths: the same sequence of every operation kind, run through the
public API once on a manager whose client has the fast path (the core writes and reads the
bodies) and once on a manager whose client leaves both to botocore, gives identical results —
instances (``to_dict()`` with types, primary id, capacity), pages and cursors, counts, errors
(type and message) — sends the same requests, and leaves identical items in the two tables.

Each manager has its own client (the wire path belongs to the client) and its own table; the
tenant, the clock and the ULIDs are the same for both, so even the raw items agree byte for
byte. Table names are the only thing replaced (by ``<table>``) before comparing messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport, wire
from dynamo_bao.exceptions import ConditionalError, ConfigurationError, ValidationError
from dynamo_bao.query import ObjectNotFound
from dynamo_bao.testing import fixed_clock

from .conftest import unique_table_name

TENANT = "acme"
AT = "2024-06-01T12:00:00Z"
#: What botocore still gets on the fast path: the parameters that route the request.
ROUTING = {"TableName", "RequestItems", "TransactItems"}


class Gadget(bao.BaoModel):
    """Every value kind, a unique value (transactions), two GSIs, a version, iteration, search."""

    model_prefix = "gdg"
    gadget_id = fields.UlidField(auto_assign=True)
    name = fields.StringField(required=True)
    email = fields.StringField()
    status = fields.StringField(default="active")
    category = fields.StringField(default="misc")
    rank = fields.IntegerField()
    score = fields.FloatField()
    price = fields.DecimalField()
    active = fields.BooleanField()
    blob = fields.BinaryField()
    labels = fields.StringSetField()
    info = fields.MapField()
    history = fields.ListField()
    hits = fields.CounterField()
    ttl = fields.TtlField()
    created = fields.CreateDateField()
    modified = fields.ModifiedDateField()
    version = fields.VersionField()
    primary_key = bao.PrimaryKey("gadget_id")
    indexes = {
        "byStatus": bao.Index("status", "created", "gsi1"),
        "byCategory": bao.Index("category", "rank", "gsi2"),
    }
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True
    iteration_buckets = 2
    search_config = {"fields": ["name"]}


class Part(bao.BaoModel):
    """A composite key without unique values: PutItem, BatchWriteItem, plain UpdateItem."""

    model_prefix = "prt"
    parent_id = fields.StringField(required=True)
    part_no = fields.IntegerField(required=True)
    label = fields.StringField()
    weight = fields.DecimalField()
    primary_key = bao.PrimaryKey("parent_id", "part_no")


class Ghost(bao.BaoModel):
    """Bound to tables that lack something: a missing table, a table without the search index."""

    model_prefix = "gst"
    ghost_id = fields.StringField()
    title = fields.StringField()
    primary_key = bao.PrimaryKey("ghost_id")
    iterable = True
    search_config = {"fields": ["title"]}


def typed(value: Any) -> Any:
    """A comparable tree that keeps types (1 != 1.0 != True != Decimal(1) here)."""
    if isinstance(value, dict):
        return ("dict", tuple((typed(k), typed(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(typed(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(typed(v) for v in value))
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


def routing_only(params: dict) -> bool:
    """Whether botocore's parameters hold no more than the table names that route a request."""
    if set(params) - ROUTING:
        return False
    batches = params.get("RequestItems", {}).values()
    actions = [action for entry in params.get("TransactItems", []) for action in entry.values()]
    return not any(batches) and all(set(action) == {"TableName"} for action in actions)


class Recorder:
    """Runs the steps of one sequence on one manager and records what each gave."""

    def __init__(self, client: Any, tables: list[str]) -> None:
        self.client = client
        self.tables = tables
        self.log: list[tuple[str, Any]] = []
        self.targets: list[str] = []
        self.params_seen: list[tuple[str, bool]] = []
        client.meta.events.register("before-send.dynamodb", self._sent)
        client.meta.events.register("before-parameter-build.dynamodb", self._params)

    def _sent(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        self.targets.append(target.rsplit(".", 1)[-1])

    def _params(self, params: dict, model: Any, **_: Any) -> None:
        if model.name in wire.OPERATIONS:
            self.params_seen.append((model.name, routing_only(params)))

    def scrub(self, text: str) -> str:
        for table in sorted(self.tables, key=len, reverse=True):
            text = text.replace(table, "<table>")
        return text

    def shape(self, result: Any) -> Any:
        if isinstance(result, ObjectNotFound):
            return ("not found", result.model.__name__, result.primary_id, result.exists())
        if isinstance(result, bao.BaoModel):
            return ("instance", type(result).__name__, result.primary_id,
                    typed(result.to_dict()), result.get_numeric_consumed_capacity("total"))
        if isinstance(result, dict):
            return ("dict", [(key, self.shape(value)) for key, value in result.items()])
        if isinstance(result, list):
            return [self.shape(value) for value in result]
        if hasattr(result, "items") and hasattr(result, "get_numeric_consumed_capacity"):
            # QueryResult / SearchResult: the items, the count, whether there is a cursor (each
            # cursor is encrypted with a fresh nonce, so its text differs on every call; the
            # next page, fetched with it, is compared instead).
            cursor = getattr(result, "last_evaluated_key", getattr(result, "cursor", None))
            return ("page", self.shape(result.items), getattr(result, "count", None),
                    None if cursor is None else "<cursor>",
                    result.get_numeric_consumed_capacity("total"))
        if hasattr(result, "count") and hasattr(result, "get_numeric_consumed_capacity"):
            return ("count", result.count, result.get_numeric_consumed_capacity("total"))
        return typed(result)

    def step(self, label: str, action: Callable[[], Any]) -> Any:
        """Run ``action``; log its shaped result (or error) and the requests it sent."""
        sent_before = len(self.targets)
        try:
            result = action()
            outcome = self.shape(result)
        except Exception as err:  # noqa: BLE001 - errors are results to compare here
            result = err
            outcome = ("error", type(err).__name__, self.scrub(str(err)))
        self.log.append((label, (outcome, self.targets[sent_before:])))
        return result


def pages(query: Callable[..., Any], limit: int) -> list[Any]:
    """Every page of a query, each continued from the previous one's cursor."""
    found = [query(limit=limit)]
    while found[-1].last_evaluated_key is not None:
        assert len(found) < 50
        found.append(query(limit=limit, start_key=found[-1].last_evaluated_key))
    return found


GADGET = {
    "name": "Widget ünïcode \"quoted\" \n tab\t",
    "email": "widget@example.com",
    "rank": 5,
    "score": -1.5e-7,
    "price": Decimal("1234.5600"),
    "active": True,
    "blob": bytes(range(256)),
    "labels": {"red", "é", "big"},
    "info": {"size": {"w": 3, "h": Decimal("2.5"), "unit": "cm"}, "raw": b"\x00\xff",
             "none": None, "flags": [True, False], "ids": {1, 2, 3}},
    "history": [1, "two", 3.5, {"k": [b"bytes", None]}, ["nested"]],
    "ttl": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
}


def part_id(n: int) -> str:
    """The primary id of part ``n`` of ``p1`` (the sort key in its sortable encoding)."""
    return f"p1##__SK__##{n:020d}"


def run_sequence(rec: Recorder, manager: Any, others: dict[str, Any]) -> None:
    """The sequence: every operation kind through the public API, errors included."""
    step = rec.step
    with bao.TenantContext.tenant(TENANT), fixed_clock(AT):
        manager.register([Gadget, Part])  # bind the classes to this run's manager
        # creates: TransactWriteItems (unique value) and PutItem; BatchWriteItem
        first = step("create unique", lambda: Gadget.create(GADGET))
        step("create more", lambda: [
            Gadget.create({"name": f"gadget {i}", "email": f"g{i}@example.com", "rank": i,
                           "category": "cat" if i % 2 else "misc",
                           "status": "active" if i % 3 else "idle", "score": i / 4})
            for i in range(9)])
        step("create plain", lambda: Part.create(
            {"parent_id": "p1", "part_no": 0, "label": "first", "weight": Decimal("0.1")}))
        step("batch_put", lambda: Part.batch_put([
            {"parent_id": "p1", "part_no": n, "label": f"part {n}", "weight": Decimal(n) / 8}
            for n in range(1, 112)]))
        gid = first.primary_id if isinstance(first, Gadget) else "missing"
        missing_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
        # reads
        step("find", lambda: Gadget.find(gid))
        step("find missing", lambda: Gadget.find(missing_id))
        step("find part", lambda: Part.find(part_id(7)))
        step("batch_find", lambda: Part.batch_find(
            [part_id(n) for n in range(0, 115)] + ["p2##__SK__##1"]))
        step("batch_find gadgets", lambda: Gadget.batch_find([gid, missing_id]))
        step("find_by_unique_constraint", lambda: Gadget.find_by_unique_constraint(
            "uniqueEmail", "widget@example.com"))
        step("find_by_email missing", lambda: Gadget.find_by_email("nobody@example.com"))
        # updates
        step("update", lambda: Gadget.update(gid, {"status": "away", "score": 2.25}))
        step("update counter", lambda: Gadget.update(gid, {"hits": "+3"}))
        step("update set", lambda: Gadget.update(gid, {"labels": {"blue", "é"}}))
        step("update condition met", lambda: Gadget.update(
            gid, {"rank": 6}, condition={"status": "away"}))
        step("update condition unmet", lambda: Gadget.update(
            gid, {"rank": 7}, condition={"status": "gone"}))
        step("update unique value", lambda: Gadget.update(gid, {"email": "moved@example.com"}))
        step("update unique collision", lambda: Gadget.update(gid, {"email": "g1@example.com"}))
        step("update missing", lambda: Gadget.update(missing_id, {"status": "x"}))
        step("update nested values", lambda: Gadget.update(gid, {
            "info": {"deep": {"deeper": [Decimal("1E+3"), b"\x01", {"s"}]}},
            "price": Decimal("-0.000001")}))
        step("update part", lambda: Part.update(part_id(3), {"label": "three"}))
        step("create collision", lambda: Gadget.create({"name": "x", "email": "g2@example.com"}))
        step("create existing", lambda: Gadget.create({"gadget_id": gid, "name": "x"}))

        def save() -> Any:
            loaded = Gadget.find(gid)
            loaded.labels.add("green")
            loaded.labels.discard("blue")
            loaded.name = "renamed"
            return loaded.save()

        step("save", save)

        def save_unmet() -> Any:
            loaded = Gadget.find(gid)
            loaded.name = "never"
            return loaded.save(condition={"name": "someone else"})

        step("save condition unmet", save_unmet)
        # queries
        step("query pages", lambda: pages(lambda **o: Gadget.query_by_index(
            "byCategory", "misc", **o), 2))
        step("query filter pages", lambda: pages(lambda **o: Gadget.query_by_index(
            "byCategory", "cat", {"rank": {"$gte": 3}}, filter={"status": "active"},
            direction="DESC", **o), 1))
        step("query by status", lambda: Gadget.query_by_index("byStatus", "active"))
        step("query count_only", lambda: Gadget.query_by_index(
            "byCategory", "misc", count_only=True))
        step("query count_only filter", lambda: Gadget.query_by_index(
            "byCategory", "cat", count_only=True, filter={"rank": {"$lt": 5}}))
        step("query primary key pages", lambda: pages(lambda **o: Part.query_by_primary_key(
            "p1", {"part_no": {"$between": [5, 40]}}, filter={"label": {"$beginsWith": "part"}},
            **o), 9))
        step("query primary key count", lambda: Part.query_by_primary_key(
            "p1", count_only=True))
        step("query bad cursor", lambda: Part.query_by_primary_key("p1", start_key="nope"))
        step("count", lambda: Gadget.count())
        step("count filter", lambda: Gadget.count(filter={"status": "idle"}))
        step("iterate_all", lambda: list(Gadget.iterate_all(batch_size=3)))
        step("search_all", lambda: Gadget.search_all("gadget", filter={"category": "cat"},
                                                    concurrency=1))
        # refused before any request
        step("validation create", lambda: Gadget.create({"email": "no-name@example.com"}))
        step("validation update", lambda: Gadget.update(gid, {"nope": 1}))
        step("validation value", lambda: Gadget.create({"name": "x", "rank": "seven"}))
        step("missing query index", lambda: Gadget.query_by_index("byNothing", "x"))
        # deletes
        step("delete condition unmet", lambda: Gadget.delete(gid, condition={"name": "x"}))
        step("delete unique", lambda: Gadget.delete(gid))
        step("delete missing", lambda: Gadget.delete(gid))
        step("delete plain", lambda: Part.delete(part_id(0)))
        step("find deleted", lambda: Gadget.find_by_email("moved@example.com"))
        # tables that lack something
        for label, ghost_manager in others.items():
            ghost_manager.register([Ghost])
            step(f"{label}: create", lambda: Ghost.create({"ghost_id": "g", "title": "boo"}))
            step(f"{label}: find", lambda: Ghost.find("g"))
            step(f"{label}: batch_find", lambda: Ghost.batch_find(["g", "h"]))
            step(f"{label}: update", lambda: Ghost.update("g", {"title": "x"}))
            step(f"{label}: query", lambda: Ghost.query_by_primary_key("g"))
            step(f"{label}: search_all", lambda: Ghost.search_all("boo", concurrency=1))
            step(f"{label}: delete", lambda: Ghost.delete("g"))


def config(table: str, client: Any, wire_path: str, models: list) -> dict:
    return {"db": {"table_name": table}, "tenancy": {"enabled": True},
            "transport": {"wire": wire_path}, "client": client, "models": models}


@pytest.fixture(scope="module")
def runs(dynamodb_endpoint, dynamodb_client):
    """The sequence run on each wire path: ``{path: (recorder, table)}``."""
    missing = unique_table_name("parity-missing")
    made: list[str] = []
    results = {}
    try:
        for wire_path in ("fast", "boto3"):
            client = transport.make_client(endpoint_url=dynamodb_endpoint)
            table = unique_table_name(f"parity-{wire_path}")
            no_search = unique_table_name(f"parity-nosearch-{wire_path}")
            made += [table, no_search]
            manager = bao.init_models(config(table, client, wire_path, [Gadget, Part]))
            manager.create_table()
            transport.create_table(dynamodb_client, no_search, include_search_index=False)
            others = {
                "missing table": bao.init_models(config(missing, client, wire_path, [])),
                "missing index": bao.init_models(config(no_search, client, wire_path, [])),
            }
            assert wire.installed(manager.client) is (wire_path == "fast")
            rec = Recorder(client, [table, no_search, missing])
            run_sequence(rec, manager, others)
            results[wire_path] = (rec, table)
        yield results
    finally:
        for table in made:
            if transport.table_exists(dynamodb_client, table):
                transport.delete_table(dynamodb_client, table)


def test_both_wire_paths_give_the_same_results(runs):
    fast, boto3 = runs["fast"][0], runs["boto3"][0]
    assert [label for label, _ in fast.log] == [label for label, _ in boto3.log]
    for (label, fast_outcome), (_, boto3_outcome) in zip(fast.log, boto3.log, strict=True):
        assert fast_outcome == boto3_outcome, label
    assert fast.targets == boto3.targets


def test_the_fast_path_was_the_one_used(runs):
    fast, boto3 = runs["fast"][0], runs["boto3"][0]
    # On the fast path botocore only ever holds the routing parameters; on the other it holds
    # the whole request. Every data-plane operation kind went through each.
    used = {name for name, _ in fast.params_seen}
    assert used >= {"GetItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem",
                    "BatchWriteItem", "TransactWriteItems"}
    assert all(routing for _, routing in fast.params_seen)
    assert [name for name, _ in boto3.params_seen] == [name for name, _ in fast.params_seen]
    assert not any(routing for _, routing in boto3.params_seen)


def outcome(rec: Recorder, label: str) -> Any:
    return dict(rec.log)[label]


def test_the_outcomes_are_the_expected_ones(runs):
    """Parity alone would pass if both paths were wrong the same way: pin what they give."""
    rec = runs["fast"][0]
    created, sent = outcome(rec, "create unique")
    # a create with unique values is a transaction, then a consistent re-read (DESIGN §6.8)
    assert created[0] == "instance" and sent == ["TransactWriteItems", "GetItem"]
    assert outcome(rec, "create plain")[1] == ["UpdateItem"]  # conditional: never overwrites
    assert outcome(rec, "batch_put")[1] == ["BatchWriteItem"] * 5
    found, _ = outcome(rec, "find")
    values = dict(found[3][1])
    assert values[typed("price")] == typed(Decimal("1234.5600"))
    assert values[typed("blob")] == typed(bytes(range(256)))
    assert values[typed("labels")] == typed({"red", "é", "big"})
    # nested numbers read back as int or float (DESIGN §4); only DecimalFields are Decimal
    assert values[typed("info")] == typed({**GADGET["info"], "size": {"w": 3, "h": 2.5,
                                                                      "unit": "cm"}})
    assert values[typed("history")] == typed(GADGET["history"])
    assert outcome(rec, "find missing")[0][0] == "not found"
    batch, sent = outcome(rec, "batch_find")
    # 116 ids (parts 0..111 exist): two requests, the missing ids left out
    assert len(batch[1]) == 112 and sent == ["BatchGetItem", "BatchGetItem"]

    def error(label: str) -> tuple[str, str]:
        (kind, name, message), _ = outcome(rec, label)
        assert kind == "error", label
        return name, message

    assert error("update condition unmet")[0] == ConditionalError.__name__
    name, message = error("update unique collision")
    assert name == ConditionalError.__name__ and "email" in message
    assert error("create collision")[0] == ConditionalError.__name__
    assert error("update missing")[0] == "ItemNotFoundError"
    assert error("delete missing")[0] == "ItemNotFoundError"
    assert error("save condition unmet")[0] == ConditionalError.__name__
    for label in ("validation create", "validation update", "validation value"):
        assert error(label)[0] == ValidationError.__name__, label
        assert outcome(rec, label)[1] == [], label  # nothing was sent
    assert error("missing query index")[0] == "QueryError"
    for label in ("create", "find", "batch_find", "update", "query", "delete"):
        name, message = error(f"missing table: {label}")
        assert name == ConfigurationError.__name__ and "<table>" in message, (label, message)
    name, message = error("missing index: search_all")
    assert name == ConfigurationError.__name__ and "iter_search_index" in message
    assert outcome(rec, "missing index: find")[0][0] == "instance"
    pages_seen, _ = outcome(rec, "query primary key pages")
    sizes = [len(page[1]) for page in pages_seen]
    assert sum(sizes) == 36 and max(sizes) == 9  # parts 5..40, 9 per page
    assert outcome(rec, "query primary key count")[0][2] == 112  # parts 0..111
    assert outcome(rec, "count")[0][1] == 10
    assert outcome(rec, "search_all")[0][1] != []


def test_the_tables_hold_the_same_items(runs, dynamodb_endpoint):
    plain = transport.make_client(endpoint_url=dynamodb_endpoint)  # botocore parses the scan

    def stored(table: str) -> list:
        items = transport.scan_items(plain, table)
        return sorted((typed(item) for item in items), key=repr)

    fast, boto3 = stored(runs["fast"][1]), stored(runs["boto3"][1])
    assert len(fast) > 120  # gadgets, their unique rows, the parts
    assert fast == boto3


def test_cursors_continue_to_the_same_pages(runs):
    """Each page was fetched with the previous page's cursor; the pages (compared above)
    agree, every page but the last has a cursor (a string), and the walk ends with none."""
    for rec, _ in runs.values():
        for label in ("query pages", "query filter pages", "query primary key pages"):
            pages_seen, _ = outcome(rec, label)
            assert len(pages_seen) > 2, label
            assert all(isinstance(page[3], str) for page in pages_seen[:-1]), label
            assert pages_seen[-1][3] is None, label
