"""Relationships on the embedded server: related-object caching and batched loads, 1:N query
helpers, N:M mapping models in both directions with paging, ``load_related`` on queries
(requests counted with a botocore ``before-call`` handler: one BatchGetItem per page and target
model), dangling ids, tenant isolation, helper names and their collisions, and composite ids
inside RelatedFields (DESIGN §6.4)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

import dynamo_bao as bao
from dynamo_bao import fields
from dynamo_bao.exceptions import (
    ConfigurationError,
    QueryError,
    TenantMismatchError,
    TenantRequiredError,
)
from dynamo_bao.query import ObjectNotFound
from dynamo_bao.relations import helper_base, related_base, snake_case

from .conftest import unique_table_name


class Author(bao.BaoModel):
    model_prefix = "rau"
    author_id = fields.UlidField(auto_assign=True)
    name = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("author_id")


class Post(bao.BaoModel):
    model_prefix = "rpo"
    post_id = fields.StringField(required=True)
    author_id = fields.RelatedField(Author, required=True)
    editor_id = fields.RelatedField("Author")
    title = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("post_id")
    indexes = {
        "postsForAuthor": bao.Index("author_id", "post_id", "gsi1"),
        "allPosts": bao.Index("modelPrefix", "post_id", "gsi2"),
    }


class Comment(bao.BaoModel):
    """A child by its primary key, without an alias index: ``post.query_comments()``."""

    model_prefix = "rco"
    post_id = fields.RelatedField("Post", required=True)
    comment_id = fields.StringField(required=True)
    text = fields.StringField()
    primary_key = bao.PrimaryKey("post_id", "comment_id")


class Tag(bao.BaoModel):
    model_prefix = "rtg"
    tag_id = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("tag_id")


class PostTag(bao.BaoModel):
    model_prefix = "rpt"
    table_type = "mapping"
    post_id = fields.RelatedField("Post", required=True)
    tag_id = fields.RelatedField("Tag", required=True)
    primary_key = bao.PrimaryKey("post_id", "tag_id")
    indexes = {
        "tagsForPost": bao.PrimaryKey("post_id", "tag_id"),
        "postsForTag": bao.Index("tag_id", "post_id", "gsi3"),
    }


class Like(bao.BaoModel):
    """A mapping whose sort key is a composite id (a Comment's ``post##__SK__##comment``)."""

    model_prefix = "rlk"
    table_type = "mapping"
    author_id = fields.RelatedField("Author", required=True)
    comment_id = fields.RelatedField("Comment", required=True)
    primary_key = bao.PrimaryKey("author_id", "comment_id")
    indexes = {
        "likedCommentsForAuthor": bao.PrimaryKey("author_id", "comment_id"),
        "likersForComment": bao.Index("comment_id", "author_id", "gsi4"),
    }


class Bookmark(bao.BaoModel):
    """A mapping model without an alias index: its primary key serves ``get_bookmarks()``."""

    model_prefix = "rbm"
    table_type = "mapping"
    author_id = fields.RelatedField("Author", required=True)
    post_id = fields.RelatedField("Post", required=True)
    primary_key = bao.PrimaryKey("author_id", "post_id")


MODELS = [Author, Post, Comment, Tag, PostTag, Like, Bookmark]


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    table = unique_table_name("relations")
    manager = bao.init_models({
        "db": {"table_name": table},
        "tenancy": {"enabled": True},
        "models": MODELS,
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager):
    """A fresh tenant per test, entered for the test's duration."""
    tenant_id = f"t{uuid.uuid4().hex[:12]}"
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id


@pytest.fixture
def calls(manager):
    """The names of the DynamoDB operations sent through the manager's client."""
    sent: list[str] = []

    def record(model, **_):
        sent.append(model.name)

    events = manager.client.meta.events
    events.register("before-call.dynamodb", record, unique_id="test-relationships-calls")
    yield sent
    events.unregister("before-call.dynamodb", unique_id="test-relationships-calls")


def _blog():
    """Three authors, five posts (one with an editor), three tags and their mapping rows."""
    ada, bob, cy = (Author.create({"name": n}) for n in ("Ada", "Bob", "Cy"))
    posts = [
        Post.create({"post_id": f"p{i}", "author_id": author, "title": f"Post {i}"})
        for i, author in enumerate([ada, bob, ada, cy, ada])
    ]
    Post.update("p0", {"editor_id": bob.primary_id})
    tags = [Tag.create({"tag_id": t}) for t in ("db", "py", "rust")]
    for post_id, tag_id in [("p0", "py"), ("p0", "db"), ("p1", "py"), ("p2", "py"),
                            ("p3", "py"), ("p4", "rust"), ("p4", "py")]:
        PostTag.create({"post_id": post_id, "tag_id": tag_id})
    return (ada, bob, cy), posts, tags


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "snake"), [
    ("postsForUser", "posts_for_user"),
    ("byHTTPStatus", "by_http_status"),
    ("already_snake", "already_snake"),
    ("orgsByName2", "orgs_by_name_2"),
    ("linksToTicket", "links_to_ticket"),
])
def test_snake_case(name, snake):
    assert snake_case(name) == snake


@pytest.mark.parametrize(("index", "base"), [
    ("postsForUser", "posts"),
    ("posts_for_user", "posts"),
    ("recentPostsForTag", "recent_posts"),
    ("documentsByCreator", "documents_by_creator"),
    ("byFormat", "by_format"),  # DynamoBao cuts at the substring "For": "by"
    ("forAll", "for_all"),
    ("linksFromTicket", "links_from_ticket"),
])
def test_helper_base(index, base):
    assert helper_base(index) == base


@pytest.mark.parametrize(("field", "base"), [
    ("org_id", "org"), ("orgId", "org"), ("createdBy", "created_by"), ("fromTicketId",
                                                                       "from_ticket"),
    ("id", "id"),
])
def test_related_base(field, base):
    assert related_base(field) == base


def test_generated_helpers(manager):
    assert callable(Author.query_posts) and callable(Author.query_liked_comments)
    assert callable(Author.get_liked_comments)
    assert callable(Post.query_comments) and callable(Post.query_tags)
    assert callable(Post.get_tags) and callable(Post.get_author) and callable(Post.get_editor)
    assert callable(Tag.query_posts) and callable(Tag.get_posts)
    assert callable(Comment.query_likers) and callable(Comment.get_likers)
    assert callable(Like.get_author) and callable(Like.get_comment)
    assert callable(Post.query_all_posts)
    assert not hasattr(Author, "get_posts")  # Post is no mapping model


def test_compat_models_helpers():
    """The golden data's models (spec §8.2 names, in snake_case)."""
    from .compat_data import COMPAT

    models = bao.init_models({"db": {"table_name": "unused"},
                              "models": str(COMPAT / "models.yaml")}).models
    org, member, ticket = models["Org"], models["Member"], models["Ticket"]
    for cls, names in [
        (org, ["query_members", "query_members_by_score", "query_tickets",
               "query_orgs_by_name", "find_by_slug"]),
        (member, ["get_org", "query_tickets", "get_tickets", "query_members_by_logins",
                  "find_by_email", "find_by_handle"]),
        (ticket, ["get_org", "get_assignee", "query_watchers", "get_watchers",
                  "query_links_from_ticket", "get_links_from_ticket", "query_links_to_ticket",
                  "get_links_to_ticket", "find_by_external_ref"]),
    ]:
        for name in names:
            assert callable(getattr(cls, name)), f"{cls.__name__}.{name}"


# -- instances: cache and load_related_data --------------------------------------------------


def test_related_cache(manager, tenant, calls):
    (ada, bob, _), _, _ = _blog()
    post = Post.find("p0")
    calls.clear()
    author = post.get_author()
    assert author.name == "Ada" and calls == ["GetItem"]
    assert post.get_author() is author and post.get_related("author_id") is author
    assert calls == ["GetItem"]  # cached
    post.author_id = bob
    assert post.get_author().name == "Bob"  # another id: read again
    post.clear_related_cache("author_id")
    assert post.get_author().name == "Bob" and calls == ["GetItem"] * 3
    post.clear_related_cache()
    post.get_author()
    assert len(calls) == 4
    assert Post.find("p1").get_editor() is None  # empty field: no request
    assert len(calls) == 5
    with pytest.raises(ConfigurationError):
        post.get_related("title")
    with pytest.raises(ConfigurationError):
        post.clear_related_cache("nope")


def test_load_related_data_one_batch_per_target_model(manager, tenant, calls):
    _blog()
    post = Post.find("p0")
    link = PostTag.find("p0##__SK__##py")
    calls.clear()
    assert post.load_related_data() is post
    assert calls == ["BatchGetItem"]  # author and editor are both Authors: one read
    assert (post.get_author().name, post.get_editor().name) == ("Ada", "Bob")
    assert calls == ["BatchGetItem"]
    post.load_related_data(["author_id"])  # already cached
    assert calls == ["BatchGetItem"]
    link.load_related_data()
    assert sorted(calls) == ["BatchGetItem"] * 3  # Post and Tag: one read each
    assert (link.get_post().title, link.get_tag().tag_id) == ("Post 0", "py")
    calls.clear()
    for names in (["nope"], ["title"], "author_id"):
        with pytest.raises(ConfigurationError):
            post.load_related_data(names)
    assert calls == []


# -- 1:N --------------------------------------------------------------------------------------


def test_one_to_many(manager, tenant):
    (ada, bob, cy), _, _ = _blog()
    assert [p.post_id for p in ada.query_posts().items] == ["p0", "p2", "p4"]
    assert [p.post_id for p in ada.query_posts(direction="DESC").items] == ["p4", "p2", "p0"]
    assert [p.post_id for p in ada.query_posts({"post_id": {"$gt": "p0"}}).items] == [
        "p2", "p4"]
    first = ada.query_posts(limit=2)
    assert [p.post_id for p in first.items] == ["p0", "p2"]
    rest = ada.query_posts(limit=2, start_key=first.last_evaluated_key)
    assert [p.post_id for p in rest.items] == ["p4"]
    assert [p.post_id for p in cy.query_posts().items] == ["p3"]
    assert [p.post_id for p in Post.query_all_posts().items] == ["p0", "p1", "p2", "p3", "p4"]
    Comment.create({"post_id": "p0", "comment_id": "c2", "text": "second"})
    Comment.create({"post_id": "p0", "comment_id": "c1", "text": "first"})
    Comment.create({"post_id": "p1", "comment_id": "c1", "text": "elsewhere"})
    post = Post.find("p0")
    assert [c.text for c in post.query_comments().items] == ["first", "second"]
    assert post.query_comments(count_only=True).count == 2


# -- load_related on queries -------------------------------------------------------------------


def test_query_load_related_batches_per_page(manager, tenant, calls):
    _blog()
    calls.clear()
    page = Post.query_all_posts(limit=3, load_related=True)
    assert calls == ["Query", "BatchGetItem"]
    assert [p.get_author().name for p in page.items] == ["Ada", "Bob", "Ada"]
    assert page.items[0].get_editor().name == "Bob"
    assert page.items[0].get_author() is page.items[2].get_author()  # one object per id
    assert calls == ["Query", "BatchGetItem"]  # all cached
    page = Post.query_all_posts(limit=3, start_key=page.last_evaluated_key, load_related=True,
                                related_fields=["author_id"])
    assert [p.get_author().name for p in page.items] == ["Cy", "Ada"]
    assert calls == ["Query", "BatchGetItem"] * 2
    calls.clear()
    rows = PostTag.query_by_primary_key("p0", load_related=True)
    assert Counter(calls) == {"Query": 1, "BatchGetItem": 2}  # Post and Tag
    assert [(r.get_post().title, r.get_tag().tag_id) for r in rows.items] == [
        ("Post 0", "db"), ("Post 0", "py")]
    assert Counter(calls) == {"Query": 1, "BatchGetItem": 2}


def test_query_related_options_checked_before_any_request(manager, tenant, calls):
    for options, error in [
        ({"related_only": True}, QueryError),
        ({"related_fields": ["author_id"]}, QueryError),
        ({"load_related": True, "related_only": True}, QueryError),  # two related fields
        ({"load_related": True, "related_fields": ["nope"]}, ConfigurationError),
        ({"load_related": True, "related_fields": ["title"]}, ConfigurationError),
        ({"load_related": True, "count_only": True}, QueryError),
    ]:
        with pytest.raises(error):
            Post.query_all_posts(**options)
    with pytest.raises(ConfigurationError):
        PostTag.get_related_objects_via_map("postsForTag", "py", "nope")
    assert calls == []


# -- N:M ---------------------------------------------------------------------------------------


def test_many_to_many_both_directions_with_paging(manager, tenant, calls):
    _, _, (db, py, rust) = _blog()
    calls.clear()
    first = py.get_posts(limit=2)
    assert [p.post_id for p in first.items] == ["p0", "p1"]
    assert all(isinstance(p, Post) for p in first.items)
    assert calls == ["Query", "BatchGetItem"]
    second = py.get_posts(None, 2, "ASC", first.last_evaluated_key)
    assert [p.post_id for p in second.items] == ["p2", "p3"]
    third = py.get_posts(limit=2, start_key=second.last_evaluated_key)
    assert [p.post_id for p in third.items] == ["p4"]
    assert third.last_evaluated_key is None
    assert calls == ["Query", "BatchGetItem"] * 3
    assert [p.post_id for p in py.get_posts(direction="DESC", limit=2).items] == ["p4", "p3"]
    assert [p.post_id for p in py.get_posts({"post_id": {"$between": ["p1", "p3"]}}).items] == [
        "p1", "p2", "p3"]
    post = Post.find("p4")
    assert [t.tag_id for t in post.get_tags().items] == ["py", "rust"]
    assert [t.tag_id for t in post.get_tags(direction="DESC").items] == ["rust", "py"]
    assert [t.tag_id for t in Post.find("p0").get_tags(limit=1).items] == ["db"]
    assert [p.post_id for p in db.get_posts().items] == ["p0"]
    # The mapping rows themselves: the query_ variant, with related loads cached on them.
    rows = rust.query_posts(load_related=True)
    assert [(r.post_id, r.get_post().title) for r in rows.items] == [("p4", "Post 4")]


def test_mapping_by_its_primary_key_without_an_alias(manager, tenant, calls):
    (ada, bob, _), _, _ = _blog()
    for post_id in ("p3", "p1"):
        Bookmark.create({"author_id": ada, "post_id": post_id})
    calls.clear()
    assert [p.title for p in ada.get_bookmarks().items] == ["Post 1", "Post 3"]
    assert calls == ["Query", "BatchGetItem"]
    assert [p.post_id for p in ada.get_bookmarks(limit=1, direction="DESC").items] == ["p3"]
    assert [b.post_id for b in ada.query_bookmarks().items] == ["p1", "p3"]
    calls.clear()
    assert bob.get_bookmarks().items == [] and calls == ["Query"]


def test_dangling_ids_are_object_not_found_in_place(manager, tenant):
    _, _, (_, py, _) = _blog()
    Post.delete("p1")
    posts = py.get_posts().items
    assert [p.primary_id for p in posts] == ["p0", "p1", "p2", "p3", "p4"]
    assert isinstance(posts[1], ObjectNotFound) and not posts[1] and not posts[1].exists()
    assert [bool(p) for p in posts] == [True, False, True, True, True]
    rows = py.query_posts(load_related=True).items
    assert not rows[1].get_post().exists() and rows[2].get_post().exists()
    link = PostTag.find("p1##__SK__##py")
    link.load_related_data()
    assert isinstance(link.get_post(), ObjectNotFound) and link.get_tag().tag_id == "py"


# -- tenants -------------------------------------------------------------------------------------


def test_related_loads_stay_in_the_callers_tenant(manager, calls):
    author_id = "01HKS659000000000000000001"
    with bao.TenantContext.tenant("acme-rel"):
        Author.create({"author_id": author_id, "name": "Acme Ada"})
        Post.create({"post_id": "shared", "author_id": author_id, "title": "acme"})
        acme_post = Post.find("shared")
        assert acme_post.get_author().name == "Acme Ada"
    with bao.TenantContext.tenant("globex-rel"):
        Post.create({"post_id": "shared", "author_id": author_id, "title": "globex"})
        page = Post.query_all_posts(load_related=True)
        assert [p.title for p in page.items] == ["globex"]
        assert not page.items[0].get_author().exists()  # Acme's author is not visible
        globex_post = page.items[0]
        # Acme's post belongs to Acme: asked from here it is refused (issue 13), not read here.
        with pytest.raises(TenantMismatchError):
            acme_post.get_author()
        Author.create({"author_id": author_id, "name": "Globex Gus"})
        globex_post.clear_related_cache()
        assert globex_post.get_author().name == "Globex Gus"
    with bao.TenantContext.tenant("acme-rel"):
        assert acme_post.get_author().name == "Acme Ada"
    calls.clear()
    with pytest.raises(TenantRequiredError):
        acme_post.get_author()  # no tenant: fails closed, even with a cached value
    with pytest.raises(TenantRequiredError):
        acme_post.load_related_data()
    assert calls == []


# -- composite ids inside RelatedFields (DESIGN §6.4) --------------------------------------------


def test_composite_ids_in_related_fields(manager, tenant):
    (ada, bob, _), _, _ = _blog()
    first = Comment.create({"post_id": "p0", "comment_id": "c1"})
    second = Comment.create({"post_id": "p0", "comment_id": "c2"})
    assert first.primary_id == "p0##__SK__##c1"
    # Two likes of comments of the same post by one author: DynamoBao kept only "p0" of the
    # composite sort key, so the second collided with the first (golden s10 step 16).
    Like.create({"author_id": ada, "comment_id": first})
    Like.create({"author_id": ada, "comment_id": second})
    Like.create({"author_id": bob, "comment_id": second})
    like = Like.find(f"{ada.primary_id}##__SK__##p0##__SK__##c2")
    assert like.exists() and like.comment_id == "p0##__SK__##c2"
    assert like.get_comment().primary_id == "p0##__SK__##c2"
    assert [c.primary_id for c in ada.get_liked_comments().items] == [
        "p0##__SK__##c1", "p0##__SK__##c2"]
    likers = Comment.find("p0##__SK__##c2").get_likers()
    assert sorted(a.name for a in likers.items) == ["Ada", "Bob"]
    assert [a.name for a in first.get_likers().items] == ["Ada"]


# -- collisions ------------------------------------------------------------------------------------


def _parent(name: str = "Parent", **body):
    return type(name, (bao.BaoModel,), {
        "model_prefix": f"x{uuid.uuid4().hex[:6]}",
        "parent_id": fields.StringField(required=True),
        "primary_key": bao.PrimaryKey("parent_id"),
        **body,
    })


def _child(parent: str, index_name: str, name: str = "Child", **body):
    return type(name, (bao.BaoModel,), {
        "model_prefix": f"x{uuid.uuid4().hex[:6]}",
        "child_id": fields.StringField(required=True),
        "parent_id": fields.RelatedField(parent, required=True),
        "primary_key": bao.PrimaryKey("child_id"),
        "indexes": {index_name: bao.Index("parent_id", "child_id", "gsi1")},
        **body,
    })


def _register(*models):
    return bao.init_models({"db": {"table_name": "unused"}, "models": list(models)})


def test_collision_with_a_field_at_class_creation():
    with pytest.raises(ConfigurationError, match="get_parent"):
        _child("Parent", "childrenForParent", get_parent=fields.StringField())
    with pytest.raises(ConfigurationError, match="query_all"):
        _parent(query_all=fields.StringField(),
                indexes={"allForX": bao.Index("modelPrefix", "parent_id", "gsi1")})


def test_collision_with_a_method_at_class_creation():
    with pytest.raises(ConfigurationError, match="get_parent"):
        _child("Parent", "childrenForParent", get_parent=lambda self: None)
    with pytest.raises(ConfigurationError, match="get_related"):
        _child("Parent", "childrenForParent", related_id=fields.RelatedField("Parent"))


def test_collision_with_a_method_at_init_models():
    parent = _parent(query_children=lambda self: "mine")
    child = _child("Parent", "childrenForParent")
    with pytest.raises(ConfigurationError, match="query_children"):
        _register(parent, child)
    assert parent.query_children(None) == "mine"  # untouched


def test_collision_with_a_field_at_init_models():
    parent = _parent(query_children=fields.StringField())
    with pytest.raises(ConfigurationError, match="already a field"):
        _register(parent, _child("Parent", "childrenForParent"))


def test_collision_between_generated_helpers():
    parent = _parent()
    one = _child("Parent", "childrenForParent", name="Child")
    other = _child("Parent", "children_for_parent", name="Other")
    with pytest.raises(ConfigurationError, match="generated twice"):
        _register(parent, one, other)
    assert not hasattr(parent, "query_children")  # nothing half-installed
    _register(parent, one)
    assert callable(parent.query_children)
    _register(parent, one)  # registering the same models again is fine
    _register(parent, other)  # the latest registration decides the class's helpers
    assert callable(parent.query_children)
    with pytest.raises(ConfigurationError, match="generated twice"):
        _parent(
            indexes={"allForX": bao.Index("modelPrefix", "parent_id", "gsi1"),
                     "all_for_y": bao.Index("modelPrefix", "parent_id", "gsi2")},
        )


def test_helpers_follow_the_latest_registration():
    parent = _parent()
    child = _child("Parent", "childrenForParent")
    _register(parent, child)
    assert hasattr(parent, "query_children")
    _register(parent)
    assert not hasattr(parent, "query_children")


def test_mapping_target_must_be_clear():
    mapping = type("Triple", (bao.BaoModel,), {
        "model_prefix": f"x{uuid.uuid4().hex[:6]}",
        "table_type": "mapping",
        "parent_id": fields.RelatedField("Parent", required=True),
        "a_id": fields.RelatedField("Parent"),
        "b_id": fields.RelatedField("Parent"),
        "primary_key": bao.PrimaryKey("parent_id", "modelPrefix"),
        "indexes": {"thingsForParent": bao.PrimaryKey("parent_id", "modelPrefix")},
    })
    with pytest.raises(ConfigurationError, match="cannot tell"):
        _register(_parent(), mapping)
