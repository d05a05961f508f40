"""Helpers for testing code that uses dynamo-bao.

* ``with local_dynamodb() as endpoint_url:`` runs the embedded local DynamoDB (moto's server,
  which ``pip install 'dynamo-bao[local]'`` provides) on a free port for the block.
* ``with fixed_clock(at, ulids=[...]):`` makes model code see one fixed time and a known
  sequence of ULIDs (then deterministic ones), in the current context only.
* ``init_test_models_with_tenant(config, tenant_id)`` initialises models with tenancy on and the
  test's tenant set; ``cleanup_test_data(tenant_id, models)`` deletes what they wrote for it.
* A pytest plugin (:mod:`dynamo_bao.testing.plugin`, registered as ``dynamo_bao``) provides the
  fixtures ``bao_endpoint``, ``bao_client``, ``bao_table`` and ``bao_tenant``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from itertools import count

from .. import clock
from ..local import local_dynamodb
from .tenants import cleanup_test_data, init_test_models_with_tenant

__all__ = ["local_dynamodb", "fixed_clock", "init_test_models_with_tenant", "cleanup_test_data"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid_after(at: datetime, n: int) -> str:
    """A valid ULID with ``at``'s time part and ``n`` as its random part."""
    ms = int(at.timestamp() * 1000)
    value = (ms << 80) | n
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


@contextlib.contextmanager
def fixed_clock(at: datetime | str, ulids: Iterable[str] = ()) -> Iterator[clock.Source]:
    """Time stands still at ``at`` (an aware datetime or ISO string); new ULIDs are taken from
    ``ulids``, then made from ``at`` and a counter (1, 2, 3 …)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.utcoffset() is None:
        at = at.replace(tzinfo=timezone.utc)
    given = iter(ulids)
    counter = count(1)

    def new_ulid() -> str:
        return next(given, None) or _ulid_after(at, next(counter))

    with clock.use_source(clock.Source(now=lambda: at, new_ulid=new_ulid)) as source:
        yield source
