"""What a client sends, recorded with botocore's own ``before-call`` event: tests assert on the
requests the library made (their kind and JSON body), on either wire path."""

from __future__ import annotations

import json
from typing import Any


class Requests:
    """Every request the client sends inside the block, as (operation name, JSON body)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent: list[tuple[str, dict]] = []

    def _record(self, model: Any, params: dict, **_: Any) -> None:
        self.sent.append((model.name, json.loads(params["body"] or b"{}")))

    def __enter__(self) -> Requests:
        self.client.meta.events.register("before-call.dynamodb", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self._record)

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.sent]

    def the(self, operation: str) -> dict:
        """The body of the one request of this operation."""
        (params,) = [params for name, params in self.sent if name == operation]
        return params
