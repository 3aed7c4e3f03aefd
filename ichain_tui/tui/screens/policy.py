"""Provides `PolicyScreen`: a modal to edit the provider policy (what tasks this machine agrees to
run); it returns the edited values, which the app saves to the config file."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label

LABELS = {  # the most one task may ask for, and what the host keeps
    "max_memory_mb": "memory, MB",
    "max_cpus": "CPUs",
    "max_pids": "processes",
    "max_time_s": "wall time, s",
    "max_output_mb": "result, MB",
    "max_output_files": "result files",
    "disk_reserve_mb": "disk reserve, MB",
    "allowed_images": "images",
    "max_gpus": "GPUs",
    "max_dataset_cache_mb": "dataset cache, MB",
    "container_runtime": "runc or runsc",
}


class PolicyScreen(ModalScreen[dict[str, Any] | None]):
    """`saved` holds the values in the config file (None: derived from this host); `effective`
    the values that apply now, shown as placeholders."""

    DEFAULT_CSS = """
    PolicyScreen .field { height: 1; }
    PolicyScreen .field Label { width: 17; }
    PolicyScreen .field Input { width: 1fr; height: 1; border: none; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="policy.cancel"),
        Binding("ctrl+s", "save", "Save", id="policy.save"),
    ]

    def __init__(self, saved: dict[str, Any], effective: dict[str, Any], error: str = "") -> None:
        super().__init__()
        self.saved, self.effective, self.error = saved, effective, error

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Label("Provider policy: the most one task may ask for", classes="title")
            for key, label in LABELS.items():
                with Horizontal(classes="field"):
                    yield Label(label)
                    value = self.saved.get(key)
                    yield Input(
                        value="" if value in (None, "") else str(value),
                        placeholder=f"{self.effective.get(key)} (this host)",
                        id=f"policy-{key}",
                    )
            yield Label(self.error, id="policy-error", classes="error")
            yield Label("empty: derived from this host · applies when providing starts", classes="hint")
            yield Label("Ctrl+S save · Esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def action_save(self) -> None:
        self.dismiss({key: self.query_one(f"#policy-{key}", Input).value.strip() for key in LABELS})

    def action_cancel(self) -> None:
        self.dismiss(None)
