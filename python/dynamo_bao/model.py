"""Model declarations: ``BaoModel`` subclasses compiled once into a core ``Schema``.

A model class declares its prefix, fields, primary key, indexes, unique constraints and
iteration (DESIGN §7). At class creation the declaration is validated (DynamoBao's model
checks, spec §4, plus the ones it lacks: duplicate index ids, binary or set fields in keys,
duplicate constraint ids) and compiled into the core's ``Schema`` — the one object that turns
an instance's values into a whole item and an item back into values, in one call. Instances
hold field values and track which fields changed since they were created or loaded.

I/O (find, create, update, query …) is added by the model manager on top of this layer.

Decisions:

- An instance belongs to one tenant, ``instance.tenant_id`` (read-only): the tenant of the
  read that loaded it, the one its create or batch_put wrote it in, or for ``Model(...)``
  the one current at construction (``TenantContext.resolve(required=False)``: None when
  there is none). ``Model.create(data)`` creates in the current tenant.
- "Current" for the check is what every operation resolves when it starts (context, then
  resolvers; fail closed with tenancy on and none: ``TenantRequiredError``). If that differs
  from ``tenant_id``, ``save()`` (also one with nothing to send), the relation helpers and
  ``batch_put`` of the instance raise ``TenantMismatchError`` before any request. An
  instance built without a tenant (None) cannot be saved under one: build it inside the
  tenant. The message names the instance and its own tenant, never the current one.
- Equality includes the tenant: equal values in two tenants are two different items. A
  field cannot be named ``tenant_id`` (it would hide the property).
- Model prefixes may not start with ``_``: keys starting with an underscore are reserved
  for the library's own rows (``_raft_uc`` unique-constraint rows), so no model shares them.
- ``a``-twins of iterators (``aiterate_all``, ``aiterate_bucket``) call the sync method
  at the call, which resolves the tenant and checks the arguments then and sends nothing;
  only the pages are read on worker threads as the iterator is consumed.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from dataclasses import dataclass
from typing import Any, ClassVar, dataclass_transform

from . import (
    batch,
    capacity,
    clock,
    concurrency,
    core,
    iteration,
    mutations,
    query,
    relations,
    search,
)
from .exceptions import ConfigurationError, ValidationError
from .fields import (
    BinaryField,
    CreateDateField,
    Field,
    ModifiedDateField,
    RelatedField,
    StringSetField,
    TrackedSet,
    TtlField,
)
from .tenancy import TenantContext

__all__ = ["MODEL_PREFIX", "PrimaryKey", "Index", "UniqueConstraint", "BaoModel"]

#: The sentinel DynamoBao uses for "this side of the key is the model prefix".
MODEL_PREFIX = "modelPrefix"


@dataclass(frozen=True)
class PrimaryKey:
    """The table key of a model: a partition-key field and a sort-key field, either of which
    may be :data:`MODEL_PREFIX` (the default sort key: one item per partition value)."""

    partition_key: str
    sort_key: str = MODEL_PREFIX


@dataclass(frozen=True)
class Index:
    """A GSI of a model: ``Index("status", "created_at", "gsi1")``."""

    partition_key: str
    sort_key: str
    index_id: str


@dataclass(frozen=True)
class UniqueConstraint:
    """A unique value per tenant: ``UniqueConstraint("email", "uc1")`` (uc1 .. uc3)."""

    field: str
    constraint_id: str


def _side(name: str) -> str | None:
    return None if name == MODEL_PREFIX else name


#: I/O methods with an ``a``-prefixed async twin (Django's convention): ``await
#: Model.acreate(...)`` runs ``Model.create(...)`` on a worker thread in the caller's context
#: (tenant, batch context, clock), so the event loop is never blocked and there is one
#: implementation. Add a method's name here to give it a twin; names not defined are skipped.
#: ``afind`` is written out: inside a batch context it coalesces (:mod:`dynamo_bao.batch`).
#: Generated helpers (``find_by_<field>``, ``get_<related>``, ``query_<x>`` …) get twins too:
#: ``afind_by_email``, ``await user.aquery_posts()``.
ASYNC_TWINS = (
    "create",
    "batch_put",
    "update",
    "delete",
    "batch_find",
    "find_by_unique_constraint",
    "query_by_index",
    "query_by_primary_key",
    "count",
    "search_all",
    "search_bucket",
    "get_related_objects_via_map",
    "save",
    "get_related",
    "load_related_data",
)
#: Sync iterators whose twins return async iterators (``async for batch in
#: Model.aiterate_all()``), bound to the tenant current at the call like the sync ones.
ASYNC_ITERATOR_TWINS = ("iterate_all", "iterate_bucket")


@dataclass_transform(kw_only_default=True, field_specifiers=(Field,))
class BaoModel(capacity.CapacityCarrier):
    """Base class of models. Subclasses set the class attributes below and declare fields.

    Every instance carries the capacity its reads and writes consumed
    (``get_numeric_consumed_capacity``; :mod:`dynamo_bao.capacity`).
    """

    model_prefix: ClassVar[str]
    primary_key: ClassVar[PrimaryKey]
    indexes: ClassVar[dict[str, Index | PrimaryKey]] = {}
    unique_constraints: ClassVar[dict[str, UniqueConstraint]] = {}
    iterable: ClassVar[bool] = False
    iteration_buckets: ClassVar[int] = 10
    table_type: ClassVar[str] = "standard"
    #: For searchable models: ``{"fields": [...], "minTermLength": 1, "dedupe": False,
    #: "caseSensitive": False}`` (DynamoBao's searchConfig).
    search_config: ClassVar[dict[str, Any] | None] = None

    _fields: ClassVar[dict[str, Field]] = {}
    _set_fields: ClassVar[tuple[str, ...]] = ()
    _dated: ClassVar[bool] = False
    _schema: ClassVar[Any] = None
    _manager: ClassVar[Any] = None

    __slots__ = ("_data", "_changes", "_persisted", "_related_cache", "_tenant")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[name] = value
        cls._fields = fields
        cls._set_fields = tuple(n for n, f in fields.items() if isinstance(f, StringSetField))
        dated = (CreateDateField, ModifiedDateField)
        cls._dated = any(isinstance(f, dated) for f in fields.values())
        for field in fields.values():
            if field.model is None or issubclass(cls, field.model):
                field.model = cls
        if "model_prefix" not in vars(cls) and not hasattr(cls, "model_prefix"):
            return  # an abstract base of models (no prefix yet): nothing to compile
        cls._schema = compile_schema(cls)
        _add_unique_finders(cls)
        _add_related_getters(cls)
        relations.add_own_index_queries(cls)
        _add_async_twins(cls, [n for n, v in vars(cls).items() if _is_generated(v)])

    # -- I/O (the model manager must have registered the class: init_models) --------------

    @classmethod
    def create(cls, data: dict[str, Any] | None = None, /, **values: Any) -> Any:
        """Create an item (fails with ConditionalError if it exists or a unique value is
        taken) and return the stored instance."""
        return mutations.create(cls, dict(data or {}, **values))

    @classmethod
    def batch_put(cls, items: list[Any]) -> list[Any]:
        """Write many new items at once (BatchWriteItem, 25 per request) and return them.
        Unconditional — an existing item with the same key is replaced — and refused for
        models with unique constraints; see :func:`dynamo_bao.mutations.batch_put`."""
        return mutations.batch_put(cls, list(items))

    @classmethod
    def update(
        cls,
        primary_id: str,
        changes: dict[str, Any] | None = None,
        condition: Any = None,
        force_reindex: bool = False,
    ) -> Any:
        """Update an existing item (ItemNotFoundError if missing) and return it as stored."""
        return mutations.update(cls, primary_id, changes, condition, force_reindex)

    @classmethod
    def delete(cls, primary_id: str, condition: Any = None) -> Any:
        """Delete an item (ItemNotFoundError if missing) and return it as it was."""
        return mutations.delete(cls, primary_id, condition)

    @classmethod
    def find(cls, primary_id: str) -> Any:
        """The instance with this primary id, or an ObjectNotFound (``exists()`` is False)."""
        return query.find(cls, primary_id)

    @classmethod
    async def afind(cls, primary_id: str) -> Any:
        """``find`` for async code. Inside a batch context, concurrent calls within a few
        milliseconds share one BatchGetItem (:mod:`dynamo_bao.batch`)."""
        return await batch.afind(cls, primary_id)

    @classmethod
    def is_inside_batch_context(cls) -> bool:
        """Whether the running code is inside ``batch_context()`` / ``run_with_batch_context``."""
        return batch.is_inside_batch_context()

    @classmethod
    def batch_find(cls, primary_ids: list[str]) -> dict[str, Any]:
        """``{id: instance}`` for the ids that exist, read in batches of 100."""
        return query.batch_find(cls, primary_ids)

    @classmethod
    def find_by_unique_constraint(cls, name: str, value: Any) -> Any:
        return query.find_by_unique_constraint(cls, name, value)

    @classmethod
    def query_by_index(
        cls, index_name: str, pk_value: Any, sk_condition: Any = None, **options: Any
    ) -> Any:
        """A page of a GSI or table-key query (:func:`dynamo_bao.query.query_by_index`)."""
        return query.query_by_index(cls, index_name, pk_value, sk_condition, **options)

    @classmethod
    def query_by_primary_key(cls, pk_value: Any, sk_condition: Any = None, **options: Any) -> Any:
        return query.query_by_primary_key(cls, pk_value, sk_condition, **options)

    @classmethod
    def iterate_all(
        cls, batch_size: int = 100, filter: Any = None, *, concurrency: int = 1
    ) -> Any:
        """Every item of an iterable model in the current tenant, as lists of instances (one
        per index page); ``filter`` may name any field (:mod:`dynamo_bao.iteration`)."""
        return iteration.iterate_all(cls, batch_size, filter, concurrency=concurrency)

    @classmethod
    def iterate_bucket(cls, bucket: int, batch_size: int = 100, filter: Any = None) -> Any:
        """The items of one iteration bucket, as lists of instances."""
        return iteration.iterate_bucket(cls, bucket, batch_size, filter)

    @classmethod
    def count(cls, filter: Any = None, *, concurrency: int = 1) -> Any:
        """``CountResult`` (``.count``) of the model's items in the current tenant, over every
        page and bucket (:func:`dynamo_bao.iteration.count`)."""
        return iteration.count(cls, filter, concurrency=concurrency)

    @classmethod
    def search_all(cls, terms: Any, operator: str = "$and", **options: Any) -> Any:
        """``SearchResult`` (``.items``, ``.cursor``) of a searchable model's items matching
        ``terms`` (:func:`dynamo_bao.search.search_all`)."""
        return search.search_all(cls, terms, operator, **options)

    @classmethod
    def search_bucket(cls, bucket: int, terms: Any, operator: str = "$and", **options: Any) -> Any:
        """:meth:`search_all` within one iteration bucket."""
        return search.search_bucket(cls, bucket, terms, operator, **options)

    def exists(self) -> bool:
        return True

    def get_related(self, field_name: str) -> Any:
        """The instance a RelatedField points to (an ObjectNotFound if it is gone; None if
        the field has no value), read in the current tenant and cached on this instance
        (:mod:`dynamo_bao.relations`); ``clear_related_cache`` forgets it."""
        return relations.get_related(self, field_name)

    def clear_related_cache(self, field_name: str | None = None) -> None:
        """Forget the loaded related instance of ``field_name`` (of every field when None)."""
        relations.clear_related_cache(self, field_name)

    def load_related_data(self, field_names: list[str] | None = None) -> BaoModel:
        """Load the related instances of ``field_names`` (every RelatedField when None) with
        one batch read per target model; unknown names are a ConfigurationError."""
        relations.load_related([self], field_names)
        return self

    @classmethod
    def get_related_objects_via_map(
        cls,
        index_name: str | None,
        pk_value: Any,
        target_field: str,
        map_sk_condition: Any = None,
        limit: int | None = None,
        direction: str = "ASC",
        start_key: str | None = None,
    ) -> Any:
        """A page of the instances this mapping model's rows of ``pk_value`` point to through
        ``target_field`` (:func:`dynamo_bao.relations.get_related_objects_via_map`)."""
        return relations.get_related_objects_via_map(
            cls, index_name, pk_value, target_field, map_sk_condition, limit, direction,
            start_key,
        )

    # -- instances ------------------------------------------------------------------------

    def __init__(self, data: dict[str, Any] | None = None, /, **values: Any) -> None:
        given = dict(data or {}, **values)
        fields = type(self)._fields
        unknown = [name for name in given if name not in fields]
        if unknown:
            raise ValidationError(
                f"{type(self).__name__}: unknown field {unknown[0]!r}", unknown[0]
            )
        self._data: dict[str, Any] = {}
        self._changes: set[str] = set()
        self._persisted = False
        # A new instance belongs to the tenant current now (None when there is none): it is
        # created there, and nowhere else (see ``tenant_id``).
        self._tenant: str | None = TenantContext.resolve(required=False)
        # One clock reading for all the dates of a new instance (only when it has dates).
        with clock.one_instant() if type(self)._dated else contextlib.nullcontext():
            for name, field in fields.items():
                if name in given:
                    value = field.clean(given[name])
                else:
                    value = field.clean(field.initial_value())
                if value is not None:
                    self._data[name] = self._tracked(field, value)
        self._changes = set(fields)

    @classmethod
    def _from_stored(cls, values: dict[str, Any], tenant: str | None) -> BaoModel:
        """An instance of values read from the table in ``tenant`` (no defaults, nothing
        changed); it belongs to that tenant."""
        instance = cls.__new__(cls)
        # The core's dict is used as it is. String sets are wrapped in a TrackedSet when first
        # read (StringSetField.__get__): a page of instances pays nothing for sets it never
        # touches. An absent one is an empty set.
        instance._data = values
        instance._changes = set()
        instance._persisted = True
        instance._tenant = tenant
        return instance

    @property
    def tenant_id(self) -> str | None:
        """The tenant this instance belongs to (read-only): the one it was read or created
        in, or for an instance built with ``Model(...)`` the one current then (None when
        there was none). Its ``save()``, relation helpers and the batch cache use only this
        tenant; run under another, they raise :class:`TenantMismatchError` before any
        request (``Model.update(id, …)`` by id works in whatever tenant is current)."""
        return self._tenant

    def _tracked(self, field: Field, value: Any) -> Any:
        """String sets are held as sets that mark the field changed when mutated in place."""
        if isinstance(field, StringSetField) and isinstance(value, (set, frozenset)):
            return TrackedSet(field.name, value)
        return value

    def save(self, condition: Any = None) -> Any:
        """Store this instance: a new one is created; a loaded one sends only its changed
        fields (nothing at all without changes). Returns self, refreshed from the table.

        Only in the instance's own tenant (``tenant_id``): under another one it is a
        :class:`TenantMismatchError` before any request — also when there is nothing to send,
        so the mistake shows the first time the code runs."""
        cls = type(self)
        if not self._persisted:
            stored = mutations.create_instance(self)
        elif not (pending := self._pending_changes()):
            query.bound_to(self)
            return self
        else:
            changes = {name: self._data.get(name) for name in pending}
            # String sets send their diff against what this instance loaded (spec §4), so a
            # member someone else added meanwhile is not overwritten.
            bases = {
                name: value.base for name, value in changes.items() if isinstance(value, TrackedSet)
            }
            stored = mutations.update(
                cls, self.primary_id, changes, condition, set_bases=bases, instance=self
            )
        self._data = {
            name: self._tracked(cls._fields[name], value) for name, value in stored._data.items()
        }
        self._changes = set()
        self._persisted = True
        self._add_capacity(stored.get_consumed_capacity())  # the save's cost stays
        context = batch.current()
        if context is not None:
            context.replace(stored, self)  # the batch context caches this object, not a copy
        return self

    def _related_results(self) -> Any:
        cache = getattr(self, "_related_cache", None) or {}
        return [entry[-1] for entry in cache.values()]

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: ``a<helper>`` of a helper generated after
        # the class was made (init_models installs relationship helpers, and may replace
        # them on a later registration, so the twin is made per lookup, not stored).
        if name.startswith("a") and _is_generated(getattr(type(self), name[1:], None)):
            return types.MethodType(_async_twin(name[1:]), self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _assign(self, field: Field, value: Any) -> None:
        value = field.clean(value)
        name = field.name
        current = self._data.get(name)
        if current is None and self._persisted and isinstance(field, StringSetField):
            current = frozenset()  # a loaded item without the set holds an empty one
        if value is None:
            if name not in self._data:
                return
            del self._data[name]
        elif current is not None and current == value:
            return
        else:
            tracked = self._tracked(field, value)
            if isinstance(tracked, TrackedSet) and self._persisted:
                # A new set replaces a loaded one: save() diffs it against what was loaded.
                tracked.base = (
                    current.base if isinstance(current, TrackedSet) else frozenset(current)
                )
            self._data[name] = tracked
        self._changes.add(name)

    @property
    def primary_id(self) -> str:
        """The public id of this item (``pk``, or ``pk##__SK__##sk``)."""
        return type(self)._schema.primary_id(self._key_values())

    def _key_values(self) -> dict[str, Any]:
        schema = type(self)._schema
        return {
            name: self._data.get(name)
            for name in (schema.partition_key, schema.sort_key)
            if name is not None
        }

    def _pending_changes(self) -> set[str]:
        """Fields assigned since the last load or save, and string sets changed in place."""
        data = self._data
        pending = set(self._changes)
        for name in type(self)._set_fields:
            members = data.get(name)
            if isinstance(members, TrackedSet) and members != members.base:
                pending.add(name)
        return pending

    def has_changes(self) -> bool:
        return bool(self._pending_changes())

    def changed_fields(self) -> frozenset[str]:
        return frozenset(self._pending_changes())

    def to_dict(self) -> dict[str, Any]:
        """The field values that are set (a loaded item's string sets always: empty if absent)."""
        values = dict(self._data)
        if self._persisted:
            for name in type(self)._set_fields:
                values[name] = getattr(self, name)  # the tracked set, as attribute access gives
        return values

    def __eq__(self, other: object) -> bool:
        # The tenant is part of an item's identity: equal values in two tenants are two items.
        return (
            type(other) is type(self)
            and other._tenant == self._tenant  # type: ignore[attr-defined]
            and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        try:
            key = self.primary_id
        except ValidationError:
            key = "?"
        return f"<{type(self).__name__} {key}>"


def _is_generated(member: Any) -> bool:
    return getattr(getattr(member, "__func__", member), "_bao_generated", False)


def _async_twin(name: str) -> Any:
    async def twin(owner: Any, /, *args: Any, **kwargs: Any) -> Any:
        return await concurrency.run_in_thread(getattr(owner, name), *args, **kwargs)

    return twin


def _async_iterator_twin(name: str) -> Any:
    # Not an async generator function: the sync method runs at the call, so the iterator
    # binds its tenant and checks its arguments then (TenantRequiredError, bad batch sizes
    # raise at the call), as the sync one does. It sends nothing until iterated.
    def twin(owner: Any, /, *args: Any, **kwargs: Any) -> Any:
        return _pages(iter(getattr(owner, name)(*args, **kwargs)))

    return twin


async def _pages(iterator: Any) -> Any:
    """The items of a sync iterator, each ``next`` on a worker thread (the loop never waits
    on I/O)."""
    done = object()
    while True:
        item = await concurrency.run_in_thread(next, iterator, done)
        if item is done:
            return
        yield item


def _add_async_twins(cls: type, names: Any, iterators: Any = ()) -> None:
    """Define ``a<name>`` on ``cls`` for each method ``name`` it has (classmethods stay
    classmethods). A twin looks the sync method up when called, so overrides are honoured."""
    for make, group in ((_async_twin, names), (_async_iterator_twin, iterators)):
        for name in group:
            method = inspect.getattr_static(cls, name, None)
            if method is None or f"a{name}" in vars(cls):
                continue
            twin = make(name)
            twin.__name__ = twin.__qualname__ = f"a{name}"
            twin.__doc__ = f"Async twin of ``{name}`` (run on a worker thread in this context)."
            setattr(cls, f"a{name}", classmethod(twin) if isinstance(method, classmethod) else twin)


def _add_related_getters(cls: type[BaoModel]) -> None:
    """``get_<name>()`` for each RelatedField: ``org_id`` / ``orgId`` → ``get_org()`` (a
    trailing ``_id`` / ``Id`` is dropped, as DynamoBao names them; names in snake_case, see
    :mod:`dynamo_bao.relations`)."""
    for name, field in cls._fields.items():
        if isinstance(field, RelatedField):
            relations.define_helper(
                cls,
                f"get_{relations.related_base(name)}",
                _related_getter(name),
                ("related", name),
                f"RelatedField '{name}'",
            )


def _related_getter(name: str) -> Any:
    def getter(self: Any) -> Any:
        return self.get_related(name)

    getter.__doc__ = f"The instance ``{name}`` points to (cached; see get_related)."
    return getter


def _add_unique_finders(cls: type[BaoModel]) -> None:
    """``find_by_<field>`` for each unique constraint (``uniqueEmail`` on ``email`` →
    ``find_by_email``; ``externalRef`` → ``find_by_external_ref``)."""
    for name, constraint in (cls.unique_constraints or {}).items():
        relations.define_helper(
            cls,
            f"find_by_{relations.snake_case(constraint.field)}",
            _unique_finder(name),
            ("unique", name),
            f"unique constraint '{name}'",
            static=True,
        )


def _unique_finder(name: str) -> Any:
    def finder(model: Any, value: Any) -> Any:
        return query.find_by_unique_constraint(model, name, value)

    finder.__doc__ = f"The instance whose unique constraint {name!r} holds ``value``."
    return finder


def compile_schema(cls: type[BaoModel], float_encoding: str = "sortable") -> Any:
    """Validate a model declaration and compile it into the core's Schema."""
    name = cls.__name__
    prefix = getattr(cls, "model_prefix", None)
    if not prefix:
        raise ConfigurationError(f"{name} must define a model_prefix")
    core.validate_model_prefix(prefix)
    if prefix.startswith("_"):
        # Keys starting with "_" are the library's own rows: a prefix "_raft_uc" would share
        # keys with unique-constraint rows (and overwrite them).
        raise ConfigurationError(
            f"Model prefix '{prefix}' of {name} cannot start with underscore: such names are "
            "reserved for dynamo-bao's own rows (e.g. _raft_uc)"
        )
    key = getattr(cls, "primary_key", None)
    if not isinstance(key, PrimaryKey):
        raise ConfigurationError(f"{name} must define a primary_key = PrimaryKey(...)")
    fields = cls._fields
    for field_name, field in fields.items():
        if isinstance(field, TtlField) and field_name != "ttl":
            raise ConfigurationError(
                f"TtlField must be named 'ttl', found '{field_name}' in {name}"
            )
        if field_name.startswith("_"):
            raise ConfigurationError(
                f"Field name '{field_name}' in {name} cannot start with underscore"
            )
        if callable(getattr(BaoModel, field_name, None)) or isinstance(
            getattr(BaoModel, field_name, None), property
        ):
            raise ConfigurationError(
                f"Field name '{field_name}' in {name} would hide BaoModel.{field_name}"
            )

    def key_field(side: str, what: str) -> str | None:
        field_name = _side(side)
        if field_name is None:
            return None
        field = fields.get(field_name)
        if field is None:
            raise ConfigurationError(f"Field {field_name} not found in {name} fields ({what})")
        unkeyable = ("map", "list", "any")
        if isinstance(field, (StringSetField, BinaryField)) or field.kind in unkeyable:
            raise ConfigurationError(
                f"{type(field).__name__} '{field_name}' cannot be part of {what} in {name}"
            )
        return field_name

    partition = key_field(key.partition_key, "the primary key")
    sort = key_field(key.sort_key, "the primary key")
    for field_name in (partition, sort):
        if field_name is not None:
            fields[field_name].required = True

    indexes = []
    seen_ids: set[str] = set()
    for index_name, index in (cls.indexes or {}).items():
        if index_name.startswith("_"):
            raise ConfigurationError(
                f"Index name '{index_name}' in {name} cannot start with underscore"
            )
        if isinstance(index, PrimaryKey) or index == "primaryKey":
            continue  # an alias of the table key: nothing extra is written
        if not isinstance(index, Index):
            raise ConfigurationError(f"Index '{index_name}' in {name} must be an Index")
        if index.index_id in seen_ids:
            raise ConfigurationError(f"Index id {index.index_id} is used twice in {name}")
        seen_ids.add(index.index_id)
        what = f"index '{index_name}'"
        indexes.append(
            (index.index_id, key_field(index.partition_key, what), key_field(index.sort_key, what))
        )

    seen_constraints: set[str] = set()
    for constraint_name, constraint in (cls.unique_constraints or {}).items():
        if not isinstance(constraint, UniqueConstraint):
            raise ConfigurationError(
                f"Unique constraint '{constraint_name}' in {name} must be a UniqueConstraint"
            )
        if constraint.field not in fields:
            raise ConfigurationError(f"Field {constraint.field} not found in {name} fields")
        number = constraint.constraint_id.lstrip("_")
        if number not in ("uc1", "uc2", "uc3"):
            raise ConfigurationError(
                f"Invalid constraint ID {constraint.constraint_id} in {name}"
            )
        if number in seen_constraints:
            raise ConfigurationError(f"Constraint id {number} is used twice in {name}")
        seen_constraints.add(number)

    if not isinstance(cls.iterable, bool):
        raise ConfigurationError(f"iterable must be a boolean in {name}")
    search.validate_search_config(cls)
    buckets = cls.iteration_buckets
    if cls.iterable and (
        not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= 1000
    ):
        raise ConfigurationError(
            f"iteration_buckets must be an integer between 1 and 1000 in {name}"
        )
    try:
        return core.Schema(
            name,
            prefix,
            [(field_name, field.kind) for field_name, field in fields.items()],
            partition_key=partition,
            sort_key=sort,
            indexes=indexes,
            iteration_buckets=buckets if cls.iterable else 0,
            float_encoding=float_encoding,
        )
    except ConfigurationError as err:
        raise ConfigurationError(f"{name}: {err}") from None



_add_async_twins(BaoModel, ASYNC_TWINS, ASYNC_ITERATOR_TWINS)
