"""Shared fixtures: one local DynamoDB endpoint per test session, clients and tables on it.

Tests talk to a real server over HTTP: the embedded moto server by default, or the endpoint in
``DYNAMO_BAO_TEST_ENDPOINT`` (e.g. a DynamoDB Local container) when that is set — both through
``dynamo_bao.testing.plugin``, which pytest loads by its entry point.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dynamo_bao import transport


def unique_table_name(prefix: str = "bao-test") -> str:
    """A table name no other test (or earlier run against the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def dynamodb_endpoint(bao_endpoint: str) -> str:
    """The endpoint URL every test talks to: the pytest plugin's ``bao_endpoint`` (the embedded
    server, or ``$DYNAMO_BAO_TEST_ENDPOINT``) — the suite runs on the fixtures users get."""
    return bao_endpoint


@pytest.fixture(scope="session")
def dynamodb_client(bao_client: Any) -> Any:
    """A low-level client for the test endpoint: the plugin's ``bao_client`` (boto3 clients are
    thread-safe and reusable)."""
    return bao_client


@pytest.fixture
def table_name(dynamodb_client: Any) -> Iterator[str]:
    """A fresh table name for one test; the table is deleted afterwards if the test created it."""
    name = unique_table_name()
    yield name
    if transport.table_exists(dynamodb_client, name):
        transport.delete_table(dynamodb_client, name)


@pytest.fixture(scope="session")
def shared_table(dynamodb_client: Any) -> Iterator[str]:
    """One complete dynamo-bao table for the whole session (tests keep their data apart)."""
    name = unique_table_name("bao-shared")
    transport.create_table(dynamodb_client, name)
    yield name
    if transport.table_exists(dynamodb_client, name):
        transport.delete_table(dynamodb_client, name)
