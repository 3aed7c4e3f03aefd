"""Provides `HelpScreen`: every key of the app and of its dialogs, generated from their bindings
(so help never names a key that does something else), and what the market does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

ABOUT = """\
[b]How a task goes[/b]
  You escrow payment + validator fee. The provider fetches your encrypted task, runs it in a
  Docker sandbox, checks its own result and commits to it on chain. A validator drawn at random
  from the staked pool re-runs the task's check. A pass pays the provider and reveals the last
  part of the result key on chain: the result is fetched, verified and decrypted for you, and
  you rate 1–5. A fail can be appealed by the provider (another drawn validator decides); if it
  stands you are refunded and the provider's stake is slashed. Every step has a deadline; a
  silent party never keeps money, and nobody reads a result without paying for it.
"""


def keys_text(sections: list[tuple[str, list[tuple[str, str]]]], width: int = 80) -> str:
    """Sections of (key as shown, what it does): two entries per line where every such line fits
    `width`, else one per line (a 60-column terminal)."""

    def lines(per_line: int) -> list[str]:
        out = ["[b]Keys[/b] (every action is also in the command palette: Ctrl+P)"]
        for title, keys in sections:
            out.append(f"[b]{title}[/b]")
            cells = [f"{key:>7}  {what:<28}" for key, what in keys]
            out += ["  " + "".join(cells[i : i + per_line]).rstrip() for i in range(0, len(cells), per_line)]
        return out

    two = lines(2)
    return "\n".join(two if all(len(line) <= width for line in two[1:]) else lines(1))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="wide"):
            yield Label("iChain — help", classes="title")
            yield Static(id="help-keys")
            yield Static(ABOUT)

    def on_mount(self) -> None:
        self.on_resize()

    def on_resize(self) -> None:
        inner = self.query_one("#help-keys", Static).size.width or self.app.size.width - 6
        self.query_one("#help-keys", Static).update(keys_text(self.sections, inner))

    def action_close(self) -> None:
        self.dismiss(None)
