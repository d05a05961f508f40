"""The table definition and its admin (create / update / delete) against a real local server.

The expected schema is DynamoBao's, as recorded in the shared golden data (``compat/table.json``):
``$DYNAMO_BAO_COMPAT_DIR`` (the scenarios folder, or the compat folder itself) when set, else
the repository's copy in ``tests/compat``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from dynamo_bao import table, transport
from dynamo_bao.exceptions import BaoError, ConfigurationError

from .compat_data import COMPAT


def _find_table_json() -> Path | None:
    candidates = []
    configured = os.environ.get("DYNAMO_BAO_COMPAT_DIR")
    if configured:
        candidates += [Path(configured) / "table.json", Path(configured).parent / "table.json"]
    candidates.append(COMPAT / "table.json")
    return next((path for path in candidates if path.is_file()), None)


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    path = _find_table_json()
    if path is None:
        pytest.skip("compat/table.json not found (set DYNAMO_BAO_COMPAT_DIR)")
    return json.loads(path.read_text())


def _index_view(description: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GSIs by name, reduced to what defines them (status and sizes dropped)."""
    view = {}
    for index in description.get("GlobalSecondaryIndexes", []):
        projection = {"ProjectionType": index["Projection"]["ProjectionType"]}
        if index["Projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = sorted(index["Projection"]["NonKeyAttributes"])
        view[index["IndexName"]] = {"KeySchema": index["KeySchema"], "Projection": projection}
    return view


def _golden_indexes(golden: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _index_view(golden["resulting_schema"])


def _ttl(client: Any, name: str) -> dict[str, Any]:
    return client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]


# --------------------------------------------------------------------------- pure definition


def test_params_are_byte_identical_to_dynamobao_requests(golden):
    requests = {r["operation"]: r["body"] for r in golden["requests_sent_by_dynamobao"]}
    name = golden["table_name"]
    # json.dumps keeps key order: the requests match as sent on the wire, not just as dicts.
    assert json.dumps(table.create_table_params(name, include_search_index=False)) == json.dumps(
        requests["CreateTable"]
    )
    assert json.dumps(table.ttl_params(name)) == json.dumps(requests["UpdateTimeToLive"])
    assert json.dumps(table.add_index_params(name, table.SEARCH_INDEX_NAME)) == json.dumps(
        requests["UpdateTable"]
    )


def test_expected_indexes_are_the_resulting_schema(golden):
    assert table.expected_indexes() == golden["resulting_schema"]["GlobalSecondaryIndexes"]
    assert [i["IndexName"] for i in table.expected_indexes(include_search_index=False)] == [
        "gsi1",
        "gsi2",
        "gsi3",
        "gsi4",
        "gsi5",
        "iter_index",
    ]


def test_constants():
    assert table.TTL_ATTRIBUTE == "ttl"
    assert table.INDEX_NAMES == (
        "gsi1",
        "gsi2",
        "gsi3",
        "gsi4",
        "gsi5",
        "iter_index",
        "iter_search_index",
    )
    assert table.gsi_key_attributes("gsi4") == ("_gsi4_pk", "_gsi4_sk")
    with pytest.raises(KeyError):
        table.gsi_key_attributes("gsi6")


def test_full_create_params_define_each_attribute_once():
    params = table.create_table_params("t")
    names = [a["AttributeName"] for a in params["AttributeDefinitions"]]
    assert len(names) == len(set(names)) == 14
    assert params["BillingMode"] == "PAY_PER_REQUEST"
    assert params["GlobalSecondaryIndexes"][-1]["IndexName"] == "iter_search_index"


def test_add_index_params_with_throughput():
    params = table.add_index_params("t", "gsi2", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2})
    create = params["GlobalSecondaryIndexUpdates"][0]["Create"]
    assert create["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    assert params["AttributeDefinitions"] == [
        {"AttributeName": "_gsi2_pk", "AttributeType": "S"},
        {"AttributeName": "_gsi2_sk", "AttributeType": "S"},
    ]


# --------------------------------------------------------------------------- create


def test_create_table_creates_the_dynamobao_schema(dynamodb_client, table_name, golden):
    assert transport.create_table(dynamodb_client, table_name) is True
    description = transport.describe_table(dynamodb_client, table_name)
    assert description["TableStatus"] == "ACTIVE"
    assert description["KeySchema"] == golden["resulting_schema"]["KeySchema"]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert _index_view(description) == _golden_indexes(golden)
    assert description["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert not description.get("LocalSecondaryIndexes")
    create_request = golden["requests_sent_by_dynamobao"][0]["body"]
    assert sorted(description["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        create_request["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    ttl = _ttl(dynamodb_client, table_name)
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")


def test_create_table_is_idempotent(dynamodb_client, table_name):
    assert transport.create_table(dynamodb_client, table_name) is True
    before = _index_view(transport.describe_table(dynamodb_client, table_name))
    assert transport.create_table(dynamodb_client, table_name) is False
    assert _index_view(transport.describe_table(dynamodb_client, table_name)) == before
    assert _ttl(dynamodb_client, table_name)["TimeToLiveStatus"] == "ENABLED"


def test_create_table_without_search_index(dynamodb_client, table_name):
    transport.create_table(dynamodb_client, table_name, include_search_index=False)
    names = set(_index_view(transport.describe_table(dynamodb_client, table_name)))
    assert names == set(table.INDEX_NAMES) - {"iter_search_index"}


def test_create_table_on_an_existing_table_enables_missing_ttl(dynamodb_client, table_name):
    dynamodb_client.create_table(**table.create_table_params(table_name))
    assert _ttl(dynamodb_client, table_name)["TimeToLiveStatus"] == "DISABLED"
    assert transport.create_table(dynamodb_client, table_name) is False
    assert _ttl(dynamodb_client, table_name)["TimeToLiveStatus"] == "ENABLED"


def test_create_table_refuses_a_table_with_another_key(dynamodb_client, table_name):
    dynamodb_client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(ConfigurationError, match="not a dynamo-bao table"):
        transport.create_table(dynamodb_client, table_name)


def test_ttl_on_another_attribute_is_a_configuration_error(dynamodb_client, table_name):
    dynamodb_client.create_table(**table.create_table_params(table_name))
    dynamodb_client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": "expiresAt", "Enabled": True},
    )
    with pytest.raises(ConfigurationError, match="expiresAt"):
        transport.ensure_ttl(dynamodb_client, table_name)


# --------------------------------------------------------------------------- update


def test_update_table_adds_the_search_index_once(dynamodb_client, table_name, golden):
    transport.create_table(dynamodb_client, table_name, include_search_index=False)
    assert transport.update_table(dynamodb_client, table_name) == ["iter_search_index"]
    description = transport.describe_table(dynamodb_client, table_name)
    assert _index_view(description) == _golden_indexes(golden)
    assert all(i["IndexStatus"] == "ACTIVE" for i in description["GlobalSecondaryIndexes"])
    assert transport.update_table(dynamodb_client, table_name) == []


def test_update_table_adds_every_missing_index_and_ttl(dynamodb_client, table_name, golden):
    dynamodb_client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=table.attribute_definitions([]),
        KeySchema=[
            {"AttributeName": "_pk", "KeyType": "HASH"},
            {"AttributeName": "_sk", "KeyType": "RANGE"},
        ],
    )
    added = transport.update_table(dynamodb_client, table_name)
    assert added == [*table.INDEX_NAMES, "ttl"]
    assert _index_view(transport.describe_table(dynamodb_client, table_name)) == _golden_indexes(
        golden
    )
    ttl = _ttl(dynamodb_client, table_name)
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    assert transport.update_table(dynamodb_client, table_name) == []


def test_update_table_on_a_missing_table(dynamodb_client, table_name):
    with pytest.raises(ConfigurationError, match="does not exist"):
        transport.update_table(dynamodb_client, table_name)


# --------------------------------------------------------------------------- delete


def test_delete_table(dynamodb_client, table_name):
    transport.create_table(dynamodb_client, table_name)
    assert transport.table_exists(dynamodb_client, table_name)
    transport.delete_table(dynamodb_client, table_name)
    assert not transport.table_exists(dynamodb_client, table_name)
    assert table_name not in dynamodb_client.list_tables()["TableNames"]


def test_delete_missing_table_is_a_clear_error(dynamodb_client, table_name):
    with pytest.raises(ConfigurationError, match=f"table '{table_name}' does not exist") as info:
        transport.delete_table(dynamodb_client, table_name)
    assert info.value.__cause__ is not None  # the botocore error stays reachable


# --------------------------------------------------------------------------- items


def test_put_item_and_scan_items_reads_every_page(dynamodb_client, shared_table):
    written = []
    for i in range(12):
        item = {"_pk": {"S": f"scan-test#{i:02d}"}, "_sk": {"S": "x"}, "n": {"N": str(i)}}
        transport.put_item(dynamodb_client, shared_table, item)
        written.append(item)
    # Limit=5 forces three pages; every item must still come back exactly once.
    items = [
        item
        for item in transport.scan_items(dynamodb_client, shared_table, Limit=5)
        if item["_pk"]["S"].startswith("scan-test#")
    ]
    assert sorted(items, key=lambda it: it["_pk"]["S"]) == written


def test_put_item_into_a_missing_table(dynamodb_client, table_name):
    with pytest.raises(ConfigurationError, match="does not exist"):
        transport.put_item(dynamodb_client, table_name, {"_pk": {"S": "a"}, "_sk": {"S": "b"}})


def test_put_item_condition_failure_is_a_conditional_error(dynamodb_client, shared_table):
    from dynamo_bao.exceptions import ConditionalError

    item = {"_pk": {"S": "cond-test"}, "_sk": {"S": "x"}}
    transport.put_item(dynamodb_client, shared_table, item)
    with pytest.raises(ConditionalError):
        transport.put_item(
            dynamodb_client,
            shared_table,
            item,
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": "_pk"},
        )


def test_other_aws_errors_are_bao_errors(dynamodb_client, shared_table):
    with pytest.raises(BaoError, match="ValidationException"):
        transport.put_item(dynamodb_client, shared_table, {"_pk": {"S": "missing-sort-key"}})


# --------------------------------------------------------------------------- clients


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://127.0.0.2:8000", True),
        ("https://dynamodb.eu-west-1.amazonaws.com", False),
        ("http://10.0.0.5:8000", False),
        (None, False),
        ("not a url", False),
    ],
)
def test_is_local_endpoint(url, local):
    assert transport.is_local_endpoint(url) is local


def _without_aws_setup(monkeypatch, tmp_path):
    """No region and no credentials anywhere boto3 looks (and no metadata service lookup)."""
    for var in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_local_client_works_without_any_aws_setup(monkeypatch, tmp_path, dynamodb_endpoint):
    _without_aws_setup(monkeypatch, tmp_path)
    client = transport.make_client(endpoint_url=dynamodb_endpoint)
    assert client.meta.region_name == transport.LOCAL_REGION
    assert "TableNames" in client.list_tables()
    assert "AWS_ACCESS_KEY_ID" not in os.environ  # dummy credentials went to the client only


def test_explicit_region_wins_for_local_endpoints(dynamodb_endpoint):
    client = transport.make_client(region="eu-west-1", endpoint_url=dynamodb_endpoint)
    assert client.meta.region_name == "eu-west-1"


def test_client_settings(dynamodb_endpoint):
    client = transport.make_client(endpoint_url=dynamodb_endpoint)
    # botocore's parameter validation would reject Limit=0 (minimum 1) before sending anything;
    # without it the request reaches the server (which may accept or reject it).
    try:
        client.list_tables(Limit=0)
    except botocore.exceptions.ParamValidationError:
        pytest.fail("parameter validation is on")
    except botocore.exceptions.ClientError:
        pass
    assert client.meta.config.retries["mode"] == "standard"


def test_missing_region_is_a_configuration_error(monkeypatch, tmp_path):
    _without_aws_setup(monkeypatch, tmp_path)
    with pytest.raises(ConfigurationError, match="no AWS region"):
        transport.make_client()


def test_missing_credentials_is_a_configuration_error(monkeypatch, tmp_path):
    _without_aws_setup(monkeypatch, tmp_path)
    # A non-local endpoint gets no dummy credentials; signing fails before anything is sent.
    client = transport.make_client(region="us-east-1", endpoint_url="http://192.0.2.1:1")
    with pytest.raises(ConfigurationError, match="no usable AWS credentials"):
        transport.describe_table(client, "t")


def test_invalid_endpoint_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="invalid DynamoDB endpoint"):
        transport.make_client(region="us-east-1", endpoint_url="not-a-url")
