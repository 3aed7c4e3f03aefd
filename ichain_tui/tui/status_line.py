"""Provides `fit`: the status line's parts, joined with " · ", dropping the least important first
until the line fits the terminal's width (at 80 or 60 columns the state, the time and the balance
stay; the account, the network name, details and hints go first). Parts at `ESSENTIAL` or above
are shortened with "…" rather than dropped."""

from __future__ import annotations

SEPARATOR = " · "
ESSENTIAL = 5  # parts ranked this high are cut short, never left out
MIN_CUT = 12  # an essential part keeps at least this many characters


def fit(parts: list[tuple[str, int]], width: int) -> str:
    """`parts`: (text, rank) in display order; a higher rank stays longer. Empty texts are left
    out."""
    kept = [(text, rank) for text, rank in parts if text]

    def length() -> int:
        return len(SEPARATOR.join(t for t, _ in kept))

    while length() > width and any(rank < ESSENTIAL for _, rank in kept):
        lowest = min((i for i in range(len(kept)) if kept[i][1] < ESSENTIAL), key=lambda i: (kept[i][1], -i))
        kept.pop(lowest)
    while length() > width:
        longest = max(range(len(kept)), key=lambda i: len(kept[i][0]))
        text, rank = kept[longest]
        over = length() - width
        if len(text) - over - 1 < MIN_CUT:
            break
        kept[longest] = (text[: len(text) - over - 1] + "…", rank)
    line = SEPARATOR.join(t for t, _ in kept)
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"
