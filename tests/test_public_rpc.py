"""Issue 14 (in part): event reads the way public nodes allow them — from the market's deployment
block, in ranges a node that caps `eth_getLogs` accepts (its refusal halves the range)."""

from __future__ import annotations

import pytest
from eth_account import Account
from rpc_proxy import JsonRpcProxy

from ichain_tui.agents.selection import pool
from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.events import refuses_range
from ichain_tui.chain.network import connect
from ichain_tui.chain.wallet import public_key


@pytest.fixture(scope="module")
def deep_market():
    """anvil with 3,000 empty blocks before the market is deployed, then 2 providers, then 1,500
    more blocks: the market's events span blocks 3,001..4,500."""
    with Devnet(accounts=4) as devnet:
        chain = connect(devnet.url)
        chain.w3.provider.make_request("anvil_mine", [hex(3000)])
        keys = devnet.dev_keys()
        market = MarketClient.deploy(chain, Account.from_key(keys[0]), min_stake=10**16)
        for key in keys[1:3]:
            account = Account.from_key(key)
            market.as_account(account).register_provider(public_key(account), 10**16, "cpu=1", 10**17).send()
        chain.w3.provider.make_request("anvil_mine", [hex(1500)])
        yield devnet, market


def test_reads_start_at_the_deployment_block_under_a_1000_block_cap(deep_market):
    devnet, market = deep_market
    assert market.deploy_block > 3000
    proxy = JsonRpcProxy(devnet.url, max_log_blocks=1000)
    try:
        remote = MarketClient(connect(proxy.url), market.address)
        found = pool(remote)
        assert len(found) == 2
        # ~1,500 blocks since deployment at 2,000 per request, halved once to 1,000: a handful of
        # calls, never a scan from block 0 (which alone would be 3+ calls refused and retried)
        assert proxy.calls["eth_getLogs"] <= 5, proxy.calls
        assert remote.log_window.step <= 1000
    finally:
        proxy.close()


def test_a_node_with_a_tiny_range_is_still_read_completely(deep_market):
    devnet, market = deep_market
    proxy = JsonRpcProxy(
        devnet.url, max_log_blocks=100, message="eth_getLogs is limited to a 100 block range"
    )
    try:
        remote = MarketClient(connect(proxy.url), market.address)
        events = remote.events("ProviderRegistered")
        assert len(events) == 2 and proxy.refused >= 1
        assert remote.log_window.step <= 100
    finally:
        proxy.close()


@pytest.mark.parametrize(
    "text, refused",
    [
        ("query returned more than 10000 results", True),
        ("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range", True),
        ("eth_getLogs and eth_newFilter are limited to a 10,000 blocks range", True),
        ("block range is too wide", True),
        ("exceed maximum block range: 1000", True),
        ("execution reverted", False),
    ],
)
def test_range_refusals_of_public_providers_are_recognised(text, refused):
    assert refuses_range(ValueError({"code": -32602, "message": text})) is refused
    assert refuses_range(ConnectionError(text)) is False  # a transport failure is never a range answer


def test_a_deep_history_is_read_in_widening_ranges_and_only_once(deep_market):
    """Issue 14: on a node without caps the range doubles after every answer (a deep history is a
    handful of requests), and settled blocks are never read again by the same client."""
    devnet, market = deep_market
    proxy = JsonRpcProxy(devnet.url)
    try:
        remote = MarketClient(connect(proxy.url), market.address)
        remote.log_window.step = 100  # as if a node had capped it once: it widens again while served
        remote.log_window.ceiling = 100_000
        assert len(remote.events("ProviderRegistered")) == 2
        first = proxy.calls["eth_getLogs"]
        assert first <= 5, proxy.calls  # 1,500 blocks: 100, 200, 400, 800 (not 15 reads of 100)
        assert remote.log_window.step >= 1_600
        assert len(remote.events("ProviderRegistered")) == 2
        assert proxy.calls["eth_getLogs"] - first <= 1  # only blocks mined since, if any
    finally:
        proxy.close()


def test_task_list_finds_every_role_with_one_log_read_per_range(deep_market, tmp_path):
    """`ichain task list` reads the tasks naming an address as requester, provider or validator
    with one `eth_getLogs` per range for all three events, from the deployment block."""
    import json
    import os
    import subprocess
    import sys

    from ichain_tui.agents.localnet import PASSWORD
    from ichain_tui.chain.types import ValidatorMode
    from ichain_tui.chain.wallet import Wallet

    devnet, market = deep_market
    keys = devnet.dev_keys()
    requester = market.as_account(Account.from_key(keys[3]))
    provider = Account.from_key(keys[1]).address
    tx = requester.create_task(
        provider=provider,
        payment=10**16,
        mode=ValidatorMode.NONE,
        task_root=b"\x07" * 32,
        requester_key=public_key(requester.account),
    ).send()
    task_id = requester.task_id_of(tx)
    proxy = JsonRpcProxy(devnet.url, max_log_blocks=1000)
    try:
        for index, role in ((3, "requester"), (1, "provider")):
            home = tmp_path / f"home-{index}"
            Wallet(home / "data" / "keystores").import_private_key(keys[index], PASSWORD)
            env = {
                **os.environ,
                "ICHAIN_HOME": str(home),
                "ICHAIN_PASSWORD": PASSWORD,
                "ICHAIN_NETWORK": proxy.url,
                "ICHAIN_MARKET": market.address,
            }
            before = proxy.calls["eth_getLogs"]
            listed = subprocess.run(
                [sys.executable, "-m", "ichain_tui.cli", "task", "list", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert listed.returncode == 0, listed.stderr
            rows = json.loads(listed.stdout)
            assert {"task": task_id, "role": role} in [
                {"task": r["task"], "role": r["role"]} for r in rows
            ], rows
            assert proxy.calls["eth_getLogs"] - before <= 4, (
                proxy.calls
            )  # ~1,500 blocks in <= 1,000-block reads
    finally:
        proxy.close()
