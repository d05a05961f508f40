"""The embedded local DynamoDB: free ports, answering over HTTP, stopping, optional moto."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dynamo_bao import local, transport
from dynamo_bao.exceptions import ConfigurationError

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_starts_on_a_free_port_and_answers_list_tables():
    with local.local_dynamodb() as url:
        parts = urlsplit(url)
        assert parts.scheme == "http"
        assert parts.hostname == "127.0.0.1"
        assert parts.port and parts.port > 0
        assert not _can_bind(parts.port)  # the server holds it
        response = transport.make_client(endpoint_url=url).list_tables()
        assert isinstance(response["TableNames"], list)


def test_two_servers_at_once_get_different_ports():
    with local.local_dynamodb() as first, local.local_dynamodb() as second:
        assert _port(first) != _port(second)
        for url in (first, second):
            assert "TableNames" in transport.make_client(endpoint_url=url).list_tables()


def test_stopping_releases_the_port_and_the_endpoint_goes_away():
    with local.local_dynamodb() as url:
        client = transport.make_client(endpoint_url=url)
        client.list_tables()
    assert _can_bind(_port(url))
    with pytest.raises(ConfigurationError, match="cannot reach DynamoDB"):
        transport.describe_table(client, "anything")


def test_explicit_port_is_used():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with local.local_dynamodb(port) as url:
        assert url == f"http://127.0.0.1:{port}"
        transport.make_client(endpoint_url=url).list_tables()


def test_port_in_use_is_a_clear_error_not_a_hang():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port}"):
            with local.local_dynamodb(port):
                pass


def test_invalid_port_is_rejected():
    with pytest.raises(ConfigurationError, match="port"):
        local.LocalServer(port=70000)


def test_local_server_object_start_stop_is_repeatable():
    server = local.LocalServer()
    url = server.start()
    assert server.start() == url  # already running: same endpoint
    server.stop()
    server.stop()  # second stop is harmless
    with pytest.raises(ConfigurationError, match="not running"):
        _ = server.endpoint_url


def test_serve_runs_until_interrupted():
    seen: list[str] = []

    def on_ready(url: str) -> None:
        transport.make_client(endpoint_url=url).list_tables()
        seen.append(url)
        raise KeyboardInterrupt  # what Ctrl-C does to the foreground server

    local.serve("127.0.0.1", 0, on_ready=on_ready)  # returns instead of propagating Ctrl-C
    assert len(seen) == 1
    assert _can_bind(_port(seen[0]))


def test_testing_package_reexports_local_dynamodb():
    from dynamo_bao import testing

    assert testing.local_dynamodb is local.local_dynamodb


def test_without_moto_import_works_and_start_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "moto.server", None)  # makes `import moto.server` fail
    local._server_class.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=r"dynamo-bao\[local\]"):
            local.LocalServer().start()
    finally:
        monkeypatch.undo()
        local._server_class.cache_clear()


def test_importing_local_and_testing_needs_no_moto():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["moto"] = None
        sys.modules["moto.server"] = None
        import dynamo_bao.local, dynamo_bao.testing
        try:
            dynamo_bao.local.LocalServer().start()
        except dynamo_bao.exceptions.ConfigurationError as err:
            print("ConfigurationError:", err)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PYTHON_DIR), os.environ.get("PYTHONPATH")) if p
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "ConfigurationError:" in result.stdout
    assert "pip install 'dynamo-bao[local]'" in result.stdout
