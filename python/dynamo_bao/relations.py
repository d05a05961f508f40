"""Relationships: related-object loading (batched), 1:N and N:M helpers, and helper names.

A ``RelatedField`` stores the primary id of an instance of another model (spec §5.7). This
module loads those instances and generates the helpers DynamoBao's codegen writes (spec §8.2),
as Python methods at class creation and at ``init_models``.

Loading
    ``instance.get_related(name)`` and the generated ``get_<name>()`` return the related
    instance, cached on the instance: the cache entry is keyed by tenant and id, so changing the
    field reads again; ``clear_related_cache(name=None)`` drops it. Every helper of an instance
    (``get_related``, ``get_<name>()``, ``query_<x>()``, mapping ``get_<x>()``,
    ``load_related_data``) runs only in the instance's own tenant (``instance.tenant_id``):
    under another it raises :class:`~dynamo_bao.exceptions.TenantMismatchError` before any
    request — also when the answer is cached or the field is empty.
    ``instance.load_related_data(names=None)`` and ``load_related=True`` on a query read the
    related instances of a whole page with one ``batch_find`` per *target model* (not one
    read per id), in the caller's tenant. An id whose item is gone yields an
    :class:`~dynamo_bao.query.ObjectNotFound` (falsy, ``exists()`` False, carrying the id), the
    same thing ``find`` returns — DynamoBao returns ``null`` for it in mapping queries; the
    ObjectNotFound keeps the dangling id visible so the mapping row can be cleaned up, and keeps
    each result in the position of its mapping row. An empty field yields ``None``. Unknown or
    non-related field names are a :class:`~dynamo_bao.exceptions.ConfigurationError` before
    any request (DynamoBao ignores unknown names). Instances of one page that point to the same
    id share one related instance. The target model is the one registered under the field's
    model name in the *same* registry as the model (DynamoBao looks it up in the current
    tenant's manager, spec §11.5).

Generated helpers (class creation: own indexes, unique constraints, related getters;
``init_models``: helpers that need another registered model)
    * RelatedField ``org_id`` / ``orgId`` → ``get_org()`` (a trailing ``_id``/``Id`` dropped);
    * unique constraint on field ``email`` → ``Model.find_by_email(value)`` (DESIGN §7 names the
      field; spec §8.2 derives it from the constraint name, which is the same for the usual
      ``uniqueEmail``);
    * own index whose partition key is the model prefix, ``allPosts`` → ``Post.query_all_posts()``;
    * another model's index (GSI or primary-key alias) whose partition key is a RelatedField to
      this model, ``postsForUser`` → ``user.query_posts(sk_condition=None, **options)``; the
      child's primary key without an alias index → ``user.query_<child>s()`` (DynamoBao's
      version of that one calls a non-existent index);
    * a mapping model's (``table_type = "mapping"``) such index → additionally
      ``tag.get_posts(map_sk_condition=None, limit=None, direction="ASC", start_key=None)``,
      the *target* instances via :func:`get_related_objects_via_map`. The target is the index's
      sort key when that is another RelatedField, else the model's only other RelatedField.

    The parent's value passed to the child query is the parent's primary id (what a
    RelatedField stores). DynamoBao passes the raw partition-key value, which is wrong for a
    parent with a composite key (DESIGN §6.4).

Helper names (the rule)
    A name is split into words at underscores, hyphens and other non-alphanumerics, before a
    capital that follows a lowercase letter or digit, and before the last capital of a run of
    capitals followed by a lowercase letter (``byHTTPStatus`` → by, http, status); the words are
    lowercased and joined with ``_``. For index names, the words from the first word ``for`` on
    are dropped (``postsForUser`` → ``posts``; ``for`` as the first word is kept). DynamoBao
    cuts at the substring ``For`` instead, so ``byFormat`` gives it ``queryBy``; ours gives
    ``query_by_format``. A generated name that is already a field, an attribute or method of
    the class (its own or BaoModel's), or another generated helper from a different source is a
    ConfigurationError at class creation / ``init_models`` — never a silent override
    (DynamoBao lets duplicates override each other). Re-registering the same models (another
    ``init_models``) regenerates the same helpers; a class's cross-model helpers follow its
    latest registration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import query
from .concurrency import map_in_context
from .exceptions import ConfigurationError, QueryError
from .fields import Field, RelatedField

__all__ = [
    "snake_case",
    "helper_base",
    "get_related",
    "clear_related_cache",
    "load_related",
    "related_options",
    "get_related_objects_via_map",
    "define_helper",
    "add_own_index_queries",
    "install_relationship_helpers",
]

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
MAPPING = "mapping"


# ------------------------------------------------------------------------------------------
# Names


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


def snake_case(name: str) -> str:
    """``postsForUser`` → ``posts_for_user``; ``byHTTPStatus`` → ``by_http_status``."""
    return "_".join(_words(name))


def helper_base(index_name: str) -> str:
    """The helper name part of an index name: its words before the first ``for``."""
    words = _words(index_name)
    if "for" in words[1:]:
        words = words[: words.index("for", 1)]
    return "_".join(words)


def related_base(field_name: str) -> str:
    """``org_id`` / ``orgId`` → ``org``; ``createdBy`` → ``created_by``."""
    words = _words(field_name)
    if len(words) > 1 and words[-1] == "id":
        words = words[:-1]
    return "_".join(words)


def define_helper(
    cls: type, method: str, fn: Callable, source: tuple, what: str, *, static: bool = False
) -> None:
    """Set the generated ``fn`` as ``cls.<method>``, refusing to hide anything but the same
    helper generated from the same source."""
    existing = getattr(cls, method, None)
    if existing is not None:
        previous = getattr(existing, "_bao_source", None)
        if previous is None:
            kind = "a field" if isinstance(existing, Field) else "an attribute"
            raise ConfigurationError(
                f"{cls.__name__}.{method} is already {kind}; cannot generate it for {what}"
            )
        if previous != source:
            raise ConfigurationError(
                f"{cls.__name__}.{method} would be generated twice: for {what} and for "
                f"{_describe(previous)}"
            )
    fn._bao_generated = True  # type: ignore[attr-defined]
    fn._bao_source = source  # type: ignore[attr-defined]
    fn.__name__ = fn.__qualname__ = method
    setattr(cls, method, classmethod(fn) if static else fn)


def _describe(source: tuple) -> str:
    kind, *names = source
    return f"{kind} {'.'.join(str(n) for n in names)}"


# ------------------------------------------------------------------------------------------
# Loading


def related_field(cls: Any, field_name: str) -> RelatedField:
    field = cls._fields.get(field_name)
    if not isinstance(field, RelatedField):
        raise ConfigurationError(f"Field {field_name} is not a RelatedField of {cls.__name__}")
    return field


def _target_model(cls: Any, field: RelatedField) -> Any:
    manager = cls._manager
    if manager is None:
        raise ConfigurationError(
            f"Model {cls.__name__} is not registered: pass it to init_models()"
        )
    return manager.get_model(field.related_model)


def _cache(instance: Any) -> dict[str, tuple[str | None, str, Any]]:
    try:
        cache = instance._related_cache
    except AttributeError:
        cache = None
    if cache is None:
        cache = instance._related_cache = {}
    return cache


def get_related(instance: Any, field_name: str) -> Any:
    """The related instance of ``field_name`` (cached; read with ``find`` when not)."""
    cls = type(instance)
    field = related_field(cls, field_name)
    _, tenant = query.bound_to(instance)
    related_id = instance._data.get(field_name)
    if related_id is None:
        return None
    target = _target_model(cls, field)
    cache = _cache(instance)
    cached = cache.get(field_name)
    if cached is not None and cached[:2] == (tenant, related_id):
        return cached[2]
    loaded = target.find(related_id)
    cache[field_name] = (tenant, related_id, loaded)
    return loaded


def clear_related_cache(instance: Any, field_name: str | None = None) -> None:
    """Forget the loaded related instance of ``field_name`` (all of them when None)."""
    if field_name is None:
        instance._related_cache = None
        return
    related_field(type(instance), field_name)
    _cache(instance).pop(field_name, None)


def _field_names(cls: Any, field_names: Iterable[str] | None) -> list[str]:
    if isinstance(field_names, str):
        raise ConfigurationError("related field names must be a list of names, not a str")
    if field_names is None:
        return [n for n, f in cls._fields.items() if isinstance(f, RelatedField)]
    names = list(dict.fromkeys(field_names))
    for name in names:
        related_field(cls, name)
    return names


def load_related(instances: Sequence[Any], field_names: Iterable[str] | None = None) -> None:
    """Load the related instances of ``field_names`` (all RelatedFields when None) of every
    instance — all of one model class — with one ``batch_find`` per target model, in the
    current tenant, which must be every instance's own (else TenantMismatchError before any
    request). Entries already cached for this tenant are not read again."""
    if not instances:
        return
    cls = type(instances[0])
    names = _field_names(cls, field_names)
    targets = {name: _target_model(cls, cls._fields[name]) for name in names}
    tenant = query.bound(cls)[1]
    for instance in instances:
        if instance._tenant != tenant:
            query.check_tenant(instance, tenant)
    wanted: dict[Any, dict[str, None]] = {}
    for instance in instances:
        cache = _cache(instance)
        for name in names:
            related_id = instance._data.get(name)
            if related_id is None:
                continue
            cached = cache.get(name)
            if cached is not None and cached[:2] == (tenant, related_id):
                continue
            wanted.setdefault(targets[name], {})[related_id] = None
    if not wanted:
        return
    jobs = list(wanted.items())
    found = dict(
        zip(
            (target for target, _ in jobs),
            map_in_context(lambda job: job[0].batch_find(list(job[1])), jobs),
            strict=True,
        )
    )
    for instance in instances:
        cache = _cache(instance)
        for name in names:
            related_id = instance._data.get(name)
            target = targets[name]
            if related_id is None or target not in found:
                continue
            if related_id not in wanted[target]:
                continue  # was already cached
            loaded = found[target].get(related_id)
            if loaded is None:
                loaded = query.ObjectNotFound(target, related_id)
            cache[name] = (tenant, related_id, loaded)


def related_options(
    cls: Any,
    load_related: bool,
    related_fields: Iterable[str] | None,
    related_only: bool,
    count_only: bool,
) -> list[str] | None:
    """The related fields a query should load (None: none), checked before any request."""
    if not load_related:
        if related_fields is not None or related_only:
            raise QueryError("related_fields and related_only need load_related=True")
        return None
    if count_only:
        raise QueryError("load_related cannot be combined with count_only")
    names = _field_names(cls, related_fields)
    for name in names:
        _target_model(cls, cls._fields[name])
    if related_only and len(names) != 1:
        raise QueryError("related_only needs exactly one name in related_fields")
    return names


def attach_related(result: Any, names: list[str], related_only: bool) -> None:
    """Load the related instances of a query page; with ``related_only`` the page's items
    become those instances (an ObjectNotFound for a dangling id, None for an empty field)."""
    load_related(result.items, names)
    if related_only:
        (name,) = names
        result.items = [_cached_or_none(item, name) for item in result.items]


def _cached_or_none(instance: Any, name: str) -> Any:
    if instance._data.get(name) is None:
        return None
    return _cache(instance)[name][2]


def get_related_objects_via_map(
    mapping: Any,
    index_name: str | None,
    pk_value: Any,
    target_field: str,
    map_sk_condition: Any = None,
    limit: int | None = None,
    direction: str = "ASC",
    start_key: str | None = None,
) -> Any:
    """One page of the *targets* of a mapping model's rows: the rows of ``pk_value`` in
    ``index_name`` (in index order), each replaced by the instance its ``target_field`` points
    to, loaded with one batch read per page. ``index_name=None`` queries the mapping model's
    primary key. ``last_evaluated_key`` continues the mapping query; ``count`` is the number
    of mapping rows."""
    related_field(mapping, target_field)
    options = {
        "limit": limit,
        "direction": direction,
        "start_key": start_key,
        "load_related": True,
        "related_fields": [target_field],
        "related_only": True,
    }
    if index_name is None:
        return mapping.query_by_primary_key(pk_value, map_sk_condition, **options)
    return mapping.query_by_index(index_name, pk_value, map_sk_condition, **options)


# ------------------------------------------------------------------------------------------
# Generated helpers


def _partition_side(index: Any) -> str | None:
    pk = index.partition_key
    return None if pk == "modelPrefix" else pk


def add_own_index_queries(cls: Any) -> None:
    """``Model.query_<name>(sk_condition=None, **options)`` for each index of the model whose
    partition key is the model prefix (one partition per tenant)."""
    for index_name, index in _indexes(cls).items():
        if _partition_side(index) is not None:
            continue
        define_helper(
            cls,
            f"query_{helper_base(index_name)}",
            _own_index_query(index_name),
            ("index", index_name),
            f"index '{index_name}'",
            static=True,
        )


def _own_index_query(index_name: str) -> Callable:
    def query_all(model: Any, sk_condition: Any = None, **options: Any) -> Any:
        return model.query_by_index(index_name, model.model_prefix, sk_condition, **options)

    query_all.__doc__ = f"A page of the index {index_name!r} (one partition per tenant)."
    return query_all


def _indexes(cls: Any) -> dict[str | None, Any]:
    """The model's indexes, with every alias of the primary key as the model's primary key."""
    return {
        name: index if hasattr(index, "index_id") else cls.primary_key
        for name, index in (cls.indexes or {}).items()
    }


def _mapping_target(child: Any, index: Any, pk_field: str) -> str:
    related = [n for n, f in child._fields.items() if isinstance(f, RelatedField)]
    sk = index.sort_key
    if sk != pk_field and sk in related:
        return sk
    others = [n for n in related if n != pk_field]
    if len(others) != 1:
        raise ConfigurationError(
            f"mapping model {child.__name__}: cannot tell which RelatedField an index on "
            f"'{pk_field}' leads to ({', '.join(others) or 'none'})"
        )
    return others[0]


def _planned_helpers(models: dict[str, Any]) -> list[tuple[Any, str, Callable, tuple, str]]:
    """(parent class, method, function, source, description) of every cross-model helper."""
    planned = []
    for child_name, child in models.items():
        indexes = _indexes(child)
        aliased = any(not hasattr(index, "index_id") for index in indexes.values())
        if not aliased:
            indexes[None] = child.primary_key  # the primary key, reachable without an alias
        for index_name, index in indexes.items():
            pk_field = _partition_side(index)
            field = child._fields.get(pk_field) if pk_field else None
            if not isinstance(field, RelatedField):
                continue
            parent = models.get(field.related_model)
            if parent is None:
                continue
            base = helper_base(index_name) if index_name else f"{snake_case(child_name)}s"
            what = f"{child_name} index '{index_name or 'primary key'}'"
            source = ("relation", child_name, index_name)
            planned.append(
                (parent, f"query_{base}", _child_query(child_name, index_name), source, what)
            )
            if getattr(child, "table_type", "standard") == MAPPING:
                target = _mapping_target(child, index, pk_field)
                planned.append((
                    parent,
                    f"get_{base}",
                    _mapped_targets(child_name, index_name, target),
                    ("mapping", child_name, index_name),
                    f"mapping {what}",
                ))
    return planned


def _registered(instance: Any, model_name: str) -> Any:
    manager = type(instance)._manager
    if manager is None:
        raise ConfigurationError(
            f"Model {type(instance).__name__} is not registered: pass it to init_models()"
        )
    return manager.get_model(model_name)


def _child_query(child_name: str, index_name: str | None) -> Callable:
    def query_children(self: Any, sk_condition: Any = None, **options: Any) -> Any:
        child = _registered(self, child_name)
        query.bound_to(self)  # this instance's children: only in its own tenant
        if index_name is None:
            return child.query_by_primary_key(self.primary_id, sk_condition, **options)
        return child.query_by_index(index_name, self.primary_id, sk_condition, **options)

    query_children.__doc__ = (
        f"A page of {child_name} items of this instance "
        f"({child_name}.query_by_index({index_name!r}, self.primary_id, ...))."
    )
    return query_children


def _mapped_targets(mapping_name: str, index_name: str | None, target: str) -> Callable:
    def get_targets(
        self: Any,
        map_sk_condition: Any = None,
        limit: int | None = None,
        direction: str = "ASC",
        start_key: str | None = None,
    ) -> Any:
        mapping = _registered(self, mapping_name)
        query.bound_to(self)  # this instance's targets: only in its own tenant
        return get_related_objects_via_map(
            mapping, index_name, self.primary_id, target, map_sk_condition, limit, direction,
            start_key,
        )

    get_targets.__doc__ = (
        f"A page of the instances this one is mapped to through {mapping_name}.{target} "
        f"(index {index_name or 'primary key'!r}); a gone target is an ObjectNotFound."
    )
    return get_targets


def install_relationship_helpers(models: dict[str, Any]) -> None:
    """Generate the cross-model helpers of a registry's models (``{name: class}``).

    Everything is checked before anything is changed, so a collision leaves the classes as
    they were. Cross-model helpers a class got from an earlier registration and no longer gets
    are removed: a class's helpers follow its latest registration.
    """
    planned = _planned_helpers(models)
    stale = {
        (cls, name)
        for cls in models.values()
        for name, value in vars(cls).items()
        if getattr(value, "_bao_source", ("",))[0] in ("relation", "mapping")
    }
    claimed: dict[tuple[Any, str], tuple] = {}
    for parent, method, _, source, what in planned:
        other = claimed.get((parent, method))
        if other is not None and other != source:
            raise ConfigurationError(
                f"{parent.__name__}.{method} would be generated twice: for {what} and for "
                f"{_describe(other)}"
            )
        claimed[parent, method] = source
        existing = getattr(parent, method, None)
        previous = getattr(existing, "_bao_source", None)
        if existing is None or (parent, method) in stale or previous == source:
            continue
        if previous is None:
            kind = "a field" if isinstance(existing, Field) else "an attribute"
            raise ConfigurationError(
                f"{parent.__name__}.{method} is already {kind}; cannot generate it for {what}"
            )
        raise ConfigurationError(
            f"{parent.__name__}.{method} would be generated twice: for {what} and for "
            f"{_describe(previous)}"
        )
    for cls, name in stale:
        delattr(cls, name)
    for parent, method, fn, source, what in planned:
        define_helper(parent, method, fn, source, what)
