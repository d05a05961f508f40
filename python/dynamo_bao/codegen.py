"""``bao codegen``: typed Python model modules from DynamoBao's ``models.yaml`` (spec §8).

A team can keep one ``models.yaml`` for its JavaScript and Python services and still have
ordinary, type-checked Python classes: ``generate("models.yaml", "app/models")`` writes one
module per model (``TicketWatcher`` → ``ticket_watcher.py``) and an ``__init__.py`` exporting
every model and ``MODELS``, ready for ``init_models({"models": MODELS, ...})``.

Decisions (the spec describes DynamoBao's JavaScript generator; these are ours):

* The YAML is read and validated by :mod:`dynamo_bao.yaml_models` — the very code behind
  ``load_models`` — and every model class is built once before anything is written, so a file
  that ``load_models`` refuses produces no output at all, and the generated classes are
  equivalent to the ones ``load_models`` builds (same field constructors and options, keys,
  indexes, constraints, iteration and search settings).
* Field declarations are annotated with their own field class
  (``title: fields.StringField = fields.StringField(required=True)``): with ``BaoModel``'s
  ``dataclass_transform`` that makes mypy and pyright type ``ticket.title`` as ``str | None`` and
  check the keyword arguments of ``Ticket(title=...)``.
* Field names stay as the YAML has them (``orgId``): they are the stored attribute names that
  JavaScript services read. Names that cannot be Python attributes (keywords, ``first-name``)
  are refused with a clear error rather than renamed.
* ``RelatedField`` targets are model names (``fields.RelatedField("Org")``), so the modules do
  not import each other and import order never matters.
* Output is deterministic: the same input gives byte-identical files (declaration order as in
  the YAML, ``\\n`` line ends, the header names the input by its base name, not its path).
  Lines stay within 100 characters (calls, dicts and lists are broken one element per line
  when needed); the output passes ruff's E, F, W, I, B and UP rules.
* Writing never leaves a half-written package: a new output folder is written beside its
  destination and renamed into place; in an existing folder each file is replaced atomically,
  and generated modules of models no longer in the YAML (recognised by their header) are
  removed. Other files in the folder are left alone.
"""

from __future__ import annotations

import datetime as _dt
import keyword
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fields as fields_module
from .exceptions import ConfigurationError
from .model import MODEL_PREFIX, Index, PrimaryKey, UniqueConstraint
from .yaml_models import (
    MODEL_ATTRIBUTES,
    field_declaration,
    model_attributes,
    models_from_definitions,
    read_definitions,
)

__all__ = ["generate", "render", "check", "module_name", "HEADER_TEMPLATE"]

HEADER_TEMPLATE = "# generated from {source} by bao codegen — do not edit"
_HEADER_RE = re.compile(r"# generated from .* by bao codegen — do not edit")
LINE_LENGTH = 100
_INDENT = "    "


def module_name(model_name: str) -> str:
    """The module of a model: snake_case of its name (``TicketWatcher`` → ``ticket_watcher``,
    ``HTTPLog`` → ``http_log``); a Python keyword gets a trailing underscore."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", model_name).lower()
    return snake + "_" if keyword.iskeyword(snake) else snake


def render(source: str | Path) -> dict[str, str]:
    """``{file name: text}`` of the package generated from a YAML file or folder (no writes)."""
    path = Path(source)
    definitions = read_definitions(path)
    if not definitions:
        raise ConfigurationError(f"{path}: no models defined")
    modules: dict[str, str] = {}
    for name in definitions:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ConfigurationError(f"model name {name!r} is not a valid Python class name")
        module = module_name(name)
        if module in modules:
            raise ConfigurationError(
                f"models {modules[module]} and {name} would both be written to {module}.py"
            )
        modules[module] = name
        spec = definitions[name]
        field_specs = spec.get("fields") if isinstance(spec, dict) else None
        for field_name in field_specs if isinstance(field_specs, dict) else ():
            if not isinstance(field_name, str) or not field_name.isidentifier():
                raise ConfigurationError(
                    f"{name}.{field_name}: not a valid Python attribute name, cannot generate code"
                )
            if keyword.iskeyword(field_name):
                raise ConfigurationError(
                    f"{name}.{field_name}: a Python keyword cannot be a field in generated code"
                )
    # Build every class exactly as load_models does: whatever it refuses, codegen refuses too.
    models_from_definitions(definitions)

    label = path.resolve().name + ("/" if path.is_dir() else "")
    if len(label) > 40:  # the header stays within a line
        label = label[:19] + "…" + label[-20:]
    header = HEADER_TEMPLATE.format(source="".join(c if c.isprintable() else "?" for c in label))
    files = {
        f"{module}.py": _model_module(name, definitions[name], header)
        for module, name in modules.items()
    }
    files["__init__.py"] = _package_init(modules, list(definitions), header)
    return files


def generate(source: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the package generated from ``source`` into ``out_dir``; returns the written files.

    Nothing is written unless the whole YAML is valid (errors are ConfigurationErrors)."""
    files = render(source)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Beside the destination, so the final renames stay on one file system (and are atomic).
    staging = out.parent / f".{out.name}.bao-codegen-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        for name, text in files.items():
            (staging / name).write_bytes(text.encode("utf-8"))
        if not out.exists():
            os.replace(staging, out)
        else:
            for name in files:
                os.replace(staging / name, out / name)
            for stale in _stale_files(out, files):
                stale.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in files]


def check(source: str | Path, out_dir: str | Path) -> list[str]:
    """What differs between ``out_dir`` and what :func:`generate` would write: one line per
    file (``missing``, ``differs``, ``stale``); empty when the folder is up to date."""
    files = render(source)
    out = Path(out_dir)
    problems = []
    for name, text in files.items():
        target = out / name
        if not target.is_file():
            problems.append(f"missing: {target}")
        elif target.read_bytes() != text.encode("utf-8"):
            problems.append(f"differs: {target}")
    if out.is_dir():
        problems.extend(f"stale: {stale}" for stale in _stale_files(out, files))
    return problems


def _stale_files(out: Path, files: dict[str, str]) -> list[Path]:
    """Modules in ``out`` that an earlier codegen wrote and the current one would not."""
    stale = []
    for candidate in sorted(out.glob("*.py")):
        if candidate.name in files or not candidate.is_file():
            continue
        with candidate.open("rb") as handle:
            first = handle.readline().decode("utf-8", "replace").rstrip("\r\n")
        if _HEADER_RE.fullmatch(first):
            stale.append(candidate)
    return stale


# --------------------------------------------------------------------------- source text


@dataclass(frozen=True)
class _Group:
    """A bracketed, comma-separated piece of source: a call, dict, list or set display."""

    opener: str
    items: tuple[tuple[str, Any], ...]  # (text before the item, item node)
    closer: str


@dataclass(frozen=True)
class _Text:
    """A str or bytes literal: split into implicitly concatenated parts when too long."""

    value: str | bytes

    def literal(self) -> str:
        return _string(self.value) if isinstance(self.value, str) else repr(self.value)

    def parts(self, width: int) -> list[str]:
        """Literals of consecutive pieces of the value, each at most ``width`` characters
        (at least one character per piece), broken after a space where one is near."""
        pieces: list[str] = []
        rest = self.value
        while rest:
            end = 1
            while end < len(rest) and len(_Text(rest[: end + 1]).literal()) <= width:
                end += 1
            space = rest.rfind(b" " if isinstance(rest, bytes) else " ", 0, end)
            if end < len(rest) and space >= end // 2:
                end = space + 1
            pieces.append(_Text(rest[:end]).literal())
            rest = rest[end:]
        return pieces


def _flat(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, _Text):
        return node.literal()
    inner = ", ".join(prefix + _flat(item) for prefix, item in node.items)
    return node.opener + inner + node.closer


def _lines(node: Any, lead: str, trail: str, indent: str) -> list[str]:
    """``node`` after ``lead`` and before ``trail``: on one line when it fits, else broken one
    item per line (with a trailing comma), recursively."""
    flat = lead + _flat(node) + trail
    if len(flat) <= LINE_LENGTH:
        return [flat]
    inner = indent + _INDENT
    if isinstance(node, _Text) and len(node.value) > 1:
        parts = node.parts(LINE_LENGTH - len(inner))
        return [lead + "(", *(inner + part for part in parts), indent + ")" + trail]
    if not isinstance(node, _Group) or not node.items:
        # Only a name or number longer than a line can get here.
        return [flat + "  # noqa: E501"]
    lines = [lead + node.opener]
    for prefix, item in node.items:
        lines.extend(_lines(item, inner + prefix, ",", inner))
    lines.append(indent + node.closer + trail)
    return lines


def _string(text: str) -> str:
    """A double-quoted literal (repr's escaping; it picks double quotes itself when needed)."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1] + '"'
    return literal


class _Literals:
    """Python source for the plain values a YAML file can hold."""

    def __init__(self, datetime_name: str) -> None:
        self.datetime_name = datetime_name
        self.uses_datetime = False

    def node(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool):
            return repr(value)
        if isinstance(value, int):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else f'float("{value}")'
        if isinstance(value, (str, bytes)):
            return _Text(value)
        if isinstance(value, (_dt.datetime, _dt.date)):
            self.uses_datetime = True
            kind = "datetime" if isinstance(value, _dt.datetime) else "date"
            return f"{self.datetime_name}.{kind}.fromisoformat({_string(value.isoformat())})"
        if isinstance(value, list):
            return _Group("[", tuple(("", self.node(v, where)) for v in value), "]")
        if isinstance(value, (set, frozenset)):
            if not value:
                return "set()"
            members = sorted((self.node(v, where) for v in value), key=_flat)
            return _Group("{", tuple(("", m) for m in members), "}")
        if isinstance(value, dict):
            items = tuple(
                (_flat(self.node(k, where)) + ": ", self.node(v, where)) for k, v in value.items()
            )
            return _Group("{", items, "}")
        raise ConfigurationError(
            f"{where}: a {type(value).__name__} value cannot be written as Python source"
        )


def _free_name(preferred: str, taken: set[str]) -> str:
    # Field names never start with "_" (BaoModel refuses them), so the fallback cannot clash.
    return preferred if preferred not in taken else "_" + preferred


def _model_module(name: str, spec: dict[str, Any], header: str) -> str:
    field_specs = spec.get("fields") or {}  # names checked by render()
    # A class-body name shadows a module name for the rest of the body: avoid the clash.
    taken = set(field_specs) | {name}
    if taken & {"Any", "ClassVar"}:
        raise ConfigurationError(
            f"model {name}: 'Any' and 'ClassVar' are reserved names in generated code"
        )
    bao = _free_name("bao", taken)
    fields = _free_name("fields", taken)
    literals = _Literals(_free_name("datetime", taken))
    attrs = model_attributes(name, spec)

    body: list[str] = []

    def assign(target: str, node: Any) -> None:
        body.extend(_lines(node, f"{_INDENT}{target} = ", "", _INDENT))

    for attr in ("model_prefix", "table_type", "iterable", "iteration_buckets"):
        assign(attr, literals.node(attrs[attr], f"{name}.{attr}"))
    # Mutable class attributes say ClassVar, as BaoModel declares them (ruff's RUF012).
    assign(
        "search_config: ClassVar[dict[str, Any] | None]",
        literals.node(attrs.get("search_config"), f"{name}.search_config"),
    )

    body.append("")
    for field_name, field_spec in field_specs.items():
        field_type, args, options = field_declaration(name, field_name, field_spec)
        class_name = field_type.__name__
        assert getattr(fields_module, class_name, None) is field_type
        where = f"{name}.{field_name}"
        items = [("", literals.node(arg, where)) for arg in args]
        items += [(f"{option}=", literals.node(v, where)) for option, v in options.items()]
        call = _Group(f"{fields}.{class_name}(", tuple(items), ")")
        body.extend(_lines(call, f"{_INDENT}{field_name}: {fields}.{class_name} = ", "", _INDENT))

    body.append("")
    key = attrs["primary_key"]
    assign("primary_key", _primary_key(key, bao, literals, name))
    indexes = tuple(
        (
            _string(index_name) + ": ",
            "primary_key" if index is key else _declaration(index, bao, literals, name),
        )
        for index_name, index in attrs["indexes"].items()
    )
    assign(
        f"indexes: ClassVar[dict[str, {bao}.Index | {bao}.PrimaryKey]]", _Group("{", indexes, "}")
    )
    constraints = tuple(
        (_string(constraint_name) + ": ", _declaration(constraint, bao, literals, name))
        for constraint_name, constraint in attrs["unique_constraints"].items()
    )
    assign(
        f"unique_constraints: ClassVar[dict[str, {bao}.UniqueConstraint]]",
        _Group("{", constraints, "}"),
    )
    # Anything else model_attributes sets (nothing today) is written too, never dropped.
    for attr in sorted(set(attrs) - set(field_specs) - set(MODEL_ATTRIBUTES)):
        assign(attr, literals.node(attrs[attr], f"{name}.{attr}"))

    imports = []
    if literals.uses_datetime:
        imports.append(_import("datetime", literals.datetime_name))
    imports += ["from typing import Any, ClassVar", ""]
    imports += [_import("dynamo_bao", bao), f"from dynamo_bao import fields{_as(fields)}"]
    text = [header, "", *imports, "", "", f"class {name}({bao}.BaoModel):", *body]
    return "\n".join(text) + "\n"


def _as(alias: str) -> str:
    return "" if alias == "fields" else f" as {alias}"


def _import(module: str, alias: str) -> str:
    return f"import {module}" if alias == module else f"import {module} as {alias}"


def _primary_key(key: PrimaryKey, bao: str, literals: _Literals, model: str) -> Any:
    args = [("", literals.node(key.partition_key, f"{model}.primary_key"))]
    if key.sort_key != MODEL_PREFIX:
        args.append(("", literals.node(key.sort_key, f"{model}.primary_key")))
    return _Group(f"{bao}.PrimaryKey(", tuple(args), ")")


def _declaration(value: Index | UniqueConstraint, bao: str, literals: _Literals, model: str) -> Any:
    if isinstance(value, Index):
        parts: Iterable[Any] = (value.partition_key, value.sort_key, value.index_id)
    else:
        parts = (value.field, value.constraint_id)
    where = f"{model}.{type(value).__name__}"
    args = tuple(("", literals.node(part, where)) for part in parts)
    return _Group(f"{bao}.{type(value).__name__}(", args, ")")


def _package_init(modules: dict[str, str], order: list[str], header: str) -> str:
    bao = _free_name("bao", set(order))
    imports = [_import("dynamo_bao", bao), ""]
    imports += [f"from .{module} import {name}" for module, name in sorted(modules.items())]
    models = _lines(
        _Group("[", tuple(("", name) for name in order), "]"),
        f"MODELS: list[type[{bao}.BaoModel]] = ",
        "",
        "",
    )
    exported = ["MODELS", *sorted(order)]
    names = _lines(
        _Group("[", tuple(("", _string(n)) for n in exported), "]"), "__all__ = ", "", ""
    )
    doc = '"""The generated models; ``init_models({"models": MODELS, ...})`` registers them all."""'
    text = [header, doc, "", *imports, "", *models, "", *names]
    return "\n".join(text) + "\n"
