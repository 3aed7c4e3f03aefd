"""Provides what every subcommand shares: settings, password prompts, connecting, output."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ..amounts import format_eth
from ..chain import deployments
from ..chain.client import MarketClient
from ..chain.errors import ChainError, WalletError
from ..chain.network import Chain
from ..chain.wallet import PASSWORD_ENV, Wallet
from ..config import Settings
from ..connection import open_chain

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


def settings_from(args: Any) -> Settings:
    return Settings.load(
        network=getattr(args, "network", None),
        account=getattr(args, "account", None),
        market=getattr(args, "market", None),
    )


def read_password(prompt: str = "Keystore password: ", confirm: bool = False) -> str:
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise WalletError(f"no password: set {PASSWORD_ENV} or run in a terminal")
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise WalletError("passwords do not match")
    return password


def unlock(settings: Settings) -> LocalAccount:
    wallet = Wallet()
    entry = wallet.find(settings.account)
    return wallet.unlock(read_password(f"Password for {entry.address}: "), entry.address)


def chain_for(settings: Settings) -> Chain:
    return open_chain(settings)


def market_for(settings: Settings, chain: Chain, account: Any = None) -> MarketClient:
    address = settings.market or deployments.recorded(chain.chain_id)
    if not address:
        raise ChainError(
            f"no Marketplace known for chain {chain.chain_id}: set `market` or run `ichain chain deploy`"
        )
    return MarketClient(chain, address, account)


def emit(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, default=str))
    else:
        width = max(len(k) for k in data) if data else 0
        for key, value in data.items():
            print(f"{key:<{width}}  {value}")


def eth(wei: int) -> str:
    return format_eth(wei, 6)
