"""``bao codegen``: the generated classes are equivalent to what ``load_models`` builds from the
same YAML (declarations, compiled schema, the items they write under both cores), the output is
deterministic and ruff-clean, ``--check`` and the exit codes work, bad input writes nothing, and
the generated package works end to end against the embedded server."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

import dynamo_bao as bao
from dynamo_bao import cli, codegen, fields
from dynamo_bao.exceptions import ConfigurationError
from dynamo_bao.testing import fixed_clock
from dynamo_bao.yaml_models import load_models

from .compat_data import COMPAT
from .conftest import unique_table_name

COMPAT_YAML = COMPAT / "models.yaml"
PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"
HEADER = "# generated from {} by bao codegen — do not edit"

# Everything awkward at once: a model whose module name is a keyword, fields named like the
# generated module's imports, quotes and backslashes, a literal longer than a line, nested
# defaults, a YAML timestamp, an acronym in a model name, an index aliasing the primary key.
AWKWARD_YAML = r"""
models:
  Import:
    modelPrefix: imp
    iterable: true
    iterationBuckets: 3
    searchable: {fields: [title], caseSensitive: false, minTermLength: 1, dedupe: false}
    fields:
      importId: {type: UlidField, autoAssign: true}
      fields: {type: StringField, defaultValue: 'say "hi", it''s a \ backslash'}
      bao: {type: IntegerField, defaultValue: -3}
      title:
        type: StringField
        maxLength: 400
        defaultValue: "LONG_TITLE"
      meta: {type: MapField, defaultValue: {a: [1, 2.5, null, true], "b c": {d: "é"}}}
      items: {type: ListField, defaultValue: [x, y]}
      datetime: {type: DateTimeField, defaultValue: 2024-01-15T09:00:00Z}
      amount: {type: DecimalField}
      owner: {type: RelatedField, model: HTTPLog}
      tags: {type: StringSetField, maxStringLength: 8, maxMemberCount: 3}
    primaryKey: {partitionKey: importId}
    indexes:
      byOwner: {partitionKey: owner, sortKey: datetime, indexId: gsi1}
  HTTPLog:
    modelPrefix: hl
    tableType: mapping
    fields:
      logId: {type: StringField}
      at: {type: CreateDateField}
      ttl: {type: TtlField}
    primaryKey: {partitionKey: modelPrefix, sortKey: logId}
    indexes:
      everything: primaryKey
""".replace("LONG_TITLE", "a default title long enough to push its declaration past a line " * 2)


def import_package(path: Path) -> ModuleType:
    """Import a generated package from ``path`` under a name no other test uses."""
    name = f"bao_generated_{uuid.uuid4().hex[:10]}"
    spec = importlib.util.spec_from_file_location(
        name, path / "__init__.py", submodule_search_locations=[str(path)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def awkward_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "awkward.yaml"
    path.write_text(AWKWARD_YAML, encoding="utf-8")
    return path


@pytest.fixture
def compat_package(tmp_path: Path) -> ModuleType:
    codegen.generate(COMPAT_YAML, tmp_path / "compat_models")
    return import_package(tmp_path / "compat_models")


# --------------------------------------------------------------------------- equivalence

SAMPLE_BY_FIELD = {
    fields.StringField: "some text",
    fields.UlidField: "01HKS659000000000000000009",
    fields.RelatedField: "01HKS659000000000000000002",
    fields.IntegerField: 42,
    fields.CounterField: 5,
    fields.FloatField: 2.5,
    fields.DecimalField: Decimal("1.10"),
    fields.BooleanField: True,
    fields.DateTimeField: datetime(2024, 1, 15, 9, 30, tzinfo=timezone.utc),
    fields.CreateDateField: datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc),
    fields.ModifiedDateField: datetime(2024, 1, 16, 9, 0, tzinfo=timezone.utc),
    fields.TtlField: datetime(2030, 1, 1, tzinfo=timezone.utc),
    fields.BinaryField: b"\x00\xffbin",
    fields.StringSetField: {"a", "b"},
    fields.VersionField: "01HKS659000000000000000003",
    fields.MapField: {"k": [1, "x", {"n": None}]},
    fields.ListField: [1, "two", 3.5],
}


def sample_values(cls: type[bao.BaoModel]) -> dict:
    return {name: SAMPLE_BY_FIELD[type(field)] for name, field in cls._fields.items()}


def field_options(field: fields.Field) -> dict:
    # ``model`` is the owning class: a different object on either side by construction.
    return {k: v for k, v in vars(field).items() if k != "model"}


def assert_equivalent(generated: type[bao.BaoModel], loaded: type[bao.BaoModel]) -> None:
    assert generated.__name__ == loaded.__name__
    for attr in (
        "model_prefix",
        "table_type",
        "iterable",
        "iteration_buckets",
        "search_config",
        "primary_key",
        "indexes",
        "unique_constraints",
    ):
        assert getattr(generated, attr) == getattr(loaded, attr), attr
    assert list(generated._fields) == list(loaded._fields)
    for name, field in generated._fields.items():
        other = loaded._fields[name]
        assert type(field) is type(other), name
        assert field_options(field) == field_options(other), name
        assert field.model is generated

    schema, other = generated._schema, loaded._schema
    for attr in ("model_name", "prefix", "field_names", "partition_key", "sort_key", "indexes"):
        assert getattr(schema, attr) == getattr(other, attr), attr
    assert schema.iteration_buckets == other.iteration_buckets

    values = sample_values(loaded)
    for tenant in ("acme", None):
        item = schema.to_item(values, tenant)
        assert item == other.to_item(values, tenant)
        assert schema.from_item(item) == other.from_item(item)
    # Defaults, auto-assigned ULIDs and dates of new instances: the same clock, the same values.
    instances = []
    for cls in (generated, loaded):
        with fixed_clock("2024-01-15T09:00:00Z"):
            instances.append(cls())
    assert instances[0]._data == instances[1]._data


def test_compat_models_are_equivalent_to_load_models(compat_package):
    loaded = load_models(COMPAT_YAML)
    assert [cls.__name__ for cls in compat_package.MODELS] == list(loaded)
    assert sorted(compat_package.__all__) == sorted(["MODELS", *loaded])
    for name, cls in loaded.items():
        assert_equivalent(getattr(compat_package, name), cls)
    # The point of equivalence: the same item for a JS-recorded model, on either side.
    member = compat_package.Member
    assert member.indexes["membersForOrg"] is member.primary_key


def test_awkward_models_are_equivalent_and_importable(tmp_path, awkward_yaml):
    out = tmp_path / "awkward_models"
    codegen.generate(awkward_yaml, out)
    assert sorted(p.name for p in out.iterdir()) == ["__init__.py", "http_log.py", "import_.py"]
    package = import_package(out)
    loaded = load_models(awkward_yaml)
    for name, cls in loaded.items():
        assert_equivalent(getattr(package, name), cls)
    source = (out / "import_.py").read_text(encoding="utf-8")
    # Field names that shadow the usual module names push those to private aliases.
    assert "import dynamo_bao as _bao" in source
    assert "from dynamo_bao import fields as _fields" in source
    assert "import datetime as _datetime" in source
    assert package.Import().fields == 'say "hi", it\'s a \\ backslash'
    assert package.Import().datetime == datetime(2024, 1, 15, 9, tzinfo=timezone.utc)
    assert package.HTTPLog.indexes == {"everything": bao.PrimaryKey("modelPrefix", "logId")}


def test_declarations_use_the_public_api(compat_package, tmp_path):
    source = (tmp_path / "compat_models" / "member.py").read_text(encoding="utf-8")
    assert source.startswith(HEADER.format("models.yaml") + "\n")
    assert "class Member(bao.BaoModel):" in source
    # Typed descriptors (type checkers see str | None on instances) and targets by name.
    assert '    orgId: fields.RelatedField = fields.RelatedField("Org", required=True)' in source
    assert '    primary_key = bao.PrimaryKey("orgId", "memberId")' in source
    assert '        "membersForOrg": primary_key,' in source
    assert '        "uniqueHandle": bao.UniqueConstraint("handle", "uc2"),' in source
    assert "import" not in source.split("class Member")[1]  # models never import each other
    assert all(len(line) <= 100 for line in source.splitlines())


# --------------------------------------------------------------------------- output properties


def test_output_is_deterministic(tmp_path):
    first = codegen.generate(COMPAT_YAML, tmp_path / "one")
    moved = tmp_path / "elsewhere" / "models.yaml"  # same name, other folder: same output
    moved.parent.mkdir()
    shutil.copy(COMPAT_YAML, moved)
    second = codegen.generate(moved, tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    before = {p.name: p.read_bytes() for p in first}
    codegen.generate(COMPAT_YAML, tmp_path / "one")  # regenerating in place changes nothing
    assert {p.name: p.read_bytes() for p in first} == before
    assert b"\r\n" not in b"".join(before.values())


def test_a_long_file_name_keeps_the_header_within_a_line(tmp_path):
    source = tmp_path / ("shared-models-of-the-billing-and-accounts-services-" * 2 + ".yaml")
    shutil.copy(COMPAT_YAML, source)
    files = codegen.render(source)
    header = files["org.py"].splitlines()[0]
    assert len(header) <= 100
    assert header.startswith("# generated from shared-models-of-th…ounts-services-.yaml by")
    assert header.endswith(" by bao codegen — do not edit")


@pytest.mark.parametrize("rules", ["project", "ruff-defaults"])
def test_output_is_ruff_clean(tmp_path, awkward_yaml, rules):
    codegen.generate(COMPAT_YAML, tmp_path / "pkg" / "compat_models")
    codegen.generate(awkward_yaml, tmp_path / "pkg" / "awkward_models")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency"
    options = ["--config", str(PYPROJECT)] if rules == "project" else ["--isolated"]
    run = subprocess.run(
        [ruff, "check", "--no-cache", *options, str(tmp_path / "pkg")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_folder_of_yaml_files_is_merged_by_model_name(tmp_path):
    source = tmp_path / "defs"
    source.mkdir()
    (source / "a.yaml").write_text(
        "models:\n  Note:\n    modelPrefix: old\n    fields: {noteId: {type: UlidField}}\n"
        "    primaryKey: {partitionKey: noteId}\n"
    )
    (source / "b.yml").write_text(
        "models:\n  Note:\n    modelPrefix: note\n    fields: {noteId: {type: UlidField}}\n"
        "    primaryKey: {partitionKey: noteId}\n"
        "  Tag:\n    modelPrefix: tag\n    fields: {name: {type: StringField}}\n"
        "    primaryKey: {partitionKey: name}\n"
    )
    (source / "notes.txt").write_text("not a model file")
    codegen.generate(source, tmp_path / "out")
    package = import_package(tmp_path / "out")
    assert [cls.__name__ for cls in package.MODELS] == ["Note", "Tag"]
    assert package.Note.model_prefix == "note"  # the later file's definition wins
    text = (tmp_path / "out" / "note.py").read_text(encoding="utf-8")
    assert text.startswith(HEADER.format("defs/"))


def test_regenerating_removes_stale_generated_modules_only(tmp_path):
    out = tmp_path / "models"
    codegen.generate(COMPAT_YAML, out)
    (out / "old_model.py").write_text(HEADER.format("models.yaml") + "\nOLD = 1\n")
    (out / "helpers.py").write_text("# written by hand\nHELP = 1\n")
    assert codegen.check(COMPAT_YAML, out) == [f"stale: {out / 'old_model.py'}"]
    codegen.generate(COMPAT_YAML, out)
    assert not (out / "old_model.py").exists()
    assert (out / "helpers.py").read_text() == "# written by hand\nHELP = 1\n"
    assert codegen.check(COMPAT_YAML, out) == []


# --------------------------------------------------------------------------- CLI


def test_cli_generates_and_checks(tmp_path, capsys):
    out = tmp_path / "models"
    assert cli.main(["codegen", str(COMPAT_YAML), "-o", str(out)]) == 0
    assert "Wrote 7 files" in capsys.readouterr().out
    assert cli.main(["codegen", str(COMPAT_YAML), "-o", str(out), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out

    with (out / "org.py").open("a", encoding="utf-8") as handle:
        handle.write("# edited by hand\n")
    (out / "setting.py").unlink()
    assert cli.main(["codegen", str(COMPAT_YAML), "-o", str(out), "--check"]) == 1
    err = capsys.readouterr().err
    assert f"differs: {out / 'org.py'}" in err
    assert f"missing: {out / 'setting.py'}" in err
    assert not (out / "setting.py").exists()  # --check writes nothing

    assert cli.main(["codegen", str(COMPAT_YAML), "-o", str(tmp_path / "absent"), "--check"]) == 1
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("models: [\n", "invalid YAML"),
        ("{}\n", "expected a top-level 'models' mapping"),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {x: {type: NopeField}}\n"
            "    primaryKey: {partitionKey: x}\n",
            "A.x: Field type 'NopeField' not found",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {x: {type: StringField, colour: red}}\n"
            "    primaryKey: {partitionKey: x}\n",
            "A.x: unknown field option 'colour'",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {x: {type: StringField}}\n"
            "    primaryKey: {partitionKey: y}\n",
            "Field y not found in A fields",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {first-name: {type: StringField}}\n"
            "    primaryKey: {partitionKey: first-name}\n",
            "A.first-name: not a valid Python attribute name",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {class: {type: StringField}}\n"
            "    primaryKey: {partitionKey: class}\n",
            "A.class: a Python keyword cannot be a field in generated code",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {1: {type: StringField}}\n"
            "    primaryKey: {partitionKey: x}\n",
            "A.1: not a valid Python attribute name",
        ),
        (
            "models:\n  my-model:\n    modelPrefix: a\n    fields: {x: {type: StringField}}\n"
            "    primaryKey: {partitionKey: x}\n",
            "model name 'my-model' is not a valid Python class name",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {indexes: {type: StringField}}\n"
            "    primaryKey: {partitionKey: indexes}\n",
            "a field cannot be named like the model attribute 'indexes'",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: [x]\n",
            "'fields' must be a mapping",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {o: {type: RelatedField, model: 3}}\n"
            "    primaryKey: {partitionKey: o}\n",
            "a RelatedField needs 'model' (a name)",
        ),
        (
            "models:\n  TicketLink:\n    modelPrefix: a\n    fields: {x: {type: StringField}}\n"
            "    primaryKey: {partitionKey: x}\n"
            "  Ticket_Link:\n    modelPrefix: b\n    fields: {x: {type: StringField}}\n"
            "    primaryKey: {partitionKey: x}\n",
            "would both be written to ticket_link.py",
        ),
        (
            "models:\n  A:\n    modelPrefix: a\n    fields: {ClassVar: {type: StringField}}\n"
            "    primaryKey: {partitionKey: ClassVar}\n",
            "'Any' and 'ClassVar' are reserved names in generated code",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, yaml_text, message):
    source = tmp_path / "models.yaml"
    source.write_text(yaml_text, encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["codegen", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bao: error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.yaml"]  # no out, no staging


def test_bad_input_leaves_an_existing_package_untouched(tmp_path, capsys):
    out = tmp_path / "models"
    codegen.generate(COMPAT_YAML, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken.yaml"
    broken.write_text(COMPAT_YAML.read_text().replace("type: FloatField", "type: Floaty"))
    assert cli.main(["codegen", str(broken), "-o", str(out)]) == 2
    assert "Field type 'Floaty' not found" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yaml", "models"]


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.main(["codegen", str(COMPAT_YAML)]) == 2  # -o is required
    assert "-o/--out" in capsys.readouterr().err
    assert cli.main(["codegen", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "o")]) == 2
    assert "models file or folder not found" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert cli.main(["codegen", str(COMPAT_YAML), "-o", str(tmp_path / "a_file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_yaml_sets_are_spelled_sorted_and_unsafe_tags_refused(tmp_path):
    source = tmp_path / "models.yaml"
    source.write_text(
        "models:\n  A:\n    modelPrefix: a\n"
        "    fields: {x: {type: StringField}, m: {type: MapField, defaultValue: !!set {a, b}}}\n"
        "    primaryKey: {partitionKey: x}\n"
    )
    # A set is spelled (sorted, so the output stays deterministic) ...
    codegen.generate(source, tmp_path / "ok")
    assert 'default={"a", "b"}' in (tmp_path / "ok" / "a.py").read_text()
    source.write_text(source.read_text().replace("!!set {a, b}", "!!python/none"))
    with pytest.raises(ConfigurationError):  # ... an unsafe tag is refused by the YAML reader
        codegen.render(source)


# --------------------------------------------------------------------------- end to end


def test_generated_models_round_trip_on_the_embedded_server(tmp_path, dynamodb_client):
    codegen.generate(COMPAT_YAML, tmp_path / "compat_models")
    package = import_package(tmp_path / "compat_models")
    table = unique_table_name("codegen")
    manager = bao.init_models(
        {
            "db": {"table_name": table},
            "tenancy": {"enabled": True},
            "models": package.MODELS,
            "client": dynamodb_client,
        }
    )
    manager.create_table()
    try:
        org_cls, member_cls = package.Org, package.Member
        assert manager.get_model("Org") is org_cls
        with bao.TenantContext.tenant("acme"):
            org = org_cls.create({"name": "Acme", "slug": "acme"})
            found = org_cls.find(org.primary_id)
            assert found.exists()
            assert (found.name, found.slug, found.plan, found.seats) == ("Acme", "acme", "free", 1)
            assert org_cls.find_by_slug("acme").primary_id == org.primary_id
            member = member_cls.create({"orgId": org, "email": "ada@example.com"})
            assert member_cls.find(member.primary_id).email == "ada@example.com"
            assert member.get_org().name == "Acme"  # RelatedField("Org") resolved by name
        with bao.TenantContext.tenant("globex"):
            assert not org_cls.find(org.primary_id).exists()
    finally:
        manager.delete_table()
