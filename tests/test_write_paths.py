"""Every write path end to end on the embedded server, under the active core.

create (an existing item is a ConditionalError), update (a missing item is ItemNotFoundError;
a deleted item is never resurrected; counters ADD; string sets send their diff; index keys are
recomputed; ``force_reindex`` back-fills), save (nothing sent without changes; only changed
fields sent), version checks, delete, and unique constraints (create, change, clear, delete
clean-up, collisions naming the field, the same value in two tenants). Requests are observed
with botocore ``before-call`` handlers; the table is read back with the plain client. Error
texts are DynamoBao's (spec Appendix A) where we keep them.
"""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.exceptions import ConditionalError, ItemNotFoundError, ValidationError

from .conftest import unique_table_name
from .recorded import Requests


class Note(bao.BaoModel):
    """No unique constraints: plain UpdateItem / DeleteItem paths."""

    model_prefix = "note"
    note_id = fields.StringField()
    text = fields.StringField()
    views = fields.CounterField()
    tags = fields.StringSetField()
    primary_key = bao.PrimaryKey("note_id")


class Member(bao.BaoModel):
    """Unique values (transactions), two GSIs, iteration keys, a version."""

    model_prefix = "mbr"
    member_id = fields.UlidField(auto_assign=True)
    name = fields.StringField(required=True)
    email = fields.StringField()
    handle = fields.StringField()
    bio = fields.StringField()
    city = fields.StringField()
    street = fields.StringField()
    status = fields.StringField(default="active")
    joined = fields.CreateDateField()
    modified = fields.ModifiedDateField()
    views = fields.CounterField()
    tags = fields.StringSetField()
    version = fields.VersionField()
    primary_key = bao.PrimaryKey("member_id")
    indexes = {
        "byStatus": bao.Index("status", "joined", "gsi1"),
        "byHandle": bao.Index("handle", "name", "gsi2"),
        "byPlace": bao.Index("city", "street", "gsi3"),
    }
    unique_constraints = {
        "uniqueEmail": bao.UniqueConstraint("email", "uc1"),
        "uniqueHandle": bao.UniqueConstraint("handle", "uc2"),
    }
    iterable = True


@pytest.fixture(scope="module")
def manager(dynamodb_client):
    manager = bao.init_models({
        "db": {"table_name": unique_table_name("writes")},
        "tenancy": {"enabled": True},
        "models": [Note, Member],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager):
    tenant_id = "t" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id


def raw(manager: Any, pk: str, sk: str) -> dict | None:
    return manager.client.get_item(
        TableName=manager.table_name,
        Key={"_pk": {"S": pk}, "_sk": {"S": sk}},
        ConsistentRead=True,
    ).get("Item")


def note_item(manager: Any, tenant: str, note_id: str) -> dict | None:
    return raw(manager, f"[{tenant}]#note#{note_id}", "note")


def member_item(manager: Any, tenant: str, member_id: str) -> dict | None:
    return raw(manager, f"[{tenant}]#mbr#{member_id}", "mbr")


def unique_row(manager: Any, tenant: str, constraint: str, field: str, value: str):
    return raw(manager, f"[{tenant}]#_raft_uc#_{constraint}#mbr#{field}:{value}", "_raft_uc")


def tenant_items(manager: Any, tenant: str) -> list[dict]:
    """Every item of the tenant (models and unique rows), by scanning the table."""
    pages = manager.client.get_paginator("scan").paginate(TableName=manager.table_name)
    return [
        item
        for page in pages
        for item in page["Items"]
        if item["_pk"]["S"].startswith(f"[{tenant}]#")
    ]


# --------------------------------------------------------------------------- create


def test_create_of_an_existing_item(manager, tenant):
    Note.create({"note_id": "n1", "text": "first"})
    with pytest.raises(ConditionalError, match="^Condition check failed$"):
        Note.create({"note_id": "n1", "text": "second"})
    assert note_item(manager, tenant, "n1")["text"] == {"S": "first"}

    # with unique values (a transaction): nothing of the second attempt is written
    first = Member.create({"name": "Ada", "email": "ada@x.com"})
    with pytest.raises(ConditionalError, match="^Condition check failed: Member "):
        Member.create({"member_id": first.member_id, "name": "Eve", "email": "eve@x.com"})
    assert member_item(manager, tenant, first.member_id)["name"] == {"S": "Ada"}
    assert unique_row(manager, tenant, "uc1", "email", "eve@x.com") is None


def test_create_sends_one_conditioned_update(manager, tenant):
    with Requests(manager.client) as requests:
        Note.create({"note_id": "n1", "text": "hello", "tags": {"a"}})
    assert requests.operations == ["UpdateItem"]  # never PutItem (spec §5.2)
    params = requests.the("UpdateItem")
    names = params["ExpressionAttributeNames"]
    assert params["ConditionExpression"] == "attribute_not_exists(#pk)" and names["#pk"] == "_pk"
    assert params["ReturnValues"] == "ALL_NEW"


def test_create_refuses_bad_input_before_any_request(manager, tenant):
    with Requests(manager.client) as requests:
        with pytest.raises(ValidationError, match="^Field is required: name$"):
            Member.create({"email": "x@x.com"})
        with pytest.raises(ValidationError, match="^Field is required: note_id$"):
            Note.create({"text": "no id"})
        with pytest.raises(ValidationError, match="unknown field 'nope'"):
            Note.create({"note_id": "n1", "nope": 1})
    assert requests.sent == []


# --------------------------------------------------------------------------- update


def test_update_of_a_missing_item(manager, tenant):
    with Requests(manager.client) as requests:
        with pytest.raises(ItemNotFoundError, match="^Item not found$"):
            Note.update("missing", {"text": "x"})
    assert requests.operations == ["GetItem"]  # the pre-read only: nothing is written
    assert note_item(manager, tenant, "missing") is None


def test_update_does_not_resurrect_a_deleted_item(manager, tenant, dynamodb_endpoint):
    """The item disappears between the pre-read and the write: the write fails and no partial
    item appears (DESIGN §6.8)."""
    Note.create({"note_id": "n1", "text": "a"})
    member = Member.create({"name": "Ada", "email": "ada@x.com"})
    other = transport.make_client(endpoint_url=dynamodb_endpoint)
    keys = {
        "UpdateItem": (f"[{tenant}]#note#n1", "note"),
        "TransactWriteItems": (f"[{tenant}]#mbr#{member.member_id}", "mbr"),
    }

    def delete_first(model: Any, **_: Any) -> None:
        pk, sk = keys[model.name]
        other.delete_item(TableName=manager.table_name, Key={"_pk": {"S": pk}, "_sk": {"S": sk}})

    events = manager.client.meta.events
    for operation in keys:
        events.register(f"before-call.dynamodb.{operation}", delete_first)
    try:
        with pytest.raises(ConditionalError, match="^Condition check failed$"):
            Note.update("n1", {"text": "b"})
        with pytest.raises(ConditionalError, match="^Condition check failed: Member "):
            Member.update(member.primary_id, {"email": "new@x.com"})  # a transaction
    finally:
        for operation in keys:
            events.unregister(f"before-call.dynamodb.{operation}", delete_first)
    assert note_item(manager, tenant, "n1") is None
    assert member_item(manager, tenant, member.member_id) is None
    assert unique_row(manager, tenant, "uc1", "email", "new@x.com") is None


def test_counters(manager, tenant, dynamodb_endpoint):
    Note.create({"note_id": "n1"})
    with Requests(manager.client) as requests:
        assert Note.update("n1", {"views": "+5"}).views == 5
    update = requests.the("UpdateItem")
    assert update["UpdateExpression"].startswith("ADD #views :views")
    assert update["ExpressionAttributeValues"][":views"] == {"N": "5"}
    assert Note.update("n1", {"views": "-2"}).views == 3
    assert note_item(manager, tenant, "n1")["views"] == {"N": "3"}
    # an absolute value is a SET
    with Requests(manager.client) as requests:
        Note.update("n1", {"views": 40})
    assert "SET #views = :views" in requests.the("UpdateItem")["UpdateExpression"]
    # "+n" on a missing attribute starts from 0
    manager.client.put_item(TableName=manager.table_name, Item={
        "_pk": {"S": f"[{tenant}]#note#bare"}, "_sk": {"S": "note"}, "note_id": {"S": "bare"}})
    assert Note.update("bare", {"views": "+1"}).views == 1

    # a relative value set on an instance is an ADD too: a concurrent change is kept
    loaded = Note.find("n1")
    Note.update("n1", {"views": "+10"})  # someone else, after we loaded
    loaded.views = "+2"
    with Requests(manager.client) as requests:
        loaded.save()
    assert "ADD #views :views" in requests.the("UpdateItem")["UpdateExpression"]
    assert loaded.views == 52 and not loaded.has_changes()
    assert note_item(manager, tenant, "n1")["views"] == {"N": "52"}

    with pytest.raises(ValidationError, match="relative change"):
        Note.update("n1", {"views": "+1.5"})


def test_string_set_diffs(manager, tenant):
    Note.create({"note_id": "n1", "tags": {"a", "b"}})

    def saved(note: Any) -> str:
        with Requests(manager.client) as requests:
            note.save()
        return requests.the("UpdateItem")["UpdateExpression"]

    mine = Note.find("n1")
    Note.update("n1", {"tags": {"a", "b", "z"}})  # someone else adds z (only additions: ADD)
    mine.tags.add("c")
    assert saved(mine) == "ADD #tags :tags"  # only our addition is sent...
    assert note_item(manager, tenant, "n1")["tags"]["SS"]  # ...so z survives
    assert set(note_item(manager, tenant, "n1")["tags"]["SS"]) == {"a", "b", "c", "z"}
    assert mine.tags == {"a", "b", "c", "z"}  # save refreshed the instance

    mine.tags.discard("a")
    assert saved(mine) == "DELETE #tags :tags"
    assert set(note_item(manager, tenant, "n1")["tags"]["SS"]) == {"b", "c", "z"}

    mine.tags.discard("b")
    mine.tags.add("d")
    assert saved(mine) == "SET #tags = :tags"  # both kinds of change: the whole set
    assert set(note_item(manager, tenant, "n1")["tags"]["SS"]) == {"c", "d", "z"}

    with Requests(manager.client) as requests:
        Note.update("n1", {"tags": []})  # empty: the attribute goes
    assert requests.the("UpdateItem")["UpdateExpression"] == "REMOVE #tags"
    assert "tags" not in note_item(manager, tenant, "n1")
    with Requests(manager.client) as requests:
        Note.update("n1", {"tags": ["x"]})  # nothing stored before: SET
    assert requests.the("UpdateItem")["UpdateExpression"] == "SET #tags = :tags"
    assert note_item(manager, tenant, "n1")["tags"] == {"SS": ["x"]}

    # a whole new set assigned to a loaded instance is diffed against what it loaded too
    mine = Note.find("n1")
    Note.update("n1", {"tags": ["x", "y"]})  # someone else adds y
    mine.tags = {"x", "w"}
    assert saved(mine) == "ADD #tags :tags"
    assert set(note_item(manager, tenant, "n1")["tags"]["SS"]) == {"x", "y", "w"}

    # in-place operators count as changes too (the set is compared with what was loaded)
    mine = Note.find("n1")
    mine.tags |= {"v"}
    assert mine.changed_fields() == {"tags"}
    assert saved(mine) == "ADD #tags :tags"
    mine.tags -= {"x"}
    assert saved(mine) == "DELETE #tags :tags"
    mine.tags.add("u")
    mine.tags.discard("u")  # back to what was loaded: nothing to send
    assert not mine.has_changes()
    assert set(note_item(manager, tenant, "n1")["tags"]["SS"]) == {"y", "w", "v"}


def test_concurrent_increments_all_count(manager, tenant):
    Note.create({"note_id": "n1"})
    with ThreadPoolExecutor(5) as pool:
        done = [
            pool.submit(contextvars.copy_context().run, Note.update, "n1", {"views": "+1"})
            for _ in range(5)
        ]
        for future in done:
            future.result()
    assert note_item(manager, tenant, "n1")["views"] == {"N": "5"}


def ms_key(instant: Any) -> str:
    return f"{int(instant.timestamp() * 1000):020d}"


def test_index_keys_follow_the_fields(manager, tenant):
    member = Member.create({"name": "Ada"})
    item = member_item(manager, tenant, member.member_id)
    assert item["_gsi1_pk"] == {"S": f"[{tenant}]#mbr#gsi1#active"}
    assert item["_gsi1_sk"] == {"S": ms_key(member.joined)}
    assert "_gsi2_pk" not in item  # handle and bio unset: not in that index (sparse)
    assert item["_iter_sk"] == {"S": member.member_id}

    Member.update(member.primary_id, {"status": "away"})
    item = member_item(manager, tenant, member.member_id)
    assert item["_gsi1_pk"] == {"S": f"[{tenant}]#mbr#gsi1#away"}
    assert [m.member_id for m in Member.query_by_index("byStatus", "away").items] == [
        member.member_id
    ]
    assert Member.query_by_index("byStatus", "active").items == []

    Member.update(member.primary_id, {"handle": "ada"})  # the other side is back-filled
    item = member_item(manager, tenant, member.member_id)
    assert (item["_gsi2_pk"], item["_gsi2_sk"]) == (
        {"S": f"[{tenant}]#mbr#gsi2#ada"}, {"S": "Ada"}
    )
    Member.update(member.primary_id, {"name": "Ada L."})  # one side changes, the other stays
    item = member_item(manager, tenant, member.member_id)
    assert (item["_gsi2_pk"], item["_gsi2_sk"]) == (
        {"S": f"[{tenant}]#mbr#gsi2#ada"}, {"S": "Ada L."}
    )

    # a side removed: the item leaves the index
    Member.update(member.primary_id, {"status": None})
    item = member_item(manager, tenant, member.member_id)
    assert "_gsi1_pk" not in item and "_gsi1_sk" not in item
    assert Member.query_by_index("byStatus", "away").items == []
    assert item["_iter_sk"] == {"S": member.member_id}  # iteration keys stay


def test_index_pair_check(manager, tenant):
    member = Member.create({"name": "Ada"})
    with pytest.raises(ValidationError) as info:
        Member.update(member.primary_id, {"city": "Oslo"})
    assert str(info.value) == (
        'Update includes GSI partition key "city" for index "byPlace" but is missing sort '
        'key "street". Include both fields or use forceReindex.'
    )
    with pytest.raises(ValidationError, match='GSI sort key "street" .* missing partition key'):
        Member.update(member.primary_id, {"street": "Main St"})
    item = member_item(manager, tenant, member.member_id)
    assert "city" not in item and "street" not in item
    Member.update(member.primary_id, {"city": "Oslo", "street": "Main St"})
    item = member_item(manager, tenant, member.member_id)
    assert item["_gsi3_pk"] == {"S": f"[{tenant}]#mbr#gsi3#Oslo"}
    Member.update(member.primary_id, {"street": "High St"})  # now the other side is stored
    assert member_item(manager, tenant, member.member_id)["_gsi3_sk"] == {"S": "High St"}


def test_force_reindex_backfills_index_keys(manager, tenant):
    """An item written without its GSI and iteration keys (by another tool) gets them."""
    template = Member.create({"name": "Ada", "status": "vip"})
    item = member_item(manager, tenant, template.member_id)
    stripped = {k: v for k, v in item.items() if not k.startswith(("_gsi", "_iter"))}
    assert set(item) - set(stripped) == {"_gsi1_pk", "_gsi1_sk", "_iter_pk", "_iter_sk"}
    manager.client.put_item(TableName=manager.table_name, Item=stripped)
    assert Member.query_by_index("byStatus", "vip").items == []

    Member.update(template.primary_id, {}, force_reindex=True)
    rebuilt = member_item(manager, tenant, template.member_id)
    for attr in ("_gsi1_pk", "_gsi1_sk", "_iter_pk", "_iter_sk"):
        assert rebuilt[attr] == item[attr], attr
    assert [m.member_id for m in Member.query_by_index("byStatus", "vip").items] == [
        template.member_id
    ]


# --------------------------------------------------------------------------- save


def test_save_without_changes_sends_nothing(manager, tenant):
    member = Member.create({"name": "Ada", "email": "ada@x.com"})
    loaded = Member.find(member.primary_id)
    with Requests(manager.client) as requests:
        assert loaded.save() is loaded
        assert member.save() is member  # the instance create returned
        loaded.name = "Ada"  # the same value is no change
        assert not loaded.has_changes()
        loaded.save()
    assert requests.sent == []


def test_save_sends_only_changed_fields(manager, tenant):
    member = Member.create({"name": "Ada", "email": "ada@x.com", "tags": {"x"}, "views": 3})
    loaded = Member.find(member.primary_id)
    loaded.bio = "hello"
    with Requests(manager.client) as requests:
        loaded.save()
    update = requests.the("UpdateItem")
    written = set(update["ExpressionAttributeNames"].values())
    # the change, the automatic fields, the keys recomputed from the stored item
    assert written == {"bio", "modified", "version", "_pk", "_gsi1_pk", "_gsi1_sk",
                       "_iter_pk", "_iter_sk"}
    assert "TransactWriteItems" not in requests.operations  # no unique value moved
    item = member_item(manager, tenant, member.member_id)
    assert item["bio"] == {"S": "hello"} and item["email"] == {"S": "ada@x.com"}
    assert loaded.version == item["version"]["S"] != member.version


def test_save_of_a_new_instance_creates_it(manager, tenant):
    member = Member(name="Ada", email="ada@x.com")
    member.save()
    assert member_item(manager, tenant, member.member_id)["name"] == {"S": "Ada"}
    assert unique_row(manager, tenant, "uc1", "email", "ada@x.com") is not None
    twin = Member(name="Eve", email="ada@x.com")
    with pytest.raises(ConditionalError, match="^email must be unique$"):
        twin.save()
    assert member_item(manager, tenant, twin.member_id) is None


def test_version_check(manager, tenant):
    member = Member.create({"name": "Ada"})
    first, second = Member.find(member.primary_id), Member.find(member.primary_id)
    first.bio = "first"
    first.save(condition={"version": first.version})
    assert first.version != second.version
    second.bio = "second"
    with pytest.raises(ConditionalError, match="^Condition check failed$"):
        second.save(condition={"version": second.version})
    assert member_item(manager, tenant, member.member_id)["bio"] == {"S": "first"}
    with pytest.raises(ConditionalError):
        Member.update(member.primary_id, {"bio": "third"}, condition={"version": member.version})
    updated = Member.update(member.primary_id, {"bio": "third"},
                            condition={"version": first.version})
    assert updated.bio == "third" and updated.version != first.version


# --------------------------------------------------------------------------- delete


def test_delete(manager, tenant):
    Note.create({"note_id": "n1", "text": "a"})
    with Requests(manager.client) as requests:
        with pytest.raises(ItemNotFoundError, match="^Item not found$"):
            Note.delete("missing")
    assert requests.operations == ["GetItem"]
    with pytest.raises(ConditionalError, match="^Delete condition not met$"):
        Note.delete("n1", condition={"text": "b"})
    assert note_item(manager, tenant, "n1") is not None
    deleted = Note.delete("n1", condition={"text": "a"})
    assert deleted.text == "a"  # the item as it was
    assert note_item(manager, tenant, "n1") is None
    with pytest.raises(ItemNotFoundError):
        Note.delete("n1")


# --------------------------------------------------------------------------- unique values


def test_unique_rows_follow_the_values(manager, tenant):
    member = Member.create({"name": "Ada", "email": "ada@x.com", "handle": "ada"})
    row = unique_row(manager, tenant, "uc1", "email", "ada@x.com")
    assert row == {
        "_pk": {"S": f"[{tenant}]#_raft_uc#_uc1#mbr#email:ada@x.com"},
        "_sk": {"S": "_raft_uc"},
        "uniqueValue": {"S": f"[{tenant}]#_raft_uc#_uc1#mbr#email:ada@x.com"},
        "relatedId": {"S": member.member_id},
        "relatedModel": {"S": "Member"},
        "_gsi_test_id": {"S": tenant},
    }
    assert unique_row(manager, tenant, "uc2", "handle", "ada")["relatedId"] == {
        "S": member.member_id
    }
    assert Member.find_by_email("ada@x.com").member_id == member.member_id

    # change: the old row goes, the new one comes, in one transaction with the item
    with Requests(manager.client) as requests:
        Member.update(member.primary_id, {"email": "ada@y.com"})
    assert "TransactWriteItems" in requests.operations
    assert unique_row(manager, tenant, "uc1", "email", "ada@x.com") is None
    assert unique_row(manager, tenant, "uc1", "email", "ada@y.com")["relatedId"] == {
        "S": member.member_id
    }
    assert not Member.find_by_email("ada@x.com").exists()
    assert Member.find_by_email("ada@y.com").member_id == member.member_id
    # the freed value can be taken by someone else
    other = Member.create({"name": "Bob", "email": "ada@x.com"})

    # the same value again is no change: no transaction
    with Requests(manager.client) as requests:
        Member.update(member.primary_id, {"email": "ada@y.com", "bio": "c"})
    assert "TransactWriteItems" not in requests.operations

    # clear: the row goes
    Member.update(member.primary_id, {"email": None})
    assert unique_row(manager, tenant, "uc1", "email", "ada@y.com") is None
    assert "email" not in member_item(manager, tenant, member.member_id)

    # a change on an instance, saved
    loaded = Member.find(member.primary_id)
    loaded.email = "ada@z.com"
    loaded.save()
    assert unique_row(manager, tenant, "uc1", "email", "ada@z.com") is not None

    # delete: the item and all its rows go
    Member.delete(member.primary_id)
    assert member_item(manager, tenant, member.member_id) is None
    assert unique_row(manager, tenant, "uc1", "email", "ada@z.com") is None
    assert unique_row(manager, tenant, "uc2", "handle", "ada") is None
    # what is left of the tenant: Bob and his row
    left = sorted(item["_pk"]["S"] for item in tenant_items(manager, tenant))
    assert left == sorted([f"[{tenant}]#mbr#{other.member_id}",
                           f"[{tenant}]#_raft_uc#_uc1#mbr#email:ada@x.com"])


def test_unique_collisions_name_the_field(manager, tenant):
    ada = Member.create({"name": "Ada", "email": "ada@x.com", "handle": "ada"})
    before = tenant_items(manager, tenant)
    with pytest.raises(ConditionalError, match="^email must be unique$"):
        Member.create({"name": "Eve", "email": "ada@x.com"})
    with pytest.raises(ConditionalError, match="^handle must be unique$"):
        Member.create({"name": "Eve", "email": "eve@x.com", "handle": "ada"})
    assert sorted(map(str, tenant_items(manager, tenant))) == sorted(map(str, before))

    eve = Member.create({"name": "Eve", "email": "eve@x.com"})
    before = tenant_items(manager, tenant)
    with pytest.raises(ConditionalError, match="^email must be unique$"):
        Member.update(eve.primary_id, {"email": "ada@x.com", "bio": "x"})
    with pytest.raises(ConditionalError, match="^handle must be unique$"):
        Member.update(eve.primary_id, {"handle": "ada"})
    assert sorted(map(str, tenant_items(manager, tenant))) == sorted(map(str, before))
    assert unique_row(manager, tenant, "uc1", "email", "ada@x.com")["relatedId"] == {
        "S": ada.member_id
    }
    # values are compared exactly: another case is another value
    Member.update(eve.primary_id, {"email": "ADA@x.com"})


def test_unique_values_are_per_tenant(manager, tenant):
    ada = Member.create({"name": "Ada", "email": "ada@x.com"})
    other_tenant = "o" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(other_tenant):
        twin = Member.create({"name": "Ada", "email": "ada@x.com"})
        assert Member.find_by_email("ada@x.com").member_id == twin.member_id
        with pytest.raises(ConditionalError, match="^email must be unique$"):
            Member.create({"name": "Eve", "email": "ada@x.com"})
    assert Member.find_by_email("ada@x.com").member_id == ada.member_id
    assert unique_row(manager, tenant, "uc1", "email", "ada@x.com")["relatedId"] == {
        "S": ada.member_id
    }
    assert unique_row(manager, other_tenant, "uc1", "email", "ada@x.com")["relatedId"] == {
        "S": twin.member_id
    }


def test_delete_with_unique_rows_and_a_condition(manager, tenant):
    member = Member.create({"name": "Ada", "email": "ada@x.com"})
    with Requests(manager.client) as requests:
        with pytest.raises(ConditionalError, match="^Delete condition not met: Member "):
            Member.delete(member.primary_id, condition={"name": "Eve"})
    assert "TransactWriteItems" in requests.operations
    assert member_item(manager, tenant, member.member_id) is not None
    assert unique_row(manager, tenant, "uc1", "email", "ada@x.com") is not None
    Member.delete(member.primary_id, condition={"name": "Ada"})
    assert member_item(manager, tenant, member.member_id) is None
    assert unique_row(manager, tenant, "uc1", "email", "ada@x.com") is None


def test_loaded_string_sets_are_tracked_from_first_access(manager, tenant):
    """A loaded item's string set becomes a tracked set when first read; one never read is
    never sent, one absent reads as empty, and instances compare by their values either way."""
    Note.create({"note_id": "ls1", "text": "a", "tags": {"x"}})
    Note.create({"note_id": "ls2", "text": "b"})  # no tags stored

    untouched = Note.find("ls1")
    untouched.text = "changed"
    assert untouched.changed_fields() == {"text"}
    with Requests(manager.client) as requests:
        untouched.save()
    assert "tags" not in requests.the("UpdateItem")["UpdateExpression"]

    assert Note.find("ls1") == Note.find("ls1")
    read = Note.find("ls1")
    assert read.tags == {"x"}  # wrapped now
    assert read == Note.find("ls1")  # equal to one whose set was never read
    assert Note.find("ls1").to_dict()["tags"] == {"x"}

    empty = Note.find("ls2")
    assert empty.to_dict()["tags"] == set()
    empty.tags = set()  # the same as what was loaded: no change
    assert not empty.has_changes()
    empty.tags = {"y"}  # replaces the (absent) loaded set: nothing stored, so SET
    assert empty.changed_fields() == {"tags"}
    with Requests(manager.client) as requests:
        empty.save()
    assert requests.the("UpdateItem")["UpdateExpression"] == "SET #tags = :tags"
    assert set(note_item(manager, tenant, "ls2")["tags"]["SS"]) == {"y"}

    added = Note.find("ls2")
    added.tags.add("z")  # in place, on a set read from the table
    with Requests(manager.client) as requests:
        added.save()
    assert requests.the("UpdateItem")["UpdateExpression"] == "ADD #tags :tags"
    assert set(note_item(manager, tenant, "ls2")["tags"]["SS"]) == {"y", "z"}
