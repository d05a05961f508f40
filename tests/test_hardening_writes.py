"""Writes that tell the truth under faults (issue 13, items 10 and 11).

Lost responses are real: a fault proxy on 127.0.0.1 (:mod:`tests.fault_proxy`) forwards a
request, lets the server apply it and closes the connection instead of answering, so botocore
re-sends it. The embedded server (moto) does not honour ``ClientRequestToken``, so a re-sent
transaction is cancelled there and the library must find out from the table whether the
stored state is its own write. Cancellation reasons are chosen with a botocore ``before-send``
handler on the test's client returning a canned ``TransactionCanceledException``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.exceptions import ConditionalError, TransactionCanceledError

from .fault_proxy import FaultProxy
from .faults import _CannedBody, error_response
from .recorded import Requests


class Tally(bao.BaoModel):
    """A counter on a model with a version: relative updates are exactly-once."""

    model_prefix = "hwt"
    tally_id = fields.StringField()
    name = fields.StringField()
    views = fields.CounterField()
    version = fields.VersionField()
    primary_key = bao.PrimaryKey("tally_id")


class Jot(bao.BaoModel):
    """No version, no unique values: plain UpdateItem / DeleteItem."""

    model_prefix = "hwj"
    jot_id = fields.StringField()
    text = fields.StringField()
    created = fields.CreateDateField()
    primary_key = bao.PrimaryKey("jot_id")


class Person(bao.BaoModel):
    """Unique values (transactions), no version: own writes recognised by the values SET."""

    model_prefix = "hwp"
    person_id = fields.UlidField(auto_assign=True)
    name = fields.StringField()
    email = fields.StringField()
    modified = fields.ModifiedDateField()
    primary_key = bao.PrimaryKey("person_id")
    unique_constraints = {"uniqueEmail": bao.UniqueConstraint("email", "uc1")}


class Badge(bao.BaoModel):
    """A version, a counter and a unique value: transactions recognised by the version."""

    model_prefix = "hwb"
    badge_id = fields.StringField()
    code = fields.StringField()
    uses = fields.CounterField()
    version = fields.VersionField()
    primary_key = bao.PrimaryKey("badge_id")
    unique_constraints = {"uniqueCode": bao.UniqueConstraint("code", "uc1")}


@pytest.fixture(scope="module")
def proxy(bao_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(bao_endpoint) as running:
        yield running


@pytest.fixture(scope="module")
def manager(proxy: FaultProxy) -> Iterator[Any]:
    manager = bao.init_models({
        "db": {"table_name": f"hardening-writes-{uuid.uuid4().hex[:8]}"},
        "tenancy": {"enabled": True},
        "models": [Tally, Jot, Person, Badge],
        "client": transport.make_client(endpoint_url=proxy.url),
    })
    manager.create_table()
    yield manager
    manager.delete_table()


@pytest.fixture
def tenant(manager: Any, proxy: FaultProxy) -> Iterator[str]:
    proxy.clear()
    tenant_id = "w" + uuid.uuid4().hex[:12]
    with bao.TenantContext.tenant(tenant_id):
        yield tenant_id
    proxy.clear()


@pytest.fixture
def plain(bao_client: Any) -> Any:
    """A client straight to the server (no proxy, no faults): the table as it is."""
    return bao_client


def tally(proxy: FaultProxy, operation: str) -> tuple[int, int]:
    """(requests, dropped) of ``operation`` so far (the proxy's log spans the module)."""
    return proxy.count(operation), proxy.count(operation, "drop")


def raw(plain: Any, manager: Any, pk: str, sk: str) -> dict | None:
    return plain.get_item(
        TableName=manager.table_name,
        Key={"_pk": {"S": pk}, "_sk": {"S": sk}},
        ConsistentRead=True,
    ).get("Item")


def email_row(plain: Any, manager: Any, tenant: str, value: str) -> dict | None:
    return raw(plain, manager, f"[{tenant}]#_raft_uc#_uc1#hwp#email:{value}", "_raft_uc")


class Hook:
    """A botocore handler on the test's client for the block's duration only."""

    def __init__(self, client: Any, event: str, handler: Any) -> None:
        self.client, self.event, self.handler = client, event, handler

    def __enter__(self) -> Hook:
        self.client.meta.events.register(self.event, self.handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.meta.events.unregister(self.event, self.handler)


def cancelled_response(request: Any, reasons: list[tuple[str, str]]) -> AWSResponse:
    """DynamoDB's 400 TransactionCanceledException with the given (code, message) reasons."""
    listed = ", ".join(code for code, _ in reasons)
    body = json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific "
                   f"reasons [{listed}]",
        "CancellationReasons": [
            {"Code": code, "Message": message} if message else {"Code": code}
            for code, message in reasons
        ],
    }).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
    return AWSResponse(request.url, 400, headers, _CannedBody(body))


def canned(reasons_per_send: list[list[tuple[str, str]] | None]):
    """A before-send handler answering the n-th TransactWriteItems with the n-th entry's
    cancellation (None: let it through); it records every body sent."""
    bodies: list[dict] = []

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        bodies.append(json.loads(request.body))
        index = len(bodies) - 1
        reasons = reasons_per_send[index] if index < len(reasons_per_send) else None
        return None if reasons is None else cancelled_response(request, reasons)

    handler.bodies = bodies  # type: ignore[attr-defined]
    return handler


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(transport, "_transaction_sleep", waited.append)
    return waited


# --------------------------------------------------------------------------- lost responses


def test_lost_counter_update_of_a_versioned_model_is_applied_once(manager, tenant, proxy, plain):
    Tally.create({"tally_id": "t1", "name": "a", "views": 1})
    sent, dropped = tally(proxy, "UpdateItem")
    proxy.drop("UpdateItem")
    result = Tally.update("t1", {"views": "+1"})
    assert tally(proxy, "UpdateItem") == (sent + 2, dropped + 1)
    assert result.views == 2
    stored = raw(plain, manager, f"[{tenant}]#hwt#t1", "hwt")
    assert stored["views"] == {"N": "2"}
    assert stored["version"] == {"S": result.version}


def test_versioned_update_after_a_concurrent_write_is_started_again(manager, tenant, plain):
    """Another writer between the pre-read and the write: the optimistic lock fails on the
    first attempt, the update starts again from a fresh read — both increments count."""
    Tally.create({"tally_id": "t2", "name": "a", "views": 0})
    done = []

    def other_writer(**_: Any) -> None:
        if not done:  # the first attempt only
            done.append(1)
            plain.update_item(
                TableName=manager.table_name,
                Key={"_pk": {"S": f"[{tenant}]#hwt#t2"}, "_sk": {"S": "hwt"}},
                UpdateExpression="SET #v = :v ADD #c :five",
                ExpressionAttributeNames={"#v": "version", "#c": "views"},
                ExpressionAttributeValues={
                    ":v": {"S": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, ":five": {"N": "5"}
                },
            )

    with Hook(manager.client, "before-call.dynamodb.UpdateItem", other_writer):
        result = Tally.update("t2", {"views": "+1"})
    assert result.views == 6
    assert raw(plain, manager, f"[{tenant}]#hwt#t2", "hwt")["views"] == {"N": "6"}


def test_lost_response_of_a_plain_create_is_a_success(manager, tenant, proxy, plain):
    sent, dropped = tally(proxy, "UpdateItem")
    proxy.drop("UpdateItem")
    jot = Jot.create({"jot_id": "j1", "text": "hello"})
    assert tally(proxy, "UpdateItem") == (sent + 2, dropped + 1)
    assert jot.text == "hello" and jot.jot_id == "j1" and jot.created is not None
    stored = raw(plain, manager, f"[{tenant}]#hwj#j1", "hwj")
    assert stored["text"] == {"S": "hello"}


def test_lost_response_of_a_create_with_a_unique_value(manager, tenant, proxy, plain):
    sent, dropped = tally(proxy, "TransactWriteItems")
    proxy.drop("TransactWriteItems")
    person = Person.create({"name": "Ada", "email": "ada@x.com"})
    assert tally(proxy, "TransactWriteItems") == (sent + 2, dropped + 1)
    assert person.email == "ada@x.com"
    assert raw(plain, manager, f"[{tenant}]#hwp#{person.person_id}", "hwp")["name"] == {
        "S": "Ada"
    }
    assert email_row(plain, manager, tenant, "ada@x.com")["relatedId"] == {
        "S": person.person_id
    }


def test_lost_response_of_a_delete_with_a_unique_value(manager, tenant, proxy, plain):
    person = Person.create({"name": "Ada", "email": "ada@x.com"})
    sent, dropped = tally(proxy, "TransactWriteItems")
    proxy.drop("TransactWriteItems")
    deleted = Person.delete(person.person_id)
    assert tally(proxy, "TransactWriteItems") == (sent + 2, dropped + 1)
    assert deleted.email == "ada@x.com"  # the item as it was
    assert raw(plain, manager, f"[{tenant}]#hwp#{person.person_id}", "hwp") is None
    assert email_row(plain, manager, tenant, "ada@x.com") is None


def test_lost_response_of_a_conditional_delete(manager, tenant, proxy, plain):
    Jot.create({"jot_id": "j2", "text": "bye"})
    sent, dropped = tally(proxy, "DeleteItem")
    proxy.drop("DeleteItem")
    assert Jot.delete("j2", condition={"text": "bye"}).text == "bye"
    assert tally(proxy, "DeleteItem") == (sent + 2, dropped + 1)
    assert raw(plain, manager, f"[{tenant}]#hwj#j2", "hwj") is None


def test_lost_response_of_an_update_moving_a_unique_value(manager, tenant, proxy, plain):
    person = Person.create({"name": "Ada", "email": "ada@x.com"})
    sent, dropped = tally(proxy, "TransactWriteItems")
    proxy.drop("TransactWriteItems")
    moved = Person.update(person.person_id, {"email": "ada@y.com"})
    assert tally(proxy, "TransactWriteItems") == (sent + 2, dropped + 1)
    assert moved.email == "ada@y.com"
    stored = raw(plain, manager, f"[{tenant}]#hwp#{person.person_id}", "hwp")
    assert stored["email"] == {"S": "ada@y.com"}
    assert email_row(plain, manager, tenant, "ada@x.com") is None
    assert email_row(plain, manager, tenant, "ada@y.com")["relatedId"] == {
        "S": person.person_id
    }


@pytest.mark.parametrize("first_value", [None, "c1"], ids=["unique-set", "unique-moved"])
def test_lost_counter_update_in_a_transaction_of_a_versioned_model(
    manager, tenant, proxy, plain, first_value
):
    """Setting a first unique value puts a row (its re-send passes: the row is its own) and
    updates the item: only the version lock makes the re-sent transaction fail — and then it
    is recognised as its own by the version."""
    Badge.create({"badge_id": "b1", "code": first_value, "uses": 1})
    sent, dropped = tally(proxy, "TransactWriteItems")
    proxy.drop("TransactWriteItems")
    result = Badge.update("b1", {"code": "c2", "uses": "+1"})
    assert tally(proxy, "TransactWriteItems") == (sent + 2, dropped + 1)
    assert result.uses == 2 and result.code == "c2"
    stored = raw(plain, manager, f"[{tenant}]#hwb#b1", "hwb")
    assert stored["uses"] == {"N": "2"} and stored["version"] == {"S": result.version}
    row = raw(plain, manager, f"[{tenant}]#_raft_uc#_uc1#hwb#code:c2", "_raft_uc")
    assert row["relatedId"] == {"S": "b1"}
    assert raw(plain, manager, f"[{tenant}]#_raft_uc#_uc1#hwb#code:c1", "_raft_uc") is None


def test_a_first_attempt_failure_costs_no_read(manager, tenant):
    Jot.create({"jot_id": "j4", "text": "first"})
    with Requests(manager.client) as requests:
        with pytest.raises(ConditionalError, match="^Condition check failed$") as caught:
            Jot.create({"jot_id": "j4", "text": "second"})
    assert requests.operations == ["UpdateItem"]
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)


def test_without_the_stored_item_in_the_failure_it_is_read(manager, tenant, proxy, plain):
    """A server that does not return the item with a failed condition: the re-sent create
    reads it (consistently) to find its own write."""

    def without_return_values(request: Any, **_: Any) -> None:
        body = json.loads(request.body)
        body.pop("ReturnValuesOnConditionCheckFailure", None)
        request.body = json.dumps(body).encode()
        request.headers["Content-Length"] = str(len(request.body))

    proxy.drop("UpdateItem")
    with Hook(manager.client, "before-send.dynamodb.UpdateItem", without_return_values), \
            Requests(manager.client) as requests:
        jot = Jot.create({"jot_id": "j5", "text": "hello"})
    assert jot.text == "hello"
    assert requests.operations == ["UpdateItem", "GetItem"]


def test_a_real_conflict_on_the_retry_is_still_reported(manager, tenant, proxy, plain):
    """The first attempt is applied and its answer lost; before the re-send another writer
    changes the item: the stored item is not this write's own, so the failure is reported."""
    key = {"_pk": {"S": f"[{tenant}]#hwj#j3"}, "_sk": {"S": "hwj"}}
    sends = []

    def overwrite_before_retry(**_: Any) -> None:
        sends.append(1)
        if len(sends) == 2:
            plain.update_item(
                TableName=manager.table_name, Key=key, UpdateExpression="SET #t = :t",
                ExpressionAttributeNames={"#t": "text"},
                ExpressionAttributeValues={":t": {"S": "someone else"}},
            )

    proxy.drop("UpdateItem")
    with Hook(manager.client, "before-send.dynamodb.UpdateItem", overwrite_before_retry):
        with pytest.raises(ConditionalError, match="^Condition check failed$") as caught:
            Jot.create({"jot_id": "j3", "text": "mine"})
    assert len(sends) == 2
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)
    assert raw(plain, manager, key["_pk"]["S"], "hwj")["text"] == {"S": "someone else"}


def test_a_versioned_update_overtaken_before_its_retry_is_reported(
    manager, tenant, proxy, plain
):
    Tally.create({"tally_id": "t3", "name": "a", "views": 0})
    key = {"_pk": {"S": f"[{tenant}]#hwt#t3"}, "_sk": {"S": "hwt"}}
    sends = []

    def bump_before_retry(**_: Any) -> None:
        sends.append(1)
        if len(sends) == 2:
            plain.update_item(
                TableName=manager.table_name, Key=key, UpdateExpression="SET #v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"S": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}},
            )

    proxy.drop("UpdateItem")
    with Hook(manager.client, "before-send.dynamodb.UpdateItem", bump_before_retry):
        with pytest.raises(ConditionalError):
            Tally.update("t3", {"views": "+1"})
    assert raw(plain, manager, key["_pk"]["S"], "hwt")["views"] == {"N": "1"}  # once


def test_every_transaction_carries_one_client_request_token(manager, tenant, proxy):
    bodies: list[dict] = []

    def record(request: Any, **_: Any) -> None:
        bodies.append(json.loads(request.body))

    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", record):
        person = Person.create({"name": "Ada", "email": "ada@x.com"})
        proxy.drop("TransactWriteItems")
        Person.update(person.person_id, {"email": "ada@y.com"})
        Person.delete(person.person_id)
    tokens = [body.get("ClientRequestToken") for body in bodies]
    assert len(tokens) == 4 and all(isinstance(t, str) and 1 <= len(t) <= 36 for t in tokens)
    assert tokens[1] == tokens[2]  # botocore's re-send: the same token
    assert len({tokens[0], tokens[1], tokens[3]}) == 3  # one per logical write


# --------------------------------------------------------------------------- cancellation reasons


@pytest.mark.parametrize(
    "code", ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"]
)
def test_a_transaction_conflict_is_retried(manager, tenant, plain, sleeps, code):
    handler = canned([[("None", ""), (code, "Transaction is ongoing")]] * 2)
    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", handler):
        person = Person.create({"name": "Ada", "email": "ada@x.com"})
    assert len(handler.bodies) == 3 and len(sleeps) == 2
    assert all(0 <= s <= transport.TRANSACT_BACKOFF_CAP for s in sleeps)
    # a cancelled try applied nothing: the next one has a token of its own
    assert len({body["ClientRequestToken"] for body in handler.bodies}) == 3
    assert email_row(plain, manager, tenant, "ada@x.com")["relatedId"] == {
        "S": person.person_id
    }


def test_a_transaction_in_progress_is_tried_again_with_its_token(manager, tenant, sleeps):
    """botocore re-sends TransactionInProgressException itself; when its tries run out the
    library tries again — with the same token, since an attempt of it may still land."""
    bodies: list[dict] = []
    attempts: list[int] = []  # botocore's attempt number of each request it sends

    def in_progress(request: Any, **_: Any) -> AWSResponse | None:
        bodies.append(json.loads(request.body))
        # Standard mode says "attempt=N; ..." in this header; how many attempts it makes
        # differs between botocore versions, so the first call fails in all of its attempts
        # and the library's own next call (attempt=1 again) is let through.
        header = request.headers["amz-sdk-request"]
        header = header.decode() if isinstance(header, bytes) else header
        attempts.append(int(header.split("attempt=")[1].split(";")[0]))
        if attempts.count(1) == 1:
            return error_response(request, "TransactionInProgressException", "in progress")
        return None

    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", in_progress):
        Person.create({"name": "Ada", "email": "ada@x.com"})
    assert attempts.count(1) == 2 and attempts[-1] == 1 and len(attempts) >= 3
    assert len(sleeps) == 1
    assert len({body["ClientRequestToken"] for body in bodies}) == 1


def test_a_persistent_conflict_is_a_transaction_canceled_error(manager, tenant, plain, sleeps):
    handler = canned([[("None", ""), ("TransactionConflict", "Transaction is ongoing")]] * 50)
    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", handler):
        with pytest.raises(TransactionCanceledError) as caught:
            Person.create({"name": "Ada", "email": "ada@x.com"})
    assert len(handler.bodies) == transport.TRANSACT_TRIES
    assert len(sleeps) == transport.TRANSACT_TRIES - 1
    error = caught.value
    assert isinstance(error, bao.BaoError) and not isinstance(error, ConditionalError)
    assert isinstance(error.__cause__, botocore.exceptions.ClientError)
    assert [r["code"] for r in error.reasons] == ["None", "TransactionConflict"]
    assert error.reasons[1]["message"] == "Transaction is ongoing"
    assert {r["model"] for r in error.reasons} == {"Person"}
    assert error.reasons[0]["constraint"] == "email" and error.reasons[1]["constraint"] is None
    assert error.reasons[0]["id"] == error.reasons[1]["id"]
    assert "TransactionConflict" in str(error)
    assert email_row(plain, manager, tenant, "ada@x.com") is None


def test_a_validation_reason_is_not_retried(manager, tenant, sleeps):
    person = Person.create({"name": "Ada", "email": "ada@x.com"})
    handler = canned([[("None", ""), ("None", ""), ("ValidationError", "Item too large")]])
    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", handler):
        with pytest.raises(TransactionCanceledError, match="ValidationError") as caught:
            Person.update(person.person_id, {"email": "ada@y.com"})
    assert len(handler.bodies) == 1 and sleeps == []
    assert [r["code"] for r in caught.value.reasons] == ["None", "None", "ValidationError"]
    assert caught.value.reasons[2]["id"] == person.person_id
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)


def test_a_cancellation_without_reasons_is_a_transaction_canceled_error(manager, tenant):
    handler = canned([[]])
    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", handler):
        with pytest.raises(TransactionCanceledError) as caught:
            Person.create({"name": "Ada", "email": "ada@x.com"})
    assert [r["code"] for r in caught.value.reasons] == ["None", "None"]
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)


def test_a_failed_unique_row_names_the_field(manager, tenant, sleeps):
    handler = canned([[("ConditionalCheckFailed", "The conditional request failed"),
                       ("None", "")]])
    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", handler):
        with pytest.raises(ConditionalError, match="^email must be unique$") as caught:
            Person.create({"name": "Ada", "email": "ada@x.com"})
    assert sleeps == []
    reasons = caught.value.reasons
    assert [r["code"] for r in reasons] == ["ConditionalCheckFailed", "None"]
    assert reasons[0]["constraint"] == "email" and reasons[0]["model"] == "Person"
    assert reasons[0]["message"] == "The conditional request failed"
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)


def test_a_failed_item_condition_names_the_item(manager, tenant):
    person = Person.create({"name": "Ada", "email": "ada@x.com"})
    with pytest.raises(ConditionalError) as caught:
        Person.delete(person.person_id, condition={"name": "Eve"})
    assert str(caught.value) == f"Delete condition not met: Person {person.person_id}"
    assert caught.value.reasons[0] == {
        "code": "ConditionalCheckFailed",
        "message": caught.value.reasons[0]["message"],
        "model": "Person",
        "id": person.person_id,
        "constraint": None,
    }
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)

    handler = canned([[("None", ""), ("None", ""), ("ConditionalCheckFailed", "failed")]])
    with Hook(manager.client, "before-send.dynamodb.TransactWriteItems", handler):
        with pytest.raises(ConditionalError) as caught:
            Person.update(person.person_id, {"email": "ada@y.com"})
    assert str(caught.value) == f"Condition check failed: Person {person.person_id}"
    assert [r["code"] for r in caught.value.reasons][-1] == "ConditionalCheckFailed"
