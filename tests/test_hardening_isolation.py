"""Isolation that survives a developer's mistakes (issue 13, items 1, 2, 5 and 7).

* An instance belongs to one tenant (``instance.tenant_id``): saving, updating or following its
  relations under another tenant is a ``TenantMismatchError`` before any request, and the other
  tenant's row is untouched.
* The batch context caches objects only under their own tenant; a write under one tenant never
  changes what another tenant's cache holds.
* Async iterators bind their tenant (and check their arguments) when called, as the sync ones do.
* Model prefixes starting with ``_`` (the library's own rows, such as ``_raft_uc``) are refused
  at class definition.

Requests are counted with a botocore ``before-send`` handler on the manager's own client, so
"refused before any request" means nothing reached the wire (retries included).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.batch import BatchContext
from dynamo_bao.exceptions import ConfigurationError, TenantMismatchError, TenantRequiredError
from dynamo_bao.yaml_models import models_from_definitions

from .conftest import unique_table_name


class HiDoc(bao.BaoModel):
    model_prefix = "hidoc"
    doc_id = fields.StringField(required=True)
    title = fields.StringField()
    views = fields.CounterField()
    email = fields.StringField()
    primary_key = bao.PrimaryKey("doc_id")
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True
    iteration_buckets = 2


class HiNote(bao.BaoModel):
    """No unique constraints: ``batch_put`` takes it."""

    model_prefix = "hinote"
    note_id = fields.StringField(required=True)
    text = fields.StringField()
    primary_key = bao.PrimaryKey("note_id")


class HiAuthor(bao.BaoModel):
    model_prefix = "hiauth"
    author_id = fields.StringField(required=True)
    name = fields.StringField()
    primary_key = bao.PrimaryKey("author_id")


class HiPost(bao.BaoModel):
    model_prefix = "hipost"
    post_id = fields.StringField(required=True)
    author_id = fields.RelatedField("HiAuthor", required=True)
    title = fields.StringField()
    primary_key = bao.PrimaryKey("post_id")
    indexes = {"postsForAuthor": bao.Index("author_id", "post_id", "gsi1")}


class HiTag(bao.BaoModel):
    model_prefix = "hitag"
    tag_id = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("tag_id")


class HiPostTag(bao.BaoModel):
    model_prefix = "hiptag"
    table_type = "mapping"
    post_id = fields.RelatedField("HiPost", required=True)
    tag_id = fields.RelatedField("HiTag", required=True)
    primary_key = bao.PrimaryKey("post_id", "tag_id")
    indexes = {"postsForTag": bao.Index("tag_id", "post_id", "gsi2")}


MODELS = [HiDoc, HiNote, HiAuthor, HiPost, HiTag, HiPostTag]


@pytest.fixture(scope="module")
def manager(dynamodb_endpoint):
    bao.TenantContext.clear_resolvers()
    # A client of this module's own: the request counter sees only these tests' requests.
    client = transport.make_client(endpoint_url=dynamodb_endpoint)
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("hardiso")},
        "tenancy": {"enabled": True},
        "models": MODELS,
        "client": client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def sent(manager) -> Iterator[list[str]]:
    """Every request the manager's client puts on the wire (``before-send``: retries too)."""
    requests: list[str] = []

    def record(request, **_):
        requests.append(request.headers.get("X-Amz-Target", b"?"))

    events = manager.client.meta.events
    events.register("before-send.dynamodb", record, unique_id="hardening-isolation-sent")
    yield requests
    events.unregister("before-send.dynamodb", unique_id="hardening-isolation-sent")


@pytest.fixture
def tenants(manager) -> tuple[str, str]:
    """Two fresh tenants: (acme, other)."""
    suffix = uuid.uuid4().hex[:8]
    return f"acme{suffix}", f"other{suffix}"


def in_tenant(tenant: str):
    return bao.TenantContext.tenant(tenant)


@contextlib.contextmanager
def nothing_sent(sent: list[str]) -> Iterator[None]:
    before = len(sent)
    yield
    assert sent[before:] == [], "a request was sent before refusing"


def _two_docs(acme: str, other: str, doc_id: str = "d1") -> None:
    with in_tenant(acme):
        HiDoc.create({"doc_id": doc_id, "title": "acme's", "views": 1})
    with in_tenant(other):
        HiDoc.create({"doc_id": doc_id, "title": "other's", "views": 1})


# --------------------------------------------------------------------------- item 1


def test_loaded_instance_saved_under_another_tenant_is_refused(manager, tenants, sent):
    acme, other = tenants
    _two_docs(acme, other)
    with in_tenant(acme):
        doc = HiDoc.find("d1")
    assert doc.tenant_id == acme
    doc.title = "hacked"
    with in_tenant(other), nothing_sent(sent):
        with pytest.raises(TenantMismatchError, match="HiDoc d1") as err:
            doc.save()
        assert acme in str(err.value) and other not in str(err.value)
        with pytest.raises(TenantMismatchError):
            asyncio.run(doc.asave())
    with in_tenant(other):
        stored = HiDoc.find("d1")
    assert stored.title == "other's" and stored.tenant_id == other
    # In its own tenant the same instance saves as usual.
    with in_tenant(acme):
        doc.save()
        assert HiDoc.find("d1").title == "hacked"


def test_unchanged_save_and_counter_update_under_another_tenant_are_refused(
    manager, tenants, sent
):
    acme, other = tenants
    _two_docs(acme, other)
    with in_tenant(acme):
        doc = HiDoc.find("d1")
    with in_tenant(other), nothing_sent(sent):
        with pytest.raises(TenantMismatchError):
            doc.save()  # nothing to send, but the mistake is refused all the same
        doc.views = "+1"
        with pytest.raises(TenantMismatchError):
            doc.save()
    with in_tenant(other):
        assert HiDoc.find("d1").views == 1
    with pytest.raises(TenantRequiredError), nothing_sent(sent):
        doc.save()  # no tenant at all: fails closed as every operation does


def test_constructed_instance_belongs_to_the_tenant_current_at_construction(
    manager, tenants, sent
):
    acme, other = tenants
    with in_tenant(acme):
        doc = HiDoc(doc_id="d2", title="new", email=f"{acme}@x.io")
    assert doc.tenant_id == acme
    with in_tenant(other), nothing_sent(sent):
        with pytest.raises(TenantMismatchError):
            doc.save()
    with in_tenant(other):
        assert not HiDoc.find("d2").exists()
        assert not HiDoc.find_by_email(f"{acme}@x.io").exists()
    with in_tenant(acme):
        doc.save()
        assert HiDoc.find("d2").exists()
    assert doc.tenant_id == acme
    # Without any tenant the instance has none (and saving it under tenancy is refused).
    loose = HiDoc(doc_id="d3")
    assert loose.tenant_id is None
    with in_tenant(acme), nothing_sent(sent):
        with pytest.raises(TenantMismatchError):
            loose.save()


def test_tenant_id_is_read_only_and_set_by_every_read(manager, tenants):
    acme, other = tenants
    _two_docs(acme, other)
    with in_tenant(acme):
        created = HiDoc.create({"doc_id": "d4", "email": f"d4{acme}@x.io"})
        found = HiDoc.find("d1")
        readers = [
            created,
            found,
            HiDoc.batch_find(["d1", "d4"])["d4"],
            HiDoc.find_by_email(f"d4{acme}@x.io"),
            HiDoc.update("d1", {"title": "t"}),
            *[doc for batch in HiDoc.iterate_all() for doc in batch],
        ]
        with bao.batch_context():
            readers.append(asyncio.run(HiDoc.afind("d4")))
    assert {doc.tenant_id for doc in readers} == {acme}
    with pytest.raises(AttributeError):
        found.tenant_id = other
    with in_tenant(other):
        theirs = HiDoc.find("d1")
    # Equality includes the tenant: the same values in two tenants are two different items.
    with in_tenant(acme):
        mine = HiDoc.find("d1")
        mine_too = HiDoc.find("d1")
    theirs._data = dict(mine._data)
    assert mine == mine_too and mine != theirs


def test_batch_put_of_an_instance_built_under_another_tenant_is_refused(manager, tenants, sent):
    acme, other = tenants
    with in_tenant(acme):
        note = HiNote(note_id="n1", text="acme's")
    with in_tenant(other), nothing_sent(sent):
        with pytest.raises(TenantMismatchError):
            HiNote.batch_put([{"note_id": "n0"}, note])
    with in_tenant(other):
        assert not HiNote.find("n1").exists() and not HiNote.find("n0").exists()
    with in_tenant(acme):
        (stored,) = HiNote.batch_put([note])
        assert stored.tenant_id == acme and HiNote.find("n1").text == "acme's"


# --------------------------------------------------------------------------- relation helpers


def _blog(tenant: str) -> None:
    with in_tenant(tenant):
        HiAuthor.create({"author_id": "a1", "name": f"{tenant}'s author"})
        HiPost.create({"post_id": "p1", "author_id": "a1", "title": f"{tenant}'s post"})
        HiTag.create({"tag_id": "g1"})
        HiPostTag.create({"post_id": "p1", "tag_id": "g1"})


def test_relation_helpers_under_another_tenant_are_refused(manager, tenants, sent):
    acme, other = tenants
    _blog(acme)
    _blog(other)
    with in_tenant(acme):
        post, author, tag = HiPost.find("p1"), HiAuthor.find("a1"), HiTag.find("g1")
    helpers = {
        "get_related": lambda: post.get_related("author_id"),
        "get_author": post.get_author,
        "aget_author": lambda: asyncio.run(post.aget_author()),
        "load_related_data": post.load_related_data,
        "aload_related_data": lambda: asyncio.run(post.aload_related_data()),
        "query_posts": author.query_posts,
        "aquery_posts": lambda: asyncio.run(author.aquery_posts()),
        "get_posts (mapping)": tag.get_posts,
        "query_posts (mapping rows)": tag.query_posts,
    }
    with in_tenant(other), nothing_sent(sent):
        for name, helper in helpers.items():
            with pytest.raises(TenantMismatchError):
                helper()
                pytest.fail(f"{name} ran under another tenant")
    with in_tenant(acme):
        assert post.get_author().name == f"{acme}'s author"
        assert [p.title for p in tag.get_posts().items] == [f"{acme}'s post"]
        assert [p.post_id for p in author.query_posts().items] == ["p1"]


# --------------------------------------------------------------------------- item 2


def test_batch_context_never_hands_one_tenants_object_to_another(manager, tenants, sent):
    acme, other = tenants
    _two_docs(acme, other)
    with bao.batch_context():
        with in_tenant(acme):
            doc = HiDoc.find("d1")
        with in_tenant(other):
            doc.title = "edited under other"
            with nothing_sent(sent), pytest.raises(TenantMismatchError):
                doc.save()
            theirs = HiDoc.find("d1")
            assert theirs is not doc and theirs.title == "other's"
            assert theirs.tenant_id == other
        with in_tenant(acme), nothing_sent(sent):
            again = HiDoc.find("d1")  # acme's own cached object, no request
        assert again is doc and again.tenant_id == acme
        with in_tenant(other), nothing_sent(sent):
            assert HiDoc.find("d1") is theirs
    with in_tenant(other):
        assert HiDoc.find("d1").title == "other's"


def test_the_cache_keeps_objects_under_their_own_tenant(manager, tenants):
    acme, other = tenants
    _two_docs(acme, other)
    with in_tenant(acme):
        mine = HiDoc.find("d1")
    with in_tenant(other):
        theirs = HiDoc.find("d1")
    context = BatchContext()
    context.remember_written(manager, other, HiDoc, "d1", theirs)
    # save() puts the saved object where its write was cached: never into another tenant's slot.
    context.replace(theirs, mine)
    assert context.lookup(manager, other, HiDoc, "d1") is theirs
    assert context.lookup(manager, acme, HiDoc, "d1") is bao.batch.MISSING
    for remember in (context.remember, context.remember_written):
        with pytest.raises(TenantMismatchError):
            remember(manager, other, HiDoc, "d1", mine)
    assert context.lookup(manager, other, HiDoc, "d1") is theirs


# --------------------------------------------------------------------------- item 5


def test_async_iterators_bind_their_tenant_at_the_call(manager, tenants, sent):
    acme, other = tenants
    with in_tenant(acme):
        HiDoc.create({"doc_id": "only-acme", "title": "acme's"})
    with in_tenant(other):
        HiDoc.create({"doc_id": "only-other", "title": "other's"})
    with in_tenant(acme):
        iterators = [HiDoc.aiterate_all(batch_size=1), HiDoc.aiterate_bucket(0, batch_size=1),
                     HiDoc.aiterate_bucket(1, batch_size=1)]

    async def consume() -> list[list[str]]:
        seen: list[list[str]] = []
        with in_tenant(other):
            for iterator in iterators:
                seen.append([doc.doc_id async for batch in iterator for doc in batch])
        return seen

    everything, bucket0, bucket1 = asyncio.run(consume())
    assert everything == ["only-acme"] and sorted(bucket0 + bucket1) == ["only-acme"]
    # Argument errors and a missing tenant come at the call, as with the sync iterator.
    with nothing_sent(sent):
        with pytest.raises(TenantRequiredError):
            HiDoc.aiterate_all()
        with in_tenant(acme), pytest.raises(bao.ValidationError):
            HiDoc.aiterate_all(batch_size=0)


# --------------------------------------------------------------------------- item 7


@pytest.mark.parametrize("prefix", ["_raft_uc", "_x", "_"])
def test_a_prefix_of_the_librarys_reserved_rows_is_refused(prefix):
    with pytest.raises(ConfigurationError, match="underscore"):
        type("Reserved", (bao.BaoModel,), {
            "model_prefix": prefix,
            "thing_id": fields.StringField(required=True),
            "primary_key": bao.PrimaryKey("thing_id"),
        })
    with pytest.raises(ConfigurationError, match="underscore"):
        models_from_definitions({"Reserved": {
            "modelPrefix": prefix,
            "fields": {"thingId": {"type": "StringField", "required": True}},
            "primaryKey": {"partitionKey": "thingId"},
        }})


def test_an_underscore_inside_a_prefix_is_still_allowed():
    model = type("Inner", (bao.BaoModel,), {
        "model_prefix": "a_b",
        "thing_id": fields.StringField(required=True),
        "primary_key": bao.PrimaryKey("thing_id"),
    })
    assert model._schema.prefix == "a_b"
