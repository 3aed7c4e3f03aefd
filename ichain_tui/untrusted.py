"""Provides parsers for JSON and TOML written by someone else (task packages, manifests, peers):
a size cap, and a nesting cap checked *before* the recursive parser runs and again on the result,
so no input can exhaust the stack.

Why before: a library this process loads (py_ecc, through web3) raises Python's recursion limit to
100,000, so a deeply nested document would overflow the C stack (a crash, not an exception)
instead of raising RecursionError.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from typing import Any

from .errors import IchainError

MAX_DEPTH = 32


class UntrustedInputError(IchainError):
    title = "Refused input"


def _bracket_depth(text: str, toml: bool) -> int:
    """The deepest nesting of [ and { outside strings (and TOML comments); in TOML a dotted key
    (`a.b.c = 1`, `[a.b.c]`) nests one level per dot, so its dots count too."""
    depth = deepest = dots = 0
    after_equals = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if toml and c == "\n":
            dots, after_equals = 0, False
        elif toml and c == "=":
            after_equals = True
        elif toml and c == "." and not after_equals:
            dots += 1
            deepest = max(deepest, depth + dots + 1)
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == '"' or (toml and c == "'"):
            triple = toml and text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if (c == '"' and text[i] == "\\") else 1
            i += len(quote)
            continue
        elif toml and c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        i += 1
    return deepest


def value_depth(value: Any) -> int:
    """Nesting depth of parsed lists and dicts, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _check(value: Any, what: str, max_depth: int) -> Any:
    if value_depth(value) > max_depth:
        raise UntrustedInputError(f"{what} is nested more than {max_depth} levels deep")
    return value


def load_json(raw: bytes | str, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON of at most `max_bytes` and `max_depth` levels; non-finite numbers are refused."""
    if len(raw) > max_bytes:
        raise UntrustedInputError(f"{what} is larger than {max_bytes} bytes")
    try:
        text = raw.decode() if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError:
        raise UntrustedInputError(f"{what} is not UTF-8 text") from None
    if _bracket_depth(text, toml=False) > max_depth:
        raise UntrustedInputError(f"{what} is nested more than {max_depth} levels deep")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise UntrustedInputError(f"{what} is not valid JSON: {str(exc)[:120]}") from None
    return _check(value, what, max_depth)


def load_toml(raw: bytes, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse TOML of at most `max_bytes` and `max_depth` levels (dotted keys included)."""
    if len(raw) > max_bytes:
        raise UntrustedInputError(f"{what} is larger than {max_bytes} bytes")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise UntrustedInputError(f"{what} is not UTF-8 text") from None
    if _bracket_depth(text, toml=True) > max_depth:
        raise UntrustedInputError(f"{what} is nested more than {max_depth} levels deep")
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UntrustedInputError(f"{what} is not valid TOML: {exc}") from None
    checked: dict[str, Any] = _check(value, what, max_depth)
    return checked


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
