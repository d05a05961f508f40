"""The ``bao`` command line, run in-process (``cli.main``) and as a real subprocess."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dynamo_bao import cli, demo, table, transport

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def _closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _subprocess_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PYTHON_DIR), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "DYNAMO_BAO_CORE": "python"}


class _Terminal(io.StringIO):
    """Stdin that claims to be a terminal, holding what the user types."""

    def isatty(self) -> bool:
        return True


def _assert_one_error_line(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("bao: error: ")
    assert "Traceback" not in err


@pytest.fixture(autouse=True)
def _no_table_env(monkeypatch):
    monkeypatch.delenv(cli.TABLE_ENV_VAR, raising=False)


# --------------------------------------------------------------------------- table commands


def test_create_table_then_again(capsys, dynamodb_client, dynamodb_endpoint, table_name):
    args = ["create-table", "--table", table_name, "--endpoint-url", dynamodb_endpoint]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert f"Created table '{table_name}'" in out
    indexes = transport.describe_table(dynamodb_client, table_name)["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == sorted(table.INDEX_NAMES)

    assert cli.main(args) == 0
    assert "already exists" in capsys.readouterr().out


def test_create_without_search_index_then_update(
    capsys, dynamodb_client, dynamodb_endpoint, table_name
):
    common = ["--table", table_name, "--endpoint-url", dynamodb_endpoint]
    assert cli.main(["create-table", "--no-search-index", *common]) == 0
    indexes = transport.describe_table(dynamodb_client, table_name)["GlobalSecondaryIndexes"]
    assert "iter_search_index" not in {i["IndexName"] for i in indexes}
    capsys.readouterr()

    assert cli.main(["update-table", *common]) == 0
    assert "Added index 'iter_search_index'" in capsys.readouterr().out
    indexes = transport.describe_table(dynamodb_client, table_name)["GlobalSecondaryIndexes"]
    assert "iter_search_index" in {i["IndexName"] for i in indexes}

    assert cli.main(["update-table", *common]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_table_name_from_environment(
    capsys, monkeypatch, dynamodb_client, dynamodb_endpoint, table_name
):
    monkeypatch.setenv(cli.TABLE_ENV_VAR, table_name)
    assert cli.main(["create-table", "--endpoint-url", dynamodb_endpoint]) == 0
    assert transport.table_exists(dynamodb_client, table_name)


def test_table_is_required(capsys, dynamodb_endpoint):
    assert cli.main(["create-table", "--endpoint-url", dynamodb_endpoint]) == 2
    err = capsys.readouterr().err
    assert "--table is required" in err
    assert cli.TABLE_ENV_VAR in err


def test_delete_table_with_yes(capsys, dynamodb_client, dynamodb_endpoint, table_name):
    transport.create_table(dynamodb_client, table_name)
    assert (
        cli.main(
            ["delete-table", "--yes", "--table", table_name, "--endpoint-url", dynamodb_endpoint]
        )
        == 0
    )
    assert f"Deleted table '{table_name}'" in capsys.readouterr().out
    assert not transport.table_exists(dynamodb_client, table_name)


def test_delete_table_refuses_without_a_terminal(
    capsys, monkeypatch, dynamodb_client, dynamodb_endpoint, table_name
):
    transport.create_table(dynamodb_client, table_name)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped input is not a confirmation
    code = cli.main(["delete-table", "--table", table_name, "--endpoint-url", dynamodb_endpoint])
    assert code == 1
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert "--yes" in err
    assert transport.table_exists(dynamodb_client, table_name)


def test_delete_table_refuses_on_empty_stdin(
    capsys, monkeypatch, dynamodb_client, dynamodb_endpoint, table_name
):
    transport.create_table(dynamodb_client, table_name)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert (
        cli.main(["delete-table", "--table", table_name, "--endpoint-url", dynamodb_endpoint]) == 1
    )
    assert "not deleting" in capsys.readouterr().err
    assert transport.table_exists(dynamodb_client, table_name)


@pytest.mark.parametrize(
    ("typed", "deleted"),
    [("y\n", True), ("YES\n", True), ("n\n", False), ("\n", False), ("", False)],
)
def test_delete_table_asks_on_a_terminal(
    capsys, monkeypatch, dynamodb_client, dynamodb_endpoint, table_name, typed, deleted
):
    transport.create_table(dynamodb_client, table_name)
    monkeypatch.setattr(sys, "stdin", _Terminal(typed))
    code = cli.main(["delete-table", "--table", table_name, "--endpoint-url", dynamodb_endpoint])
    captured = capsys.readouterr()
    assert f"Delete table '{table_name}'" in captured.err
    assert "[y/N]" in captured.err
    assert code == (0 if deleted else 1)
    assert transport.table_exists(dynamodb_client, table_name) is not deleted


def test_delete_missing_table_does_not_ask(capsys, monkeypatch, dynamodb_endpoint, table_name):
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    assert (
        cli.main(["delete-table", "--table", table_name, "--endpoint-url", dynamodb_endpoint]) == 1
    )
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert "does not exist" in err
    assert "[y/N]" not in err


@pytest.mark.parametrize("command", ["create-table", "update-table", "delete-table"])
def test_unreachable_endpoint_is_one_line(capsys, command):
    url = f"http://127.0.0.1:{_closed_port()}"
    extra = ["--yes"] if command == "delete-table" else []
    code = cli.main([command, "--table", "t", "--endpoint-url", url, *extra])
    captured = capsys.readouterr()
    assert code == 1
    _assert_one_error_line(captured.err)
    assert "cannot reach DynamoDB" in captured.err
    assert url in captured.err
    assert captured.out == ""


def test_help_returns_zero(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("create-table", "update-table", "delete-table", "local", "demo"):
        assert command in out


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# --------------------------------------------------------------------------- demo


def _keys_by_tenant(out: str) -> dict[str, dict[str, str]]:
    keys: dict[str, dict[str, str]] = {}
    tenant = None
    for line in out.splitlines():
        if line.startswith("tenant "):
            tenant = line.split()[1]
            keys[tenant] = {}
        elif tenant and re.match(r"^  _\w+ ", line):
            name, value = line.split()
            keys[tenant][name] = value
    return keys


def test_demo_against_an_endpoint(capsys, dynamodb_client, dynamodb_endpoint, table_name):
    assert cli.main(["demo", "--endpoint-url", dynamodb_endpoint, "--table", table_name]) == 0
    out = capsys.readouterr().out
    # The tutorial's claims, as printed.
    assert "refused: TenantRequiredError" in out and "requests sent: 0" in out
    assert "acme: query byStatus 'active' -> Ali, Bob" in out
    assert "globex: query byStatus 'active' -> Alice, Bob, Carol" in out
    assert "acme: find_by_email('alice@example.com') -> Ali" in out
    assert "globex: find_by_email('alice@example.com') -> Alice" in out
    assert "ConditionalError" in out
    assert "acme: 2 active users" in out and "globex: 3 active users" in out
    keys = _keys_by_tenant(out)
    assert set(keys) == {"acme", "globex"}
    assert set(keys["acme"]) == {"_pk", "_sk", "_gsi1_pk", "_gsi1_sk"}
    for name, acme_value in keys["acme"].items():
        globex_value = keys["globex"][name]
        if acme_value.startswith("[acme]#"):
            assert globex_value == "[globex]#" + acme_value[len("[acme]#") :]
        else:
            assert globex_value == acme_value
    alice = demo.DEMO_USERS[0]["user_id"]
    assert keys["acme"]["_pk"] == f"[acme]#user#{alice}"
    # What was printed is what is stored, and every stored key carries a demo tenant.
    items = transport.scan_items(dynamodb_client, table_name)
    pks = {item["_pk"]["S"] for item in items}
    assert {keys["acme"]["_pk"], keys["globex"]["_pk"]} <= pks
    assert all(pk.startswith(("[acme]#", "[globex]#")) for pk in pks)
    # 2 + 3 users, each with its unique e-mail row.
    assert len(items) == 10

    # Running it again starts from what the last run left and ends with the same table.
    assert cli.main(["demo", "--endpoint-url", dynamodb_endpoint, "--table", table_name]) == 0
    again = transport.scan_items(dynamodb_client, table_name)
    assert sorted(map(repr, again)) == sorted(map(repr, items))


def test_demo_fails_when_a_claim_does_not_hold(capsys, dynamodb_client, dynamodb_endpoint,
                                              table_name):
    """The demo checks what it prints: an item outside the demo tenants breaks step 6."""
    transport.create_table(dynamodb_client, table_name)
    transport.put_item(dynamodb_client, table_name, {"_pk": {"S": "user#x"}, "_sk": {"S": "user"}})
    assert cli.main(["demo", "--endpoint-url", dynamodb_endpoint, "--table", table_name]) == 1
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert "user#x" in err


def test_demo_on_the_embedded_server(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "embedded local DynamoDB" in out
    assert "'dynamo-bao-demo'" in out
    assert set(_keys_by_tenant(out)) == {"acme", "globex"}
    assert "globex: 3 active users" in out


def test_demo_unreachable_endpoint(capsys):
    url = f"http://127.0.0.1:{_closed_port()}"
    assert cli.main(["demo", "--endpoint-url", url]) == 1
    _assert_one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- real processes


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "dynamo_bao.cli", "--help"],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bao")
    assert "delete-table" in result.stdout


def test_console_script_error_has_no_traceback():
    url = f"http://127.0.0.1:{_closed_port()}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dynamo_bao.cli",
            "update-table",
            "--table",
            "t",
            "--endpoint-url",
            url,
        ],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        timeout=60,
    )
    assert result.returncode == 1
    _assert_one_error_line(result.stderr)


def test_local_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "-m", "dynamo_bao.cli", "local", "--port", "0", "--table", "served"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_subprocess_env(),
    )
    watchdog = threading.Timer(60, process.kill)  # a hung server must not hang the test run
    watchdog.start()
    try:
        first = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first + process.stderr.read()
        assert "ready" in process.stdout.readline()
        client = transport.make_client(endpoint_url=match.group(1))
        assert "served" in client.list_tables()["TableNames"]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Stopped." in out
    assert "Traceback" not in err
