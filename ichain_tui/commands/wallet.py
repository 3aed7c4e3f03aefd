"""Provides `ichain wallet new | import | show | list | balance`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..chain.errors import WalletError
from ..chain.wallet import Wallet, public_key
from .common import chain_for, emit, eth, market_for, read_password, settings_from


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="keystores: create, import, show, balance")
    wsub = wallet.add_subparsers(dest="wallet_cmd", required=True)
    new = wsub.add_parser("new", help="create a new account in a V3 keystore")
    new.add_argument("--json", action="store_true")
    new.set_defaults(func=cmd_new)
    imp = wsub.add_parser("import", help="import a keystore file, or a private key read from stdin")
    src = imp.add_mutually_exclusive_group(required=True)
    src.add_argument("--keystore", type=Path, help="V3 keystore JSON (geth, MetaMask export)")
    src.add_argument("--private-key-stdin", action="store_true", help="read a hex private key from stdin")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_import)
    show = wsub.add_parser("show", help="address, keystore file and public key")
    show.add_argument("--public-key", action="store_true", help="also unlock and show the public key")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    lst = wsub.add_parser("list", help="all keystores")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)
    bal = wsub.add_parser("balance", help="balance on the configured network (and market credits)")
    bal.add_argument("--json", action="store_true")
    bal.set_defaults(func=cmd_balance)


def cmd_new(args: argparse.Namespace) -> int:
    password = read_password("New keystore password: ", confirm=True)
    entry = Wallet().create(password)
    emit({"address": entry.address, "keystore": str(entry.path)}, args.json)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    wallet = Wallet()
    if args.keystore:
        password = read_password("Keystore password: ")
        entry = wallet.import_keystore(args.keystore, password)
    else:
        key = sys.stdin.readline().strip()
        if not key:
            raise WalletError("no private key on stdin")
        password = read_password("Password for the new keystore: ", confirm=True)
        entry = wallet.import_private_key(key, password)
    emit({"address": entry.address, "keystore": str(entry.path)}, args.json)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    wallet = Wallet()
    entry = wallet.find(settings.account)
    data = {"address": entry.address, "keystore": str(entry.path)}
    if args.public_key:
        account = wallet.unlock(read_password(f"Password for {entry.address}: "), entry.address)
        data["public_key"] = "0x" + public_key(account).hex()
    emit(data, args.json)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    entries = Wallet().entries()
    if args.json:
        emit({"accounts": [{"address": e.address, "keystore": str(e.path)} for e in entries]}, True)
    else:
        for entry in entries:
            print(f"{entry.address}  {entry.path}")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    entry = Wallet().find(settings.account)
    chain = chain_for(settings)
    data: dict[str, object] = {"address": entry.address, "network": chain.label, "chain_id": chain.chain_id}
    data["balance"] = eth(chain.balance(entry.address))
    try:
        market = market_for(settings, chain)
    except Exception:
        market = None
    if market is not None:
        data["credits"] = eth(market.credits(entry.address))
    emit(data, args.json)
    return 0
