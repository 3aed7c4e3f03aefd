"""Provides `SubmitPane`: choose a task folder (type or complete its path, or walk a directory
tree that can climb anywhere), see its size, chunks and commitment, set payment, validator fee and
windows, pick the provider; Enter previews the gas and cost before sending."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import Suggester
from textual.widgets import DirectoryTree, Input, Label, Static

from ...hardware import HardwareProfile
from ..format import eth, short, size


class TaskFolders(DirectoryTree):
    BINDINGS = [Binding("backspace", "parent", "Up a folder", id="submit.parent")]

    def filter_paths(self, paths):
        return [p for p in paths if p.is_dir() and not p.name.startswith(".")]

    def action_parent(self) -> None:
        here = Path(self.path).resolve()
        if here.parent != here:
            self.path = here.parent


class FolderSuggester(Suggester):
    """Completes a typed path to the first folder that starts with it (→ or End accepts); with
    nothing typed, offers the most recent folder."""

    def __init__(self, recent: list[Path]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.recent = recent

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return str(self.recent[0]) if self.recent else None
        for folder in self.recent:
            if str(folder).startswith(value):
                return str(folder)
        typed = Path(value).expanduser()
        parent, stem = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return None
        for name in names:
            if name.startswith(stem) and name != stem:
                return value + name[len(stem) :] + "/"
        return None


class SubmitPane(Vertical):
    def __init__(self, start: Path, recent: list[Path] | None = None, **kw) -> None:
        super().__init__(**kw)
        self.start = start
        self.recent = recent or []
        self.folder: Path | None = None
        self.provider: str | None = None
        self.validator = "random"  # "random" | "none" | an address the provider may decline

    def compose(self) -> ComposeResult:
        yield Label("Submit a task", classes="title")
        yield Input(
            placeholder="path to a task folder (→ completes, Enter opens)",
            id="folder-path",
            suggester=FolderSuggester(self.recent),
        )
        with Horizontal():
            yield TaskFolders(self.start, id="folders")
            with VerticalScroll(id="submit-form"):  # at 60x20 the windows are below: Tab scrolls
                yield Static("choose a folder with task.py (Enter)", id="task-info")
                yield Static("provider: none (a to pick)", id="provider-info")
                yield Static("validator: drawn at random (b to change)", id="validator-info")
                for label, value, placeholder, input_id in (
                    ("payment ETH", "", "rate x time limit", "payment"),
                    ("validator fee ETH", "", "minimum", "fee"),
                    ("execute window s", "", "time limit + 900", "execute-window"),
                    ("review window s", "3600", "", "review-window"),
                ):
                    with Horizontal(classes="field"):
                        yield Label(label)
                        yield Input(value=value, placeholder=placeholder, id=input_id)
        yield Label(
            "Enter selects a folder · Backspace up · a provider · b validator · Ctrl+S preview gas & send",
            classes="hint",
            id="submit-hint",  # wraps on a narrow terminal rather than losing its end
        )

    def show_task(self, folder: Path, total: int, chunks: int, root: str, limits: str) -> None:
        self.folder = folder
        self.query_one("#task-info", Static).update(
            f"[b]{folder.name}[/b] · {size(total)} in {chunks} chunk{'s' if chunks != 1 else ''}\n"
            f"commitment {root[:16]}…\n{limits}"
        )

    def show_problem(self, text: str) -> None:
        self.folder = None
        self.query_one("#task-info", Static).update(Text(text, style="red"))  # names in it are not markup

    def show_provider(self, address: str, rate: int, price: int, hardware: HardwareProfile) -> None:
        """`rate`: its wei per hour; `price`: rates x this task's time limit."""
        self.provider = address
        self.query_one("#provider-info", Static).update(  # the hardware text is the provider's: not markup
            Text(f"provider {short(address)}  {eth(rate)}/h = {eth(price)}  {hardware.describe()}")
        )

    def show_validator(self, choice: str, label: str) -> None:
        """`choice`: "random", "none" or a validator's address."""
        self.validator = choice
        self.query_one("#validator-info", Static).update(f"validator: {label}")

    def open_folder(self, folder: Path) -> None:
        """Show `folder` in the tree (from its parent, so it can be seen selected) and the path field."""
        tree = self.query_one(TaskFolders)
        tree.path = folder.parent if folder.parent != folder else folder
        self.query_one("#folder-path", Input).value = str(folder)

    def values(self) -> dict[str, str]:
        return {i.id: i.value.strip() for i in self.query(Input) if i.id and i.id != "folder-path"}
