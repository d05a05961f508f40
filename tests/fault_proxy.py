"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the test's DynamoDB endpoint.

Real faults at the wire, for tests of what the library reports when the network misbehaves:

* ``drop``: the request is forwarded and applied by the server, its response is read — and the
  connection to the client is closed instead of answering (a lost response; botocore retries).
* ``refuse``: the connection is closed before anything is forwarded (nothing applied).
* :meth:`FaultProxy.stop_listening` closes the listening socket and every open connection, so
  later connects are refused by the kernel (``ECONNREFUSED``).

```python
with FaultProxy(endpoint) as proxy:
    client = make_client(endpoint_url=proxy.url)
    proxy.drop("UpdateItem")             # the next UpdateItem is applied, its answer lost
    proxy.refuse("BatchWriteItem", after=1, times=None)   # all but the first refused
    proxy.seen                           # operations in the order they arrived
```

Rules are matched per request by the operation name (``X-Amz-Target``); each rule fires
``times`` times (``None``: forever) after letting ``after`` matching requests pass.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultProxy"]


@dataclass
class _Rule:
    action: str  # "drop" | "refuse"
    operation: str | None  # None: every operation
    after: int
    times: int | None


class FaultProxy:
    """A threaded HTTP/1.1 proxy (keep-alive, Content-Length bodies) with fault rules."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.seen: list[str] = []
        #: What happened to each request: (operation, "pass" | "drop" | "refuse").
        self.log: list[tuple[str, str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # -- rules -----------------------------------------------------------------------------

    def drop(self, operation: str | None = None, *, after: int = 0, times: int | None = 1) -> None:
        """Apply the matching request(s) upstream, then close the client connection unanswered."""
        with self._lock:
            self._rules.append(_Rule("drop", operation, after, times))

    def refuse(
        self, operation: str | None = None, *, after: int = 0, times: int | None = 1
    ) -> None:
        """Close the client connection before forwarding the matching request(s)."""
        with self._lock:
            self._rules.append(_Rule("refuse", operation, after, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def count(self, operation: str, action: str | None = None) -> int:
        """How many requests of ``operation`` arrived (with ``action``: were treated so)."""
        with self._lock:
            return sum(
                1 for op, done in self.log if op == operation and action in (None, done)
            )

    def stop_listening(self) -> None:
        """Refuse every later connection (and end the open ones)."""
        self._closed = True
        # shutdown() wakes the thread blocked in accept(); close() alone would not (Linux).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.stop_listening()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- serving ---------------------------------------------------------------------------

    def _decide(self, operation: str) -> str:
        with self._lock:
            self.seen.append(operation)
            action = "pass"
            for rule in self._rules:
                if rule.operation not in (None, operation):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    continue
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                action = rule.action
                break
            self.log.append((operation, action))
            return action

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        upstream: http.client.HTTPConnection | None = None
        reader = conn.makefile("rb")
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                method, path, headers, body = request
                target = headers.get("x-amz-target", "")
                operation = target.rsplit(".", 1)[-1]
                action = self._decide(operation)
                if action == "refuse":
                    return
                if upstream is None:
                    upstream = http.client.HTTPConnection(*self._upstream, timeout=30)
                forwarded = {k: v for k, v in headers.items() if k not in ("connection",)}
                upstream.request(method, path, body=body, headers=forwarded)
                response = upstream.getresponse()
                payload = response.read()
                if action == "drop":
                    return
                lines = [f"HTTP/1.1 {response.status} {response.reason}"]
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        lines.append(f"{name}: {value}")
                lines.append(f"Content-Length: {len(payload)}")
                conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                reader.close()
            with contextlib.suppress(OSError):
                conn.close()
            if upstream is not None:
                upstream.close()


def _read_request(reader: Any) -> tuple[str, str, dict[str, str], bytes] | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = reader.read(length) if length else b""
    return method, path, headers, body
