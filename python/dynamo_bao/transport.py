"""Everything that talks to DynamoDB: the only module that calls boto3/botocore.

Keeping AWS I/O in one place keeps the rest of the library pure (keys and items are built by the
core, this module sends them) and gives one spot where botocore's exceptions become
:mod:`dynamo_bao.exceptions` classes, always chained with ``raise ... from err``.

Clients are boto3's low-level ``dynamodb`` client: items travel in AttributeValue form, which is
what the core produces, so nothing is converted twice. Parameter validation is off because the core
already builds well-formed requests and botocore's validation costs time on every call.

Every data-plane request goes through :func:`send`, which picks the wire path per client: on a
client with :mod:`dynamo_bao.wire` installed (``init_models`` installs it unless the config says
``transport.wire = "boto3"`` / ``DYNAMO_BAO_WIRE=boto3``) the core writes the request body and
reads the response body; otherwise botocore does both. Reads given a model ``schema`` return
model value dicts in ``Item`` / ``Items`` / ``Responses`` on either path, so the layers above
never see which one ran.

A 2xx body that cannot be read is a :class:`ValidationError` on either path, never a raw
``AttributeError``/``TypeError`` nor a silently empty answer. On the boto3 path (decisions):
an exception raised inside botocore's parser (``{"Item": "x"}``) becomes that
ValidationError, chained; a ``Count``/``ScannedCount`` that is not an integer is refused; and
because botocore reads a body that is not JSON as an empty answer (an item "not found", an
empty page), :func:`send` keeps a reference to the raw 2xx body of its own calls — a
``before-parse`` handler registered once on the client, which only reads — and checks it is
a JSON object whenever botocore's answer came back empty (the only case where that is hidden;
real answers are not parsed twice). Items that do not fit their model are the core's
ValidationError naming the item (:meth:`Schema.from_item`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import random
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bexc
import botocore.session
from botocore.config import Config

from . import scopes, wire
from . import table as table_def
from .exceptions import (
    BaoError,
    BatchIncompleteError,
    ConditionalError,
    ConfigurationError,
    ValidationError,
)

__all__ = [
    "AWS_ERRORS",
    "LOCAL_REGION",
    "DEFAULT_TIMEOUT",
    "is_local_endpoint",
    "make_client",
    "translate_error",
    "aws_errors",
    "describe_table",
    "table_exists",
    "wait_for_table",
    "create_table",
    "update_table",
    "delete_table",
    "ensure_ttl",
    "put_item",
    "scan_items",
]

#: Region used for local endpoints when none is configured (local servers ignore it).
LOCAL_REGION = "us-east-1"
#: Dummy credentials for local endpoints. Letters and digits only: DynamoDB Local rejects others.
_LOCAL_ACCESS_KEY = "dynamobaolocal"
_LOCAL_SECRET_KEY = "dynamobaolocal"

#: The botocore exception types callers outside this module may need to catch (e.g. the CLI).
AWS_ERRORS: tuple[type[Exception], ...] = (bexc.BotoCoreError, bexc.ClientError)

#: Default bound, in seconds, on waiting for a table or index to become ACTIVE or to disappear.
DEFAULT_TIMEOUT = 300.0

_AUTH_ERROR_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
    }
)


def is_local_endpoint(endpoint_url: str | None) -> bool:
    """True for an endpoint on this machine (loopback address or ``localhost``)."""
    if not endpoint_url:
        return False
    try:
        host = urlsplit(endpoint_url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def make_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    config: Config | None = None,
    **kw: Any,
) -> Any:
    """A boto3 low-level ``dynamodb`` client with the library's settings.

    Without ``endpoint_url`` (production) boto3's normal region and credential chain applies. For
    a local endpoint (127.0.0.1 / localhost) the region defaults to ``us-east-1`` and, when the
    chain finds no credentials, dummy ones are given to this client only (``os.environ`` is never
    touched); the EC2 metadata lookup is skipped there, so a machine without AWS setup does not
    stall.
    ``config`` is merged over the defaults; other keyword arguments go to ``boto3 ... client()``.
    """
    base = Config(
        parameter_validation=False,
        retries={"mode": "standard"},
        max_pool_connections=wire.DEFAULT_POOL_SIZE,
    )
    if config is not None:
        base = base.merge(config)
    try:
        if is_local_endpoint(endpoint_url):
            return _make_local_client(region, endpoint_url, base, kw)
        session = boto3.session.Session(region_name=region)
        return session.client("dynamodb", endpoint_url=endpoint_url, config=base, **kw)
    except (bexc.BotoCoreError, bexc.ClientError) as err:
        raise translate_error(
            err, "creating the DynamoDB client", endpoint_url=endpoint_url
        ) from err
    except ValueError as err:  # botocore: "Invalid endpoint: ..."
        raise ConfigurationError(
            f"invalid DynamoDB endpoint {endpoint_url!r}: {_one_line(err)}"
        ) from err


def _make_local_client(
    region: str | None, endpoint_url: str | None, config: Config, kw: dict[str, Any]
) -> Any:
    core_session = botocore.session.Session()
    session = boto3.session.Session(botocore_session=core_session, region_name=region)
    if "aws_access_key_id" not in kw:
        resolver = core_session.get_component("credential_provider")
        with contextlib.suppress(Exception):
            resolver.remove("iam-role")  # instance metadata: a network call, pointless locally
        try:
            credentials = core_session.get_credentials()
        except bexc.BotoCoreError:
            credentials = None  # broken profile: a local server does not check credentials anyway
        if credentials is None:
            kw = {
                **kw,
                "aws_access_key_id": _LOCAL_ACCESS_KEY,
                "aws_secret_access_key": _LOCAL_SECRET_KEY,
            }
    if "region_name" not in kw:
        kw = {**kw, "region_name": region or session.region_name or LOCAL_REGION}
    return session.client("dynamodb", endpoint_url=endpoint_url, config=config, **kw)


def translate_error(
    err: Exception,
    action: str,
    *,
    table: str | None = None,
    endpoint_url: str | None = None,
) -> BaoError:
    """The dynamo-bao exception for a botocore error (the caller raises it ``from err``).

    Missing region/credentials, an unreachable endpoint, rejected credentials and a missing table
    are :class:`ConfigurationError` (the fix is a setting); a failed condition is
    :class:`ConditionalError`; anything else is :class:`BaoError`. Messages are one line.
    """
    if isinstance(err, BaoError):
        return err
    if isinstance(err, bexc.ClientError):
        error = err.response.get("Error", {}) if isinstance(err.response, dict) else {}
        code = str(error.get("Code", "") or "")
        message = _one_line(error.get("Message", "") or err)
        if code == "ResourceNotFoundException":
            if table is not None:
                return ConfigurationError(f"{action}: table {table!r} does not exist")
            return ConfigurationError(f"{action}: {message or 'resource not found'}")
        if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            return ConditionalError(f"{action}: {message or code}")
        if code in _AUTH_ERROR_CODES:
            return ConfigurationError(f"{action}: AWS rejected the credentials ({code}): {message}")
        return BaoError(f"{action} failed ({code or 'error'}): {message}")
    if isinstance(err, bexc.NoRegionError):
        return ConfigurationError(
            "no AWS region configured: pass a region (--region / region=) or set AWS_REGION"
        )
    if isinstance(err, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        return ConfigurationError(
            "no usable AWS credentials found: configure them as for any boto3 program "
            "(environment, ~/.aws, SSO or an instance role)"
        )
    if isinstance(err, (bexc.ConnectionError, bexc.ConnectionClosedError)):
        url = getattr(err, "kwargs", {}).get("endpoint_url") or endpoint_url
        where = f" at {url}" if url else ""
        # EndpointConnectionError's own text only repeats the URL; other kinds say what failed.
        detail = "" if type(err) is bexc.EndpointConnectionError else f" ({_one_line(err)})"
        return ConfigurationError(f"{action}: cannot reach DynamoDB{where}{detail}")
    return BaoError(f"{action} failed: {_one_line(err)}")


@contextlib.contextmanager
def aws_errors(action: str, *, table: str | None = None, client: Any = None) -> Iterator[None]:
    """Run a block of boto3 calls, turning botocore errors into dynamo-bao errors."""
    try:
        yield
    except (bexc.BotoCoreError, bexc.ClientError) as err:
        endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
        raise translate_error(err, action, table=table, endpoint_url=endpoint) from err


def _error_code(err: bexc.ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------- table admin


def describe_table(client: Any, name: str) -> dict[str, Any]:
    """DescribeTable's ``Table``; a missing table is a :class:`ConfigurationError`."""
    with aws_errors(f"describing table {name!r}", table=name, client=client):
        return client.describe_table(TableName=name)["Table"]


def table_exists(client: Any, name: str) -> bool:
    """Whether the table exists (in any status)."""
    try:
        client.describe_table(TableName=name)
    except bexc.ClientError as err:
        if _error_code(err) == "ResourceNotFoundException":
            return False
        raise translate_error(err, f"describing table {name!r}", table=name) from err
    except bexc.BotoCoreError as err:
        raise translate_error(
            err, f"describing table {name!r}", table=name, endpoint_url=client.meta.endpoint_url
        ) from err
    return True


def _poll(check: Callable[[], bool], timeout: float, on_timeout: Callable[[], NoReturn]) -> None:
    """Call ``check`` until it returns True, backing off from 50 ms to 2 s, for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if check():
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            on_timeout()
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 2.0)


def _is_active(description: dict[str, Any]) -> bool:
    if description.get("TableStatus") != "ACTIVE":
        return False
    return all(
        index.get("IndexStatus", "ACTIVE") == "ACTIVE"
        for index in description.get("GlobalSecondaryIndexes", [])
    )


def wait_for_table(client: Any, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Wait until the table and all its indexes are ACTIVE; return its description."""
    latest: dict[str, Any] = {}

    def check() -> bool:
        latest.clear()
        latest.update(describe_table(client, name))
        return _is_active(latest)

    def fail() -> NoReturn:
        statuses = ", ".join(
            [f"table {latest.get('TableStatus')}"]
            + [
                f"{i.get('IndexName')} {i.get('IndexStatus')}"
                for i in latest.get("GlobalSecondaryIndexes", [])
                if i.get("IndexStatus", "ACTIVE") != "ACTIVE"
            ]
        )
        raise BaoError(
            f"table {name!r} did not become active within {timeout:g} seconds ({statuses})"
        )

    _poll(check, timeout, fail)
    return dict(latest)


def ensure_ttl(client: Any, name: str) -> bool:
    """Enable TTL on ``ttl`` unless it is ENABLED/ENABLING; return whether this call enabled it.

    While TTL is DISABLING DynamoDB refuses to enable it, so that state is left alone (as
    DynamoBao's ``bao-update-table`` does). TTL on another attribute is a configuration error:
    a table has one TTL attribute and the library stores expiry times in ``ttl``.
    """
    action = f"enabling TTL on table {name!r}"
    with aws_errors(action, table=name, client=client):
        ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        status = ttl.get("TimeToLiveStatus", "DISABLED")
        attribute = ttl.get("AttributeName")
        if status in ("ENABLED", "ENABLING"):
            if attribute and attribute != table_def.TTL_ATTRIBUTE:
                raise ConfigurationError(
                    f"table {name!r} has TTL on attribute {attribute!r}; dynamo-bao needs it on "
                    f"{table_def.TTL_ATTRIBUTE!r}"
                )
            return False
        if status == "DISABLING":
            return False
        client.update_time_to_live(**table_def.ttl_params(name))
    return True


def _check_key_schema(name: str, description: dict[str, Any]) -> None:
    key = {k["AttributeName"]: k["KeyType"] for k in description.get("KeySchema", [])}
    expected = {table_def.PK_ATTRIBUTE: "HASH", table_def.SK_ATTRIBUTE: "RANGE"}
    if key != expected:
        found = ", ".join(f"{a} {t}" for a, t in key.items()) or "none"
        raise ConfigurationError(
            f"table {name!r} exists but its key is ({found}), not (_pk HASH, _sk RANGE); "
            "it is not a dynamo-bao table"
        )


def create_table(
    client: Any,
    name: str,
    include_search_index: bool = True,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> bool:
    """Create the table (see :mod:`dynamo_bao.table`), wait until ACTIVE, enable TTL on ``ttl``.

    Idempotent: an existing table is not an error (it is only checked to have the ``_pk``/``_sk``
    key, waited for and given TTL; missing indexes are :func:`update_table`'s job). Returns True
    when this call created the table.
    """
    created = True
    try:
        client.create_table(**table_def.create_table_params(name, include_search_index))
    except bexc.ClientError as err:
        if _error_code(err) != "ResourceInUseException":
            raise translate_error(err, f"creating table {name!r}", table=name) from err
        created = False
    except bexc.BotoCoreError as err:
        raise translate_error(
            err, f"creating table {name!r}", table=name, endpoint_url=client.meta.endpoint_url
        ) from err
    description = wait_for_table(client, name, timeout=timeout)
    if not created:
        _check_key_schema(name, description)
    ensure_ttl(client, name)
    return created


def _throughput_for_new_index(description: dict[str, Any]) -> dict[str, int] | None:
    """A provisioned table needs throughput on a new GSI (reuse the table's); on-demand, none."""
    billing = description.get("BillingModeSummary", {}).get("BillingMode")
    if billing == "PAY_PER_REQUEST":
        return None
    throughput = description.get("ProvisionedThroughput", {})
    read, write = throughput.get("ReadCapacityUnits"), throughput.get("WriteCapacityUnits")
    if not read or not write:
        return None
    return {"ReadCapacityUnits": int(read), "WriteCapacityUnits": int(write)}


def update_table(client: Any, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Bring an existing table up to date, like DynamoBao's ``bao-update-table``.

    Adds each missing index of :data:`dynamo_bao.table.INDEX_NAMES` with one UpdateTable call at a
    time (DynamoDB allows one GSI creation per call), waiting for the table and index to be ACTIVE
    after each, then enables TTL on ``ttl``. Existing indexes are not compared or changed. Returns
    what was added: index names in order, then ``"ttl"`` if TTL was enabled; ``[]`` when nothing
    was needed.
    """
    description = wait_for_table(client, name, timeout=timeout)
    _check_key_schema(name, description)
    existing = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
    throughput = _throughput_for_new_index(description)
    added: list[str] = []
    for index_name in table_def.INDEX_NAMES:
        if index_name in existing:
            continue
        with aws_errors(
            f"adding index {index_name!r} to table {name!r}", table=name, client=client
        ):
            client.update_table(**table_def.add_index_params(name, index_name, throughput))
        wait_for_table(client, name, timeout=timeout)
        added.append(index_name)
    if ensure_ttl(client, name):
        added.append(table_def.TTL_ATTRIBUTE)
    return added


def delete_table(client: Any, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Delete the table and wait until it is gone; a missing table is a ConfigurationError."""
    with aws_errors(f"deleting table {name!r}", table=name, client=client):
        client.delete_table(TableName=name)

    def fail() -> NoReturn:
        raise BaoError(f"table {name!r} was not deleted within {timeout:g} seconds")

    _poll(lambda: not table_exists(client, name), timeout, fail)


# --------------------------------------------------------------------------- items


_METHODS = {
    "GetItem": "get_item",
    "PutItem": "put_item",
    "UpdateItem": "update_item",
    "DeleteItem": "delete_item",
    "Query": "query",
    "Scan": "scan",
    "BatchGetItem": "batch_get_item",
    "BatchWriteItem": "batch_write_item",
    "TransactWriteItems": "transact_write_items",
}


def send(client: Any, operation: str, params: dict[str, Any], schema: Any = None) -> dict:
    """One data-plane request (``operation`` as DynamoDB names it) on the client's wire path.

    With ``schema`` (a model's core Schema), ``Item``, ``Items`` and ``Responses[table]`` of
    the response are that model's value dicts; otherwise AttributeValues, as botocore returns
    them. botocore's exceptions propagate (callers translate them)."""
    if wire.installed(client):
        return wire.call(client, operation, params, schema)
    if client not in _watched:
        _watch(client)
    reading = _Reading(operation)
    token = _READING.set(reading)
    try:
        response = getattr(client, _METHODS[operation])(**params)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as err:
        if isinstance(err, BaoError) or not _raised_in_parser(err):
            raise
        raise ValidationError(
            f"invalid DynamoDB response to {operation}: botocore could not read it "
            f"({type(err).__name__}: {err})"
        ) from err
    finally:
        _READING.reset(token)
    _check_read(operation, response, reading.body)
    if schema is not None:
        _to_values(response, schema)
    return response


class _Reading:
    """The raw 2xx body of the boto3-path call :func:`send` is making (see
    :func:`_keep_body`)."""

    __slots__ = ("operation", "body")

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.body: bytes | None = None


_READING: ContextVar[_Reading | None] = ContextVar("dynamo_bao_boto3_reading", default=None)
_watched: weakref.WeakSet = weakref.WeakSet()
_KEEP_BODY_ID = "dynamo_bao.transport.keep-body"


def _keep_body(operation_model: Any, response_dict: dict, **_: Any) -> None:
    """``before-parse`` on the boto3 path: remember the 2xx body of our own call (botocore
    emits every event of a call on the calling thread, so the context variable is the
    call's)."""
    reading = _READING.get()
    if (
        reading is not None
        and reading.operation == operation_model.name
        and 200 <= response_dict.get("status_code", 0) < 300
    ):
        reading.body = response_dict.get("body")


def _watch(client: Any) -> None:
    events = getattr(getattr(client, "meta", None), "events", None)
    # Older botocore emits no before-parse (and a stand-in client may have no events): then
    # there is nothing to remember.
    if wire.AVAILABLE and events is not None:
        events.register_last("before-parse", _keep_body, unique_id=_KEEP_BODY_ID)
    _watched.add(client)


def _raised_in_parser(err: BaseException) -> bool:
    """Whether ``err`` was raised inside botocore's response parser (a body of the wrong
    shape), not by a caller's event handler."""
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "botocore.parsers":
            return True
        tb = tb.tb_next
    return False


def _check_read(operation: str, response: dict, body: Any) -> None:
    """What botocore's parser lets through unchecked: counts of another type, and a body that
    is not JSON, which it reads as an empty answer."""
    for name in ("Count", "ScannedCount"):
        value = response.get(name)
        if value is not None and type(value) is not int:
            raise ValidationError(
                f"invalid DynamoDB response to {operation}: {name} must be an integer"
            )
    if body and len(response) <= 1 and response.keys() <= {"ResponseMetadata"}:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if type(doc) is not dict:
            raise ValidationError(
                f"invalid DynamoDB response to {operation}: the body is not a JSON object"
            )


def _to_values(response: dict, schema: Any) -> None:
    """botocore's AttributeValue items of a response as model values, in place."""
    item = response.get("Item")
    if item is not None:
        response["Item"] = schema.from_item(item)
    items = response.get("Items")
    if items is not None:
        response["Items"] = schema.from_items(items)
    responses = response.get("Responses")
    if isinstance(responses, dict):
        for table, table_items in responses.items():
            responses[table] = schema.from_items(table_items)


def put_item(client: Any, table_name: str, item: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """PutItem of an item in AttributeValue form; extra keyword arguments go to PutItem."""
    with aws_errors(f"writing to table {table_name!r}", table=table_name, client=client):
        response = send(client, "PutItem", {"TableName": table_name, "Item": item, **kw})
    return _metered("write", response)


def scan_items(
    client: Any, table_name: str, *, consistent_read: bool = True, **kw: Any
) -> list[dict[str, Any]]:
    """Every item of the table (all Scan pages), in AttributeValue form. For demos and tests."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table_name, "ConsistentRead": consistent_read, **kw}
    with aws_errors(f"scanning table {table_name!r}", table=table_name, client=client):
        while True:
            page = send(client, "Scan", request)
            items.extend(page.get("Items", []))
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                return items
            request["ExclusiveStartKey"] = last_key


# ------------------------------------------------------------------------------------------
# Item operations. Every data request asks for its consumed capacity (DESIGN §7 / issue 6).

_CAPACITY = "TOTAL"
_BATCH_GET_LIMIT = 100
_BATCH_RETRIES = 8
#: Throttling that outlasted botocore's own retries: BatchGetItem backs off and retries it like
#: unprocessed keys (DynamoBao never retried it, spec §11.23).
_THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)

#: Capacity meters of the running code: callables ``meter(kind, consumed_capacity)`` (kind
#: ``"read"`` or ``"write"``, the response's ConsumedCapacity as DynamoDB gave it) called after
#: every data response. A context variable, so threads and tasks the library starts (which copy
#: the caller's context) feed the same meters; the batch context installs one
#: (:mod:`dynamo_bao.batch`) — this module does not know what a meter is for.
_meters: ContextVar[tuple[Callable[[str, Any], None], ...]] = ContextVar(
    "dynamo_bao_capacity_meters", default=()
)


def set_capacity_meters(meters: tuple[Callable[[str, Any], None], ...]) -> Token:
    """Install exactly ``meters`` in the current context until :func:`restore_capacity_meters`
    (for scopes whose exit may run in a copy of the entering context, which a ``with`` block
    of :func:`use_capacity_meters` cannot serve)."""
    return _meters.set(tuple(meters))


def restore_capacity_meters(token: Token) -> None:
    """Undo a :func:`set_capacity_meters` (also from a copy of the context that set it)."""
    scopes.restore(_meters, token, ())


def capacity_meters() -> tuple[Callable[[str, Any], None], ...]:
    """The meters installed in the current context."""
    return _meters.get()


@contextlib.contextmanager
def use_capacity_meters(meters: tuple[Callable[[str, Any], None], ...]) -> Iterator[None]:
    """Run a block with exactly ``meters`` installed (the caller decides whether to keep the
    outer ones)."""
    token = _meters.set(tuple(meters))
    try:
        yield
    finally:
        _meters.reset(token)


def _metered(kind: str, response: dict) -> dict:
    meters = _meters.get()
    if meters:
        consumed = response.get("ConsumedCapacity")
        if consumed:
            for meter in meters:
                meter(kind, consumed)
    return response


def get_item(
    client: Any, table: str, key: dict, *, consistent: bool = False, schema: Any = None
) -> dict:
    """GetItem; the response (``Item`` absent when there is none; values with ``schema``)."""
    params = {
        "TableName": table,
        "Key": key,
        "ConsistentRead": consistent,
        "ReturnConsumedCapacity": _CAPACITY,
    }
    with aws_errors("reading an item", table=table):
        response = send(client, "GetItem", params, schema)
    return _metered("read", response)


def update_item(client: Any, table: str, **params: Any) -> dict:
    """UpdateItem with the caller's expressions; a failed condition is ConditionalError,
    chained to botocore's error: :func:`retry_attempts` says whether a re-sent attempt got it,
    :func:`failed_condition_item` gives the stored item when the request asked for
    ``ReturnValuesOnConditionCheckFailure``."""
    with aws_errors("writing an item", table=table):
        response = send(
            client,
            "UpdateItem",
            {"TableName": table, "ReturnConsumedCapacity": _CAPACITY, **params},
        )
    return _metered("write", response)


def delete_item(client: Any, table: str, **params: Any) -> dict:
    """DeleteItem; a failed condition is ConditionalError (chained, as for
    :func:`update_item`)."""
    with aws_errors("deleting an item", table=table):
        response = send(
            client,
            "DeleteItem",
            {"TableName": table, "ReturnConsumedCapacity": _CAPACITY, **params},
        )
    return _metered("write", response)


def query(client: Any, table: str, *, schema: Any = None, **params: Any) -> dict:
    """One Query request (one page; ``Items`` as values with ``schema``). Querying an index
    the table lacks (an older table: ``iter_index`` / ``iter_search_index`` came later) is a
    :class:`ConfigurationError` saying how to add it."""
    try:
        response = send(
            client,
            "Query",
            {"TableName": table, "ReturnConsumedCapacity": _CAPACITY, **params},
            schema,
        )
    except bexc.ClientError as err:
        index = params.get("IndexName")
        if index and _is_missing_index(err):
            raise ConfigurationError(
                f"Index '{index}' is missing on table '{table}'. "
                "Run 'bao update-table' to add it."
            ) from err
        raise translate_error(err, "querying", table=table) from err
    except bexc.BotoCoreError as err:
        raise translate_error(err, "querying", table=table) from err
    return _metered("read", response)


def _is_missing_index(err: bexc.ClientError) -> bool:
    """DynamoDB says ValidationException "The table does not have the specified index";
    DynamoDB Local and moto say ResourceNotFoundException and name the index."""
    code = _error_code(err)
    message = str(err.response.get("Error", {}).get("Message", "")).lower()
    if code == "ValidationException":
        return "specified index" in message
    return code == "ResourceNotFoundException" and "index" in message


#: Cancellation reasons that another try may cure (DynamoDB's CancellationReason codes).
_TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
#: Whole-request errors of a transaction that outlasted botocore's own retries and another try
#: may cure (the same token still in flight; throttling).
_TRANSIENT_TRANSACTION_ERRORS = _THROTTLING_CODES | {"TransactionInProgressException"}
#: Tries of one transaction (the first included) and the cap of the jittered backoff between.
TRANSACT_TRIES = 5
TRANSACT_BACKOFF_CAP = 1.0


@dataclass
class Cancelled:
    """A transaction DynamoDB cancelled, as it explained it.

    ``reasons``: one ``{"Code", "Message"[, "Item"]}`` per action, in order (``Item``, in
    botocore's AttributeValue form, where the action asked for
    ``ReturnValuesOnConditionCheckFailure``); ``error``: the botocore ClientError of the last
    try, to chain; ``retried``: some request of this write was re-sent after an attempt whose
    outcome is unknown (botocore's retries; a try answered ``TransactionInProgressException``),
    so an earlier one may have been applied — the cancellation may be of a repeat of the
    caller's own, already applied, write. (A cancelled try applied nothing: trying again after
    a conflict does not count.)"""

    reasons: list[dict]
    error: Exception
    retried: bool


def retry_attempts(err: Exception) -> int:
    """How many times botocore re-sent the request whose answer ``err`` is (0: the first
    attempt answered). Read from ``err`` or, for a translated error, its ``__cause__``."""
    for candidate in (err, err.__cause__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
    return 0


def failed_condition_item(err: Exception) -> dict | None:
    """The stored item a ConditionalCheckFailedException carried (the request asked for
    ``ReturnValuesOnConditionCheckFailure="ALL_OLD"`` and the item exists), AttributeValues
    as botocore parsed them on either wire path; else None."""
    for candidate in (err, err.__cause__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            item = response.get("Item")
            return item if isinstance(item, dict) else None
    return None


def transact_write(
    client: Any,
    items: list[dict],
    *,
    token: str | None = None,
    sleep: Callable[[float], Any] | None = None,
    tries: int = TRANSACT_TRIES,
) -> tuple[dict | None, Cancelled | None]:
    """TransactWriteItems of one logical write. Returns ``(response, None)``, or
    ``(None, Cancelled)`` when DynamoDB cancelled it for a reason retries did not cure, so the
    caller can say which part failed and why.

    Decisions:

    * Every request carries a ``ClientRequestToken`` (``token``, else a fresh uuid4), the same
      on all of botocore's re-sends of one try (botocore re-sends the same body): DynamoDB then
      applies the transaction at most once within its 10-minute idempotency window and answers
      a repeat with the first success. (Same token, same parameters: never
      IdempotentParameterMismatch.) A try after ``TransactionInProgressException`` or
      throttling keeps the token (an attempt of it may still land). A try after a
      *cancellation* gets a fresh token: with the token, a cancelled answer means no attempt of
      that try was applied (an applied one would have made the repeat a success), so a new
      token cannot apply it twice — and DynamoDB does not document whether a token's
      cancelled outcome is replayed, which would make the same token's tries pointless.
    * A cancellation whose reasons are all conflicts or throttling (``TransactionConflict``,
      ``ThrottlingError``, ``ProvisionedThroughputExceeded``; ``None`` for the actions that did
      not fail) and the errors in ``_TRANSIENT_TRANSACTION_ERRORS`` are tried again, ``tries``
      times in all, after full-jitter exponential backoff (50 ms doubling, capped at
      ``TRANSACT_BACKOFF_CAP`` s; ``sleep`` is injectable for tests). Any other reason — a
      failed condition above all — is returned at once.
    """
    params = {
        "TransactItems": items,
        "ClientRequestToken": token or str(uuid.uuid4()),
        "ReturnConsumedCapacity": _CAPACITY,
    }
    retried = False
    for attempt in range(max(1, tries)):
        last = attempt + 1 >= max(1, tries)
        try:
            response = send(client, "TransactWriteItems", params)
        except bexc.ClientError as err:
            retried = retried or retry_attempts(err) > 0
            code = _error_code(err)
            if code == "TransactionCanceledException":
                reasons = _cancellation_reasons(err)
                codes = {str(reason.get("Code", "None")) for reason in reasons} - {"None"}
                if not last and codes and codes <= _TRANSIENT_REASONS:
                    _transaction_backoff(sleep, attempt)
                    params["ClientRequestToken"] = str(uuid.uuid4())  # see Decisions
                    continue
                return None, Cancelled(reasons, err, retried)
            if not last and code in _TRANSIENT_TRANSACTION_ERRORS:
                retried = True  # an in-flight or throttled try may still be applied
                _transaction_backoff(sleep, attempt)
                continue
            raise translate_error(err, "writing a transaction") from err
        except bexc.BotoCoreError as err:
            raise translate_error(err, "writing a transaction") from err
        return _metered("write", response), None
    raise AssertionError("unreachable")  # the last try returns or raises


#: What the tries of a transaction wait with, unless the caller gives ``sleep`` (tests swap it).
_transaction_sleep: Callable[[float], Any] = time.sleep


def _transaction_backoff(sleep: Callable[[float], Any] | None, attempt: int) -> None:
    (sleep or _transaction_sleep)(random.uniform(0, min(TRANSACT_BACKOFF_CAP, 0.05 * 2**attempt)))


def _cancellation_reasons(err: bexc.ClientError) -> list[dict]:
    """The CancellationReasons of a TransactionCanceledException; from its message on servers
    that only list the codes there ("... [ConditionalCheckFailed, None]")."""
    reasons = err.response.get("CancellationReasons") or []
    if reasons:
        return [dict(reason) for reason in reasons if isinstance(reason, dict)]
    message = str(err.response.get("Error", {}).get("Message", ""))
    start, end = message.rfind("["), message.rfind("]")
    if start < 0 or end < start:
        return []
    return [{"Code": code.strip()} for code in message[start + 1 : end].split(",") if code.strip()]


def _batch_until_done(
    client: Any,
    operation: str,
    table: str,
    pending: dict,
    *,
    unprocessed_member: str,
    kind: str,
    action: str,
    sleep: Callable | None,
    consumed: list | None,
    schema: Any = None,
    on_response: Callable[[dict], None] | None = None,
) -> tuple[dict, BaoError | None]:
    """Send one BatchGetItem / BatchWriteItem of ``pending`` and send again what DynamoDB left
    unprocessed — also throttling that outlasted botocore's own retries — with jittered
    exponential backoff. Each response goes to ``on_response``; its ConsumedCapacity entries
    to ``consumed`` when given.

    Returns ``(what is still pending, None)`` — ``({}, None)`` when all was done — or, when a
    request failed (a connection error, a non-retryable error, a response that could not be
    read), ``(what that request carried, the dynamo-bao error chaining the original)``: the
    caller reports it as not done, so a failure part-way never loses the rest."""
    for attempt in range(_BATCH_RETRIES + 1):
        try:
            response = send(
                client,
                operation,
                {"RequestItems": pending, "ReturnConsumedCapacity": _CAPACITY},
                schema,
            )
        except bexc.ClientError as err:
            if _error_code(err) not in _THROTTLING_CODES:
                return pending, _chained(translate_error(err, action, table=table), err)
            response = {unprocessed_member: pending}  # nothing was done: all of it again
        except Exception as err:  # noqa: BLE001 - any failure of the request: report, lose nothing
            return pending, _chained(translate_error(err, action, table=table), err)
        _metered(kind, response)
        if consumed is not None:
            consumed.extend(entry for entry in _as_list(response.get("ConsumedCapacity")) if entry)
        if on_response is not None:
            on_response(response)
        pending = response.get(unprocessed_member) or {}
        if not pending:
            return {}, None
        if attempt < _BATCH_RETRIES:
            (sleep or time.sleep)(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
    return pending, None


def _chained(error: BaoError, cause: Exception) -> BaoError:
    """``error`` with ``cause`` as its ``__cause__`` (as ``raise error from cause`` would)."""
    if error is not cause:
        error.__cause__ = cause
    return error


def stored_key(item: Any) -> tuple[str, str] | None:
    """``(_pk, _sk)`` of an item or key in AttributeValue form; None when it has none."""
    if isinstance(item, dict):
        pk, sk = item.get("_pk"), item.get("_sk")
        if isinstance(pk, dict) and isinstance(sk, dict):
            pk, sk = pk.get("S"), sk.get("S")
            if isinstance(pk, str) and isinstance(sk, str):
                return pk, sk
    return None


def batch_get(
    client: Any,
    table: str,
    keys: list[dict],
    *,
    sleep: Callable | None = None,
    consumed: list | None = None,
    schema: Any = None,
    key_of: Callable[[Any], tuple[str, str] | None] | None = None,
) -> list:
    """BatchGetItem of any number of keys (chunks of 100). Unprocessed keys — and throttling
    that outlasted botocore's retries — are retried with jittered exponential backoff. When
    keys stay unread, or a request fails (its cause chained), :class:`BatchIncompleteError`
    carries every key not read (``unprocessed``: those of the failed or unfinished chunk and
    of the chunks not sent yet) and the items read so far (``done``), in AttributeValue form —
    never silently dropped (DESIGN §6.7). Each response's ConsumedCapacity entries are
    appended to ``consumed`` when it is given. With ``schema`` the items returned are that
    model's values.

    Decisions:

    * A response holding an item whose key was not asked for in that request, or one key
      twice, is a :class:`ValidationError` and none of the response is used: a server (or
      anything in between) must never hand an item of another key — of another tenant — to
      the caller. Without ``schema`` the items' stored ``_pk``/``_sk`` are checked. With
      ``schema`` the items are decoded straight into model values (the fast wire path's
      one-pass decoding; the stored key attributes are not kept), and ``key_of`` gives each
      one's ``(_pk, _sk)`` from its values (the caller knows the tenant): an item of another
      tenant with an id that was asked for then shows as that id answered twice.
    """
    items: list[dict] = []
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        chunk = keys[start : start + _BATCH_GET_LIMIT]
        left, error = _batch_until_done(
            client,
            "BatchGetItem",
            table,
            {table: {"Keys": chunk}},
            unprocessed_member="UnprocessedKeys",
            kind="read",
            action="reading a batch of items",
            sleep=sleep,
            consumed=consumed,
            schema=schema,
            on_response=_collector(
                table, {stored_key(key) for key in chunk}, items, key_of or stored_key
            ),
        )
        if left or error is not None:
            unread = list(left.get(table, {}).get("Keys", ())) + keys[start + _BATCH_GET_LIMIT :]
            why = error if error is not None else f"unprocessed after {_BATCH_RETRIES} retries"
            raise BatchIncompleteError(
                f"{len(unread)} of {len(keys)} keys were not read: {why}",
                unprocessed=unread,
                done=items,
            ) from error
    return items


def _collector(
    table: str, asked: set, items: list, key_of: Callable[[Any], tuple[str, str] | None]
) -> Callable[[dict], None]:
    """A BatchGetItem response handler adding the table's items to ``items``, after checking
    that each one's key (``key_of``) is among ``asked`` and not answered before."""
    answered: set = set()

    def collect(response: dict) -> None:
        responses = response.get("Responses") or {}
        got = responses.get(table, []) if isinstance(responses, dict) else None
        if not isinstance(got, list):
            raise ValidationError("the BatchGetItem response is malformed: no list of items")
        keys = [key_of(item) for item in got]
        for key in keys:
            if key not in asked or key in answered:
                # The key is not shown: it may be another tenant's.
                raise ValidationError(
                    "the BatchGetItem response holds an item that was not requested; "
                    "nothing of it is used"
                )
            answered.add(key)
        items.extend(got)

    return collect


_BATCH_WRITE_LIMIT = 25


def batch_write(
    client: Any,
    table: str,
    items: list[dict],
    *,
    sleep: Callable | None = None,
    consumed: list | None = None,
) -> None:
    """BatchWriteItem of PutRequests for any number of items (chunks of 25, DynamoDB's limit).
    Unprocessed items — and throttling that outlasted botocore's retries — are retried with
    jittered exponential backoff. Each response's ConsumedCapacity entries are appended to
    ``consumed`` when given.

    When items stay unwritten, or a request fails part-way (connection refused, a
    non-retryable error, a response lost or unreadable: its cause chained),
    :class:`BatchIncompleteError` carries in ``unprocessed`` every item not known to be
    written — those of the failed or unfinished chunk and of the chunks not sent yet — and in
    ``done`` the items written (earlier chunks stay written: a batch write is not a
    transaction).

    Decisions:

    * The items of a request that failed are reported as not done although they may have
      been written (its outcome is unknown when the connection broke or botocore had
      retried it): a put of the same item again is harmless, a lost item is not.
    """
    written: list[dict] = []
    for start in range(0, len(items), _BATCH_WRITE_LIMIT):
        chunk = items[start : start + _BATCH_WRITE_LIMIT]
        left, error = _batch_until_done(
            client,
            "BatchWriteItem",
            table,
            {table: [{"PutRequest": {"Item": item}} for item in chunk]},
            unprocessed_member="UnprocessedItems",
            kind="write",
            action="writing a batch of items",
            sleep=sleep,
            consumed=consumed,
        )
        if not left and error is None:
            written.extend(chunk)
            continue
        unwritten = [request["PutRequest"]["Item"] for request in left.get(table, ())]
        not_done = {stored_key(item) for item in unwritten}
        written.extend(item for item in chunk if stored_key(item) not in not_done)
        unwritten += items[start + _BATCH_WRITE_LIMIT :]
        if error is None:
            why = f"unprocessed after {_BATCH_RETRIES} retries"
        else:
            why = (
                f"{error}; the {len(not_done)} items of the failed request may have been "
                "written: putting them again is safe"
            )
        raise BatchIncompleteError(
            f"{len(unwritten)} of {len(items)} items were not written ({len(written)} were: "
            f"a batch write is not a transaction): {why}",
            unprocessed=unwritten,
            done=written,
        ) from error


def _as_list(consumed: Any) -> list:
    if not consumed:
        return []
    return [consumed] if isinstance(consumed, dict) else list(consumed)
