"""Provides `TABS` (each tab's id, name and key) and `tab_label`: "Pools (p)" where the terminal
is wide enough for every tab so, else the name alone with its key letter underlined, so that at
60 columns all six tabs stay on screen."""

from __future__ import annotations

from textual.content import Content

TABS = (
    ("pools", "Pools", "p"),
    ("wallet", "Wallet", "w"),
    ("submit", "Submit", "s"),
    ("transfers", "Transfers", "t"),
    ("tasks", "Tasks", "k"),
    ("provider", "Provider", "v"),
)
WIDE = sum(len(f"{name} ({key})") + 2 for _, name, key in TABS) + 1  # + each tab's padding


def tab_label(name: str, key: str, width: int) -> Content:
    if width >= WIDE:
        return Content(f"{name} ({key})")
    at = name.lower().find(key)
    if at < 0:
        return Content(f"{name} {key}")
    return Content.assemble(name[:at], (name[at], "underline"), name[at + 1 :])
