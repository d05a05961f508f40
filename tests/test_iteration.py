"""Iteration and counting on the embedded server: every item of a tenant exactly once (and no
other tenant's), pages and buckets, index order within a page, filters on any field (checked
against DynamoDB's own evaluation of the same filter), bounded concurrency, ``count`` and
``count_only`` over every page, and the errors — raised before any request is sent."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest

import dynamo_bao as bao
from dynamo_bao import core, fields, transport
from dynamo_bao.exceptions import ConfigurationError, TenantRequiredError, ValidationError
from dynamo_bao.iteration import CountResult

from .conftest import unique_table_name

BUCKETS = 4


class Gadget(bao.BaoModel):
    model_prefix = "gdg"
    gadget_id = fields.UlidField(auto_assign=True)
    name = fields.StringField(required=True)
    status = fields.StringField(default="active")
    weight = fields.IntegerField()
    tags = fields.StringSetField()
    primary_key = bao.PrimaryKey("gadget_id")
    # Every gadget in one GSI partition: DynamoDB evaluates filters there, for comparison.
    indexes = {"all": bao.Index("modelPrefix", "name", "gsi1")}
    iterable = True
    iteration_buckets = BUCKETS


class Widget(bao.BaoModel):
    model_prefix = "wdg"
    widget_id = fields.UlidField(auto_assign=True)
    name = fields.StringField()
    primary_key = bao.PrimaryKey("widget_id")
    iterable = True
    iteration_buckets = 1


class Plain(bao.BaoModel):
    model_prefix = "pln"
    plain_id = fields.UlidField(auto_assign=True)
    primary_key = bao.PrimaryKey("plain_id")


ACME_GADGETS = [
    {"name": "anvil", "status": "active", "weight": 50, "tags": {"heavy", "metal"}},
    {"name": "balloon", "status": "active", "weight": 1, "tags": {"light"}},
    {"name": "bolt", "status": "archived", "weight": 2},
    {"name": "cable", "status": "active"},
    {"name": "drill", "status": "broken", "weight": 7, "tags": {"metal", "power"}},
    {"name": "eraser", "status": "archived", "weight": 0, "tags": {"light"}},
    {"name": "fan", "status": "active", "weight": 4, "tags": {"power"}},
    {"name": "gear", "status": "active", "weight": 3, "tags": {"metal"}},
    {"name": "hammer", "status": "broken", "weight": 12, "tags": {"heavy", "metal", "tool"}},
    {"name": "ink", "status": "active", "weight": 1},
    {"name": "jack", "status": "archived", "weight": 30, "tags": {"heavy", "tool"}},
]


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("iter")},
        "tenancy": {"enabled": True},
        "models": [Gadget, Widget, Plain],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture(scope="module")
def gadgets(manager):
    """The ids of the gadgets created in tenants acme and globex."""
    with bao.TenantContext.tenant("acme"):
        acme = [Gadget.create(data).primary_id for data in ACME_GADGETS]
    with bao.TenantContext.tenant("globex"):
        globex = [Gadget.create({"name": f"g{i}", "weight": i}).primary_id for i in range(3)]
    return {"acme": acme, "globex": globex}


@contextlib.contextmanager
def recorded(client, event="before-send.dynamodb"):
    """The requests sent by the block (botocore's own hook; nothing of ours is replaced)."""
    sent: list = []

    def record(request=None, **_):
        sent.append(request)

    client.meta.events.register(event, record)
    try:
        yield sent
    finally:
        client.meta.events.unregister(event, record)


def _operations(requests) -> Counter:
    return Counter(r.headers["X-Amz-Target"].decode().split(".")[-1] for r in requests)


@contextlib.contextmanager
def query_pages_of(client, size):
    """Make every Query page hold at most ``size`` items, so small tables still span several
    pages. The ``Limit`` is set where the library hands a request to its transport, so it
    holds on both wire paths (on the fast path botocore never sees the real parameters)."""
    send = transport.send

    def limited(to, operation, params, schema=None):
        if operation == "Query" and to is client:
            params = {**params, "Limit": min(size, params.get("Limit", size))}
        return send(to, operation, params, schema)

    transport.send = limited
    try:
        yield
    finally:
        transport.send = send


def _ids(batches) -> list[str]:
    return [item.primary_id for batch in batches for item in batch]


def test_each_tenant_iterates_only_its_own_items(manager, gadgets):
    for tenant, ids in gadgets.items():
        with bao.TenantContext.tenant(tenant):
            found = _ids(Gadget.iterate_all())
        assert sorted(found) == sorted(ids)
        assert len(found) == len(set(found))
    with bao.TenantContext.tenant("initech"):
        assert list(Gadget.iterate_all()) == []


def test_iteration_without_a_tenant_fails_before_any_request(manager, gadgets):
    with recorded(manager.client) as sent:
        with pytest.raises(TenantRequiredError):
            Gadget.iterate_all()
        with pytest.raises(TenantRequiredError):
            Gadget.count()
    assert sent == []


def test_tenant_is_fixed_when_the_iteration_starts(manager, gadgets):
    with bao.TenantContext.tenant("acme"):
        walk = Gadget.iterate_all(batch_size=2)
    with bao.TenantContext.tenant("globex"):
        found = _ids(walk)  # consumed in another tenant: still acme's walk
    assert sorted(found) == sorted(gadgets["acme"])


def test_small_batches_page_through_every_bucket_in_index_order(manager, gadgets):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        batches = list(Gadget.iterate_all(batch_size=2))
    found = _ids(batches)
    assert sorted(found) == sorted(gadgets["acme"]) and len(found) == len(set(found))
    assert all(0 < len(batch) <= 2 for batch in batches)
    for batch in batches:
        ids = [item.primary_id for item in batch]
        assert len({core.iteration_bucket(i, BUCKETS) for i in ids}) == 1  # one bucket a page
        assert ids == sorted(ids)  # the index's order, not BatchGet's
    # Buckets are walked in order.
    buckets = [core.iteration_bucket(batch[0].primary_id, BUCKETS) for batch in batches]
    assert buckets == sorted(buckets)
    per_bucket = Counter(core.iteration_bucket(i, BUCKETS) for i in gadgets["acme"])
    pages = sum(-(-n // 2) for n in per_bucket.values()) + BUCKETS - len(per_bucket)
    assert _operations(sent)["Query"] >= pages


def test_iterate_bucket(manager, gadgets):
    seen = []
    with bao.TenantContext.tenant("acme"):
        for bucket in range(BUCKETS):
            ids = _ids(Gadget.iterate_bucket(bucket, batch_size=3))
            assert all(core.iteration_bucket(i, BUCKETS) == bucket for i in ids)
            seen.extend(ids)
    assert sorted(seen) == sorted(gadgets["acme"])


def test_one_bucket_model(manager):
    with bao.TenantContext.tenant("wtenant"):
        ids = {Widget.create({"name": f"w{i}"}).primary_id for i in range(5)}
        assert set(_ids(Widget.iterate_all(batch_size=2))) == ids
        assert set(_ids(Widget.iterate_bucket(0))) == ids
        assert Widget.count().count == 5


def test_concurrent_bucket_walk_in_the_callers_tenant(manager, gadgets):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        batches = list(Gadget.iterate_all(batch_size=2, concurrency=3))
    found = _ids(batches)
    assert sorted(found) == sorted(gadgets["acme"]) and len(found) == len(set(found))
    # Every request carried acme's partition (the workers ran in the caller's tenant).
    queries = [r.body for r in sent if b"Query" in r.headers["X-Amz-Target"]]
    assert queries and all(b"[acme]#gdg#iter#" in body for body in queries)


def test_deleted_items_vanish_and_empty_batches_are_skipped(manager):
    with bao.TenantContext.tenant("deltenant"):
        ids = [Gadget.create({"name": f"d{i}"}).primary_id for i in range(6)]
        for primary_id in ids[:4]:
            Gadget.delete(primary_id)
        batches = list(Gadget.iterate_all(batch_size=1))
    assert all(batches)
    assert sorted(_ids(batches)) == sorted(ids[4:])


FILTERS = [
    {"status": "active"},
    {"status": {"$ne": "active"}},
    {"weight": {"$ne": 1}},  # true where there is no weight
    {"weight": {"$gt": 3}},
    {"weight": {"$lte": 2}},
    {"weight": {"$in": [1, 2, 3]}},
    {"weight": None},
    {"weight": {"$exists": True}, "status": "active"},
    {"tags": {"$contains": "metal"}},
    # (moto fails on size() of a missing attribute, so only items that have tags)
    {"$and": [{"tags": {"$exists": True}}, {"tags": {"$size": {"$gt": 1}}}]},
    {"name": {"$beginsWith": "b"}},
    {"$or": [{"status": "broken"}, {"weight": {"$gte": 30}}]},
    {"$not": {"status": "active", "weight": {"$lt": 3}}},
    {"$and": [{"tags": {"$exists": False}}, {"status": {"$ne": "archived"}}]},
]


@pytest.mark.parametrize("dsl", FILTERS, ids=[str(f) for f in FILTERS])
def test_filters_match_what_dynamodb_evaluates(manager, gadgets, dsl):
    with bao.TenantContext.tenant("acme"):
        ours = sorted(_ids(Gadget.iterate_all(filter=dsl, batch_size=3)))
        # The same filter evaluated by the server, on a GSI that holds every attribute.
        server = sorted(
            item.primary_id for item in Gadget.query_by_index("all", "gdg", filter=dsl).items
        )
        assert ours == server
        assert Gadget.count(filter=dsl).count == len(server)


def test_filter_selects_expected_items(manager, gadgets):
    with bao.TenantContext.tenant("acme"):
        names = {g.name for g in _flatten(Gadget.iterate_all(filter={"status": "archived"}))}
        assert names == {"bolt", "eraser", "jack"}
        heavy = {g.name for g in _flatten(Gadget.iterate_all(filter={"weight": {"$gte": 12}}))}
        assert heavy == {"anvil", "hammer", "jack"}


def _flatten(batches):
    return [item for batch in batches for item in batch]


def test_count_over_every_bucket_and_page(manager, gadgets):
    with bao.TenantContext.tenant("acme"), query_pages_of(manager.client, 1):
        with recorded(manager.client) as sent:
            result = Gadget.count()
    assert isinstance(result, CountResult)
    assert result.count == len(gadgets["acme"])
    # One page per item plus an empty last page per bucket at most: many more than buckets.
    assert _operations(sent)["Query"] >= len(gadgets["acme"])
    assert len(result.consumed_capacity) == _operations(sent)["Query"]
    with bao.TenantContext.tenant("globex"):
        assert Gadget.count().count == len(gadgets["globex"])
        assert Gadget.count(concurrency=4).count == len(gadgets["globex"])
    with bao.TenantContext.tenant("nobody"):
        assert Gadget.count().count == 0
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        assert Gadget.count(filter={}).count == len(gadgets["acme"])
    assert set(_operations(sent)) == {"Query"}  # no filter: nothing read but the index


def test_count_with_filter_reads_the_items(manager, gadgets):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        result = Gadget.count(filter={"status": "active"})
    assert result.count == sum(1 for g in ACME_GADGETS if g["status"] == "active")
    assert _operations(sent)["BatchGetItem"] >= 1
    assert result.consumed_capacity


def test_count_only_counts_every_page_unless_limit(manager, gadgets):
    total = len(gadgets["acme"])
    with bao.TenantContext.tenant("acme"), query_pages_of(manager.client, 2):
        with recorded(manager.client) as sent:
            result = Gadget.query_by_index("all", "gdg", count_only=True)
        assert result.count == total
        assert _operations(sent)["Query"] >= total // 2
        assert result.last_evaluated_key is None
        limited = Gadget.query_by_index("all", "gdg", count_only=True, limit=2)
        assert limited.count == 2 and limited.last_evaluated_key is not None
        filtered = Gadget.query_by_index("all", "gdg", count_only=True, filter={"weight": 1})
        assert filtered.count == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: Gadget.iterate_bucket(BUCKETS),
        lambda: Gadget.iterate_bucket(-1),
        lambda: Gadget.iterate_bucket(True),
        lambda: Gadget.iterate_bucket("1"),
        lambda: Gadget.iterate_all(batch_size=0),
        lambda: Gadget.iterate_all(batch_size=2.5),
        lambda: Gadget.iterate_all(concurrency=0),
        lambda: Gadget.iterate_all(concurrency=1000),
        lambda: Gadget.count(concurrency=0),
    ],
)
def test_bad_arguments_are_validation_errors_before_any_request(manager, call):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        with pytest.raises(ValidationError):
            call()
    assert sent == []


def test_unknown_filter_field_is_a_query_error(manager):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        with pytest.raises(bao.QueryError, match="Unknown field in filter: colour"):
            Gadget.iterate_all(filter={"colour": "red"})
    assert sent == []


def test_models_that_are_not_iterable(manager):
    with bao.TenantContext.tenant("acme"), recorded(manager.client) as sent:
        for call in (Plain.iterate_all, Plain.count, lambda: Plain.iterate_bucket(0)):
            with pytest.raises(ConfigurationError, match="not configured as iterable"):
                call()
    assert sent == []


def test_missing_iteration_index_says_to_update_the_table(dynamodb_client):
    class Lonely(bao.BaoModel):
        model_prefix = "lon"
        lonely_id = fields.UlidField(auto_assign=True)
        primary_key = bao.PrimaryKey("lonely_id")
        iterable = True

    table = unique_table_name("noiter")
    dynamodb_client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "_pk", "AttributeType": "S"},
            {"AttributeName": "_sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "_pk", "KeyType": "HASH"},
            {"AttributeName": "_sk", "KeyType": "RANGE"},
        ],
    )
    try:
        bao.init_models({
            "db": {"table_name": table}, "models": [Lonely], "client": dynamodb_client,
        })
        with pytest.raises(ConfigurationError, match="iter_index.*bao update-table"):
            list(Lonely.iterate_all())
        with pytest.raises(ConfigurationError, match="bao update-table"):
            Lonely.count()
    finally:
        dynamodb_client.delete_table(TableName=table)
