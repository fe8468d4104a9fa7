"""The ``bearerguard`` command: issue, list, show, revoke, rotate and prune client tokens.

```console
$ bearerguard clients new-id
$ bearerguard tokens create --client-id ID --label "Checkout server" \
      --scope payments.create --expires-in 90d
$ bearerguard tokens list [--client-id ID] [--all]
$ bearerguard tokens show TOKEN_ID
$ bearerguard tokens revoke TOKEN_ID
$ bearerguard tokens rotate TOKEN_ID [--grace 24h]
$ bearerguard tokens prune [--older-than 30d] [--dry-run]
```

The store, the token prefix and the known scopes come from ``--store``, ``--prefix``
and ``--known-scopes``, else ``$BEARERGUARD_STORE``, ``$BEARERGUARD_PREFIX`` and
``$BEARERGUARD_SCOPES``, else the ``[tool.bearerguard]`` table of the nearest
``pyproject.toml``, else the defaults (see :mod:`bearerguard.config`). With ``--bus
URL`` (else ``$BEARERGUARD_BUS``), revoke and rotate publish on that revocation bus
(``redis://...``, ``postgresql+psycopg://...``). The options go anywhere after the
command. Exit codes: 0 done, 2 bad input (nothing written), 1 the store or the bus
failed. Errors are one line on stderr; a token is printed only by ``create`` and
``rotate``, alone on the last line of stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TextIO

from . import __version__
from . import _cli_commands as run_command
from ._cli_values import DURATION_FORMS, BadInput, Parser, argument, parse_duration, parse_time
from .config import (
    DEFAULT_STORE,
    PREFIX_VARIABLE,
    SCOPES_VARIABLE,
    STORE_VARIABLE,
    load_settings,
)
from .revocation import BUS_VARIABLE, RevocationBus, open_bus
from .tokens import DEFAULT_PREFIX, TokenManager

__all__ = ["main"]

EXIT_OK, EXIT_STORE_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a command whose reader left

_TOKEN_LIKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*_[0-9A-Za-z]{36}")
_DURATION_HELP = f"a DURATION is a number and a unit w, d, h, m or s: {DURATION_FORMS}"
_SCOPE_SEPARATORS = re.compile(r"[\s,]+")


def _duration(text: str, default: timedelta | None = None) -> dict[str, Any]:
    # The options of a DURATION argument.
    return {
        "type": argument(parse_duration),
        "default": default,
        "metavar": "DURATION",
        "help": text,
    }


def _build_parser() -> Parser:
    common = Parser(add_help=False)
    # SUPPRESS: a value given before the command survives the subcommand's parser.
    common.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"sqlite:///path.db, postgresql+psycopg://..., memory:// (default: "
        f"${STORE_VARIABLE}, else [tool.bearerguard] store, else {DEFAULT_STORE})",
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
        help=f"prefix of new tokens, like pay_live_ (default: ${PREFIX_VARIABLE}, "
        f"else [tool.bearerguard] prefix, else {DEFAULT_PREFIX})",
    )
    common.add_argument(
        "--known-scopes",
        metavar="SCOPES",
        default=argparse.SUPPRESS,
        help=f"the only scopes tokens may have, separated by spaces or commas (default: "
        f"${SCOPES_VARIABLE}, else [tool.bearerguard] scopes, else any)",
    )
    parser = Parser(
        prog="bearerguard",
        description="Manage bearerguard client tokens.",
        epilog=_DURATION_HELP + ".",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"bearerguard {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{tokens,clients}")

    tokens = groups.add_parser("tokens", help="client tokens", parents=[common])
    commands = tokens.add_subparsers(
        dest="command", required=True, metavar="{create,list,show,revoke,rotate,prune}"
    )

    create = commands.add_parser(
        "create", help="issue a token", epilog=_DURATION_HELP + ".", parents=[common]
    )
    create.add_argument("--client-id", required=True, help="the application's Client ID")
    create.add_argument("--label", required=True, help="what the token is for")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        metavar="SCOPE",
        help="a scope (repeatable); one of the known scopes when they are configured",
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-in",
        **_duration(f"lifetime from now: {DURATION_FORMS} (default: never expires)"),
    )
    expiry.add_argument(
        "--expires-at",
        type=argument(parse_time),
        metavar="TIME",
        help="expiry as ISO-8601 with a UTC offset: 2026-03-01T00:00:00Z",
    )
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

    rotate = commands.add_parser(
        "rotate", help="replace a token", epilog=_DURATION_HELP + ".", parents=[common]
    )
    rotate.add_argument("token_id", metavar="TOKEN_ID")
    rotate.add_argument(
        "--grace",
        **_duration(
            "how long the old token keeps working: 24h, 90m, 0s (default 24h)", timedelta(hours=24)
        ),
    )
    rotate.add_argument(
        "--expires-in",
        **_duration("the new token's lifetime: 90d, 12h (default: the old token's)"),
    )
    rotate.set_defaults(run=run_command.rotate)

    prune = commands.add_parser(
        "prune",
        help="delete tokens revoked or expired long ago",
        description="Delete the tokens that were revoked, or expired, at least --older-than "
        "ago (rotated tokens once their grace is over). Active tokens are never deleted.",
        epilog=_DURATION_HELP + ".",
        parents=[common],
    )
    prune.add_argument(
        "--older-than",
        **_duration("how long ago they ended: 30d, 12h, 0s (default 30d)", timedelta(days=30)),
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )
    prune.set_defaults(run=run_command.prune)

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
    except SystemExit as exc:  # --help and --version print and exit 0
        return int(exc.code or 0)
    except BadInput as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    bus: RevocationBus | None = None
    try:
        args.json = getattr(args, "json", False)
        scopes = getattr(args, "known_scopes", None)
        args.settings = load_settings(
            store=getattr(args, "store", None),
            prefix=getattr(args, "prefix", None),
            known_scopes=None if scopes is None else _SCOPE_SEPARATORS.split(scopes.strip()),
        )
        run: Callable[[TokenManager, argparse.Namespace, TextIO], None] = args.run
        bus = _bus(getattr(args, "bus", None) or os.environ.get(BUS_VARIABLE))
        manager = args.settings.token_manager(revocation_bus=bus)
    except (BadInput, ValueError) as exc:  # ConfigError included: it names its source
        if bus is not None:
            bus.close()
        return _fail(str(exc), EXIT_BAD_INPUT)
    try:
        run(manager, args, sys.stdout)
    except (BadInput, ValueError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except BrokenPipeError:
        # The reader went away (| head): not the store's fault, nothing to say. Python's
        # advice: point stdout at devnull, so the final flush at exit fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _EXIT_OUTPUT_CLOSED
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
