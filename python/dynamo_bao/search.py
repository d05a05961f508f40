"""Search of ``searchable`` models (DynamoBao's ``_searchText``, spec §5.13).

**Writing.** ``build_search_text`` joins the configured source fields and normalises them as
DynamoBao does: every character that is not a Unicode letter or number (``\\p{L}``/``\\p{N}``)
or whitespace becomes a space, text is lower-cased (unless ``caseSensitive``), whitespace
runs collapse to one space; with ``minTermLength`` > 1 or ``dedupe``, short tokens are dropped
and repeats removed (first wins). Creates write it when it is not empty; updates recompute it
only when a source field changes (or ``force_reindex``), back-filling untouched sources from
the stored item, and remove it when it becomes empty (:mod:`dynamo_bao.mutations`). Filters
on ``_searchText`` in any query are normalised the same way (``{"_searchText": {"$contains":
"Password!"}}`` looks for ``"password"``).

**Searching.** :func:`search_all` / :func:`search_bucket` query the iteration buckets on
``iter_search_index`` (which projects ``_searchText``) with ``contains(#st, :stN)`` per term,
ANDed or ORed, and read the matching items. Decisions where DynamoBao differs or is silent:

* Terms are a list of strings or one query string, split like DynamoBao's
  ``tokenizeSearchQuery`` (whitespace; ``"quoted phrases"`` kept whole; an unmatched quote
  takes the rest of the string). Terms are normalised like the stored text; terms shorter
  than ``minTermLength`` are dropped, repeats are dropped. At most :data:`MAX_TERMS` (50)
  distinct terms remain, and the whole FilterExpression (terms and a ``_searchText`` filter)
  must fit DynamoDB's 4 KB: more is a :class:`ValidationError` before any request (DynamoBao
  sent thousands and got a server error). Filter operands, also those applied to the items
  read, are encoded before the first request, so a bad one is refused up front.
* **Bounded fan-out** (DynamoBao could send 5000 Queries in one call, spec §11.24). A call
  works in rounds: each round queries one page (``Limit=batch_size``) of each of up to
  ``concurrency`` unfinished buckets, lowest bucket first, concurrently through
  :func:`dynamo_bao.concurrency.map_in_context`. It stops when ``limit`` items are found, when
  every bucket is finished, when a bucket has had ``max_queries_per_bucket`` queries, or after
  ``max_queries`` queries in total (default 100). So a call may return fewer than ``limit``
  items — even none — together with a cursor: keep calling while ``cursor`` is not None.
* **No over-pull to carry.** Items are taken in bucket order, then index order, and the cursor
  records, per bucket, the primary id after which to resume (the last item taken, or the end
  of the page read). Rows beyond ``limit`` are simply read again by the next call, so the
  cursor stays small, holds no ids to hydrate (a forged cursor cannot make us read arbitrary
  items, spec §11.7) and every match is returned exactly once. Only the items returned are
  read with BatchGetItem.
* **The cursor** is made by :mod:`dynamo_bao.cursors` (encrypted and authenticated): it
  reveals neither the tenant nor the ids it holds, and is bound to the tenant, the model, the
  normalised query (terms, operator, search settings and filter, hashed) and the scope (all
  buckets, or the one of ``search_bucket``). Using it under another tenant, model, query or
  scope, changed in any way, or (without ``cursors.secret``) in another process, is the one
  invalid-cursor :class:`QueryError`, before any request. Decoded positions must be ids of the
  model in the tenant, each in its own bucket of the scope.
* ``filter`` (the dict DSL) is ANDed with the search predicate. A filter on ``_searchText``
  only is sent with the query; a filter naming other fields (which the index does not
  project) is applied to the items read, with DynamoDB's semantics
  (:func:`dynamo_bao.iteration.matches`) — DynamoBao refused those.
* Errors are ours: a model that is not searchable or not iterable, or a table without
  ``iter_search_index``, is a :class:`ConfigurationError`; bad arguments are a
  :class:`ValidationError`; a bad cursor is a :class:`QueryError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import capacity, core, cursors
from .exceptions import BaoError, ConfigurationError, ValidationError

__all__ = [
    "SEARCH_TEXT_ATTRIBUTE",
    "SearchResult",
    "normalize",
    "normalize_search_term",
    "tokenize_search_query",
    "build_search_text",
    "validate_search_config",
    "filter_fields",
    "search_text_operand",
    "search_all",
    "search_bucket",
    "query_digest",
]

SEARCH_TEXT_ATTRIBUTE = "_searchText"
SEARCH_INDEX_NAME = "iter_search_index"
#: Default cap on the Query requests of one search call (all buckets together).
DEFAULT_MAX_QUERIES = 100
MAX_QUERIES_LIMIT = 1000
#: Distinct terms per search: each is one ``contains()`` of the FilterExpression, which
#: DynamoDB caps at 4 KB of text (and 300 operators); 50 terms take about 1.3 KB.
MAX_TERMS = 50
#: DynamoDB's limit on the text of one expression.
MAX_EXPRESSION_BYTES = 4096
_CONFIG_KEYS = ("fields", "caseSensitive", "minTermLength", "dedupe")


# --------------------------------------------------------------------------- text


def _kept(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char.isspace()
    return char.isspace() or unicodedata.category(char)[0] in "LN"


def normalize(text: str, case_sensitive: bool = False) -> str:
    """DynamoBao's normalisation (see the module docstring)."""
    cleaned = "".join(c if _kept(c) else " " for c in text)
    if not case_sensitive:
        cleaned = cleaned.lower()
    return " ".join(cleaned.split())


def _settings(config: Mapping[str, Any]) -> tuple[bool, int, bool]:
    return (
        bool(config.get("caseSensitive", False)),
        int(config.get("minTermLength", 1)),
        bool(config.get("dedupe", False)),
    )


def build_search_text(config: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """The ``_searchText`` of an item with these field values (None when it would be empty)."""
    case_sensitive, min_length, dedupe = _settings(config)
    sources = [values.get(name) for name in config.get("fields", ())]
    text = normalize(" ".join(str(v) for v in sources if v is not None), case_sensitive)
    if min_length > 1 or dedupe:
        tokens = [token for token in text.split(" ") if len(token) >= min_length]
        if dedupe:
            tokens = list(dict.fromkeys(tokens))
        text = " ".join(tokens)
    return text or None


def normalize_search_term(term: str, config: Mapping[str, Any]) -> str:
    """A search term (or a ``_searchText`` filter operand) normalised like the stored text."""
    return normalize(term, _settings(config)[0])


def tokenize_search_query(query: str) -> list[str]:
    """Split a query string into terms: whitespace separates, ``"a phrase"`` is one term, an
    unmatched quote takes the rest of the string, empty phrases are dropped."""
    terms: list[str] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            phrase = query[i + 1 :] if end < 0 else query[i + 1 : end]
            i = n if end < 0 else end + 1
            if phrase.strip():
                terms.append(phrase)
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] != '"':
                i += 1
            terms.append(query[start:i])
    return terms


# --------------------------------------------------------------------------- model hooks


def validate_search_config(cls: Any) -> None:
    """Check a model's ``search_config`` when the class is declared (ConfigurationError)."""
    config = getattr(cls, "search_config", None)
    if config is None:
        return
    name = cls.__name__
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"{name}: search_config must be a dict like {{'fields': [...]}}")
    unknown = [key for key in config if key not in _CONFIG_KEYS]
    if unknown:
        raise ConfigurationError(
            f"{name}: unknown search_config key {unknown[0]!r}; known: {', '.join(_CONFIG_KEYS)}"
        )
    fields = config.get("fields")
    if not isinstance(fields, (list, tuple)) or not fields:
        raise ConfigurationError(f"{name} `search_config['fields']` must be a non-empty list.")
    for field_name in fields:
        model_field = cls._fields.get(field_name) if isinstance(field_name, str) else None
        if model_field is None:
            raise ConfigurationError(
                f'{name} `search_config["fields"]` references "{field_name}" but that field '
                "is not defined on the model."
            )
        if model_field.kind != "string":
            raise ConfigurationError(
                f"{name}: search field '{field_name}' must be a string field, not "
                f"{type(model_field).__name__}"
            )
    for flag in ("caseSensitive", "dedupe"):
        if not isinstance(config.get(flag, False), bool):
            raise ConfigurationError(f"{name}: search_config['{flag}'] must be true or false")
    min_length = config.get("minTermLength", 1)
    if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 1:
        raise ConfigurationError(
            f"{name}: search_config['minTermLength'] must be a positive integer"
        )


def filter_fields(cls: Any) -> frozenset[str]:
    """The names a query filter on this model may use: its fields, and ``_searchText`` when
    the model is searchable."""
    names = frozenset(cls._fields)
    return names | {SEARCH_TEXT_ATTRIBUTE} if cls.search_config else names


def search_text_operand(cls: Any, value: Any) -> dict:
    """A ``_searchText`` filter operand, normalised like the stored text."""
    if not isinstance(value, str):
        raise ValidationError(f"{SEARCH_TEXT_ATTRIBUTE} filter values must be strings")
    return {"S": normalize_search_term(value, cls.search_config or {})}


# --------------------------------------------------------------------------- search


@dataclass
class SearchResult(capacity.ReadCost):
    """One call's matches, and the cursor of the next call (None when the search is done)."""

    items: list[Any] = field(default_factory=list)
    cursor: str | None = None
    consumed_capacity: list[dict] = field(default_factory=list)


def search_all(
    cls: Any,
    terms: str | list[str],
    operator: str = "$and",
    limit: int | None = 100,
    cursor: str | None = None,
    batch_size: int = 100,
    filter: Any = None,
    max_queries_per_bucket: int = 50,
    *,
    concurrency: int | None = None,
    max_queries: int = DEFAULT_MAX_QUERIES,
) -> SearchResult:
    """Items whose search text contains all (``"$and"``) or any (``"$or"``) of ``terms``,
    over every bucket; see the module docstring for paging and limits."""
    from .iteration import require_iterable

    scope = list(range(require_iterable(_searchable(cls), "search_all")))
    return _search(cls, scope, terms, operator, limit, cursor, batch_size, filter,
                   max_queries_per_bucket, concurrency, max_queries)


def search_bucket(
    cls: Any,
    bucket: int,
    terms: str | list[str],
    operator: str = "$and",
    limit: int | None = 100,
    cursor: str | None = None,
    batch_size: int = 100,
    filter: Any = None,
    max_queries_per_bucket: int = 50,
    *,
    max_queries: int = DEFAULT_MAX_QUERIES,
) -> SearchResult:
    """:func:`search_all` restricted to one iteration bucket."""
    from .iteration import check_bucket

    scope = [check_bucket(_searchable(cls), bucket)]
    return _search(cls, scope, terms, operator, limit, cursor, batch_size, filter,
                   max_queries_per_bucket, 1, max_queries)


def _searchable(cls: Any) -> Any:
    if not cls.search_config:
        raise ConfigurationError(
            f"Model {cls.__name__} is not searchable: give it a search_config"
        )
    return cls


def _terms(cls: Any, terms: Any) -> list[str]:
    if isinstance(terms, str):
        raw = tokenize_search_query(terms)
    elif isinstance(terms, (list, tuple)):
        raw = list(terms)
        if not all(isinstance(term, str) for term in raw):
            raise ValidationError("terms must be strings.")
    else:
        raise ValidationError("terms must be a list of strings or a query string.")
    config = cls.search_config
    min_length = _settings(config)[1]
    normalised = (normalize_search_term(term, config) for term in raw)
    kept = [term for term in normalised if term and len(term) >= min_length]
    if not kept:
        raise ValidationError("search_all requires at least one non-empty term.")
    words = list(dict.fromkeys(kept))
    if len(words) > MAX_TERMS:
        raise ValidationError(
            f"a search takes at most {MAX_TERMS} distinct terms, got {len(words)}"
        )
    return words


def _check_limit(limit: Any) -> int | None:
    if limit is None or limit == math.inf:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit must be a positive integer, None or math.inf.")
    return limit


def _search(
    cls: Any,
    scope: list[int],
    terms: Any,
    operator: str,
    limit: Any,
    cursor: Any,
    batch_size: int,
    filter: Any,
    max_queries_per_bucket: int,
    concurrency: int | None,
    max_queries: int,
) -> SearchResult:
    from . import concurrency as threads
    from .expressions import ExpressionBuilder, iter_fields
    from .iteration import (
        MAX_CONCURRENCY,
        check_operands,
        check_positive_int,
        matches,
        parse_item_filter,
        query_page,
        read_items,
        start_key_after,
    )
    from .query import bound, instances_of, value_encoder
    from .table import ITERATION_SK_ATTRIBUTE

    words = _terms(cls, terms)
    if operator not in ("$and", "$or"):
        raise ValidationError("operator must be one of: $and, $or.")
    wanted = _check_limit(limit)
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_queries_per_bucket", max_queries_per_bucket)
    check_positive_int("max_queries", max_queries, MAX_QUERIES_LIMIT)
    workers = threads.DEFAULT_MAX_WORKERS if concurrency is None else concurrency
    check_positive_int("concurrency", workers, MAX_CONCURRENCY)
    condition = parse_item_filter(cls, filter)
    on_index = condition is not None and all(
        name == SEARCH_TEXT_ATTRIBUTE for name in iter_fields(condition)
    )
    server_condition = condition if on_index else None
    client_condition = None if on_index else condition
    encode = value_encoder(cls)
    manager, tenant = bound(cls)

    bound_to = [query_digest(cls.search_config, words, operator, condition), scope]
    positions, done = ({}, set()) if cursor is None else _decode_cursor(
        manager, cls, tenant, bound_to, cursor
    )

    def add_filter(builder: Any) -> str:
        name = builder.name(SEARCH_TEXT_ATTRIBUTE, "st")
        clauses = [
            f"contains({name}, {builder.value({'S': word}, f'st{i}')})"
            for i, word in enumerate(words)
        ]
        predicate = clauses[0] if len(clauses) == 1 else (
            " AND ".join(clauses) if operator == "$and" else f"({' OR '.join(clauses)})"
        )
        if server_condition is None:
            return predicate
        return f"{builder.add_condition(server_condition, encode)} AND {predicate}"

    # The filter once before any request: its operands are encoded (a bad one is refused
    # here) and its text measured against DynamoDB's limit.
    expression = add_filter(ExpressionBuilder())
    if len(expression.encode("utf-8")) > MAX_EXPRESSION_BYTES:
        raise ValidationError(
            f"the search's filter expression is {len(expression.encode('utf-8'))} bytes long; "
            f"DynamoDB allows at most {MAX_EXPRESSION_BYTES}: use fewer terms or a smaller filter"
        )
    if client_condition is not None:
        check_operands(client_condition, encode)

    def one_page(bucket: int) -> Any:
        start = positions.get(bucket)
        return query_page(
            cls, manager, tenant, bucket,
            index_name=SEARCH_INDEX_NAME,
            limit=batch_size,
            start_key=None if start is None else start_key_after(cls, tenant, bucket, start),
            add_filter=add_filter,
        )

    found: list[dict] = []
    capacities: list[dict] = []
    queries = 0
    per_bucket = dict.fromkeys(scope, 0)

    def full() -> bool:
        return wanted is not None and len(found) >= wanted

    while not full() and queries < max_queries:
        open_buckets = [
            b for b in scope if b not in done and per_bucket[b] < max_queries_per_bucket
        ]
        round_buckets = open_buckets[: min(workers, max_queries - queries)]
        if not round_buckets:
            break
        pages = threads.map_in_context(one_page, round_buckets, max_workers=workers)
        queries += len(round_buckets)
        capacities.extend(page.capacity for page in pages)
        candidates = [(b, i) for b, page in zip(round_buckets, pages, strict=True)
                      for i in page.ids]
        consumed = dict.fromkeys(round_buckets, 0)
        position = 0
        while position < len(candidates) and not full():
            # Read only what can still be returned (all the rest when a filter may drop some).
            need = len(candidates) - position
            if wanted is not None and client_condition is None:
                need = min(need, wanted - len(found))
            chunk = candidates[position : position + need]
            items = read_items(cls, manager, tenant, [i for _, i in chunk], capacities)
            for bucket, primary_id in chunk:
                position += 1
                consumed[bucket] += 1
                item = items.get(primary_id)
                if item is not None and (
                    client_condition is None or matches(client_condition, item, encode)
                ):
                    found.append(item)
                    if full():
                        break
        for bucket, page in zip(round_buckets, pages, strict=True):
            per_bucket[bucket] += 1
            taken = consumed[bucket]
            if taken == len(page.ids):
                # Every row of the page was looked at (or it had none): go past the page.
                if page.last_key is None:
                    done.add(bucket)
                    positions.pop(bucket, None)
                else:
                    positions[bucket] = page.last_key[ITERATION_SK_ATTRIBUTE]["S"]
            elif taken:
                positions[bucket] = page.ids[taken - 1]

    next_cursor = None
    if any(b not in done for b in scope):
        next_cursor = _encode_cursor(manager, cls, tenant, bound_to, positions, done)
    return SearchResult(
        items=instances_of(cls, found, tenant), cursor=next_cursor, consumed_capacity=capacities
    )


# --------------------------------------------------------------------------- cursors


def _canonical(value: Any) -> Any:
    """A filter as JSON-able data that is the same in every process (set order and hash
    seeds vary between processes; a cursor must work in another one)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__] + [
            _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)
        ]
    if isinstance(value, (set, frozenset)):
        return ["set", *sorted(json.dumps(_canonical(v), sort_keys=True) for v in value)]
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return [type(value).__name__, repr(value)]


def query_digest(
    config: Mapping[str, Any], words: list[str], operator: str, condition: Any
) -> str:
    """The hash of a normalised query a cursor is bound to."""
    case_sensitive, min_length, dedupe = _settings(config)
    return _digest({
        "terms": words, "operator": operator, "caseSensitive": case_sensitive,
        "minTermLength": min_length, "dedupe": dedupe, "filter": _canonical(condition),
    })


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _encode_cursor(
    manager: Any, cls: Any, tenant: str | None, bound: list,
    positions: dict[int, str], done: set[int],
) -> str:
    """The cursor of a search's state (:mod:`dynamo_bao.cursors`), bound to the tenant, the
    model and ``bound`` (the query digest and the scope)."""
    payload = {
        "p": {str(b): primary_id for b, primary_id in sorted(positions.items())},
        "x": sorted(done),
    }
    return cursors.encode(manager, "search", tenant, cursors.model_label(cls), bound, payload)


def _decode_cursor(
    manager: Any, cls: Any, tenant: str | None, bound: list, cursor: Any
) -> tuple[dict[int, str], set[int]]:
    """Positions and finished buckets of a cursor made for this very search: buckets of its
    scope, each position a primary id of this model in this tenant that lies in its bucket;
    anything else is the one invalid-cursor QueryError."""
    payload = cursors.decode(manager, "search", tenant, cursors.model_label(cls), bound, cursor)
    scope = set(bound[1])
    try:
        if not isinstance(payload, dict) or payload.keys() != {"p", "x"}:
            raise ValueError
        raw_positions, raw_done = payload["p"], payload["x"]
        if not isinstance(raw_positions, dict) or not isinstance(raw_done, list):
            raise ValueError
        positions = {_bucket(b, scope): primary_id for b, primary_id in raw_positions.items()}
        done = {_bucket(b, scope) for b in raw_done}
        if len(done) != len(raw_done) or len(positions) != len(raw_positions) or (
            done & set(positions)
        ):
            raise ValueError
        schema = cls._schema
        for bucket, primary_id in positions.items():
            if not isinstance(primary_id, str):
                raise ValueError
            schema.key_from_id(primary_id, tenant)  # an id of this model (raises if not)
            if core.iteration_bucket(primary_id, schema.iteration_buckets) != bucket:
                raise ValueError
    except (ValueError, TypeError, BaoError):
        raise cursors.invalid() from None
    return positions, done


def _bucket(value: Any, scope: set[int]) -> int:
    """A bucket number of a cursor (a JSON key is its canonical decimal text) in the scope."""
    if isinstance(value, str) and value.isdecimal() and value == str(int(value)):
        value = int(value)
    if type(value) is not int or value not in scope:
        raise ValueError
    return value
