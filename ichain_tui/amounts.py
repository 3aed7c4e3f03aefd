"""Provides `parse_eth`, `format_eth` and `parse_seconds`: amounts and durations typed by a user,
parsed once, exactly (`Decimal`, never `float`), into wei and whole seconds, or one clear error
line; and the one way wei is written for people."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import UsageError

WEI_PER_ETH = 10**18
WEI_PER_GWEI = 10**9
MAX_WEI = 2**96 - 1  # what the market stores for a payment


def parse_eth(text: str, what: str) -> int:
    """'0.01' → 10**16 wei. Refuses negatives, non-numbers, inf/nan, more than 18 decimals and
    amounts no market could hold."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(f"{what} must be an amount in ETH like 0.01, not {text.strip()[:40]!r}") from None
    if not value.is_finite():
        raise UsageError(f"{what} must be a finite amount in ETH")
    if value < 0:
        raise UsageError(f"{what} cannot be negative")
    wei = value * WEI_PER_ETH
    if wei != wei.to_integral_value():
        raise UsageError(f"{what} has more than 18 decimals (1 wei is 0.000000000000000001 ETH)")
    if wei > MAX_WEI:
        raise UsageError(f"{what} is larger than any market can hold")
    return int(wei)


def parse_seconds(text: str, what: str, low: int = 1, high: int = 10**9) -> int:
    """A whole number of seconds within [low, high]."""
    stripped = text.strip()
    if not stripped.isdigit():
        raise UsageError(f"{what} must be a whole number of seconds, not {stripped[:40]!r}")
    seconds = int(stripped)
    if not low <= seconds <= high:
        raise UsageError(f"{what} must be between {low} and {high} seconds")
    return seconds


def format_gwei(wei: int) -> str:
    """1_500_000_000 → '1.5' (gwei, exact, trailing zeros dropped), for fee messages."""
    text = f"{Decimal(int(wei)) / WEI_PER_GWEI:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_eth(wei: int, digits: int | None = None) -> str:
    """10**16 → '0.01 ETH' (exact, trailing zeros dropped); with `digits`, rounded to that many
    decimals and padded ('0.0100 ETH'), for columns."""
    value = Decimal(int(wei)) / WEI_PER_ETH
    if digits is not None:
        return f"{value.quantize(Decimal(1).scaleb(-digits)):f} ETH"
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"
