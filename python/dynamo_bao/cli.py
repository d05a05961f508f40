"""The ``bao`` command line: table admin, the embedded local DynamoDB, a multi-tenant demo, and
``codegen`` (typed Python modules from ``models.yaml``; it exits 2 on a bad YAML and, with
``--check``, 1 when the generated files are out of date).

Every command prints errors as one ``bao: error: ...`` line on stderr and exits non-zero, never
with a traceback: a CLI user needs the cause, not the stack. Tables are named by ``--table``, else
the ``DYNAMO_BAO_TABLE`` environment variable (``demo`` and ``local`` default to
``dynamo-bao-demo``). Without ``--endpoint-url`` the commands talk to real DynamoDB through
boto3's usual region and credential chain.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import table as table_def
from . import transport
from .exceptions import BaoError

__all__ = ["main", "build_parser", "TABLE_ENV_VAR", "DEMO_TABLE"]

TABLE_ENV_VAR = "DYNAMO_BAO_TABLE"
DEMO_TABLE = "dynamo-bao-demo"
DEFAULT_LOCAL_PORT = 8000  # DynamoDB Local's port, so existing tooling configs keep working


def build_parser() -> argparse.ArgumentParser:
    # prog is fixed so messages say "bao" also under ``python -m dynamo_bao.cli``.
    parser = argparse.ArgumentParser(
        prog="bao",
        description="dynamo-bao: DynamoDB single-table design with multi-tenancy.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, *, default_table: str | None, endpoint: bool = True):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        env_default = os.environ.get(TABLE_ENV_VAR) or default_table
        where = f"default: ${TABLE_ENV_VAR}" + (f", else {default_table}" if default_table else "")
        sub.add_argument("--table", default=env_default, help=f"table name ({where})")
        sub.add_argument(
            "--region",
            default=None,
            help="AWS region (default: boto3's chain; us-east-1 for local endpoints)",
        )
        if endpoint:
            sub.add_argument(
                "--endpoint-url",
                default=None,
                help="DynamoDB endpoint, e.g. http://127.0.0.1:8000 for a local one",
            )
        sub.set_defaults(parser=sub)
        return sub

    sub = add(
        "create-table",
        "Create the table (idempotent), wait until ACTIVE, enable TTL.",
        default_table=None,
    )
    sub.add_argument(
        "--no-search-index",
        dest="search_index",
        action="store_false",
        help="leave out iter_search_index (what DynamoBao's bao-create-table does)",
    )
    sub.set_defaults(func=_cmd_create_table)

    sub = add(
        "update-table", "Add missing indexes (one at a time) and enable TTL.", default_table=None
    )
    sub.set_defaults(func=_cmd_update_table)

    sub = add("delete-table", "Delete the table (asks for confirmation).", default_table=None)
    sub.add_argument("-y", "--yes", action="store_true", help="delete without asking")
    sub.set_defaults(func=_cmd_delete_table)

    sub = add(
        "local",
        "Serve the embedded local DynamoDB in the foreground until Ctrl-C.",
        default_table=DEMO_TABLE,
        endpoint=False,
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sub.add_argument(
        "--port",
        type=int,
        default=DEFAULT_LOCAL_PORT,
        help=f"port (default: {DEFAULT_LOCAL_PORT}; 0 picks a free one)",
    )
    sub.add_argument(
        "--no-table", dest="create", action="store_false", help="do not create the table on start"
    )
    sub.add_argument("--verbose", action="store_true", help="log every request")
    sub.set_defaults(func=_cmd_local)

    sub = add(
        "demo",
        "Walk through multi-tenancy: two tenants, one table, nothing shared.",
        default_table=DEMO_TABLE,
    )
    sub.set_defaults(func=_cmd_demo)

    help_text = "Write typed Python model modules (one per model) from models.yaml."
    sub = commands.add_parser("codegen", help=help_text, description=help_text)
    sub.add_argument("models", metavar="MODELS_YAML", help="models.yaml, or a folder of *.yaml")
    sub.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="package folder")
    sub.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if OUT_DIR differs from what would be generated",
    )
    sub.set_defaults(func=_cmd_codegen, parser=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bao``; returns the exit status (what the console script exits with)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help or a usage error; argparse already printed
        return exit_.code if isinstance(exit_.code, int) else 1
    if "table" in vars(args) and not args.table:
        try:
            args.parser.error(f"--table is required (or set {TABLE_ENV_VAR})")
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.func(args)
    except BaoError as err:
        return _fail(str(err))
    except transport.AWS_ERRORS as err:
        return _fail(str(transport.translate_error(err, args.command)))
    except KeyboardInterrupt:
        print("bao: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    print(f"bao: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _client(args: argparse.Namespace, endpoint_url: str | None = None) -> Any:
    return transport.make_client(
        region=args.region, endpoint_url=endpoint_url or getattr(args, "endpoint_url", None)
    )


def _where(client: Any) -> str:
    return f"{client.meta.endpoint_url}, region {client.meta.region_name}"


# --------------------------------------------------------------------------- table admin


def _cmd_create_table(args: argparse.Namespace) -> int:
    client = _client(args)
    created = transport.create_table(client, args.table, include_search_index=args.search_index)
    if created:
        print(
            f"Created table {args.table!r} ({_where(client)}), TTL on {table_def.TTL_ATTRIBUTE!r}."
        )
    else:
        print(
            f"Table {args.table!r} already exists ({_where(client)}); TTL on "
            f"{table_def.TTL_ATTRIBUTE!r} ensured. "
            "Run 'bao update-table' to add missing indexes."
        )
    return 0


def _cmd_update_table(args: argparse.Namespace) -> int:
    client = _client(args)
    added = transport.update_table(client, args.table)
    if not added:
        print(f"Table {args.table!r} is up to date.")
        return 0
    for change in added:
        if change == table_def.TTL_ATTRIBUTE:
            print(f"Enabled TTL on {table_def.TTL_ATTRIBUTE!r}.")
        else:
            print(f"Added index {change!r}.")
    if table_def.SEARCH_INDEX_NAME in added:
        print(
            f"Searchable models can now iterate over {table_def.SEARCH_INDEX_NAME!r}; "
            f"items written before have no {table_def.SEARCH_TEXT_ATTRIBUTE} "
            "until they are saved again."
        )
    return 0


def _confirm(question: str, stdin: TextIO | None) -> bool:
    """Ask on the terminal; anything but y/yes, end of input or no terminal at all means no."""
    if stdin is None or not stdin.isatty():
        return False
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = stdin.readline()
    if not answer.endswith("\n"):
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def _cmd_delete_table(args: argparse.Namespace) -> int:
    client = _client(args)
    transport.describe_table(client, args.table)  # a missing table fails before any question
    if not args.yes:
        stdin = sys.stdin
        interactive = stdin is not None and stdin.isatty()
        if not _confirm(f"Delete table {args.table!r} ({_where(client)})? [y/N] ", stdin):
            reason = "" if interactive else ": stdin is not a terminal, pass --yes to confirm"
            return _fail(f"not deleting table {args.table!r}{reason}")
    transport.delete_table(client, args.table)
    print(f"Deleted table {args.table!r}.")
    return 0


# --------------------------------------------------------------------------- local server


def _cmd_local(args: argparse.Namespace) -> int:
    from . import local

    def ready(url: str) -> None:
        print(f"Local DynamoDB listening on {url} (Ctrl-C to stop)", flush=True)
        if args.create:
            client = transport.make_client(region=args.region, endpoint_url=url)
            transport.create_table(client, args.table)
            print(f"Table {args.table!r} is ready.", flush=True)
        print(f"Use it with: --endpoint-url {url}", flush=True)

    local.serve(args.host, args.port, quiet=not args.verbose, on_ready=ready)
    print("Stopped.", flush=True)
    return 0


# --------------------------------------------------------------------------- demo


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.endpoint_url:
        return _run_demo(args, args.endpoint_url, embedded=False)
    from . import local

    with local.local_dynamodb() as url:
        return _run_demo(args, url, embedded=True)


def _run_demo(args: argparse.Namespace, endpoint_url: str, *, embedded: bool) -> int:
    from .demo import run_demo

    client = transport.make_client(region=args.region, endpoint_url=endpoint_url)
    kind = "embedded local DynamoDB" if embedded else "given endpoint"
    print(f"Endpoint {endpoint_url} ({kind}), table {args.table!r}.\n")
    run_demo(client, args.table)
    return 0


# --------------------------------------------------------------------------- codegen


def _cmd_codegen(args: argparse.Namespace) -> int:
    from . import codegen

    try:
        if args.check:
            problems = codegen.check(args.models, args.out)
        else:
            written = codegen.generate(args.models, args.out)
    except (BaoError, OSError, UnicodeDecodeError) as err:
        _fail(str(err))
        return 2  # bad input: nothing was written
    if not args.check:
        print(f"Wrote {len(written)} files to {args.out} from {args.models}.")
        return 0
    if problems:
        print(f"bao: {args.out} is out of date with {args.models}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(f"Run: bao codegen {args.models} -o {args.out}", file=sys.stderr)
        return 1
    print(f"{args.out} is up to date with {args.models}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
