"""Provides `ichain chain deploy | info` and `ichain devnet` (a local anvil in the foreground)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..amounts import parse_eth
from ..chain import deployments
from ..chain.client import DEFAULT_MIN_STAKE, DEFAULT_SLASH_BPS, MarketClient
from ..chain.devnet import Devnet
from ..chain.wallet import account_from_key, is_address
from ..cli_values import PORT, address, eth_amount, seconds, whole
from .common import chain_for, emit, eth, market_for, settings_from, unlock


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chain = sub.add_parser("chain", help="deploy the contracts, show the market")
    csub = chain.add_subparsers(dest="chain_cmd", required=True)
    deploy = csub.add_parser("deploy", help="deploy Marketplace + Ratings with the wallet account")
    deploy.add_argument(
        "--min-stake-wei", type=whole(0, 2**80 - 1, "an amount of wei"), default=DEFAULT_MIN_STAKE
    )
    deploy.add_argument("--slash-bps", type=whole(0, 10_000, "basis points"), default=DEFAULT_SLASH_BPS)
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(func=cmd_deploy)
    info = csub.add_parser("info", help="network, chain id, market address and parameters")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    fund = csub.add_parser(
        "fund", help="give an address ETH on a development chain (anvil or embedded), e.g. a new wallet"
    )
    fund.add_argument("address", nargs="?", type=address, help="default: the wallet's account")
    fund.add_argument("amount", nargs="?", default="10", type=eth_amount, help="ETH (default 10)")
    fund.set_defaults(func=cmd_fund)
    devnet = sub.add_parser("devnet", help="run a local anvil chain on 127.0.0.1 until Ctrl-C")
    devnet.add_argument("--port", type=PORT, default=8545)
    devnet.add_argument(
        "--block-time", type=seconds(0.001, 3600), default=None, help="seconds per block (default: automine)"
    )
    devnet.set_defaults(func=cmd_devnet)


def cmd_deploy(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    chain = chain_for(settings)
    account = unlock(settings)
    market = MarketClient.deploy(chain, account, args.min_stake_wei, args.slash_bps)
    deployments.record(chain.chain_id, market.address)
    emit({"market": market.address, "ratings": market.ratings_address, "chain_id": chain.chain_id}, args.json)
    return 0


def cmd_fund(args: argparse.Namespace) -> int:
    """Funds come from the development chain itself (anvil's balance override, eth-tester's
    funded accounts); a public chain refuses with one line (use its faucet)."""
    from ..chain.wallet import Wallet
    from ..errors import UsageError

    settings = settings_from(args)
    wei = parse_eth(args.amount, "amount")
    address = args.address or Wallet().find(settings.account).address
    if not is_address(address):
        raise UsageError(f"{address!r} is not an address")
    chain = chain_for(settings)
    if not chain.is_dev:
        raise UsageError(
            f"{chain.label} is not a development chain: get test ETH from the network's faucet instead"
        )
    chain.fund(address, wei)
    emit({"address": address, "funded": eth(wei), "balance": eth(chain.balance(address))}, args.json)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    chain = chain_for(settings)
    node = {"network": chain.label, "chain_id": chain.chain_id, "block": chain.block_number()}
    if not (settings.market or deployments.recorded(chain.chain_id)):
        emit(
            {**node, "market": "none known for this chain (`ichain chain deploy`, or set `market`)"},
            args.json,
        )
        return 0
    market = market_for(settings, chain)
    emit(
        {
            **node,
            "market": market.address,
            "ratings": market.ratings_address,
            "tasks": market.task_count(),
            "min_stake": eth(market.min_stake),
            "slash_bps": market.slash_bps,
            "balance": eth(market.contract_balance()),
        },
        args.json,
    )
    return 0


def cmd_devnet(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Devnet(port=args.port, block_time=args.block_time) as devnet:
        if args.json:
            funded = [account_from_key(key).address for key in devnet.dev_keys()]
            emit({"url": devnet.url, "chain_id": 31337, "funded_accounts": funded}, True)
        else:
            print(f"anvil listening on {devnet.url} (chain id 31337); Ctrl-C to stop", flush=True)
        sys.stdout.flush()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0
