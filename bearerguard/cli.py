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
``sqlite:///bearerguard.db``. ``--store``, ``--json`` and ``--prefix`` go anywhere
after the command. Exit codes: 0 done, 2 bad input (nothing written), 1 the store
failed. Errors are one line on stderr; a token is printed only by ``create`` and
``rotate``, alone on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, TextIO

from .stores import open_store
from .tokens import (
    DEFAULT_PREFIX,
    IssuedToken,
    TokenManager,
    TokenRecord,
    UnknownTokenError,
    new_client_id,
)

__all__ = ["main"]

DEFAULT_STORE = "sqlite:///bearerguard.db"
STORE_VARIABLE = "BEARERGUARD_STORE"
EXIT_OK, EXIT_STORE_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_TOKEN_LIKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*_[0-9A-Za-z]{36}")
_DURATION = re.compile(r"(?:\d+[wdhms])+|0")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_SHOWN_ONCE = (
    "bearerguard: this token is shown only now and cannot be shown again (only its hash "
    "is kept); put it in the client's secret store or environment, never in code"
)


class BadInput(Exception):
    """Input the command refuses: exit code 2, nothing written."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def parse_duration(text: str) -> timedelta:
    """``90d``, ``24h``, ``1d12h``, ``30m``, ``45s``, ``2w`` or ``0`` as a timedelta."""
    if not _DURATION.fullmatch(text):
        raise BadInput(f"invalid duration {text!r}: use a number and a unit, like 90d or 24h")
    try:
        return sum(
            (
                timedelta(**{_UNITS[unit]: int(amount)})
                for amount, unit in _DURATION_PART.findall(text)
            ),
            timedelta(0),
        )
    except OverflowError:
        raise BadInput(f"duration {text!r} is too long") from None


def parse_time(text: str) -> datetime:
    """An ISO-8601 time with a UTC offset or ``Z`` (``2026-03-01T00:00:00Z``)."""
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"invalid time {text!r}: use ISO-8601, like 2026-03-01T00:00:00Z") from None
    if parsed.utcoffset() is None:
        raise BadInput(
            f"time {text!r} needs a date, a time and a UTC offset, like 2026-03-01T00:00:00Z"
        )
    return parsed


def _build_parser() -> _Parser:
    common = _Parser(add_help=False)
    # SUPPRESS: a value given before the command survives the subcommand's parser.
    common.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"sqlite:///path.db, postgresql+psycopg://..., memory:// "
        f"(default: ${STORE_VARIABLE}, else {DEFAULT_STORE})",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "--prefix",
        default=argparse.SUPPRESS,
        help=f"token prefix (default: {DEFAULT_PREFIX})",
    )
    parser = _Parser(
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
    expiry.add_argument("--expires-in", type=_argument(parse_duration), metavar="DURATION")
    expiry.add_argument("--expires-at", type=_argument(parse_time), metavar="ISO-8601")
    create.set_defaults(run=_create)

    listing = commands.add_parser("list", help="list tokens (never the tokens)", parents=[common])
    listing.add_argument("--client-id", help="only this application's tokens")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.set_defaults(run=_list)

    for name, run, text in (
        ("show", _show, "show one token's record"),
        ("revoke", _revoke, "revoke a token"),
    ):
        command = commands.add_parser(name, help=text, parents=[common])
        command.add_argument("token_id", metavar="TOKEN_ID")
        command.set_defaults(run=run)

    rotate = commands.add_parser("rotate", help="replace a token", parents=[common])
    rotate.add_argument("token_id", metavar="TOKEN_ID")
    rotate.add_argument(
        "--grace",
        type=_argument(parse_duration),
        default=timedelta(hours=24),
        metavar="DURATION",
        help="how long the old token keeps working (default 24h)",
    )
    rotate.add_argument("--expires-in", type=_argument(parse_duration), metavar="DURATION")
    rotate.set_defaults(run=_rotate)

    clients = groups.add_parser("clients", help="Client IDs", parents=[common])
    client_commands = clients.add_subparsers(dest="command", required=True, metavar="{new-id}")
    new_id = client_commands.add_parser("new-id", help="a new Client ID", parents=[common])
    new_id.set_defaults(run=_new_id)
    return parser


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except BadInput as exc:
            # argparse reports ArgumentTypeError with the option's name.
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


# -- output -------------------------------------------------------------------------


def _safe(text: str) -> str:
    # Stored text reaches a terminal: no control sequences (labels are checked on
    # issue, but a row may have been edited by hand).
    return "".join(char if char.isprintable() else "?" for char in text)


def _when(value: datetime | None, empty: str = "-") -> str:
    if value is None:
        return empty
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_json(document: Any, out: TextIO) -> None:
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _describe(record: TokenRecord, now: datetime, out: TextIO) -> None:
    lines = [
        ("id", record.id),
        ("client id", record.client_id),
        ("label", _safe(record.label)),
        ("scopes", " ".join(record.scopes) or "-"),
        ("status", record.status(now)),
        ("created", _when(record.created_at)),
        ("expires", _when(record.expires_at, "never")),
        ("last used", _when(record.last_used_at, "never")),
        ("revoked", _when(record.revoked_at)),
    ]
    for name, value in lines:
        out.write(f"{name + ':':<11}{value}\n")


def _print_issued(
    issued: IssuedToken, headline: str, manager: TokenManager, json_out: bool, out: TextIO
) -> None:
    if json_out:
        _print_json({"token": issued.token, "record": issued.record.to_dict()}, out)
    else:
        out.write(headline + "\n")
        _describe(issued.record, manager.now(), out)
        out.write(issued.token + "\n")
    sys.stderr.write(_SHOWN_ONCE + "\n")


# -- commands -------------------------------------------------------------------------


def _create(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    issued = manager.issue(
        client_id=args.client_id,
        label=args.label,
        scopes=args.scopes,
        expires_in=args.expires_in,
        expires_at=args.expires_at,
    )
    _print_issued(issued, f"Issued {issued.record.id}:", manager, args.json, out)


def _list(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    records = manager.list(args.client_id, include_revoked=args.all)
    if args.json:
        _print_json([record.to_dict() for record in records], out)
        return
    if not records:
        out.write("No tokens.\n")
        return
    now = manager.now()
    header = ("ID", "CLIENT ID", "LABEL", "SCOPES", "EXPIRES", "LAST USED", "STATUS")
    rows = [header]
    for record in records:
        label = _safe(record.label)
        rows.append(
            (
                record.id,
                record.client_id,
                label if len(label) <= 32 else label[:31] + "…",
                " ".join(record.scopes),
                _when(record.expires_at, "never"),
                _when(record.last_used_at, "never"),
                record.status(now),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        out.write("\n")


def _known(manager: TokenManager, token_id: str) -> TokenRecord:
    record = manager.get(token_id)
    if record is None:
        raise UnknownTokenError.for_id(token_id)
    return record


def _show(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    record = _known(manager, args.token_id)
    if args.json:
        _print_json(record.to_dict(), out)
    else:
        _describe(record, manager.now(), out)


def _revoke(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    _known(manager, args.token_id)
    record = manager.revoke(args.token_id)
    if args.json:
        _print_json(record.to_dict(), out)
        return
    out.write(
        f"Revoked {record.id} ({_safe(record.label)}) at {_when(record.revoked_at)}. "
        "Running servers refuse it within their guard's cache TTL.\n"
    )


def _rotate(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    _known(manager, args.token_id)
    issued = manager.rotate(args.token_id, grace=args.grace, expires_in=args.expires_in)
    try:
        old = manager.get(args.token_id)
    except Exception:
        # The new token exists now and can be shown only here: a failed re-read of the
        # old record must not swallow it.
        old = None
    if args.json:
        _print_json(
            {
                "token": issued.token,
                "record": issued.record.to_dict(),
                "previous": None if old is None else old.to_dict(),
            },
            out,
        )
        sys.stderr.write(_SHOWN_ONCE + "\n")
        return
    until = "" if old is None else f"; the old token works until {_when(old.expires_at)}"
    _print_issued(
        issued, f"Rotated {args.token_id} into {issued.record.id}{until}:", manager, False, out
    )


def _new_id(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    client_id = new_client_id()
    if args.json:
        _print_json({"client_id": client_id}, out)
    else:
        out.write(client_id + "\n")


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
        manager = TokenManager(open_store(url), prefix=prefix)
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
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
