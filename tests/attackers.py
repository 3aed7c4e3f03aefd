"""Test helpers for attacks on the market: the `Steer` attacker contract (contracts/attackers), deployed
as a plain contract or delegated to by an EOA with EIP-7702 (anvil --hardfork prague), and calls
through it that revert unless the task's validator is the one the attacker wants."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import Chain

ROOT = Path(__file__).resolve().parents[1]
STEER = json.loads((ROOT / "contracts" / "build" / "attackers" / "Steer.json").read_text())
NOT_MINE = bytes.fromhex(
    __import__("eth_utils").keccak(text="NotMine(address,address)")[:4].hex()
)  # the attacker's refusal: NotMine(validator, pending)
ZERO = "0x" + "00" * 20  # checksummed form of the zero address is the same


def _send(chain: Chain, sender: LocalAccount, tx: dict[str, Any]) -> Any:
    w3 = chain.w3
    tx.setdefault("chainId", chain.chain_id)
    tx.setdefault("nonce", w3.eth.get_transaction_count(sender.address))
    tx.setdefault("maxFeePerGas", 10**11)
    tx.setdefault("maxPriorityFeePerGas", 10**9)
    tx.setdefault("gas", 3_000_000)
    signed = sender.sign_transaction(tx)
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))


def deploy_steer(chain: Chain, sender: LocalAccount) -> str:
    """`Steer` as an ordinary contract (it can call what anyone may: replace, draw)."""
    receipt = _send(chain, sender, {"data": STEER["bytecode"], "to": None, "value": 0})
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def delegate(chain: Chain, eoa: LocalAccount, code: str, sponsor: LocalAccount) -> None:
    """EIP-7702: `eoa` signs an authorization to run `code`; `sponsor` sends it (type 4)."""
    w3 = chain.w3
    auth = eoa.sign_authorization(
        {"chainId": chain.chain_id, "address": code, "nonce": w3.eth.get_transaction_count(eoa.address)}
    )
    receipt = _send(
        chain, sponsor, {"type": 4, "to": eoa.address, "value": 0, "data": b"", "authorizationList": [auth]}
    )
    assert receipt["status"] == 1
    assert bytes(w3.eth.get_code(eoa.address)).startswith(b"\xef\x01\x00")  # delegated


def call_if_mine(
    chain: Chain,
    attacker: LocalAccount,
    steer_at: str,
    market: MarketClient,
    call: Any,
    task_id: int,
    wanted: str,
    value: int = 0,
) -> tuple[bool, str, str]:
    """Send `call` (a web3 contract function of the market) through `Steer` at `steer_at` (the
    attacker's own address when delegated), keeping it only if `wanted` validates task `task_id`
    (0: the id the call returns). Returns (kept, validator seen, pending draw seen): when the
    transaction reverted, what the attacker saw is read from its `NotMine` refusal."""
    steer = chain.w3.eth.contract(address=steer_at, abi=STEER["abi"])
    data = call._encode_transaction_data()
    fn = steer.functions.callIfMine(market.address, data, task_id, wanted)
    try:
        fn.call({"from": attacker.address, "value": value})
    except Exception as exc:  # what the attacker would see before sending: its own refusal
        payload = _revert_data(exc)
        if payload.startswith(NOT_MINE):
            validator, pending = (to_checksum_address(a) for a in decode(["address", "address"], payload[4:]))
            _send(chain, attacker, {"to": steer_at, "data": fn._encode_transaction_data(), "value": value})
            return False, validator, pending
        raise
    receipt = _send(chain, attacker, {"to": steer_at, "data": fn._encode_transaction_data(), "value": value})
    assert receipt["status"] == 1
    return True, wanted, wanted


def _revert_data(exc: BaseException | None) -> bytes:
    """The revert payload, as web3 (anvil: hex in `data`) or eth-tester (bytes) carries it."""
    while exc is not None:
        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        for arg in exc.args:
            if isinstance(arg, bytes):
                return arg
            if isinstance(arg, str) and arg.startswith("0x"):
                try:
                    return bytes.fromhex(arg[2:])
                except ValueError:
                    continue
            if isinstance(arg, str) and "b'" in arg:  # eth-tester: the repr of the bytes
                value = ast.literal_eval(arg[arg.index("b'") :])
                if isinstance(value, bytes):
                    return value
        exc = exc.__cause__ or exc.__context__
    return b""
