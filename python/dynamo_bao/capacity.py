"""Consumed capacity: what every read and write cost (spec §5.14, DESIGN §7).

Every data request asks DynamoDB for its ``ConsumedCapacity`` (``TOTAL``). What comes back is
kept in two places:

- on the result: each instance (and ``ObjectNotFound``) carries records
  ``{"type": "read" | "write", "consumed_capacity": {...}}`` of the requests that produced it —
  ``get_numeric_consumed_capacity("read" | "write" | "total", include_related=False)``,
  ``get_consumed_capacity()``, ``clear_consumed_capacity()``; a ``QueryResult`` carries the
  ``ConsumedCapacity`` of each page it read;
- in the batch context, which sums every response inside it (``get_batch_context_capacity()``),
  fed by the transport through a context-variable meter (see :mod:`dynamo_bao.batch`).

Units: an entry's ``ReadCapacityUnits`` / ``WriteCapacityUnits`` when DynamoDB gives them
(transactions do), else its ``CapacityUnits`` counted as the kind of the operation (reads for
GetItem, BatchGetItem, Query and Scan; writes for the rest).

Decisions where DynamoBao is silent or wrong (spec §11.22): a BatchGetItem's units — all its
responses, not only the first — are shared evenly among the ids it was asked for (found or not),
so the shares add up to what was consumed; ``save()`` keeps the write capacity on the saved
instance; an update's consistent pre-read is counted once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from .exceptions import ValidationError

__all__ = [
    "READ",
    "WRITE",
    "CapacityCarrier",
    "CapacityMeter",
    "ReadCost",
    "entries",
    "records",
    "shares",
    "sum_records",
    "total",
    "units",
]

READ = "read"
WRITE = "write"
_TYPES = ("read", "write", "total")


def entries(consumed: Any) -> list[dict]:
    """A response's ``ConsumedCapacity`` (one dict, or a list for batches and transactions) as
    a list of dicts."""
    if not consumed:
        return []
    if isinstance(consumed, dict):
        return [consumed]
    return [entry for entry in consumed if entry]


def units(kind: str, entry: dict) -> tuple[float, float]:
    """``(read, write)`` units of one ConsumedCapacity entry of an operation of ``kind``."""
    read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
    if read is not None or write is not None:
        return float(read or 0.0), float(write or 0.0)
    amount = float(entry.get("CapacityUnits") or 0.0)
    return (amount, 0.0) if kind == READ else (0.0, amount)


def records(kind: str, response: dict | None) -> list[dict]:
    """The capacity records of one response, for an instance to carry."""
    if not response:
        return []
    return [
        {"type": kind, "consumed_capacity": entry}
        for entry in entries(response.get("ConsumedCapacity"))
    ]


def total(kind: str, consumed: Iterable[dict]) -> tuple[float, float]:
    """``(read, write)`` summed over ConsumedCapacity entries of operations of ``kind``."""
    read = write = 0.0
    for entry in consumed:
        r, w = units(kind, entry)
        read, write = read + r, write + w
    return read, write


def shares(kind: str, consumed: list[dict], parts: int) -> list[dict]:
    """Records for one of ``parts`` equal shares of ``consumed`` (entries of one operation
    serving several results, e.g. a BatchGetItem)."""
    if parts <= 0 or not consumed:
        return []
    read, write = total(kind, consumed)
    entry: dict[str, Any] = {"CapacityUnits": (read + write) / parts}
    tables = {e.get("TableName") for e in consumed if e.get("TableName")}
    if len(tables) == 1:
        entry["TableName"] = tables.pop()
    if read and write:
        entry["ReadCapacityUnits"], entry["WriteCapacityUnits"] = read / parts, write / parts
    return [{"type": kind, "consumed_capacity": entry}]


def _check_type(capacity_type: str) -> None:
    if capacity_type not in _TYPES:
        raise ValidationError(f"Invalid consumed capacity type: {capacity_type}")


def sum_records(capacity_type: str, recorded: Iterable[dict]) -> float:
    """Units of ``capacity_type`` (``read``, ``write`` or ``total``) in capacity records."""
    _check_type(capacity_type)
    read = write = 0.0
    for record in recorded:
        r, w = units(record["type"], record["consumed_capacity"])
        read, write = read + r, write + w
    return {"read": read, "write": write, "total": read + write}[capacity_type]


class ReadCost:
    """``get_numeric_consumed_capacity`` for results of reads (query pages, counts, searches)
    that keep the ``ConsumedCapacity`` of each response they read in ``consumed_capacity``."""

    consumed_capacity: list

    def get_numeric_consumed_capacity(self, capacity_type: str = "total") -> float:
        """Units (``"read"``, ``"write"`` — always 0 here — or ``"total"``) of every request
        that produced this result."""
        return sum_records(
            capacity_type,
            (
                {"type": READ, "consumed_capacity": entry}
                for response in self.consumed_capacity
                for entry in entries(response)
            ),
        )


class CapacityCarrier:
    """What a read or write result cost. Mixed into models and ``ObjectNotFound``.

    Records live in the ``_capacity`` slot, set only when there is something to record (results
    built from a page of items pay nothing for it).
    """

    __slots__ = ("_capacity",)

    def _add_capacity(self, recorded: list[dict]) -> None:
        if not recorded:
            return
        existing = _recorded(self)
        if existing is None:
            self._capacity = list(recorded)
        else:
            existing.extend(recorded)

    def _related_results(self) -> Iterable[Any]:
        """Loaded related objects whose capacity ``include_related`` adds (none here)."""
        return ()

    def get_consumed_capacity(self) -> list[dict]:
        """The capacity records of the requests that produced this result (copies)."""
        return [
            {"type": r["type"], "consumed_capacity": dict(r["consumed_capacity"])}
            for r in _recorded(self) or ()
        ]

    def get_numeric_consumed_capacity(
        self, capacity_type: str, include_related: bool = False
    ) -> float:
        """Units of ``"read"``, ``"write"`` or ``"total"`` this result cost; with
        ``include_related``, plus those of its loaded related objects (recursively, each
        object counted once). Another type is a :class:`ValidationError`."""
        _check_type(capacity_type)
        if not include_related:
            return sum_records(capacity_type, _recorded(self) or ())
        seen: set[int] = set()
        amount = 0.0
        stack: list[Any] = [self]
        while stack:
            result = stack.pop()
            if id(result) in seen or not isinstance(result, CapacityCarrier):
                continue
            seen.add(id(result))
            amount += sum_records(capacity_type, _recorded(result) or ())
            stack.extend(result._related_results())
        return amount

    def clear_consumed_capacity(self) -> None:
        self._capacity = None



_CAPACITY_SLOT = CapacityCarrier._capacity  # type: ignore[attr-defined]


def _recorded(result: CapacityCarrier) -> list[dict] | None:
    """A result's capacity records, None when nothing was recorded. Read through the slot
    itself: an unset slot would otherwise fall through to the model's ``__getattr__`` (Python
    code, a cost per instance of a batch read)."""
    try:
        return _CAPACITY_SLOT.__get__(result, CapacityCarrier)
    except AttributeError:
        return None

class CapacityMeter:
    """The running sum of a batch context: fed by the transport from any thread."""

    __slots__ = ("_lock", "read", "write")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.read = 0.0
        self.write = 0.0

    def __call__(self, kind: str, consumed: Any) -> None:
        read, write = total(kind, entries(consumed))
        with self._lock:
            self.read += read
            self.write += write

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {"read": self.read, "write": self.write}
