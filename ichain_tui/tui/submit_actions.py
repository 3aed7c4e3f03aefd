"""Provides `SubmitActions`: the Submit tab's actions of the app — open and check a task folder
(nothing is sent), pick the provider and how the result is validated, preview the gas and cost of
`createTask`, send the task and follow it to its end, then ask for the rating."""

from __future__ import annotations

import math
from pathlib import Path

from textual import work
from textual.widgets import DirectoryTree

from ..agents.selection import gpus_on_chain, provider_refusal, validator_refusal
from ..amounts import parse_eth, parse_seconds
from ..chain.client import BOUND_WINDOWS, DEFAULT_TRANSFER_S
from ..chain.types import Provider, ValidatorMode
from ..errors import IchainError, one_line
from ..session import TaskTerms
from .base import AppBase
from .format import eth, short
from .messages import FolderChecked, FolderRefused, ModalWanted, RefreshWanted, TaskFollowed, TaskRated
from .screens.confirm import ConfirmScreen
from .screens.picker import PickerScreen
from .screens.rating import RatingScreen
from .screens.submit import SubmitPane


class SubmitActions(AppBase):
    """The Submit tab's actions, part of `IchainApp`."""

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self.preview_folder(event.path)

    def on_input_submitted(self, event) -> None:
        if event.input.id != "folder-path":
            return
        pane = self.query_one(SubmitPane)
        text = event.value.strip()
        folder = Path(text).expanduser() if text else None
        if folder is None or not folder.is_dir():
            pane.show_problem(f"no folder at {text!r}" if text else "type the path of a task folder")
            return
        folder = folder.resolve()
        pane.open_folder(folder)
        pane.query_one("#folders").focus()  # out of the field, so the keys (a, b, Ctrl+S...) act again
        self.preview_folder(folder)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False, description="Task folder")
    def preview_folder(self, folder: Path) -> None:
        """Check task.py and ichain.toml and seal the folder (nothing is sent); a bad folder is
        one line in the form."""
        if self.session is None:
            self.post_message(FolderRefused("still connecting; choose the folder again in a moment"))
            return
        try:
            preview = self.session.preview_task(folder)
        except IchainError as exc:
            self.post_message(FolderRefused(one_line(exc)[:300]))
            return
        self.recent.add(folder)
        self.post_message(FolderChecked(folder, preview))

    def on_folder_refused(self, message: FolderRefused) -> None:
        self.query_one(SubmitPane).show_problem(message.reason)

    def on_folder_checked(self, message: FolderChecked) -> None:
        preview, spec = message.preview, message.preview.spec
        self.preview = preview
        limits = f"limits: {spec.time_limit:g} s · {spec.memory_mb} MB · {spec.cpus:g} CPU · GPUs {spec.gpus}"
        self.query_one(SubmitPane).show_task(
            message.folder, preview.size, preview.chunks, preview.root, limits
        )

    def _time_limit(self) -> int:
        """The chosen task's time limit in whole seconds (an hour before a folder is chosen)."""
        return math.ceil(self.preview.spec.time_limit) if self.preview is not None else 3600

    def _execute_window(self, values: dict[str, str]) -> int:
        """The form's execute window; empty: the task's time limit plus the transfer allowance."""
        if not values["execute-window"]:
            return self._time_limit() + DEFAULT_TRANSFER_S
        ex_win = parse_seconds(values["execute-window"], "execute window", 60, 30 * 86400)
        if ex_win < self._time_limit():
            raise IchainError(f"the execute window must hold the task's time limit ({self._time_limit()} s)")
        return ex_win

    def _lock_seconds(self) -> int:
        """How long the form's windows would hold a provider's stake (execute + 6 review); 0 while
        a window does not parse (the submit says why)."""
        values = self.query_one(SubmitPane).values()
        try:
            ex_win = self._execute_window(values)
            rev_win = parse_seconds(values["review-window"], "review window", 60, 30 * 86400)
        except IchainError:
            return 0
        return ex_win + BOUND_WINDOWS * rev_win

    def _price(self, provider: Provider) -> int:
        """`provider`'s rates x the chosen task's time limit (its GPUs included)."""
        gpus = self.preview.spec.gpus if self.preview is not None else 0
        return provider.price_for(self._time_limit(), gpus_on_chain(gpus, provider))

    @work(thread=True, exclusive=True, group="picker", exit_on_error=False, description="Providers")
    def action_pick_provider(self) -> None:
        s = self._need_session()
        if s is None:
            return
        candidates = s.providers()
        gpus = self.preview.spec.gpus if self.preview is not None else 0
        lock_s = self._lock_seconds()
        refused = {c.address: r for c in candidates if (r := provider_refusal(s.address, gpus, c, lock_s))}

        def chosen(address: str | None) -> None:
            if address:
                c = next(c for c in candidates if c.address == address)
                spec_gpus = self.preview.spec.gpus if self.preview is not None else 0
                price = c.provider.price_for(self._time_limit(), gpus_on_chain(spec_gpus, c.provider))
                self.query_one(SubmitPane).show_provider(
                    address, c.provider.rate_per_hour, price, c.provider.hardware
                )

        self.post_message(ModalWanted(PickerScreen(candidates, "Choose a provider", refused), chosen))

    @work(thread=True, exclusive=True, group="picker", exit_on_error=False, description="Validators")
    def action_pick_validator(self) -> None:
        s = self._need_session()
        if s is None:
            return
        pane = self.query_one(SubmitPane)
        if pane.provider is None:
            raise IchainError("pick a provider first (a): a validator must be someone else")
        price = self._price(s.market.provider(pane.provider))
        slash_bps = s.market.slash_bps
        candidates = s.providers()
        refused = {
            c.address: r
            for c in candidates
            if (r := validator_refusal(slash_bps, s.address, pane.provider, price, c))
        }
        choices = [
            ("random", "random draw", "counts for reputation"),
            ("none", "none", "paid when key revealed"),
        ]

        def chosen(choice: str | None) -> None:
            if choice in ("random", "none"):
                label, note = next((label, note) for key, label, note in choices if key == choice)
                pane.show_validator(choice, f"{label} ({note})")
            elif choice:
                pane.show_validator(choice, f"{short(choice)} (named: the provider may decline; not counted)")

        self.post_message(
            ModalWanted(
                PickerScreen(candidates, "Choose how the result is validated", refused, choices=choices),
                chosen,
            )
        )

    @work(thread=True, exclusive=True, group="submit", exit_on_error=False, description="Submit")
    def action_submit(self) -> None:
        s, pane = self.session, self.query_one(SubmitPane)
        if s is None or s.address is None:
            raise IchainError("unlock a wallet first (u)")
        if self.preview is None or pane.folder is None:
            raise IchainError("choose a task folder first (Enter on a folder in Submit)")
        if pane.provider is None:
            raise IchainError("pick a provider first (a)")
        values = pane.values()
        info = s.market.provider(pane.provider)
        price = self._price(info)
        payment = parse_eth(values["payment"], "payment") if values["payment"] else max(price, 1)
        if payment == 0:
            raise IchainError("payment must be above zero")
        if payment < price:
            raise IchainError(f"the provider asks at least {eth(price)} for this task's time limit")
        fee = parse_eth(values["fee"], "validator fee") if values["fee"] else s.market.min_fee_for(payment)
        ex_win = self._execute_window(values)
        rev_win = parse_seconds(values["review-window"], "review window", 60, 30 * 86400)
        mode = {"random": ValidatorMode.RANDOM, "none": ValidatorMode.NONE}.get(
            pane.validator, ValidatorMode.NAMED
        )
        validator = pane.validator if mode is ValidatorMode.NAMED else None
        if mode is ValidatorMode.NONE:
            fee = 0
        elif fee < s.market.min_fee_for(payment):
            raise IchainError(
                f"the validator fee must be at least {eth(s.market.min_fee_for(payment))} "
                "(a share of the payment set by the market)"
            )
        limit, gpus = self._time_limit(), gpus_on_chain(self.preview.spec.gpus, info)
        terms = TaskTerms(pane.provider, payment, fee, ex_win, rev_win, mode, validator, limit, gpus)
        gas = s.preview_create(self.preview, terms)
        who = {
            ValidatorMode.RANDOM: "a validator drawn at random",
            ValidatorMode.NONE: "no validator",
            ValidatorMode.NAMED: f"validator {short(validator or '')}",
        }[mode]
        lines = [
            f"task {pane.folder.name} → provider {short(pane.provider)}",
            f"rate {eth(info.rate_per_hour)}/h"
            + (f" + {eth(info.rate_per_gpu_hour)}/GPU-h x {gpus}" if gpus else "")
            + f" x {limit} s = {eth(price)}; paying {eth(payment)}",
            f"payment {eth(payment)} + fee {eth(fee)} for {who}; windows {ex_win} s / {rev_win} s",
        ]
        folder = pane.folder

        def confirmed(ok: bool) -> None:
            if ok:
                self.send_task(folder, terms)

        self.post_message(ModalWanted(ConfirmScreen("Create the task?", gas, lines), confirmed))

    @work(thread=True, group="follow", exit_on_error=False, description="Task")
    def send_task(self, folder: Path, terms: TaskTerms) -> None:
        s = self.live
        task_id = s.submit(folder, terms)
        self.post_message(RefreshWanted())
        outcome = s.follow(task_id)
        self.post_message(TaskFollowed(task_id, outcome.state, outcome.message, outcome.result_dir))

    def on_task_followed(self, message: TaskFollowed) -> None:
        self.action_refresh()
        if message.result_dir:
            title = f"task {message.task_id}: provider paid"
            self._log_entry(title, f"result in {message.result_dir}")  # kept beyond the toast (l)
            # a short toast: the whole path is in the rating dialog, the task detail and the log
            self.notify(f"result saved in …/{message.result_dir.name}", title=title)
            task = self.live.task(message.task_id)
            self.open_modal(
                RatingScreen(message.task_id, task.provider, message.result_dir),
                lambda r: r and self.rate(message.task_id, r),
            )
        else:
            self.notify(message.message, title=f"task {message.task_id}: {message.state.label}")

    @work(thread=True, group="rate", exit_on_error=False, description="Rate")
    def rate(self, task_id: int, rating: int) -> None:
        """The rating goes through the same cost preview as every other transaction."""
        s = self.live
        call = s.prepare_rate(task_id, rating)
        provider = s.task(task_id).provider
        lines = [
            f"task {task_id}: {rating}/5 for provider {short(provider) if provider else '?'}",
            "the provider is already paid; this only writes your rating on chain,",
            "where the next requesters see it when they choose a provider",
        ]
        self.confirm_then_send(call, f"Rate {rating}/5?", lines, TaskRated(task_id, rating))

    def on_task_rated(self, message: TaskRated) -> None:
        self.finish_rating(message.task_id, message.rating)

    @work(thread=True, group="rate", exit_on_error=False, description="Rated")
    def finish_rating(self, task_id: int, rating: int) -> None:
        self.live.rated(task_id, rating)
        self.post_message(RefreshWanted())
