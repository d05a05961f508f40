"""The embedded local DynamoDB: moto's server, started in-process on a free port.

It is the default backend of the test suite, ``bao demo`` and ``bao local``, so nobody needs Docker,
Java or an AWS account to try the library. Clients talk to it over HTTP (the real wire protocol),
never through an in-process mock.

moto is an optional dependency (``pip install 'dynamo-bao[local]'``): importing this module works
without it, starting a server raises :class:`~dynamo_bao.exceptions.ConfigurationError`.

Note: moto keeps its data in module-level state, so every server started in one process serves the
same tables (the data lives as long as the process). Use unique table names to keep things apart.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .exceptions import ConfigurationError

__all__ = ["DEFAULT_HOST", "INSTALL_HINT", "LocalServer", "local_dynamodb", "serve"]

DEFAULT_HOST = "127.0.0.1"
INSTALL_HINT = (
    "the embedded local DynamoDB needs moto's server; install it with "
    "pip install 'dynamo-bao[local]'"
)


@functools.cache
def _server_class() -> type:
    """Build the ThreadedMotoServer subclass on first use, so moto stays an optional import.

    The subclass exists for three reasons ThreadedMotoServer does not cover: a bind error (port in
    use) is reported instead of leaving ``start()`` waiting forever, werkzeug's per-request log
    lines can be silenced without touching global logging, and the socket is closed on stop.
    """
    try:
        from moto.server import (
            DomainDispatcherApplication,
            ThreadedMotoServer,
            create_backend_app,
        )
        from werkzeug.serving import WSGIRequestHandler, make_server
    except ImportError as err:
        raise ConfigurationError(INSTALL_HINT) from err

    class _QuietHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Drop the access log line; errors are still logged."""

    class _BaoMotoServer(ThreadedMotoServer):  # type: ignore[misc]
        def __init__(self, host: str, port: int, quiet: bool) -> None:
            super().__init__(ip_address=host, port=port, verbose=False)
            self._quiet = quiet
            self.startup_error: BaseException | None = None

        def _server_entry(self) -> None:
            app = _one_request_at_a_time(DomainDispatcherApplication(create_backend_app))
            try:
                self._server = make_server(
                    self._ip_address,
                    self._port,
                    app,
                    threaded=True,
                    request_handler=_QuietHandler if self._quiet else None,
                )
            except BaseException as err:  # noqa: BLE001 - reported to the starting thread
                self.startup_error = err
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            # A short poll interval makes stop() return in ~50 ms instead of up to 0.5 s.
            self._server.serve_forever(poll_interval=0.05)

        def stop(self) -> None:
            if self._thread is None:
                return
            if self.startup_error is None:
                super().stop()
            else:
                self._thread.join()
            if self._server is not None:
                self._server.server_close()
                self._server = None
            self._thread = None

    return _BaoMotoServer


def _one_request_at_a_time(app: Any) -> Any:
    """The WSGI app, serving one request at a time (connections are still handled on threads).

    DynamoDB applies each request atomically: concurrent counter ADDs all land, a transaction
    sees a consistent table. moto's backends keep no locks, so concurrent requests can lose
    updates or fail transactions with a 500. Taking requests one at a time gives the embedded
    server DynamoDB's per-request atomicity; the body is produced inside the lock too."""
    lock = threading.Lock()

    def serve(environ: dict, start_response: Any) -> list[bytes]:
        with lock:
            body = app(environ, start_response)
            try:
                return list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return serve


def _url_host(host: str) -> str:
    """The host to put in the endpoint URL: a wildcard bind address is reached via loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class LocalServer:
    """One embedded moto server running in a daemon thread.

    ``port=0`` lets the operating system pick a free port at bind time, so two servers (or two test
    runs) can never race for the same port.
    """

    def __init__(self, port: int | None = None, host: str = DEFAULT_HOST, *, quiet: bool = True):
        if port is not None and not 0 <= port <= 65535:
            raise ConfigurationError(f"port must be between 0 and 65535, got {port}")
        self.host = host
        self.requested_port = port or 0
        self.quiet = quiet
        self.port: int | None = None
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise ConfigurationError("the local DynamoDB server is not running")
        return f"http://{_url_host(self.host)}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        """Start the server, wait until it answers HTTP, and return its endpoint URL."""
        if self._server is not None:
            return self.endpoint_url
        server_class = _server_class()
        if self.requested_port:
            _check_bindable(self.host, self.requested_port)
        server = server_class(self.host, self.requested_port, self.quiet)
        server.start()
        if server.startup_error is not None:
            err = server.startup_error
            server.stop()
            # werkzeug reports bind errors with sys.exit(1): the SystemExit says nothing useful.
            reason = "the address cannot be bound" if isinstance(err, SystemExit) else err
            raise ConfigurationError(
                f"cannot start the local DynamoDB on {self.host}:{self.requested_port}: {reason}"
            ) from err
        self._server = server
        self.port = server.get_host_and_port()[1]
        try:
            _wait_until_answering(_url_host(self.host), self.port, timeout)
        except BaseException:
            self.stop()
            raise
        return self.endpoint_url

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self.port = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_bindable(host: str, port: int) -> None:
    """Fail with a clean message when an explicitly requested port is taken.

    werkzeug would print its own multi-line complaint to stderr and exit the server thread; this
    check catches the common case (port already in use) first. Port 0 needs no check.
    """
    bind_host = host.strip("[]")
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Same option werkzeug's server uses, so a port in TIME_WAIT is not reported as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError as err:
            raise ConfigurationError(
                f"cannot start the local DynamoDB on {host}:{port}: {err.strerror or err}"
            ) from err


def _wait_until_answering(host: str, port: int, timeout: float) -> None:
    """Poll with a plain HTTP request: any HTTP response means the server handles requests."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    delay = 0.01
    conn_host = host.strip("[]")
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(conn_host, port, timeout=2)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException) as err:
            last_error = err
        finally:
            conn.close()
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise ConfigurationError(
        f"the local DynamoDB on {host}:{port} did not answer within {timeout:g} s: {last_error}"
    )


@contextlib.contextmanager
def local_dynamodb(
    port: int | None = None, host: str = DEFAULT_HOST, *, quiet: bool = True
) -> Iterator[str]:
    """Run an embedded DynamoDB for the ``with`` block and yield its endpoint URL.

    ``port`` None or 0 picks a free port. Point a client at it with
    ``transport.make_client(endpoint_url=url)``, which supplies dummy credentials for local
    endpoints.
    """
    server = LocalServer(port, host, quiet=quiet)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


def serve(
    host: str = DEFAULT_HOST,
    port: int = 8000,
    *,
    quiet: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the embedded DynamoDB in the foreground until Ctrl-C (``bao local``).

    ``on_ready`` is called with the endpoint URL once the server answers; this function itself
    prints nothing, so callers decide what to show.
    """
    server = LocalServer(port, host, quiet=quiet)
    url = server.start()
    stop = threading.Event()
    try:
        if on_ready is not None:
            on_ready(url)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
