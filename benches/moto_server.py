"""One moto DynamoDB server in a separate process, for the client-side benchmarks.

The figure those benchmarks report is the client process's CPU time, so the server must not
run in it. ``start()`` launches moto's own server (``dynamo_bao.local.serve``: werkzeug, which
closes every connection) unless given another command for the port, and waits until it
answers.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable

from dynamo_bao import transport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: Callable[[int], list[str]] | None = None) -> tuple[subprocess.Popen, str]:
    """``(process, endpoint URL)`` of a server started by ``command(port)`` (default: moto's
    own server), once it answers ListTables; the process is killed if it never does."""
    port = free_port()
    if command is None:
        code = f"from dynamo_bao.local import serve; serve(port={port}, quiet=True)"
        argv = [sys.executable, "-c", code]
    else:
        argv = command(port)
    proc = subprocess.Popen(argv)
    url = f"http://127.0.0.1:{port}"
    probe = transport.make_client(endpoint_url=url)
    deadline = time.monotonic() + 30
    while True:
        try:
            probe.list_tables()
            return proc, url
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)
