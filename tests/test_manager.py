"""Configuration and init_models: settings from a dict over the environment, the model
registry, the client, table creation on the embedded server."""

import boto3
import pytest

import dynamo_bao as bao
from dynamo_bao import fields as f
from dynamo_bao.config import load_config
from dynamo_bao.exceptions import ConfigurationError
from dynamo_bao.manager import init_models

from .compat_data import COMPAT


class Widget(bao.BaoModel):
    model_prefix = "wdg"
    widget_id = f.StringField()
    weight = f.FloatField()
    primary_key = bao.PrimaryKey("widget_id")
    indexes = {"byWeight": bao.Index("modelPrefix", "weight", "gsi1")}


class Gadget(bao.BaoModel):
    model_prefix = "gdg"
    gadget_id = f.StringField()
    primary_key = bao.PrimaryKey("gadget_id")


def test_config_from_dict_over_environment():
    env = {"DYNAMO_BAO_TABLE": "env-table", "DYNAMO_BAO_REGION": "eu-west-1",
           "DYNAMO_BAO_TENANCY_ENABLED": "true"}
    config = load_config({"db": {"table_name": "dict-table"}}, env)
    assert config.table_name == "dict-table"  # the dict wins
    assert config.region == "eu-west-1"  # the environment fills in
    assert config.tenancy_enabled is True
    assert config.float_encoding == "sortable"
    assert load_config({}, {"DYNAMO_BAO_TABLE": "t"}).tenancy_enabled is False


@pytest.mark.parametrize(
    "config, env",
    [
        ({}, {}),  # no table name
        ({"db": {"table": "typo"}}, {}),
        ({"tenancy": {"enable": True}, "db": {"table_name": "t"}}, {}),  # a typo must not pass
        ({"tennancy": {}, "db": {"table_name": "t"}}, {}),
        ({"db": {"table_name": "t"}, "tenancy": {"enabled": "maybe"}}, {}),
        ({"db": {"table_name": "t"}, "keys": {"float_encoding": "lexical"}}, {}),
        ({"db": "t"}, {}),
    ],
)
def test_bad_configuration(config, env):
    with pytest.raises(ConfigurationError):
        load_config(config, env)


def test_init_models_registers_and_binds(dynamodb_endpoint):
    manager = init_models({
        "aws": {"region": "us-east-1", "endpoint_url": dynamodb_endpoint},
        "db": {"table_name": "bao-manager-test"},
        "models": [Widget, Gadget],
    })
    assert manager.get_model("Widget") is Widget
    assert Widget._manager is manager
    assert set(manager.models) == {"Widget", "Gadget"}
    with pytest.raises(ConfigurationError, match="Model Nope not found"):
        manager.get_model("Nope")


def test_float_encoding_recompiles_the_schema():
    init_models({"db": {"table_name": "t"}, "keys": {"float_encoding": "dynamo-bao"},
                 "models": [Widget]})
    assert Widget._schema.float_encoding == "dynamo-bao"
    assert Widget._schema.index_keys({"widget_id": "w", "weight": 4.75}, None)["_gsi1_sk"] == {
        "S": "4.75000000000000000000e+0"}
    init_models({"db": {"table_name": "t"}, "models": [Widget]})
    assert Widget._schema.float_encoding == "sortable"
    assert Widget._schema.index_keys({"widget_id": "w", "weight": 4.75}, None)["_gsi1_sk"] == {
        "S": "1400.475"}


def test_duplicate_prefixes_are_refused():
    class Other(bao.BaoModel):
        model_prefix = "wdg"
        other_id = f.StringField()
        primary_key = bao.PrimaryKey("other_id")

    with pytest.raises(ConfigurationError, match="prefix 'wdg'"):
        init_models({"db": {"table_name": "t"}, "models": [Widget, Other]})
    with pytest.raises(ConfigurationError):
        init_models({"db": {"table_name": "t"}, "models": [object]})


def test_models_from_yaml_path():
    manager = init_models({"db": {"table_name": "t"}, "models": str(COMPAT / "models.yaml")})
    assert manager.get_model("Member")._schema.sort_key == "memberId"


def test_callers_own_client_is_used_and_creates_the_table(dynamodb_endpoint):
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    manager = init_models({"db": {"table_name": "bao-manager-own-client"}, "client": client,
                           "models": [Gadget]})
    assert manager.client is client
    try:
        assert manager.create_table() is True
        assert manager.create_table() is False  # idempotent
        names = client.list_tables()["TableNames"]
        assert "bao-manager-own-client" in names
    finally:
        manager.delete_table()
    assert "bao-manager-own-client" not in client.list_tables()["TableNames"]
