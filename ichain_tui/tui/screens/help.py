"""Provides `HelpScreen`: every key binding of the app and what the market does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

HELP = """\
[b]Keys[/b] (also in the command palette: Ctrl+P)
  p  Pools: tasks by state and available providers
  w  Wallet: address, balance, credits; u unlock · n new · i import · W withdraw
  s  Submit: pick a task folder, a provider (p), price and windows, preview gas, send (Enter)
  t  Transfers: a bar per chunk, total, rate and ETA
  k  Tasks: your tasks; Enter opens one (timeline, deadlines, cancel c, refund r, rate)
  v  Provider dashboard: o toggles providing on this machine
  ?  this help · q quit

[b]How a task goes[/b]
  You escrow payment + validator fee. The provider fetches your encrypted task, runs it in a
  Docker sandbox and commits to its result. You name a validator (the best-rated eligible one
  is picked for you), who re-runs the task's check. On a pass the result is fetched, verified
  and decrypted for you; you rate 1–5 and the provider is paid. On a fail you are refunded and
  the provider's stake is slashed. Every step has a deadline; a silent party never keeps money.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="wide"):
            yield Label("iChain — help", classes="title")
            yield Static(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
