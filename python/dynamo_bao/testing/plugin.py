"""pytest plugin of dynamo-bao, registered under the ``pytest11`` entry point ``dynamo_bao``.

Installing dynamo-bao makes these fixtures available to every test suite (disable with
``-p no:dynamo_bao``):

* ``bao_endpoint`` (session) — the DynamoDB endpoint URL: ``DYNAMO_BAO_TEST_ENDPOINT`` when set
  (e.g. a DynamoDB Local container), else the embedded moto server, started on first use and
  stopped at the end of the session (needs ``dynamo-bao[local]``).
* ``bao_client`` (session) — a boto3 low-level client for that endpoint. It is shared by the
  session, so unregister botocore event handlers you add to it (or make a client of your own).
* ``bao_table`` — the name of a fresh table with the complete dynamo-bao layout (the one
  ``bao create-table`` makes), deleted after the test.
* ``bao_tenant`` — a fresh tenant id (a ULID) set for the test; the tenant that was current
  before is restored afterwards.

The library is imported lazily, inside the fixtures, so a suite that never uses them pays
nothing for the plugin beyond loading this module.

```python
def test_signup(bao_client, bao_table, bao_tenant):
    bao.init_models({"db": {"table_name": bao_table}, "tenancy": {"enabled": True},
                     "models": [User], "client": bao_client})
    User.create({"name": "Ada", "email": "ada@example.com"})   # stored under [<bao_tenant>]#
```
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

#: The environment variable naming an endpoint to test against instead of the embedded server.
TEST_ENDPOINT_ENV = "DYNAMO_BAO_TEST_ENDPOINT"


@pytest.fixture(scope="session")
def bao_endpoint() -> Iterator[str]:
    """The endpoint URL of the DynamoDB the session's tests talk to."""
    configured = os.environ.get(TEST_ENDPOINT_ENV)
    if configured:
        yield configured
        return
    from dynamo_bao.local import local_dynamodb

    with local_dynamodb() as url:
        yield url


@pytest.fixture(scope="session")
def bao_client(bao_endpoint: str) -> Any:
    """A boto3 low-level DynamoDB client for ``bao_endpoint`` (thread-safe, shared)."""
    from dynamo_bao import transport

    return transport.make_client(endpoint_url=bao_endpoint)


@pytest.fixture
def bao_table(bao_client: Any) -> Iterator[str]:
    """A fresh, ACTIVE table with the dynamo-bao layout; deleted after the test."""
    from dynamo_bao import transport

    name = f"bao-test-{uuid.uuid4().hex[:12]}"
    transport.create_table(bao_client, name)
    try:
        yield name
    finally:
        if transport.table_exists(bao_client, name):
            transport.delete_table(bao_client, name)


@pytest.fixture
def bao_tenant() -> Iterator[str]:
    """A fresh tenant id, current for the test (and the tasks and library threads it starts)."""
    from ulid import ULID

    from dynamo_bao.tenancy import TenantContext

    with TenantContext.tenant(str(ULID())) as tenant_id:
        yield tenant_id
