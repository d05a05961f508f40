"""The examples/ modules, driven for real against the embedded server: the ASGI app called
with hand-built scope/receive/send, the WSGI app with wsgiref's testing environ, the Lambda
handler with API Gateway event dicts, and the background job across tenants."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

import dynamo_bao as bao
from dynamo_bao import fields, transport
from dynamo_bao.concurrency import run_in_thread
from dynamo_bao.exceptions import InvalidTenantIdError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (a plain script folder, not a package)."""
    module_name = f"bao_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


asgi_example = load_example("asgi_tenant_middleware")
wsgi_example = load_example("wsgi_tenant_middleware")
lambda_example = load_example("lambda_handler")
job_example = load_example("background_job")
Subscription = job_example.Subscription


class ExNote(bao.BaoModel):
    model_prefix = "exn"
    note_id = fields.UlidField(auto_assign=True)
    text = fields.StringField(required=True)
    primary_key = bao.PrimaryKey("modelPrefix", "note_id")


#: Who may act for which tenant, by the caller's token (the apps' authorisation check).
GRANTS = {"token-ada": {"acme"}, "token-bob": {"globex"}, "token-root": {"acme", "globex"}}


@pytest.fixture
def client(dynamodb_endpoint):
    return transport.make_client(endpoint_url=dynamodb_endpoint)


@pytest.fixture
def manager(client, table_name):
    manager = bao.init_models({
        "db": {"table_name": table_name},
        "tenancy": {"enabled": True},
        "models": [ExNote, Subscription],
        "client": client,
    })
    manager.create_table()
    return manager


@contextlib.contextmanager
def counting(client) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(model, **_):
        sent.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)


def stored_keys(client, table: str) -> list[str]:
    return sorted(item["_pk"]["S"] for item in transport.scan_items(client, table))


def notes_of(tenant: str) -> list[str]:
    with bao.TenantContext.tenant(tenant):
        return sorted(n.text for n in ExNote.query_by_primary_key(ExNote.model_prefix).items)


# --------------------------------------------------------------------------- ASGI


async def notes_asgi_app(scope, receive, send):
    """POST: store the body as a note; GET: list the tenant's notes. No tenant handling."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "POST":
        note = await run_in_thread(ExNote.create, {"text": body.decode()})
        payload: Any = {"id": note.note_id}
    else:
        page = await run_in_thread(ExNote.query_by_primary_key, ExNote.model_prefix)
        payload = sorted(n.text for n in page.items)
    payload = {"tenant": bao.TenantContext.get_current_tenant(), "data": payload}
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})


async def asgi_grants(scope) -> set[str]:
    """An async authorisation check: the caller's tenants from its bearer token."""
    headers = dict(scope["headers"])
    return GRANTS.get(headers.get(b"authorization", b"").decode(), set())


asgi_app = asgi_example.TenantMiddleware(notes_asgi_app, allowed_tenants=asgi_grants)


async def call_asgi(app, method="GET", headers=(), body=b"") -> tuple[int, Any]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": "/notes", "raw_path": b"/notes",
        "query_string": b"", "root_path": "", "server": ("testserver", 80),
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }
    chunks = [body[:3], body[3:]]  # the body in two messages

    async def receive():
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    body_out = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], json.loads(body_out)


def asgi(method="GET", headers=(), body=b""):
    return asyncio.run(call_asgi(asgi_app, method, headers, body))


def test_asgi_refusals_send_no_request(manager, client):
    ada = ("authorization", "token-ada")
    with counting(client) as sent:
        required = (400, {"error": "Tenant context required: send exactly one x-tenant-id header"})
        assert asgi("POST", [ada], b"x") == required
        assert asgi("POST", [ada, ("x-tenant-id", " ")], b"x") == required
        twice = [ada, ("x-tenant-id", "acme"), ("x-tenant-id", "acme")]
        assert asgi("POST", twice, b"x") == required
        for bad in ("a]#b", "[acme]", "acme#u", "x" * 65, "-acme"):
            assert asgi("POST", [ada, ("x-tenant-id", bad)], b"x") == (
                400, {"error": "Invalid tenant id"})
        assert asgi("POST", [ada, ("x-tenant-id", "globex")], b"x") == (
            403, {"error": "Not allowed to act for this tenant"})
        assert asgi("POST", [("x-tenant-id", "acme")], b"x")[0] == 403  # no credentials
    assert sent == []
    assert stored_keys(client, manager.table_name) == []


def test_asgi_requests_land_in_their_tenant(manager, client):
    status, body = asgi("POST", [("authorization", "token-ada"), ("X-Tenant-Id", "acme")],
                        b"from ada")
    assert (status, body["tenant"]) == (200, "acme")
    status, body = asgi("POST", [("authorization", "token-root"), ("x-tenant-id", "globex")],
                        b"from root")
    assert (status, body["tenant"]) == (200, "globex")
    assert asgi("GET", [("authorization", "token-root"), ("x-tenant-id", "acme")]) == (
        200, {"tenant": "acme", "data": ["from ada"]})
    assert notes_of("acme") == ["from ada"] and notes_of("globex") == ["from root"]
    keys = stored_keys(client, manager.table_name)
    assert len(keys) == 2 and keys[0].startswith("[acme]#exn") and keys[1].startswith("[globex]#")
    assert bao.TenantContext.get_current_tenant() is None


def test_asgi_concurrent_requests_keep_their_tenants(manager):
    async def many():
        calls = [
            call_asgi(asgi_app, "POST", [("authorization", "token-root"),
                                         ("x-tenant-id", tenant)], f"{tenant}-{n}".encode())
            for n in range(10) for tenant in ("acme", "globex")
        ]
        return await asyncio.gather(*calls)

    results = asyncio.run(many())
    assert all(status == 200 for status, _ in results)
    assert [body["tenant"] for _, body in results] == ["acme", "globex"] * 10
    assert notes_of("acme") == sorted(f"acme-{n}" for n in range(10))
    assert notes_of("globex") == sorted(f"globex-{n}" for n in range(10))


def test_asgi_other_scopes_pass_through_without_a_tenant():
    seen = []

    async def app(scope, receive, send):
        seen.append((scope["type"], bao.TenantContext.get_current_tenant()))

    wrapped = asgi_example.TenantMiddleware(app, allowed_tenants=lambda scope: {"acme"})
    asyncio.run(wrapped({"type": "lifespan"}, None, None))
    assert seen == [("lifespan", None)]


# --------------------------------------------------------------------------- WSGI


def notes_wsgi_app(environ, start_response):
    """A lazy body: the note is written while the server iterates the response."""
    start_response("200 OK", [("Content-Type", "application/json")])
    length = int(environ.get("CONTENT_LENGTH") or 0)
    text = environ["wsgi.input"].read(length).decode()
    yield b'{"tenant": "' + str(bao.TenantContext.get_current_tenant()).encode() + b'", '
    if environ["REQUEST_METHOD"] == "POST":
        note = ExNote.create({"text": text})  # runs during iteration, after the app returned
        yield b'"data": "' + note.note_id.encode() + b'"}'
    else:
        texts = sorted(n.text for n in ExNote.query_by_primary_key(ExNote.model_prefix).items)
        yield b'"data": ' + json.dumps(texts).encode() + b"}"


wsgi_app = wsgi_example.TenantMiddleware(
    notes_wsgi_app,
    allowed_tenants=lambda environ: GRANTS.get(environ.get("HTTP_AUTHORIZATION", ""), set()),
)


def wsgi(method="GET", headers=None, body=b"") -> tuple[str, Any]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "wsgi.input": io.BytesIO(body),
                    "CONTENT_LENGTH": str(len(body))})
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    statuses: list[str] = []

    def start_response(status, response_headers, exc_info=None):
        statuses.append(status)

    result = wsgi_app(environ, start_response)
    try:
        data = b"".join(result)  # the server iterates in its own context
        assert bao.TenantContext.get_current_tenant() is None  # nothing leaked into it
    finally:
        if hasattr(result, "close"):
            result.close()
    return statuses[0], json.loads(data)


def test_wsgi_refusals_send_no_request(manager, client):
    with counting(client) as sent:
        assert wsgi("POST", {"Authorization": "token-ada"}, b"x") == (
            "400 Bad Request", {"error": "Tenant context required"})
        for bad in ("a]#b", "acme ", "ümlaut", "x" * 65):
            assert wsgi("POST", {"Authorization": "token-ada", "X-Tenant-Id": bad}, b"x") == (
                "400 Bad Request", {"error": "Invalid tenant id"})
        assert wsgi("POST", {"Authorization": "token-ada", "X-Tenant-Id": "globex"}, b"x")[
            0] == "403 Forbidden"
    assert sent == []
    assert stored_keys(client, manager.table_name) == []


def test_wsgi_requests_land_in_their_tenant_even_with_a_lazy_body(manager, client):
    status, body = wsgi("POST", {"Authorization": "token-bob", "X-Tenant-Id": "globex"}, b"hi")
    assert (status, body["tenant"]) == ("200 OK", "globex")
    status, body = wsgi("POST", {"Authorization": "token-ada", "X-Tenant-Id": "acme"}, b"yo")
    assert (status, body["tenant"]) == ("200 OK", "acme")
    assert wsgi("GET", {"Authorization": "token-root", "X-Tenant-Id": "globex"}) == (
        "200 OK", {"tenant": "globex", "data": ["hi"]})
    assert notes_of("acme") == ["yo"] and notes_of("globex") == ["hi"]
    keys = stored_keys(client, manager.table_name)
    assert keys[0].startswith("[acme]#exn") and keys[1].startswith("[globex]#exn")


def test_wsgi_close_runs_in_the_tenant():
    closed_in = []

    class Body:
        def __iter__(self):
            yield b"ok"

        def close(self):
            closed_in.append(bao.TenantContext.get_current_tenant())

    app = wsgi_example.TenantMiddleware(
        lambda environ, start_response: (start_response("200 OK", []), Body())[1],
        allowed_tenants=lambda environ: ["acme"],
    )
    environ: dict[str, Any] = {"HTTP_X_TENANT_ID": "acme"}
    setup_testing_defaults(environ)
    result = app(environ, lambda *a: None)
    assert b"".join(result) == b"ok"
    result.close()
    assert closed_in == ["acme"]


# --------------------------------------------------------------------------- Lambda


@lambda_example.tenant_handler()
def create_note_handler(event, context):
    note = ExNote.create({"text": event["body"]})
    return {"statusCode": 200, "body": json.dumps(
        {"tenant": bao.TenantContext.get_current_tenant(), "id": note.note_id})}


@lambda_example.tenant_handler(allowed_tenants=lambda event: GRANTS.get(
    (event.get("headers") or {}).get("Authorization", ""), set()))
def list_notes_handler(event, context):
    texts = sorted(n.text for n in ExNote.query_by_primary_key(ExNote.model_prefix).items)
    return {"statusCode": 200, "body": json.dumps(texts)}


def rest_event(authorizer_tenant=None, headers=None, body="") -> dict:
    authorizer = {"tenantId": authorizer_tenant} if authorizer_tenant else {}
    return {"requestContext": {"authorizer": authorizer}, "headers": headers, "body": body}


def lambda_error(response) -> tuple[int, str]:
    return response["statusCode"], json.loads(response["body"])["error"]


def test_lambda_refusals_send_no_request(manager, client):
    with counting(client) as sent:
        assert lambda_error(create_note_handler(rest_event(), None)) == (
            400, "Tenant context required")
        assert lambda_error(create_note_handler({}, None))[0] == 400
        assert lambda_error(create_note_handler(rest_event("a]#u"), None)) == (
            400, "Invalid tenant id")
        # A header naming another tenant than the authorizer's: refused by default.
        assert lambda_error(
            create_note_handler(rest_event("acme", {"X-Tenant-ID": "globex"}), None)
        ) == (403, "Not allowed to act for this tenant")
        # A header alone (no authorizer) proves nothing.
        assert lambda_error(create_note_handler(rest_event(None, {"x-tenant-id": "acme"}),
                                                None))[0] == 403
        assert lambda_error(list_notes_handler(
            rest_event(None, {"x-tenant-id": "acme", "Authorization": "token-bob"}), None)
        )[0] == 403
    assert sent == []


def test_lambda_handlers_run_in_the_requests_tenant(manager, client):
    response = create_note_handler(rest_event("acme", body="rest api"), None)
    assert response["statusCode"] == 200 and json.loads(response["body"])["tenant"] == "acme"
    http_api = {"requestContext": {"authorizer": {"lambda": {"tenantId": "globex"}}},
                "headers": {"x-tenant-id": "globex"}, "body": "http api"}
    assert json.loads(create_note_handler(http_api, None)["body"])["tenant"] == "globex"
    assert bao.TenantContext.get_current_tenant() is None  # the next invocation starts clean
    listed = list_notes_handler(
        rest_event(None, {"x-tenant-id": "acme", "Authorization": "token-root"}), None)
    assert (listed["statusCode"], json.loads(listed["body"])) == (200, ["rest api"])
    assert notes_of("globex") == ["http api"]
    keys = stored_keys(client, manager.table_name)
    assert keys[0].startswith("[acme]#exn") and keys[1].startswith("[globex]#exn")


# --------------------------------------------------------------------------- background job


@pytest.mark.parametrize("parallel", [False, True])
def test_background_job_walks_every_tenant(manager, client, parallel):
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    past, future = now - timedelta(days=1), now + timedelta(days=30)
    plan = {"acme": (3, 1), "globex": (0, 2), "initech": (1, 0)}  # (expired, still valid)
    for tenant, (due, valid) in plan.items():
        with bao.TenantContext.tenant(tenant):
            for n in range(due):
                Subscription.create({"plan": f"p{n}", "expires_at": past})
            for n in range(valid):
                Subscription.create({"plan": f"v{n}", "expires_at": future})
    with bao.TenantContext.tenant("outer"):
        expired = job_example.expire_all_tenants(plan, now, parallel=parallel)
        assert bao.TenantContext.get_current_tenant() == "outer"
    assert expired == {"acme": 3, "globex": 0, "initech": 1}
    assert job_example.tenant_stats(plan) == {
        "acme": {"active": 1, "expired": 3},
        "globex": {"active": 2, "expired": 0},
        "initech": {"active": 0, "expired": 1},
    }
    # Run again: nothing is due any more.
    assert job_example.expire_all_tenants(plan, now) == {"acme": 0, "globex": 0, "initech": 0}
    for item in transport.scan_items(client, manager.table_name):
        tenant = item["_pk"]["S"][1:].split("]")[0]
        assert item["_gsi1_pk"]["S"].startswith(f"[{tenant}]#sub#gsi1#")


def test_background_job_refuses_a_bad_tenant_before_any_work(manager, client):
    with counting(client) as sent, pytest.raises(InvalidTenantIdError):
        job_example.expire_all_tenants(["acme", "bad]#tenant"])
    assert sent == []
