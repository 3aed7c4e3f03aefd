"""Provides small text formatters shared by the screens (ether, addresses, stars, durations)."""

from __future__ import annotations

from ..amounts import format_eth
from ..transfer.logstream import progress_words


def eth(wei: int, digits: int = 4) -> str:
    return format_eth(wei, digits)


def short(address: str | None) -> str:
    return f"{address[:6]}…{address[-4:]}" if address else "-"


def stars(average: float | None, count: int) -> str:
    if not count or average is None:
        return "☆☆☆☆☆ (0)"
    full = round(average)
    return "★" * full + "☆" * (5 - full) + f" ({count})"


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, the cut marked with "…" (long labels, hardware)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def report(values: dict[str, object]) -> str:
    """A progress report as words: "epoch 3, loss 0.41"."""
    return progress_words(values)


def duration(seconds: int) -> str:
    if seconds <= 0:
        return "due"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def block_age(block_time: int, now: float) -> str:
    """' (5 min old)' when the newest block the node offers is a minute old or more (a stalled
    or lagging node); '' otherwise, or for a chain whose clock runs ahead (a devnet)."""
    age = int(now - block_time) if block_time else 0
    if age < 60:
        return ""
    return f" ({age // 60} min old)" if age < 3600 else f" ({age // 3600} h old)"
