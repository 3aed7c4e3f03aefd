"""Provides the argparse value types of `ichain`'s flags and `OneLineParser`: every value a user
types is checked when the command line is read — addresses (20 bytes of hex, lower-case or with a
valid EIP-55 checksum), amounts in ETH, task ids, ratings, seconds, ports, networks — and a bad one
is one line on stderr and exit 2, never a traceback and never after something was sent."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlsplit

from .amounts import parse_eth
from .errors import UsageError

HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`ichain: <command>: <what>`) and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(
            f"ichain: {self.prog.removeprefix('ichain').strip() or 'usage'}: {message} (see --help)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def address(text: str) -> str:
    """A 20-byte address: `0x` and 40 hex digits, all lower-case (or all upper-case) or with a
    valid EIP-55 checksum; returned checksummed."""
    from .chain.wallet import checksummed, is_checksummed  # late: the Ethereum libraries take seconds

    text = text.strip()
    if not HEX_ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:50]!r} is not an address (0x and 40 hex digits)")
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksummed(text):
        raise argparse.ArgumentTypeError(
            f"{text} has a wrong checksum (a typo?); paste it again or use lower case"
        )
    return checksummed(text)


def address_or(*words: str) -> Callable[[str], str]:
    """An address, or one of `words` (auto, random, none ...)."""

    def parse(text: str) -> str:
        if text.strip().lower() in words:
            return text.strip().lower()
        try:
            return address(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc}; or one of {', '.join(words)}") from None

    parse.__name__ = "address or " + "/".join(words)
    return parse


def eth_amount(text: str) -> str:
    """An amount in ETH (checked as `parse_eth` will read it; kept as typed)."""
    try:
        parse_eth(text, "the amount")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def whole(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    def parse(text: str) -> int:
        stripped = text.strip()
        if not re.fullmatch(r"[+]?\d{1,30}", stripped) or not low <= int(stripped) <= high:
            raise argparse.ArgumentTypeError(f"{stripped[:40]!r} is not {what} from {low} to {high}")
        return int(stripped)

    parse.__name__ = what
    return parse


def seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text.strip()[:40]!r} is not a number of seconds") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text.strip()[:40]!r} is not between {low:g} and {high:g} seconds"
            )
        return value

    parse.__name__ = "seconds"
    return parse


def network(text: str) -> str:
    """embedded, local, or an http(s)/ws(s) JSON-RPC URL with a host."""
    stripped = text.strip()
    if stripped in ("embedded", "local"):
        return stripped
    url = urlsplit(stripped)
    if url.scheme not in ("http", "https", "ws", "wss") or not url.hostname:
        raise argparse.ArgumentTypeError(
            f"{stripped[:60]!r} is not a network: embedded, local or a JSON-RPC URL (http://host:port)"
        )
    try:
        url.port  # noqa: B018 - reading it validates it
    except ValueError:
        raise argparse.ArgumentTypeError(f"{stripped[:60]!r} has a bad port") from None
    return stripped


TASK_ID = whole(1, 2**64 - 1, "a task id")
RATING = whole(1, 5, "a rating")
PORT = whole(1, 65535, "a port")
