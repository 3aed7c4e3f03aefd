"""Provides `ProviderActions`: the Provider tab's actions of the app — start and stop providing
(the first time only after a confirmation of the stake and the gas), the provider loop (the same
`ProviderAgent.run` as `ichain provide --headless`), and the provider policy form."""

from __future__ import annotations

import threading

from textual import work

from ..errors import IchainError
from ..transfer.logstream import progress_of
from .base import AppBase
from .format import eth
from .messages import Done, ModalWanted, ProviderShown, StartProviding, TaskPrinted
from .screens.confirm import ConfirmScreen
from .screens.policy import PolicyScreen
from .screens.provider import ProviderPane


class ProviderActions(AppBase):
    """The Provider tab's actions, part of `IchainApp`."""

    def action_toggle_providing(self) -> None:  # on the Provider tab only (IchainApp.check_action)
        if self.provider_stop is not None:
            self.provider_stop.set()
            return
        self.confirm_providing()

    @work(thread=True, exclusive=True, group="provider", exit_on_error=False, description="Provider")
    def confirm_providing(self) -> None:
        """Providing for the first time registers and stakes: that value moves only after a
        confirmation showing the stake and the gas."""
        from ..chain.wallet import public_key
        from ..sandbox.gpu import local_profile

        s = self.session
        if s is None or s.address is None:
            raise IchainError("unlock a wallet first (u)")
        if s.market.provider(s.address).registered:
            self.post_message(StartProviding())
            return
        price, stake = s.settings.rate_wei, s.settings.stake_wei
        hardware = local_profile()
        gas = s.market.register_provider(public_key(s.market.signer), price, hardware, stake).preview()
        lines = [
            f"stake {eth(stake)} from this wallet (locked while you hold tasks; W withdraws it later)",
            f"asking {eth(price)} per task · {hardware.describe()}",
            "then tasks assigned to you run in this machine's Docker sandbox",
        ]

        def confirmed(ok: bool) -> None:
            if ok:
                self.run_provider()

        self.post_message(ModalWanted(ConfirmScreen("Register as a provider?", gas, lines), confirmed))

    @work(thread=True, exclusive=True, group="provider-stake", exit_on_error=False, description="Stake")
    def action_withdraw_stake(self) -> None:
        """x: take back the stake no open task has locked, after the gas and cost preview."""
        s = self.live
        if s.address is None:
            raise IchainError("unlock a wallet first (u)")
        info = s.market.provider(s.address)
        if not info.registered:
            raise IchainError("no stake: this account is not a registered provider")
        if info.free_stake == 0:
            raise IchainError(f"all {eth(info.stake, 4)} of stake is locked by open tasks")
        lines = [
            f"{eth(info.free_stake, 6)} of stake back to {s.address} ({eth(info.locked, 6)} stays locked)"
        ]
        if info.stake - info.free_stake < s.market.min_stake:
            lines.append("below the minimum stake: no new tasks or validations come to you after this")
        self.confirm_then_send(
            s.market.withdraw_stake(info.free_stake),
            "Withdraw your free stake?",
            lines,
            Done(f"withdrew {eth(info.free_stake, 6)} of stake", "Provider"),
        )

    def on_start_providing(self, message: StartProviding) -> None:
        self.run_provider()

    def on_provider_shown(self, message: ProviderShown) -> None:
        pane = self.query_one(ProviderPane)
        pane.show(message.running, message.busy_with, message.credits, message.stake)
        pane.show_earnings(message.earnings)

    def on_task_printed(self, message: TaskPrinted) -> None:
        pane = self.query_one(ProviderPane)
        values = progress_of(message.line)
        if values is not None:  # shown once, as words, on the status line
            pane.show_progress(message.task_id, values)
            return
        mark = "!" if message.stream == "stderr" else "│"
        pane.log_line(f"{mark} task {message.task_id}: {message.line}")

    def sample_sandbox(self) -> None:
        """Every 2 s while providing: which task the agent works on and what its sandbox uses
        (cgroup files, no API), read together so the dashboard's lines agree."""
        running = self.provider_running
        if running is not None:
            sandbox, agent = running
            busy, usage = agent.busy_with, sandbox.usage()
            pane = self.query_one(ProviderPane)
            pane.show_busy(busy)
            pane.show_usage(busy, usage)
            pane.show_slots(agent.duties(), agent.slots)

    def action_edit_policy(self) -> None:
        """Edit what tasks this machine agrees to run (saved to the config file)."""
        import tomllib

        from .. import locations
        from ..config import POLICY_FIELDS, Settings
        from ..sandbox import policy as policies

        path = locations.config_file()
        try:
            saved = tomllib.loads(path.read_text()) if path.exists() else {}
            effective = policies.from_settings(Settings.load(), locations.work_dir()).as_dict()
        except (IchainError, OSError, ValueError) as exc:
            self.notify(str(exc), title="Provider policy", severity="error")
            return
        effective["container_runtime"] = effective.pop("runtime")
        effective["allowed_images"] = ", ".join(effective["allowed_images"])
        self.open_modal(PolicyScreen({k: saved.get(k) for k in POLICY_FIELDS}, effective), self._save_policy)

    def _save_policy(self, values: dict | None) -> None:
        from .. import config

        if values is None:
            return
        try:
            config.save(values)
        except IchainError as exc:
            self.notify(str(exc), title="Provider policy", severity="error")
            return
        if self.session is not None:
            fresh = config.Settings.load()
            for key in config.POLICY_FIELDS:
                setattr(self.session.settings, key, getattr(fresh, key))
        self.notify("saved; applies when providing starts", title="Provider policy")

    @work(thread=True, exclusive=True, group="provider", exit_on_error=False, description="Provider")
    def run_provider(self) -> None:
        from ..sandbox.deps import DepsLimits
        from ..sandbox.runner import open_sandbox

        s = self.session
        if s is None or s.address is None:
            raise IchainError("unlock a wallet first (u)")
        if self.sandbox_factory:
            sandbox = self.sandbox_factory()
        else:  # runtime and file cap as the provider policy says (as `ichain provide` does)
            from .. import locations
            from ..sandbox import policy as policies

            policy = policies.from_settings(s.settings, locations.work_dir())
            sandbox = open_sandbox(
                s.settings.docker_image,
                policy.runtime,
                policy.max_output_files,
                s.settings.package_index,
                DepsLimits.from_settings(s.settings),
            )
        agent = s.provider_agent(sandbox)
        stop = self.provider_stop = threading.Event()
        agent.start_providing()
        address = s.address
        self.provider_running = (sandbox, agent)

        def show() -> None:
            info = s.market.provider(address)
            self.post_message(ProviderShown(True, agent.busy_with, s.credits(), info.stake, s.earnings()))

        try:  # the same loop as `ichain provide --headless`: it outlives any failing pass
            agent.run(stop, interval=1.0 if s.chain.kind != "rpc" else None, after_pass=show)
        finally:
            agent.shutdown(grace=5)
            self.provider_stop = None
            self.provider_running = None
            info = s.market.provider(address)
            self.post_message(ProviderShown(False, None, s.credits(), info.stake, s.earnings()))
