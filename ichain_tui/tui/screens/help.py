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
  s  Submit: a task folder, a provider (a), how it is validated (b), price and windows;
     Ctrl+S previews gas and cost, Enter sends
  t  Transfers: a bar per chunk, total, rate and ETA
  k  Tasks: your tasks; Enter opens one (timeline, deadlines, refund r, settle s, rate f)
  v  Provider dashboard: o toggles providing on this machine · e edits the provider policy
  r  refresh now (and retry a node that is away) · ?  this help · q quit

[b]How a task goes[/b]
  You escrow payment + validator fee. The provider fetches your encrypted task, runs it in a
  Docker sandbox, checks its own result and commits to it on chain. A validator drawn at random
  from the staked pool re-runs the task's check. A pass pays the provider and reveals the last
  part of the result key on chain: the result is fetched, verified and decrypted for you, and
  you rate 1–5. A fail can be appealed by the provider (another drawn validator decides); if it
  stands you are refunded and the provider's stake is slashed. Every step has a deadline; a
  silent party never keeps money, and nobody reads a result without paying for it.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="wide"):
            yield Label("iChain — help", classes="title")
            yield Static(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
