"""A deterministic market for TUI tests and snapshots: eth-tester in process, fixed keys, three
providers with profiles and ratings, tasks in several states, an unlocked requester wallet."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from eth_utils import keccak

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import connect
from ichain_tui.chain.wallet import Wallet, public_key
from ichain_tui.config import Settings
from ichain_tui.hardware import GpuModel, HardwareProfile
from ichain_tui.session import Session

PASSWORD = "tuitestpassword"
ETH = 10**18
WINDOW = 3630  # shows as "60m" whatever the seconds between test transactions


def key(name: str) -> bytes:
    return keccak(text=f"ichain-tui-{name}")


def build_market():
    chain = connect("embedded")
    accounts = {n: Account.from_key(key(n)) for n in ("deployer", "requester", "alice", "bob", "carol")}
    for a in accounts.values():
        chain.fund(a.address, 50 * ETH)
    market = MarketClient.deploy(chain, accounts["deployer"], min_stake=ETH // 100)
    clients = {n: market.as_account(a) for n, a in accounts.items()}
    for name, price, hw in (
        ("alice", 10, HardwareProfile(16, 64, (GpuModel("NVIDIA A100 80GB PCIe", 81920),))),
        ("bob", 12, HardwareProfile(8, 32)),
        ("carol", 8, HardwareProfile(4, 16)),
    ):
        c = clients[name]
        c.register_provider(public_key(c.account), price * ETH // 1000, hw, ETH).send()
    req = clients["requester"]

    def create(provider: str) -> int:
        tx = req.create_task(
            provider=clients[provider].account.address,
            payment=ETH // 50,
            validator_fee=ETH // 500,
            task_root=b"\x11" * 32,
            requester_key=public_key(req.account),
            execute_window=WINDOW,
            review_window=WINDOW,
            provider_envelope=b"\x01" * 200,
        ).send()
        return req.task_id_of(tx)

    def validator_of(task_id: int):
        address = req.task(task_id).validator
        return next(c for c in clients.values() if c.account.address == address)

    k2, root = b"\x44" * 32, b"\x22" * 32
    closed = create("alice")
    commit = keccak(k2 + closed.to_bytes(32, "big") + root)
    # draws are seeded by block hashes (which follow the clock): with carol out of the pool for a
    # moment each draw has one candidate, so every screen shows the same parties run after run
    clients["carol"].set_available(False).send()
    clients["alice"].submit_result(closed, root, commit, b"r", b"").send()
    clients["alice"].draw_validator(closed).send()
    validator_of(closed).submit_verdict(closed, True, root, k2).send()
    req.rate(closed, 5).send()
    validating = create("bob")
    clients["bob"].submit_result(validating, b"\x33" * 32, b"\x55" * 32, b"r", b"").send()
    clients["bob"].draw_validator(validating).send()
    clients["carol"].set_available(True).send()
    create("carol")
    return chain, market, accounts


def make_session(tmp: Path, chain, market, unlocked: bool = True) -> Session:
    wallet = Wallet(tmp / "keystores")
    if not wallet.entries():
        wallet.import_private_key("0x" + key("requester").hex(), PASSWORD)
    session = Session(Settings(network="embedded"), chain=chain, market_address=market.address, wallet=wallet)
    if unlocked:
        session.unlock(PASSWORD)
    return session


def market_app(chain, market, tmp: Path):
    """The app on `market`, the requester's keystore unlocked, no periodic refresh."""
    from ichain_tui.tui.app import IchainApp

    return IchainApp(lambda: make_session(tmp, chain, market), refresh_seconds=0)
