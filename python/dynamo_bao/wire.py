"""The fast wire path: the core writes DynamoDB's JSON request bodies and reads the response
bodies, boto3 keeps the rest (credentials, endpoint resolution, signing, retries, HTTP, its
event hooks — so moto, OpenTelemetry and X-Ray keep working).

``call(client, "Query", params, schema=schema)`` runs one low-level call this way:

1. ``params`` (boto3's low-level request dict, AttributeValues with raw bytes in ``B``) is
   written as JSON by the core (:func:`dynamo_bao.core.encode_request`).
2. The client method is called with only the parameters botocore needs to route the request
   (``TableName``, the table names of ``RequestItems``/``TransactItems``: what DynamoDB's
   endpoint rules read), so botocore serializes almost nothing. A ``before-call`` handler puts
   the core's body into the request dict; everything after that event — compression,
   checksums, signing, and every retry (botocore rebuilds each attempt from that dict) — sees
   the core's body, exactly as if botocore had serialized it.
3. A ``before-parse`` handler takes the raw body of a 2xx response, decodes it with the core
   (:func:`dynamo_bao.core.decode_response`; with a ``schema``, items become model values) and
   hands botocore's parser ``{}`` instead; botocore still adds ``ResponseMetadata``. Error
   responses are left alone: botocore parses them, raises its ``ClientError`` (with
   ``CancellationReasons``), and its retry handlers see them as before.

Decisions:

* A caller's handlers on the client still run on every event, but on the fast path botocore
  only ever holds the routing parameters (``TableName``): a handler that changes request
  parameters (``provide-client-params``, ``before-parameter-build``) no longer changes what is
  sent, and one that reads them sees only the table. Handlers on the request
  (``before-sign``, ``before-send``) see the real body; handlers on the response
  (``after-call``) see the decoded result — with model values where a Schema decoded it.

* botocore emits ``before-parse`` (with ``customized_response_dict``) from 1.35.16 on;
  :data:`AVAILABLE` says whether the installed botocore has it, and :func:`install` refuses
  older ones with a :class:`ConfigurationError` (the boto3 path is then the only one).
* Only public botocore events are used (``before-call``, ``before-parse``), registered on the
  given client's own event system (never globally), once (``unique_id``), ours first for the
  body (so a caller's ``before-call`` handlers see what is sent) and last for the response (so
  a caller's ``before-parse`` handlers see the real body). botocore runs a more specific event
  name's handlers before a less specific one's, whatever ``register_first``/``_last`` say, so
  the body handler is on each operation's own name (``before-call.dynamodb.GetItem``) and the
  response handler on the bare ``before-parse``.
* A 2xx body the core cannot decode is a :class:`ValidationError`, unless it fails the
  ``x-amz-crc32`` DynamoDB sent: then it is left to botocore, whose checksum check retries it.
* The state of one call lives in a context variable set around the client call: botocore emits
  every event of a call on the calling thread, so threads and asyncio tasks sharing one client
  never see each other's state. A call is claimed by the first ``before-call`` of the same
  operation on the same client (compared by its ``Config`` object), so a request another
  handler makes from inside ours is sent as botocore would send it. (A nested call of the same
  operation on another client that also has these handlers, made by a handler while ours is in
  flight, would have its response decoded as ours: not something the library does.)
* A client that validates parameters (botocore's default; the caller's choice) refuses the
  routing parameters of most operations. That is found before anything is sent
  (``ParamValidationError``); the client is then remembered and from then on gets the real
  parameters, which botocore validates and serializes itself; only the response is read by the
  core. (Whether a client validates is not readable: its ``meta.config.parameter_validation``
  says True even when validation is off.) Clients from :func:`make_client` turn validation
  off: the core checks what it writes.
"""

from __future__ import annotations

import re
import weakref
import zlib
from contextvars import ContextVar
from typing import Any

import botocore
import botocore.exceptions as bexc
from botocore import xform_name
from botocore.config import Config

from . import core
from .concurrency import DEFAULT_MAX_WORKERS
from .exceptions import ConfigurationError, ValidationError

__all__ = ["AVAILABLE", "MIN_BOTOCORE", "OPERATIONS", "DEFAULT_POOL_SIZE", "install",
           "installed", "call", "make_client"]

#: The first botocore that emits ``before-parse``.
MIN_BOTOCORE = (1, 35, 16)


def _version(text: str) -> tuple[int, ...]:
    """``(1, 36, 0)`` of ``"1.36.0"`` (or ``"1.36.0rc1"``): the leading digits of each part."""
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in text.split(".")[:3])


#: Whether the installed botocore supports the fast path.
AVAILABLE = _version(botocore.__version__) >= MIN_BOTOCORE

#: The operations the fast path handles (the data plane).
OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

#: Connections kept per client by :func:`make_client`: the library's thread fan-out plus room
#: for the caller's own threads.
DEFAULT_POOL_SIZE = max(10, 2 * DEFAULT_MAX_WORKERS)

_BODY_HANDLER_ID = "dynamo_bao.wire.request-body"
_PARSE_HANDLER_ID = "dynamo_bao.wire.response-body"
_EMPTY_BODY = b"{}"


class _Call:
    """What one ``call`` needs its handlers to know."""

    __slots__ = ("operation", "config", "body", "schema", "claimed")

    def __init__(self, operation: str, config: Any, body: bytes | None, schema: Any) -> None:
        self.operation = operation
        self.config = config
        self.body = body
        self.schema = schema
        self.claimed = False


_CURRENT: ContextVar[_Call | None] = ContextVar("dynamo_bao_wire_call", default=None)

_installed: weakref.WeakSet = weakref.WeakSet()
_validating: weakref.WeakSet = weakref.WeakSet()
_METHODS = {operation: xform_name(operation) for operation in OPERATIONS}


def _put_body(params: dict, model: Any, context: dict, **_: Any) -> None:
    """``before-call``: the core's body replaces the one botocore serialized."""
    current = _CURRENT.get()
    if (
        current is None
        or current.claimed
        or current.operation != model.name
        or context.get("client_config") is not current.config
    ):
        return
    current.claimed = True
    if current.body is not None:
        params["body"] = current.body


def _take_body(
    operation_model: Any, response_dict: dict, customized_response_dict: dict, **_: Any
) -> None:
    """``before-parse``: a successful response's body is decoded by the core."""
    current = _CURRENT.get()
    if current is None or not current.claimed or current.operation != operation_model.name:
        return
    if not 200 <= response_dict["status_code"] < 300:
        return  # errors: botocore's parser, exceptions and retries as usual
    body = response_dict["body"]
    try:
        decoded = core.decode_response(body, current.schema)
    except ValidationError:
        if _damaged(response_dict["headers"], body):
            return  # botocore retries a body that fails DynamoDB's x-amz-crc32: let it
        raise
    customized_response_dict.update(decoded)
    response_dict["body"] = _EMPTY_BODY


def _damaged(headers: Any, body: bytes) -> bool:
    """Whether ``body`` fails the x-amz-crc32 DynamoDB sent with it (checked only when the
    core could not decode it: an intact body costs nothing, and a damaged one that happened
    to decode is retried by botocore's own check anyway)."""
    expected = headers.get("x-amz-crc32")
    return expected is not None and str(zlib.crc32(body) & 0xFFFFFFFF) != str(expected)


def install(client: Any) -> Any:
    """Register the fast path's handlers on ``client`` (idempotent); returns the client."""
    if client in _installed:
        return client
    if not AVAILABLE:
        raise ConfigurationError(
            f"the fast wire path needs botocore >= {'.'.join(map(str, MIN_BOTOCORE))} "
            f"(for its before-parse event); botocore {botocore.__version__} is installed"
        )
    events = client.meta.events
    # botocore runs the handlers of a more specific event name first (register_first/_last
    # only order one name's handlers): ours go on the most specific name for the body and
    # the least specific one for the response, to be first and last among all.
    for operation in OPERATIONS:
        events.register_first(f"before-call.dynamodb.{operation}", _put_body,
                              unique_id=f"{_BODY_HANDLER_ID}.{operation}")
    events.register_last("before-parse", _take_body, unique_id=_PARSE_HANDLER_ID)
    _installed.add(client)
    return client


def installed(client: Any) -> bool:
    """Whether :func:`install` registered the fast path on ``client``."""
    return client in _installed


def _routing_params(params: dict) -> dict:
    """The parameters DynamoDB's endpoint rules read, and nothing else."""
    routing: dict = {}
    table = params.get("TableName")
    if table is not None:
        routing["TableName"] = table
    request_items = params.get("RequestItems")
    if isinstance(request_items, dict):
        routing["RequestItems"] = {
            name: ({} if isinstance(entry, dict) else []) for name, entry in request_items.items()
        }
    transact_items = params.get("TransactItems")
    if isinstance(transact_items, (list, tuple)):
        routing["TransactItems"] = [
            {
                kind: {"TableName": action.get("TableName")}
                for kind, action in entry.items()
                if isinstance(action, dict)
            }
            for entry in transact_items
            if isinstance(entry, dict)
        ]
    return routing


def call(
    client: Any, operation: str, params: dict, schema: Any = None, *, body: bytes | None = None
) -> dict:
    """Run one DynamoDB ``operation`` (API name, e.g. ``"Query"``) through the fast path.

    Returns what the client method would return (``ResponseMetadata`` included); with
    ``schema``, ``Item``/``Items``/``Responses`` hold model value dicts. ``body``, when given,
    is sent as it is (already written by the core) and ``params`` only route the request.
    botocore's exceptions are raised unchanged.
    """
    method_name = _METHODS.get(operation)
    if method_name is None:
        raise ValidationError(
            f"operation {operation!r} is not one of the fast path's: "
            + ", ".join(sorted(OPERATIONS))
        )
    if client not in _installed:
        install(client)
    method = getattr(client, method_name)
    if client not in _validating:
        if body is None:
            body = core.encode_request(params)
        try:
            return _run(client, method, operation, _routing_params(params), body, schema)
        except bexc.ParamValidationError:
            _validating.add(client)  # raised before sending: nothing went out
    # botocore validates the real parameters (and so serializes them itself).
    return _run(client, method, operation, params, None, schema)


def _run(
    client: Any, method: Any, operation: str, params: dict, body: bytes | None, schema: Any
) -> dict:
    token = _CURRENT.set(_Call(operation, client.meta.config, body, schema))
    try:
        return method(**params)
    finally:
        _CURRENT.reset(token)


def make_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    max_pool_connections: int = DEFAULT_POOL_SIZE,
    config: Config | None = None,
    **kw: Any,
) -> Any:
    """A client from :func:`dynamo_bao.transport.make_client` with parameter validation off,
    ``max_pool_connections`` connections, and the fast path installed."""
    from . import transport  # transport sends through this module: import it late

    base = Config(parameter_validation=False, max_pool_connections=max_pool_connections)
    if config is not None:
        base = base.merge(config)
    return install(transport.make_client(region, endpoint_url, config=base, **kw))
