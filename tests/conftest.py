"""Shared fixtures: isolated ICHAIN_HOME, chains (eth-tester in process, a real anvil), a deployed market."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.network import Chain, connect
from ichain_tui.chain.wallet import public_key

ETH = 10**18


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep the user's config, keystores and journals out of every test."""
    home = tmp_path_factory.mktemp("ichain_home")
    monkeypatch.setenv("ICHAIN_HOME", str(home))
    for key in list(os.environ):
        if key.startswith("ICHAIN_") and key != "ICHAIN_HOME":
            monkeypatch.delenv(key)
    yield home


def account(name: str) -> LocalAccount:
    """A deterministic test account."""
    return Account.from_key(keccak(text=f"ichain-test-{name}"))


@dataclass
class Parties:
    chain: Chain
    deployer: MarketClient
    requester: MarketClient
    provider: MarketClient
    validator: MarketClient
    validator2: MarketClient
    stranger: MarketClient

    def as_(self, name: str) -> MarketClient:
        return getattr(self, name)

    def pub(self, client: MarketClient) -> bytes:
        return public_key(client.account)


PRICE = ETH // 10
FEE = ETH // 100
STAKE = ETH


def _setup(chain: Chain) -> Parties:
    names = ["deployer", "requester", "provider", "validator", "validator2", "stranger"]
    accounts = {n: account(n) for n in names}
    for acct in accounts.values():
        chain.fund(acct.address, 1000 * ETH)
    market = MarketClient.deploy(chain, accounts["deployer"], min_stake=ETH // 10, slash_bps=5_000)
    clients = {n: market.as_account(a) for n, a in accounts.items()}
    for n in ("provider", "validator", "validator2"):
        c = clients[n]
        c.register_provider(public_key(c.account), PRICE, f"cpu=8 ram=32G gpu=none ({n})", STAKE).send()
    return Parties(chain=chain, **clients)


@pytest.fixture(scope="session")
def anvil_node():
    """The shared anvil, at prague: EIP-7702 accounts exist, as adversaries have them on mainnet."""
    with Devnet(hardfork="prague") as node:
        yield node


@pytest.fixture(scope="session")
def embedded_parties():
    return _setup(connect("embedded"))


@pytest.fixture(scope="session")
def anvil_parties(anvil_node):
    return _setup(connect(anvil_node.url))


@pytest.fixture(params=["embedded", "anvil"])
def parties(request) -> Parties:
    """A deployed market with three registered providers, reverted after each test."""
    p: Parties = request.getfixturevalue(f"{request.param}_parties")
    snap = p.chain.snapshot()
    yield p
    p.chain.revert(snap)


@pytest.fixture
def embedded(embedded_parties) -> Parties:
    snap = embedded_parties.chain.snapshot()
    yield embedded_parties
    embedded_parties.chain.revert(snap)


@pytest.fixture(scope="session")
def sandbox():
    """The real Docker engine with the runtime image (built by install.sh / `ichain image build`)."""
    from ichain_tui.config import Settings
    from ichain_tui.sandbox import engine, image
    from ichain_tui.sandbox.runner import Sandbox

    dc = engine.client()
    name = Settings().docker_image
    image.ensure_image(dc, name, build=False)
    return Sandbox(dc, name, gpus=[])


@pytest.fixture(scope="session", params=["runc", "runsc"])
def isolated(request):
    """The sandbox under each container runtime: Docker's runc and gVisor's runsc (issue 10 asks
    for the escape suite under both; install.sh installs runsc and start-dockerd.sh registers it)."""
    from ichain_tui.config import Settings
    from ichain_tui.sandbox import engine
    from ichain_tui.sandbox.runner import Sandbox

    dc = engine.client()
    assert request.param in engine.runtimes(dc), f"{request.param} is not registered with dockerd"
    return Sandbox(dc, Settings().docker_image, gpus=[], runtime=request.param)


@pytest.fixture(scope="session")
def tor_network():
    """A private Tor network on 127.0.0.1 with one onion-service tor and one client tor."""
    from ichain_tui.transfer.tornet import PrivateTorNetwork

    net = PrivateTorNetwork().start(timeout=120)
    try:
        net.service = net.start_client("service")
        net.client = net.start_client("client")
        yield net
    finally:
        net.stop()


@pytest.fixture
def local_market(tmp_path, sandbox):
    """A fresh anvil with the market deployed; provider processes and requesters on demand."""
    from market_helpers import LocalMarket

    from ichain_tui.chain.devnet import Devnet

    with Devnet(accounts=10) as devnet:
        market = LocalMarket(devnet, tmp_path)
        try:
            yield market
        finally:
            market.close()
