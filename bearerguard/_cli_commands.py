"""The ``bearerguard`` subcommands: each runs on a manager and the parsed arguments."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from typing import TextIO

from ._cli_output import (
    SHOWN_ONCE,
    describe,
    print_issued,
    print_json,
    print_table,
    safe,
    status,
    when,
)
from ._cli_values import BadInput
from .config import Settings
from .tokens import TokenManager, TokenRecord, UnknownTokenError, new_client_id

__all__ = ["create", "list_tokens", "new_id", "prune", "revoke", "rotate", "show"]


def _check_known(scopes: Iterable[str], settings: Settings) -> None:
    # The manager refuses unknown scopes too; this says which were meant and where
    # the known ones are configured, so a typo is fixed rather than widened.
    known = settings.known_scopes
    unknown = sorted(set(scopes) - known) if known is not None else []
    if not unknown:
        return
    named = []
    for scope in unknown:
        close = difflib.get_close_matches(scope, sorted(known or ()), n=1)
        named.append(f"{scope} (did you mean {close[0]}?)" if close else scope)
    raise BadInput(
        f"unknown scope {', '.join(named)}; the known scopes, from "
        f"{settings.origins['scopes']}, are: {' '.join(sorted(known or ()))}"
    )


def create(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``tokens create``."""
    _check_known(args.scopes, args.settings)
    issued = manager.issue(
        client_id=args.client_id,
        label=args.label,
        scopes=args.scopes,
        expires_in=args.expires_in,
        expires_at=args.expires_at,
    )
    print_issued(issued, f"Issued {issued.record.id}:", manager.now(), args.json, out)


def list_tokens(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``tokens list``."""
    records = manager.list(args.client_id, include_revoked=args.all)
    if args.json:
        print_json([record.to_dict() for record in records], out)
        return
    if not records:
        out.write("No tokens.\n")
        return
    now = manager.now()
    header = ("ID", "CLIENT ID", "LABEL", "SCOPES", "EXPIRES", "LAST USED", "STATUS", "SUCCESSOR")
    rows = [header]
    for record in records:
        label = safe(record.label)
        rows.append(
            (
                record.id,
                record.client_id,
                label if len(label) <= 32 else label[:31] + "…",
                " ".join(record.scopes),
                when(record.expires_at, "never"),
                when(record.last_used_at, "never"),
                status(record, now),
                record.replaced_by or "-",
            )
        )
    print_table(rows, out)


def _known(manager: TokenManager, token_id: str) -> TokenRecord:
    record = manager.get(token_id)
    if record is None:
        raise UnknownTokenError.for_id(token_id)
    return record


def show(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``tokens show``."""
    record = _known(manager, args.token_id)
    if args.json:
        print_json(record.to_dict(), out)
    else:
        describe(record, manager.now(), out)


def revoke(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``tokens revoke``."""
    _known(manager, args.token_id)
    record = manager.revoke(args.token_id)
    if args.json:
        print_json(record.to_dict(), out)
        return
    out.write(
        f"Revoked {record.id} ({safe(record.label)}) at {when(record.revoked_at)}. "
        + (
            "Published to running servers on the revocation bus.\n"
            if manager.revocation_bus is not None
            else "Running servers refuse it within their guard's cache TTL.\n"
        )
    )


def rotate(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``tokens rotate``."""
    _known(manager, args.token_id)
    issued = manager.rotate(args.token_id, grace=args.grace, expires_in=args.expires_in)
    try:
        old = manager.get(args.token_id)
    except Exception:
        # The new token exists now and can be shown only here: a failed re-read of the
        # old record must not swallow it.
        old = None
    if args.json:
        print_json(
            {
                "token": issued.token,
                "record": issued.record.to_dict(),
                "previous": None if old is None else old.to_dict(),
            },
            out,
        )
        sys.stderr.write(SHOWN_ONCE + "\n")
        return
    until = "" if old is None else f"; the old token works until {when(old.expires_at)}"
    headline = f"Rotated {args.token_id} into {issued.record.id}{until}:"
    print_issued(issued, headline, manager.now(), False, out)


def prune(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``tokens prune``."""
    before = when(manager.now() - args.older_than)
    records = manager.prune(args.older_than, dry_run=args.dry_run)
    if args.json:
        document = {"dry_run": args.dry_run, "tokens": [record.to_dict() for record in records]}
        print_json(document, out)
        return
    if not records:
        out.write(f"Nothing to prune: no token was revoked or expired before {before}.\n")
        return
    count = f"{len(records)} token{'s' if len(records) != 1 else ''}"
    if args.dry_run:
        out.write(f"Would delete {count} revoked or expired before {before} (dry run):\n")
    else:
        out.write(f"Deleted {count} revoked or expired before {before}:\n")
    rows = [("ID", "CLIENT ID", "LABEL", "ENDED")]
    for record in records:
        ended = record.revoked_at or record.expires_at
        label = f"revoked {when(ended)}" if record.revoked_at else f"expired {when(ended)}"
        rows.append((record.id, record.client_id, safe(record.label)[:32], label))
    print_table(rows, out)


def new_id(manager: TokenManager, args: argparse.Namespace, out: TextIO) -> None:
    """``clients new-id``."""
    client_id = new_client_id()
    if args.json:
        print_json({"client_id": client_id}, out)
    else:
        out.write(client_id + "\n")
