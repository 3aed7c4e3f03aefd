"""Provides the keys the app offers, read from its bindings: `ActionCommands` (the command
palette's entries) and `help_sections` (the key list of the help screen)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from .screens.confirm import ConfirmScreen
from .screens.picker import PickerScreen
from .screens.rating import RatingScreen
from .screens.tasks import TaskDetailScreen


class ActionCommands(Provider):
    """Command-palette entries for every binding of the app: all listed before anything is typed
    (`discover`), matched as one types (`search`)."""

    # the footer's short labels, spelled out where the palette lists everything side by side
    NAMES = {
        "wallet.unlock": "Unlock wallet",
        "submit.pick": "Pick provider",
        "submit.validator": "Pick validator",
        "submit.send": "Send task (gas preview first)",
        "provider.toggle": "Providing on/off",
        "provider.policy": "Provider policy",
        "provider.withdraw_stake": "Withdraw free stake",
        "wallet.withdraw": "Withdraw credits",
        "connect": "Choose network",
    }

    def _entries(self) -> list[tuple[str, Binding]]:
        return [
            (self.NAMES.get(b.id or "", b.description), b)
            for b in self.app.BINDINGS
            if isinstance(b, Binding) and b.description
        ]

    async def discover(self) -> Hits:
        for name, binding in self._entries():
            yield DiscoveryHit(
                name, lambda action=binding.action: self.app.run_action(action), help=f"key: {binding.key}"
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, binding in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    lambda action=binding.action: self.app.run_action(action),
                    help=f"key: {binding.key}",
                )


def help_sections(app: App[None], keymap: dict[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys of the app and of its dialogs, read from their bindings (`keymap`, the settings'
    binding id -> keys, overrides the app's)."""

    # binding id -> its keys now: the settings' keymap overrides BINDINGS
    effective = {bid: keys.split(",") for bid, keys in keymap.items()}

    def keys(bindings: Sequence[object], names: dict[str, str]) -> list[tuple[str, str]]:
        rows = []
        for b in bindings:
            if isinstance(b, Binding) and b.description:
                now = effective.get(b.id or "") or b.key.split(",")
                shown = "/".join(app.get_key_display(Binding(k.strip(), b.action)) for k in now)
                rows.append((shown, names.get(b.id or "", b.description)))
        return rows

    return [
        ("Everywhere (tab keys act on their tab)", keys(app.BINDINGS, ActionCommands.NAMES)),
        ("Task detail (Enter on a task)", keys(TaskDetailScreen.BINDINGS, {})),
        ("Provider and validator pickers", keys(PickerScreen.BINDINGS, {})),
        ("Gas and cost preview", keys(ConfirmScreen.BINDINGS, {})),
        ("Rating", keys(RatingScreen.BINDINGS, {})),
    ]
