"""The single table's definition, identical to the one DynamoBao creates (pure data, no I/O).

Python and JavaScript services share one table, so the key schema, the index names, their key
attributes and projections must match DynamoBao's ``bao-create-table`` + ``bao-update-table``
exactly. The definition lives here as code (not read from a file) so an installed package needs
nothing else. :mod:`dynamo_bao.transport` sends it; this module only builds request parameters.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PK_ATTRIBUTE",
    "SK_ATTRIBUTE",
    "TTL_ATTRIBUTE",
    "GSI_INDEX_NAMES",
    "ITERATION_INDEX_NAME",
    "SEARCH_INDEX_NAME",
    "ITERATION_PK_ATTRIBUTE",
    "ITERATION_SK_ATTRIBUTE",
    "SEARCH_TEXT_ATTRIBUTE",
    "BILLING_MODE",
    "INDEX_NAMES",
    "gsi_key_attributes",
    "index_definition",
    "expected_indexes",
    "attribute_definitions",
    "create_table_params",
    "ttl_params",
    "add_index_params",
]

PK_ATTRIBUTE = "_pk"
SK_ATTRIBUTE = "_sk"
TTL_ATTRIBUTE = "ttl"
BILLING_MODE = "PAY_PER_REQUEST"

GSI_INDEX_NAMES: tuple[str, ...] = ("gsi1", "gsi2", "gsi3", "gsi4", "gsi5")
ITERATION_INDEX_NAME = "iter_index"
SEARCH_INDEX_NAME = "iter_search_index"
ITERATION_PK_ATTRIBUTE = "_iter_pk"
ITERATION_SK_ATTRIBUTE = "_iter_sk"
SEARCH_TEXT_ATTRIBUTE = "_searchText"

#: Every index of a complete table, in DynamoBao's order (``bao-update-table``'s expected list).
INDEX_NAMES: tuple[str, ...] = (*GSI_INDEX_NAMES, ITERATION_INDEX_NAME, SEARCH_INDEX_NAME)


def gsi_key_attributes(index_name: str) -> tuple[str, str]:
    """The (hash, range) attribute names of an index: ``gsi3`` → ``("_gsi3_pk", "_gsi3_sk")``."""
    if index_name in GSI_INDEX_NAMES:
        return (f"_{index_name}_pk", f"_{index_name}_sk")
    if index_name in (ITERATION_INDEX_NAME, SEARCH_INDEX_NAME):
        return (ITERATION_PK_ATTRIBUTE, ITERATION_SK_ATTRIBUTE)
    raise KeyError(f"unknown index {index_name!r}; known: {', '.join(INDEX_NAMES)}")


def _projection(index_name: str) -> dict[str, Any]:
    if index_name == ITERATION_INDEX_NAME:
        return {"ProjectionType": "KEYS_ONLY"}
    if index_name == SEARCH_INDEX_NAME:
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": [SEARCH_TEXT_ATTRIBUTE]}
    return {"ProjectionType": "ALL"}


def index_definition(index_name: str) -> dict[str, Any]:
    """One GSI as CreateTable/UpdateTable take it (IndexName, KeySchema, Projection)."""
    hash_key, range_key = gsi_key_attributes(index_name)
    return {
        "IndexName": index_name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": _projection(index_name),
    }


def expected_indexes(include_search_index: bool = True) -> list[dict[str, Any]]:
    """The GSIs a complete table has; ``bao update-table`` adds whichever of these is missing."""
    names = INDEX_NAMES if include_search_index else INDEX_NAMES[:-1]
    return [index_definition(name) for name in names]


def attribute_definitions(
    index_names: tuple[str, ...] | list[str] | None = None, *, include_table_key: bool = True
) -> list[dict[str, str]]:
    """AttributeDefinitions (all ``S``) for the table key and the given indexes, without repeats.

    DynamoDB rejects definitions no key uses, so callers pass exactly the indexes they create.
    """
    names: list[str] = [PK_ATTRIBUTE, SK_ATTRIBUTE] if include_table_key else []
    for index_name in INDEX_NAMES if index_names is None else index_names:
        for attribute in gsi_key_attributes(index_name):
            if attribute not in names:
                names.append(attribute)
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def create_table_params(table_name: str, include_search_index: bool = True) -> dict[str, Any]:
    """CreateTable parameters for the table.

    ``include_search_index=False`` gives byte-for-byte the request DynamoBao's ``bao-create-table``
    sends (it leaves ``iter_search_index`` to ``bao-update-table``); the default creates the
    complete table in one go, which is what ``bao-update-table`` would end with.
    """
    indexes = expected_indexes(include_search_index)
    return {
        "BillingMode": BILLING_MODE,
        "AttributeDefinitions": attribute_definitions([i["IndexName"] for i in indexes]),
        "KeySchema": [
            {"AttributeName": PK_ATTRIBUTE, "KeyType": "HASH"},
            {"AttributeName": SK_ATTRIBUTE, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": indexes,
        "TableName": table_name,
    }


def ttl_params(table_name: str) -> dict[str, Any]:
    """UpdateTimeToLive parameters enabling TTL on ``ttl`` (epoch seconds, as DynamoBao stores)."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
    }


def add_index_params(
    table_name: str, index_name: str, provisioned_throughput: dict[str, int] | None = None
) -> dict[str, Any]:
    """UpdateTable parameters adding one GSI, with only the AttributeDefinitions it needs.

    ``provisioned_throughput`` is required by DynamoDB only when the table is not on-demand.
    """
    create: dict[str, Any] = index_definition(index_name)
    if provisioned_throughput is not None:
        create["ProvisionedThroughput"] = dict(provisioned_throughput)
    return {
        "TableName": table_name,
        "AttributeDefinitions": attribute_definitions([index_name], include_table_key=False),
        "GlobalSecondaryIndexUpdates": [{"Create": create}],
    }
