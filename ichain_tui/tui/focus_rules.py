"""Provides `FocusRules`, the app's focus model: letters typed in a field stay in the field; Esc
leaves it, and the footer offers "Leave field" exactly while a field has the focus (the visible
editing mode); after a dialog the focus does not go back into a field (`IchainApp._after_modal`),
so the next one-letter key acts instead of being typed."""

from __future__ import annotations

from textual.screen import ModalScreen
from textual.widgets import Input, TextArea

from .base import AppBase


class FocusRules(AppBase):
    def _editing(self) -> bool:
        """A field of the main screen has the focus: letters are typed, not keys."""
        return isinstance(self.focused, Input | TextArea) and not isinstance(self.screen, ModalScreen)

    def action_leave_field(self) -> None:
        """Esc in a field: leave it; the one-letter keys act again."""
        self.set_focus(None)
        self.refresh_bindings()

    def on_descendant_focus(self) -> None:
        if self.screen_stack:  # a blur or focus can arrive as the app closes, its screens gone
            self.refresh_bindings()  # the footer shows "Leave field" exactly while a field has the focus

    def on_descendant_blur(self) -> None:
        if self.screen_stack:
            self.refresh_bindings()
