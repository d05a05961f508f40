"""Key formats and validation of the active core (run once per core: DYNAMO_BAO_CORE).

The literal strings are those of tests/compat/README.md ("Key formats observed"), recorded
from the real DynamoBao, plus DESIGN §6's deliberate fixes.
"""

import pytest

from dynamo_bao import core
from dynamo_bao.exceptions import ConfigurationError, InvalidTenantIdError, ValidationError

ORG_ID = "01HKS659000000000000000001"
MEMBER_ID = "01HKVZDQ800000000000000011"


def test_core_name_matches_selection():
    import os

    wanted = os.environ.get("DYNAMO_BAO_CORE")
    if wanted:
        assert core.NAME == wanted
    assert core.NAME in ("native", "python")


@pytest.mark.parametrize(
    "tenant, prefix, value, expected",
    [
        (None, "org", ORG_ID, f"org#{ORG_ID}"),
        ("acme", "org", ORG_ID, f"[acme]#org#{ORG_ID}"),
        (None, "mbr", ORG_ID, f"mbr#{ORG_ID}"),
        ("acme", "mbr", ORG_ID, f"[acme]#mbr#{ORG_ID}"),
        # partitionKey: modelPrefix: DynamoBao writes the bare prefix; with a tenant we add it
        # (DESIGN §6.3).
        (None, "set", None, "set"),
        ("acme", "set", None, "[acme]#set"),
        ("tA", "n", "00000000000000000042", "[tA]#n#00000000000000000042"),
        # A RelatedField partition key holds the related primary id (composite ids are
        # allowed in sort keys and GSI keys, not in primary partition values).
        ("acme", "p", "01JFGMRH7XACZ8GKB81DZ5YWN0", "[acme]#p#01JFGMRH7XACZ8GKB81DZ5YWN0"),
    ],
)
def test_primary_key(tenant, prefix, value, expected):
    assert core.format_primary_key(tenant, prefix, value) == expected


@pytest.mark.parametrize(
    "tenant, prefix, index_id, value, expected",
    [
        (None, "org", "gsi1", "pro", "org#gsi1#pro"),
        (None, "mbr", "gsi2", ORG_ID, f"mbr#gsi2#{ORG_ID}"),
        (None, "org", "gsi2", "org", "org#gsi2#org"),
        ("acme", "org", "gsi1", "pro", "[acme]#org#gsi1#pro"),
        ("acme", "org", "gsi2", "org", "[acme]#org#gsi2#org"),
        (None, "org", "gsi3", "1", "org#gsi3#1"),
        (None, "d", "gsi3", "0", "d#gsi3#0"),
        (
            "acme",
            "tw",
            "gsi1",
            f"{ORG_ID}##__SK__##{MEMBER_ID}",
            f"[acme]#tw#gsi1#{ORG_ID}##__SK__##{MEMBER_ID}",
        ),
    ],
)
def test_gsi_key(tenant, prefix, index_id, value, expected):
    assert core.format_gsi_key(tenant, prefix, index_id, value) == expected


@pytest.mark.parametrize(
    "tenant, constraint, prefix, field, value, expected",
    [
        (None, "uc1", "org", "slug", "acme", "_raft_uc#_uc1#org#slug:acme"),
        (None, "uc2", "mbr", "handle", "ada", "_raft_uc#_uc2#mbr#handle:ada"),
        ("acme", "uc1", "org", "slug", "acme", "[acme]#_raft_uc#_uc1#org#slug:acme"),
        (None, "_uc1", "u", "email", "al@x.com", "_raft_uc#_uc1#u#email:al@x.com"),
        ("acme", "_uc1", "u", "email", "al@x.com", "[acme]#_raft_uc#_uc1#u#email:al@x.com"),
        (None, "uc2", "u", "externalId", "e1", "_raft_uc#_uc2#u#externalId:e1"),
    ],
)
def test_unique_key(tenant, constraint, prefix, field, value, expected):
    assert core.format_unique_key(tenant, constraint, prefix, field, value) == expected


@pytest.mark.parametrize(
    "tenant, prefix, bucket, buckets, expected",
    [
        (None, "org", 0, 4, "org#iter#000"),
        (None, "tkt", 0, 1, "tkt#iter"),
        ("acme", "org", 0, 4, "[acme]#org#iter#000"),
        ("acme", "tkt", 0, 1, "[acme]#tkt#iter"),
        (None, "d", 9, 10, "d#iter#009"),
        ("acme", "p", 0, 1, "[acme]#p#iter"),
        (None, "x", 999, 1000, "x#iter#999"),
    ],
)
def test_iteration_key(tenant, prefix, bucket, buckets, expected):
    assert core.format_iteration_key(tenant, prefix, bucket, buckets) == expected


@pytest.mark.parametrize(
    "text, hash_value",
    [
        ("01ARZ3NDEKTSV4RRFFQ69G5FAV", 1771234269),
        ("01JFGMRH7XACZ8GKB81DZ5YWNH", 154702182),
        ("abc", 96354),
        ("über", 7604755),
        ("😀x", 54959989),  # a surrogate pair hashes as two UTF-16 units
    ],
)
def test_iteration_bucket_is_dynamobao_hash(text, hash_value):
    # The spec's vectors give abs(hash); the bucket is that modulo the bucket count.
    for buckets in (1, 4, 10, 100, 1000):
        assert core.iteration_bucket(text, buckets) == hash_value % buckets


def test_iteration_bucket_of_recorded_keys():
    # Recorded by DynamoBao (m01): org#iter#000 (4 buckets), mbr#iter#003 (10 buckets).
    assert core.iteration_bucket("", 10) == 0
    assert core.iteration_bucket(ORG_ID, 4) == 0
    assert core.iteration_bucket(f"{ORG_ID}##__SK__##{MEMBER_ID}", 10) == 3


def test_primary_ids():
    assert core.format_primary_id(ORG_ID, None) == ORG_ID
    assert core.format_primary_id(None, "theme") == "theme"
    composite = core.format_primary_id(ORG_ID, MEMBER_ID)
    assert composite == f"{ORG_ID}##__SK__##{MEMBER_ID}"
    assert core.parse_primary_id(composite, True) == (ORG_ID, MEMBER_ID)
    assert core.parse_primary_id(ORG_ID, False) == (ORG_ID, None)


def test_primary_id_splits_at_first_separator_only():
    # A sort key may itself be a composite id (a RelatedField to a composite-key model):
    # DynamoBao split it wrongly (golden s10); we keep the whole sort key.
    nested = f"{MEMBER_ID}##__SK__##{ORG_ID}##__SK__##{MEMBER_ID}"
    assert core.parse_primary_id(nested, True) == (MEMBER_ID, f"{ORG_ID}##__SK__##{MEMBER_ID}")
    assert core.format_primary_id(MEMBER_ID, f"{ORG_ID}##__SK__##{MEMBER_ID}") == nested


@pytest.mark.parametrize(
    "bad",
    ["a#b", "x]#a#[y", "", " acme", "acme ", "ac me", "-acme", ".acme", "_acme", "a" * 65,
     "acmé", "[acme]", "a\nb", "a:b", "a/b"],
)
def test_invalid_tenant_ids_are_rejected(bad):
    with pytest.raises(InvalidTenantIdError):
        core.validate_tenant_id(bad)
    with pytest.raises(InvalidTenantIdError):
        core.format_primary_key(bad, "org", "x")
    with pytest.raises(InvalidTenantIdError):
        core.format_gsi_key(bad, "org", "gsi1", "x")
    with pytest.raises(InvalidTenantIdError):
        core.format_unique_key(bad, "uc1", "org", "slug", "x")
    with pytest.raises(InvalidTenantIdError):
        core.format_iteration_key(bad, "org", 0, 1)


@pytest.mark.parametrize("bad", [1, b"acme", ["acme"], 1.5])
def test_non_string_tenant_ids_are_rejected(bad):
    with pytest.raises(InvalidTenantIdError):
        core.validate_tenant_id(bad)


def test_invalid_tenant_id_is_a_validation_error():
    assert issubclass(InvalidTenantIdError, ValidationError)


@pytest.mark.parametrize("good", ["a", "acme", "Acme-Corp_1.eu", "0", "9x", "a" * 64])
def test_valid_tenant_ids(good):
    assert core.validate_tenant_id(good) == good


@pytest.mark.parametrize("bad", ["", "a#b", "x" * 11, "a-b", "a b", "ü", None, 3])
def test_invalid_model_prefixes(bad):
    with pytest.raises(ConfigurationError):
        core.validate_model_prefix(bad)
    with pytest.raises(ConfigurationError):
        core.format_primary_key(None, bad, "x")


def test_key_values_must_not_be_empty():
    with pytest.raises(ValidationError):
        core.format_primary_key("acme", "org", "")
    with pytest.raises(ValidationError):
        core.format_gsi_key("acme", "org", "gsi1", "")
    with pytest.raises(ValidationError):
        core.format_unique_key("acme", "uc1", "org", "slug", "")
    with pytest.raises(ValidationError):
        core.parse_primary_id("", True)


def test_separator_is_rejected_in_partition_values():
    with pytest.raises(ValidationError):
        core.format_primary_key("acme", "th", "a##__SK__##b")
    with pytest.raises(ValidationError):
        core.format_primary_id("a##__SK__##b", "c")
    with pytest.raises(ValidationError):
        core.parse_primary_id("a##__SK__##b", False)
    with pytest.raises(ValidationError):
        core.parse_primary_id("no-separator", True)


@pytest.mark.parametrize("bad", ["gsi0", "gsi6", "GSI1", "gsi", "iter_index", None])
def test_invalid_index_ids(bad):
    with pytest.raises(ConfigurationError):
        core.format_gsi_key(None, "org", bad, "x")


@pytest.mark.parametrize("bad", ["uc0", "uc4", "_uc", "uc", "ucX", None, 1])
def test_invalid_constraint_ids(bad):
    with pytest.raises(ConfigurationError):
        core.format_unique_key(None, bad, "org", "slug", "x")


def test_iteration_bucket_ranges():
    with pytest.raises(ConfigurationError):
        core.format_iteration_key(None, "org", 0, 0)
    with pytest.raises(ConfigurationError):
        core.format_iteration_key(None, "org", 0, 1001)
    with pytest.raises(ValidationError):
        core.format_iteration_key(None, "org", 4, 4)
    with pytest.raises(ValidationError):
        core.format_iteration_key(None, "org", -1, 4)
    with pytest.raises(ConfigurationError):
        core.iteration_bucket("x", 0)


def test_lone_surrogates_are_refused_in_keys():
    with pytest.raises(ValidationError):
        core.format_primary_key(None, "org", "a\ud800b")
    with pytest.raises(ValidationError):
        core.iteration_bucket("a\udfff", 10)


def test_non_string_key_values_are_refused():
    with pytest.raises(ValidationError):
        core.format_primary_key(None, "org", 42)
    with pytest.raises(ValidationError):
        core.format_gsi_key(None, "org", "gsi1", b"x")
