"""How the ``bearerguard`` command reads durations and times, and refuses bad input."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

__all__ = ["DURATION_FORMS", "BadInput", "Parser", "argument", "parse_duration", "parse_time"]

DURATION_FORMS = "90d, 12h, 30m, 3600s, 2w, 1d12h"
"""Examples of what :func:`parse_duration` reads, for help texts."""

_DURATION = re.compile(r"(?:\d+[wdhms])+|0")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class BadInput(Exception):
    """Input the command refuses: exit code 2, nothing written."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`BadInput` rather than exiting."""

    def error(self, message: str) -> NoReturn:
        """Refuse the command line (exit code 2 once ``main`` catches it)."""
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


def argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as an argparse ``type=``: its refusal names the option."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except BadInput as exc:
            # argparse reports ArgumentTypeError with the option's name.
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert
