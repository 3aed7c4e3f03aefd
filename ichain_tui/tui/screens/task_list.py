"""Provides `TaskList`: the pool viewer's table of every task, drawn line by line with Textual's
line API (only the rows on screen are formatted, as Toolong does for huge logs), so ten thousand
tasks open at once and a change re-sorts a list instead of re-measuring a table. Open pools
first, newest first; the cursor stays on its task when rows change; Enter posts `Selected`."""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...chain.market_index import TaskSummary
from ...session import POOLS, pool_of
from ..format import duration, eth, short

COLUMNS = (("pool", 11), ("task", 7), ("state", 11), ("payment", 12), ("provider", 13), ("due", 13))
WIDTH = sum(width for _, width in COLUMNS)


def _order(task: TaskSummary) -> tuple[int, int]:
    return POOLS.index(pool_of(task.state)), -task.task_id


class TaskList(ScrollView, can_focus=True):
    """Rows of `TaskSummary`; the first line is the column header."""

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    COMPONENT_CLASSES = {"task-list--header", "task-list--cursor", "task-list--odd"}
    DEFAULT_CSS = """
    TaskList { height: 1fr; }
    TaskList > .task-list--header { text-style: bold; color: $text-accent; }
    TaskList > .task-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    TaskList:blur > .task-list--cursor { background: $block-cursor-blurred-background; }
    TaskList > .task-list--odd { background: $surface-lighten-1; }
    """

    cursor = reactive(0, always_update=True)

    @dataclass
    class Selected(Message):
        task_id: int

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.rows: list[TaskSummary] = []
        self._keys: list[tuple[int, int]] = []  # `_order` of each row, for bisecting
        self.now = 0  # chain time of the latest reading
        self._read_at = time.monotonic()  # when it arrived: "due" counts down from there

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def current(self) -> TaskSummary | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    # ------------------------------------------------------------------ data
    def on_mount(self) -> None:
        self.set_interval(15.0, self.refresh)  # "due" counts down between readings

    def _clock(self, now: int) -> None:
        self.now, self._read_at = now, time.monotonic()

    def replace_all(self, tasks: list[TaskSummary], now: int) -> None:
        self._clock(now)
        self.rows = sorted(tasks, key=_order)
        self._keys = [_order(t) for t in self.rows]
        self.cursor = 0
        self._resized()

    def update(self, changed: list[TaskSummary], now: int) -> None:
        """Put each changed task in its place (new ones too); the cursor keeps its task."""
        self._clock(now)
        keep = self.current
        by_id = {t.task_id: t for t in changed}
        if len(changed) > 64:  # many: one sort of the whole list
            kept = [t for t in self.rows if t.task_id not in by_id]
            self.rows = sorted(kept + changed, key=_order)
            self._keys = [_order(t) for t in self.rows]
        else:
            for task in changed:
                self._remove(task.task_id)
                key = _order(task)
                at = bisect_left(self._keys, key)
                self._keys.insert(at, key)
                self.rows.insert(at, task)
        if keep is not None:
            self.cursor = self._position(keep.task_id, self.cursor)
        self._resized()

    def _remove(self, task_id: int) -> None:
        for i, row in enumerate(self.rows):
            if row.task_id == task_id:
                del self.rows[i]
                del self._keys[i]
                return

    def _position(self, task_id: int, near: int) -> int:
        for i, row in enumerate(self.rows):
            if row.task_id == task_id:
                return i
        return min(near, max(0, len(self.rows) - 1))

    def _resized(self) -> None:
        self.virtual_size = Size(WIDTH, len(self.rows) + 1)
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            text = "".join(name.ljust(w) for name, w in COLUMNS)
            return self._strip(text, self.get_component_rich_style("task-list--header"), scroll_x, width)
        index = scroll_y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        t = self.rows[index]
        cells = (
            pool_of(t.state),
            str(t.task_id),
            t.state.label,
            eth(t.payment),
            short(t.provider),
            duration(t.deadline - self.now - int(time.monotonic() - self._read_at)) if t.deadline else "-",
        )
        text = "".join(cell[: w - 1].ljust(w) for cell, (_, w) in zip(cells, COLUMNS, strict=True))
        if index == self.cursor:
            style = self.get_component_rich_style("task-list--cursor")
        elif index % 2:
            style = self.get_component_rich_style("task-list--odd")
        else:
            style = self.rich_style
        return self._strip(text, style, scroll_x, width)

    @staticmethod
    def _strip(text: str, style: Style, scroll_x: int, width: int) -> Strip:
        visible = text[scroll_x : scroll_x + width].ljust(width)
        return Strip([Segment(visible, style)], width)

    # ------------------------------------------------------------------ moving
    def watch_cursor(self, old: int, new: int) -> None:
        if not self.rows:
            return
        top, height = self.scroll_offset.y, max(1, self.scrollable_content_region.height - 1)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh()

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor = 0 if where == 0 else len(self.rows) - 1

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self.rows):
            self.cursor = index

    def action_select(self) -> None:
        current = self.current
        if current is not None:
            self.post_message(self.Selected(current.task_id))
