"""The ``bearerguard`` command: issue, list, show, revoke and rotate client tokens.

```console
$ bearerguard clients new-id
$ bearerguard tokens create --client-id ID --label "Checkout server" \
      --scope payments.create --expires-in 90d
$ bearerguard tokens list [--client-id ID] [--all]
$ bearerguard tokens show TOKEN_ID
$ bearerguard tokens revoke TOKEN_ID
$ bearerguard tokens rotate TOKEN_ID [--grace 24h]
```

The store is ``--store URL``, else ``$BEARERGUARD_STORE``, else
``sqlite:///bearerguard.db``. With ``--bus URL`` (else ``$BEARERGUARD_BUS``), revoke
and rotate publish on that revocation bus (``redis://...``, ``postgresql+psycopg://...``).
``--store``, ``--bus``, ``--json`` and ``--prefix`` go anywhere after the command.
Exit codes: 0 done, 2 bad input (nothing written), 1 the store or the bus failed.
Errors are one line on stderr; a token is printed only by ``create`` and ``rotate``,
alone on the last line of stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TextIO

from . import _cli_commands as run_command
from ._cli_values import BadInput, Parser, argument, parse_duration, parse_time
from .revocation import BUS_VARIABLE, RevocationBus, open_bus
from .stores import open_store
from .tokens import DEFAULT_PREFIX, TokenManager

__all__ = ["main"]

DEFAULT_STORE = "sqlite:///bearerguard.db"
STORE_VARIABLE = "BEARERGUARD_STORE"
EXIT_OK, EXIT_STORE_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_TOKEN_LIKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*_[0-9A-Za-z]{36}")


def _build_parser() -> Parser:
    common = Parser(add_help=False)
    # SUPPRESS: a value given before the command survives the subcommand's parser.
    common.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"sqlite:///path.db, postgresql+psycopg://..., memory:// "
        f"(default: ${STORE_VARIABLE}, else {DEFAULT_STORE})",
    )
    common.add_argument(
        "--bus",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"revocation bus to publish on: redis://..., postgresql+psycopg://... "
        f"(default: ${BUS_VARIABLE}, else none)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "--prefix",
        default=argparse.SUPPRESS,
        help=f"token prefix (default: {DEFAULT_PREFIX})",
    )
    parser = Parser(
        prog="bearerguard",
        description="Manage bearerguard client tokens.",
        parents=[common],
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="{tokens,clients}")

    tokens = groups.add_parser("tokens", help="client tokens", parents=[common])
    commands = tokens.add_subparsers(
        dest="command", required=True, metavar="{create,list,show,revoke,rotate}"
    )

    create = commands.add_parser("create", help="issue a token", parents=[common])
    create.add_argument("--client-id", required=True, help="the application's Client ID")
    create.add_argument("--label", required=True, help="what the token is for")
    create.add_argument(
        "--scope", dest="scopes", action="append", required=True, help="a scope (repeatable)"
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=argument(parse_duration), metavar="DURATION")
    expiry.add_argument("--expires-at", type=argument(parse_time), metavar="ISO-8601")
    create.set_defaults(run=run_command.create)

    listing = commands.add_parser("list", help="list tokens (never the tokens)", parents=[common])
    listing.add_argument("--client-id", help="only this application's tokens")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.set_defaults(run=run_command.list_tokens)

    for name, run, text in (
        ("show", run_command.show, "show one token's record"),
        ("revoke", run_command.revoke, "revoke a token"),
    ):
        command = commands.add_parser(name, help=text, parents=[common])
        command.add_argument("token_id", metavar="TOKEN_ID")
        command.set_defaults(run=run)

    rotate = commands.add_parser("rotate", help="replace a token", parents=[common])
    rotate.add_argument("token_id", metavar="TOKEN_ID")
    rotate.add_argument(
        "--grace",
        type=argument(parse_duration),
        default=timedelta(hours=24),
        metavar="DURATION",
        help="how long the old token keeps working (default 24h)",
    )
    rotate.add_argument("--expires-in", type=argument(parse_duration), metavar="DURATION")
    rotate.set_defaults(run=run_command.rotate)

    clients = groups.add_parser("clients", help="Client IDs", parents=[common])
    client_commands = clients.add_subparsers(dest="command", required=True, metavar="{new-id}")
    new_id = client_commands.add_parser("new-id", help="a new Client ID", parents=[common])
    new_id.set_defaults(run=run_command.new_id)
    return parser


# -- entry point ----------------------------------------------------------------------


def _fail(message: str, code: int) -> int:
    # One line, and never a token, even one pasted where an id or a choice belongs.
    line = _TOKEN_LIKE.sub("[a token, hidden]", " ".join(str(message).split()))
    sys.stderr.write(f"bearerguard: error: {line}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        args.json = getattr(args, "json", False)
        url = getattr(args, "store", None) or os.environ.get(STORE_VARIABLE) or DEFAULT_STORE
        prefix = getattr(args, "prefix", DEFAULT_PREFIX)
        run: Callable[[TokenManager, argparse.Namespace, TextIO], None] = args.run
        bus = _bus(getattr(args, "bus", None) or os.environ.get(BUS_VARIABLE))
        manager = TokenManager(open_store(url), prefix=prefix, revocation_bus=bus)
    except BadInput as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except ValueError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    try:
        run(manager, args, sys.stdout)
    except BadInput as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except ValueError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except Exception as exc:
        # The store failed. Its message never holds a token: stores see only hashes.
        return _fail(f"the token store failed: {exc}", EXIT_STORE_FAILED)
    finally:
        manager.close()
        manager.store.close()
        if bus is not None:
            bus.close()
    if bus is not None and bus.stats().publish_failures:
        return _fail(
            "the store has the change, but the revocation bus failed: running servers "
            "refuse the token within their cache TTL (run the command again to publish)",
            EXIT_STORE_FAILED,
        )
    return EXIT_OK


def _bus(url: str | None) -> RevocationBus | None:
    if not url:
        return None
    try:
        return open_bus(url)
    except ImportError:
        raise BadInput(
            "this bus needs its driver: pip install 'bearerguard[redis]' or 'bearerguard[sql]'"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
