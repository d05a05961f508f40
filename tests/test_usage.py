"""The model API end to end on the embedded server: the README's example, tenancy failing
closed before any request, unique values per tenant, errors, and batch reads that never lose
keys (UnprocessedKeys injected through botocore's own event hooks)."""

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.exceptions import (
    BatchIncompleteError,
    ConditionalError,
    ItemNotFoundError,
    TenantRequiredError,
    ValidationError,
)

from .conftest import unique_table_name


class Account(bao.BaoModel):
    model_prefix = "acct"
    account_id = fields.UlidField(auto_assign=True)
    name = fields.StringField(required=True)
    email = fields.StringField(required=True)
    status = fields.StringField(default="active")
    logins = fields.CounterField()
    labels = fields.StringSetField()
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("account_id")
    indexes = {"byStatus": bao.Index("status", "created_at", "gsi1")}
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}
    iterable = True


@pytest.fixture
def manager(dynamodb_client):
    table = unique_table_name("usage")
    manager = bao.init_models({
        "db": {"table_name": table},
        "tenancy": {"enabled": True},
        "models": [Account],
        "client": dynamodb_client,
    })
    manager.create_table()
    yield manager
    manager.delete_table()


def _count_requests(client):
    sent = []
    client.meta.events.register("before-send.dynamodb", lambda request, **_: sent.append(request))
    return sent


def test_readme_flow(manager):
    with bao.TenantContext.tenant("acme"):
        ada = Account.create({"name": "Ada", "email": "ada@example.com"})
        assert Account.find(ada.primary_id).name == "Ada"
        assert Account.find_by_email("ada@example.com").primary_id == ada.primary_id
        updated = Account.update(ada.primary_id, {"status": "away", "logins": "+2"})
        assert updated.status == "away" and updated.logins == 2
        assert [a.name for a in Account.query_by_index("byStatus", "away").items] == ["Ada"]
        ada = Account.find(ada.primary_id)
        ada.labels.add("vip")
        ada.save()
        assert Account.find(ada.primary_id).labels == {"vip"}
    with bao.TenantContext.tenant("globex"):
        assert not Account.find(ada.primary_id).exists()
        other = Account.create({"name": "Ada", "email": "ada@example.com"})  # unique per tenant
        assert other.primary_id != ada.primary_id
    with bao.TenantContext.tenant("acme"):
        assert Account.delete(ada.primary_id).name == "Ada"
        assert not Account.find(ada.primary_id).exists()


def test_no_request_without_a_tenant(manager):
    sent = _count_requests(manager.client)
    for call in (
        lambda: Account.find("01HKS659000000000000000001"),
        lambda: Account.create({"name": "x", "email": "x@example.com"}),
        lambda: Account.update("01HKS659000000000000000001", {"status": "x"}),
        lambda: Account.delete("01HKS659000000000000000001"),
        lambda: Account.query_by_index("byStatus", "active"),
        lambda: Account.batch_find(["01HKS659000000000000000001"]),
    ):
        with pytest.raises(TenantRequiredError):
            call()
    assert sent == []


def test_write_errors(manager):
    with bao.TenantContext.tenant("acme"):
        first = Account.create({"name": "A", "email": "a@example.com"})
        with pytest.raises(ConditionalError, match="email must be unique"):
            Account.create({"name": "B", "email": "a@example.com"})
        with pytest.raises(ConditionalError):
            Account.create({"account_id": first.account_id, "name": "C", "email": "c@x.com"})
        with pytest.raises(ItemNotFoundError):
            Account.update("01HKS659000000000000000099", {"status": "x"})
        with pytest.raises(ItemNotFoundError):
            Account.delete("01HKS659000000000000000099")
        with pytest.raises(ConditionalError):
            Account.update(first.primary_id, {"status": "x"}, condition={"status": "gone"})
        with pytest.raises(ValidationError, match="Field is required: name"):
            Account.create({"email": "n@example.com"})
        with pytest.raises(ValidationError):
            Account.update(first.primary_id, {"nope": 1})
        # the email can move; the old value is free again afterwards
        Account.update(first.primary_id, {"email": "moved@example.com"})
        Account.create({"name": "D", "email": "a@example.com"})


def key_of(item):
    """An item's key as the response holds it: AttributeValues on botocore's wire path, the
    model's values on the fast path (decoded through its Schema)."""
    if "_pk" in item:
        return {"_pk": item["_pk"], "_sk": item["_sk"]}
    return Account._schema.key(item, bao.TenantContext.get_current_tenant())


def test_batch_find_retries_unprocessed_keys(manager, monkeypatch):
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)
    with bao.TenantContext.tenant("acme"):
        ids = [Account.create({"name": f"n{i}", "email": f"{i}@x.com"}).primary_id
               for i in range(5)]
        calls = []

        def hold_back(parsed, **_):
            calls.append(1)
            responses = parsed.get("Responses", {})
            for table, items in responses.items():
                if len(calls) == 1 and items:  # first call: pretend two keys went unprocessed
                    kept = items[2:]
                    held = [key_of(i) for i in items[:2]]
                    responses[table] = kept
                    parsed["UnprocessedKeys"] = {table: {"Keys": held}}

        manager.client.meta.events.register("after-call.dynamodb.BatchGetItem", hold_back)
        try:
            found = Account.batch_find(ids + ["01HKS659000000000000000099"])
        finally:
            manager.client.meta.events.unregister("after-call.dynamodb.BatchGetItem", hold_back)
        assert sorted(found) == sorted(ids)
        assert len(calls) == 2


def test_batch_find_reports_what_stays_unprocessed(manager, monkeypatch):
    monkeypatch.setattr(transport.time, "sleep", lambda seconds: None)
    with bao.TenantContext.tenant("acme"):
        ids = [Account.create({"name": f"n{i}", "email": f"{i}@x.com"}).primary_id
               for i in range(3)]

        def hold_all(parsed, **_):
            for table, items in parsed.get("Responses", {}).items():
                parsed["UnprocessedKeys"] = {
                    table: {"Keys": [key_of(i) for i in items]}}
                parsed["Responses"][table] = []

        manager.client.meta.events.register("after-call.dynamodb.BatchGetItem", hold_all)
        try:
            with pytest.raises(BatchIncompleteError) as info:
                Account.batch_find(ids)
        finally:
            manager.client.meta.events.unregister("after-call.dynamodb.BatchGetItem", hold_all)
        assert len(info.value.unprocessed) == 3


class Note(bao.BaoModel):
    model_prefix = "note"
    note_id = fields.UlidField(auto_assign=True)
    account_id = fields.RelatedField(Account)
    text = fields.StringField()
    created_at = fields.CreateDateField()
    primary_key = bao.PrimaryKey("note_id")


def test_related_fields_and_fixed_clock(dynamodb_client):
    from datetime import datetime, timezone

    from dynamo_bao.testing import fixed_clock

    table = unique_table_name("related")
    manager = bao.init_models({"db": {"table_name": table}, "models": [Account, Note],
                               "client": dynamodb_client})
    manager.create_table()
    try:
        with bao.TenantContext.tenant("acme"), fixed_clock("2024-01-15T09:00:00Z",
                                                          ulids=["01HKS659000000000000000001"]):
            account = Account.create({"name": "Ada", "email": "ada@example.com"})
            assert account.account_id == "01HKS659000000000000000001"
            note = Note.create({"account_id": account, "text": "hello"})
            assert note.created_at == datetime(2024, 1, 15, 9, tzinfo=timezone.utc)
            assert note.note_id.startswith("01HM65JQM0")  # the clock's time part
            assert note.get_account().name == "Ada"
            assert note.get_related("account_id").primary_id == account.primary_id
            Account.delete(account.primary_id)
            assert note.get_account().exists()  # cached on the instance until cleared
            note.clear_related_cache("account_id")
            assert not note.get_account().exists()
        with pytest.raises(bao.ConfigurationError):
            note.get_related("text")
    finally:
        manager.delete_table()
