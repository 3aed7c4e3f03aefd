"""Provides `populate`: a market on a running anvil with many providers and tasks, sent as raw
signed transactions without waiting for each receipt (the benchmarks' crowded chain).

Providers are keys derived from a label (`keccak("big-market-provider-<i>")`), registered with
hardware profiles, prices and stakes that vary; tasks are created by one requester (in order: each names its id), each
naming a provider, without a validator; a share of them is cancelled so more than one pool is
filled. Used by `bench/tui.py`."""

from __future__ import annotations

import os
import random
import sys
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from eth_account import Account
from eth_utils import keccak
from web3 import HTTPProvider, Web3

from ichain_tui.chain.client import MarketClient, task_terms_abi
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import ProviderTerms, TaskTerms, ValidatorMode
from ichain_tui.chain.wallet import public_key
from ichain_tui.hardware import GpuModel, HardwareProfile

ETH = 10**18
BLOCK_TXS = 400  # transactions sent before a block is mined
PAYMENT = 5 * 10**15  # above every provider's price
GPUS = [GpuModel("NVIDIA RTX 4090", 24_576), GpuModel("NVIDIA A100", 81_920), GpuModel("NVIDIA T4", 16_384)]


def key(label: str) -> Account:
    return Account.from_key(keccak(text=f"big-market-{label}"))


class Sender:
    """Signs and sends raw transactions with locally counted nonces; waits only at the end."""

    def __init__(self, url: str) -> None:
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))
        self.nonces: dict[str, int] = {}
        self.last: str | None = None
        self.sent = 0

    def send(self, account, fn, value: int = 0, gas: int = 600_000) -> None:
        nonce = self.nonces.get(account.address)
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(account.address)
        tx = fn.build_transaction(
            {
                "from": account.address,
                "nonce": nonce,
                "gas": gas,
                "maxFeePerGas": 10 * 10**9,
                "maxPriorityFeePerGas": 1,
                "value": value,
                "chainId": 31337,
            }
        )
        self.nonces[account.address] = nonce + 1
        raw = account.sign_transaction(tx).raw_transaction
        for attempt in range(5):
            try:
                self.last = self.w3.eth.send_raw_transaction(raw).hex()
                break
            except requests.ConnectionError:  # a kept-alive connection the node closed: send again
                time.sleep(0.2 * (attempt + 1))
            except ValueError as exc:  # the first attempt did arrive
                if "already" not in str(exc) and "nonce too low" not in str(exc):
                    raise
                self.last = Web3.keccak(raw).hex()
                break
        self.sent += 1
        if self.sent % BLOCK_TXS == 0:  # anvil's pool drops transactions when it holds thousands
            self.settle()

    def rpc(self, method: str, *params: object) -> object:
        return self.w3.provider.make_request(method, list(params)).get("result")

    def settle(self) -> None:
        """Mine blocks (automine is off while populating) until every sent transaction is in one;
        the last must have succeeded."""
        while int(str(self.rpc("txpool_status")["pending"]), 16):  # type: ignore[index]
            self.rpc("evm_mine")
        if self.last:
            receipt = self.w3.eth.wait_for_transaction_receipt(self.last, timeout=600)
            if receipt["status"] != 1:
                raise RuntimeError("the last transaction of the population reverted")


def populate(url: str, providers: int, tasks: int, requesters: int = 2, seed: int = 7) -> tuple[str, dict]:
    """Deploy a market at `url` and fill it; returns (market address, figures). `requester-0`
    creates every task; the other requesters are funded and have none."""
    rng = random.Random(seed)
    chain = connect(url)
    deployer = key("deployer")
    chain.fund(deployer.address, 100 * ETH)
    market = MarketClient.deploy(chain, deployer, min_stake=ETH // 100)
    sender = Sender(url)
    contract = sender.w3.eth.contract(address=market.address, abi=market.contract.abi)
    sender.rpc("evm_setAutomine", False)  # blocks of hundreds of transactions, mined by `settle`
    started = time.monotonic()
    accounts = []
    for i in range(providers):
        acct = key(f"provider-{i}")
        chain.fund(acct.address, 10 * ETH)
        hardware = HardwareProfile(
            cpus=rng.choice([4, 8, 16, 32, 64]),
            ram_gb=rng.choice([8, 16, 32, 64, 256]),
            gpus=tuple(rng.sample(GPUS, rng.choice([0, 0, 1, 2]))),
        )
        price = rng.randrange(1, 50) * 10**14
        fn = contract.functions.registerProvider(
            public_key(acct), ProviderTerms(price).as_tuple(), hardware.encode()
        )
        sender.send(acct, fn, value=rng.randrange(2, 20) * ETH // 10)
        accounts.append(acct)
    sender.settle()
    creator = key("requester-0")  # one sender: its nonces keep the task ids in order
    for i in range(requesters):
        chain.fund(key(f"requester-{i}").address, 1_000 * ETH)
    named = {}
    for task_id in range(1, tasks + 1):
        person = creator
        named[task_id] = rng.choice(accounts)
        terms = TaskTerms(
            provider=named[task_id].address,
            payment=PAYMENT,
            task_root=os.urandom(32),
            mode=ValidatorMode.NONE,
            execute_window=3600,
        )
        fn = contract.functions.createTask(task_id, task_terms_abi(terms), public_key(person))
        sender.send(person, fn, value=PAYMENT)
    sender.settle()
    cancelled = 0
    for task_id in range(1, tasks + 1, 5):  # every fifth task declined by its provider
        fn = contract.functions.declineTask(task_id, "busy")
        sender.send(named[task_id], fn, gas=200_000)
        cancelled += 1
    sender.settle()
    sender.rpc("evm_setAutomine", True)
    if market.task_count() != tasks:
        raise RuntimeError(f"{market.task_count()} tasks created of {tasks}")
    figures = {
        "providers": providers,
        "tasks": tasks,
        "cancelled": cancelled,
        "transactions": sender.sent,
        "populate_s": round(time.monotonic() - started, 1),
    }
    return market.address, figures
