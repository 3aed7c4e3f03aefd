"""Provides signing and sending of contract calls: EIP-1559 fees, gas preview, nonces, revert mapping.

A `PreparedCall` is one state-changing call not yet sent: `preview()` estimates gas and cost
without spending anything, `send()` signs with the local account, records the signed transaction
in the chain's `TxJournal` before broadcasting it, waits for the receipt (replacing a transaction
that is not mined with a higher fee, up to the fee cap) and returns a `TxResult`. A lost answer
or a restart never repeats an effect: the same intent reconciles with the chain first. Every
failure leaves as a `ChainError` subclass.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import TransactionNotFound

from ..amounts import format_eth, format_gwei
from .errors import ChainError, ErrorDecoder, InsufficientFunds, NodeUnreachable, WalletError
from .network import Chain
from .txjournal import DONE, VOID, TxJournal
from .types import GasPreview, TxResult

log = logging.getLogger(__name__)

GAS_MARGIN = 1.25  # gas limit = estimate x margin (estimates are exact on dev chains, not on L2s)


@dataclass
class PreparedCall:
    """A contract call ready to preview or send. `decode` turns a receipt into events."""

    chain: Chain
    account: LocalAccount | None
    action: str
    function: Any  # web3 ContractFunction with its arguments bound
    value: int
    errors: ErrorDecoder
    decode_events: Callable[[Any], list[dict[str, Any]]]
    # gas a node's estimate may not see: a validator draw resolves only in a block after its
    # request, which the estimate's block may not be (unused gas is not charged)
    extra_gas: int = 0

    def _sender(self) -> str:
        if self.account is None:
            raise WalletError(f"{self.action}: no account unlocked (open or create a wallet first)")
        return self.account.address

    def estimate_gas(self) -> int:
        sender = self._sender()
        if self.value and self.chain.balance(sender) < self.value:
            raise InsufficientFunds(f"{self.action} sends {format_eth(self.value)}, {sender} has less")
        try:
            return int(self.function.estimate_gas({"from": sender, "value": self.value}))
        except ChainError:
            raise
        except Exception as exc:
            raise self.errors.from_exception(exc) from None

    def preview(self) -> GasPreview:
        gas = int(self.estimate_gas() * GAS_MARGIN) + self.extra_gas
        fees = self.chain.fees()
        return GasPreview(
            action=self.action,
            gas=gas,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            base_fee=fees.base_fee,
            value=self.value,
        )

    def intent(self) -> str:
        """What this transaction is for: its action, calldata and value. Sending the same intent
        again while an earlier send's outcome is unknown reconciles instead of repeating it."""
        data = (
            self.function._encode_transaction_data()
            if hasattr(self.function, "_encode_transaction_data")
            else self.function.build_transaction(
                {
                    "from": self._sender(),
                    "gas": 1,
                    "value": self.value,
                    "maxFeePerGas": 1,
                    "maxPriorityFeePerGas": 1,
                }
            )["data"]
        )
        digest = hashlib.sha256(f"{data}|{self.value}".encode()).hexdigest()[:40]
        return f"{self.action}:{digest}"

    def send(self, timeout: float = 120.0, intent: str | None = None) -> TxResult:
        """Sign, record, broadcast and wait for the receipt. A lost answer is not a failure (the
        hash is known before broadcast); a transaction not mined within `chain.bump_after`
        seconds is re-signed with the same nonce and a higher fee, up to `chain.fee_cap`. A named
        `intent` ("submitResult:<market>:<task>") is an effect that happens once: sending it again
        after it was mined returns that outcome (a stale read from a lagging node cannot repeat it)."""
        sender = self._sender()
        once = intent is not None  # a named intent happens once: a second send returns the first's outcome
        intent = intent or self.intent()
        journal = self.chain.tx_journal
        if once and journal:
            done = journal.get(sender, intent)
            if done.get("state") == DONE and done.get("mined"):
                receipt = self._first_receipt([done["mined"]])
                if receipt is not None and receipt["status"] == 1:
                    return self._result(receipt, sender)
        pending = journal.pending(sender, intent) if journal else None
        if pending:
            receipt = self._reconcile(sender, intent, pending, timeout)
            if receipt is not None:
                return self._result(receipt, sender)
        preview = self.preview()  # reverts surface here, before anything is signed or spent
        fees = self._capped(preview.max_fee_per_gas, preview.max_priority_fee_per_gas, preview.base_fee)
        balance = self.chain.balance(sender)
        if balance < preview.value + preview.gas * fees[0]:
            raise InsufficientFunds(
                f"{self.action} needs up to {format_eth(preview.value + preview.gas * fees[0])}, "
                f"{sender} has {format_eth(balance)}"
            )
        nonce = self.chain.nonces.reserve(sender)
        receipt = self._send_until_mined(sender, intent, nonce, preview.gas, fees, [], timeout)
        return self._result(receipt, sender)

    # -- sending ------------------------------------------------------------------
    def _capped(self, max_fee: int, tip: int, base_fee: int) -> tuple[int, int]:
        cap = self.chain.fee_cap
        if cap is None or max_fee <= cap:
            return max_fee, tip
        if cap < base_fee + 1:
            raise ChainError(
                f"{self.action}: the base fee is {format_gwei(base_fee)} gwei, above your fee cap "
                f"max_fee_gwei={format_gwei(cap)}; wait for it to fall or raise the cap"
            )
        return cap, min(tip, cap - base_fee)

    def _send_until_mined(
        self,
        sender: str,
        intent: str,
        nonce: int,
        gas: int,
        fees: tuple[int, int],
        hashes: list[str],
        timeout: float,
    ) -> Any:
        journal = self.chain.tx_journal
        deadline = time.monotonic() + timeout
        capped = False
        nonce_retries = 0
        while True:
            tx = self.function.build_transaction(
                {
                    "from": sender,
                    "value": self.value,
                    "nonce": nonce,
                    "gas": gas,
                    "maxFeePerGas": fees[0],
                    "maxPriorityFeePerGas": fees[1],
                    "chainId": self.chain.chain_id,
                }
            )
            signed = self.account.sign_transaction(tx)  # type: ignore[union-attr]
            tx_hash = "0x" + bytes(signed.hash).hex()
            if journal:
                journal.signed(sender, intent, self.action, nonce, tx_hash, bytes(signed.raw_transaction))
            if tx_hash not in hashes:
                hashes.append(tx_hash)
            outcome = self._broadcast(signed.raw_transaction)
            if outcome == "nonce used":
                receipt = self._first_receipt(hashes)
                if receipt is not None:
                    return self._finish(journal, sender, intent, receipt)
                # the nonce went to another transaction (a lagging node told us a stale count)
                nonce_retries += 1
                if nonce_retries > 3:
                    self._void(journal, sender, intent)
                    raise ChainError(
                        f"{self.action}: the node keeps rejecting the nonce ({nonce}); try again"
                    )
                self.chain.nonces.forget(sender)
                nonce = self.chain.nonces.reserve(sender)
                hashes.clear()
                continue
            if outcome == "too cheap":
                hashes.remove(tx_hash)
                bumped = self._bumped(fees)
                if bumped is None:
                    self._void(journal, sender, intent)
                    self.chain.nonces.forget(sender)
                    raise ChainError(
                        f"{self.action}: the chain's base fee is above your fee cap "
                        f"max_fee_gwei={format_gwei(self.chain.fee_cap or 0)}; nothing was sent — "
                        "wait for fees to fall or raise the cap"
                    )
                fees = bumped
                time.sleep(self.chain.poll_interval)
                continue
            until = min(deadline, time.monotonic() + self.chain.bump_after)
            receipt = self._wait_any(hashes, until)
            if receipt is not None:
                return self._finish(journal, sender, intent, receipt)
            if time.monotonic() >= deadline:
                why = (
                    f"; it needs more than your fee cap max_fee_gwei={format_gwei(self.chain.fee_cap)}"
                    if capped and self.chain.fee_cap
                    else ""
                )
                raise ChainError(
                    f"{self.action}: not mined within {timeout:.0f} s (nonce {nonce}, {tx_hash}){why}; "
                    "it may still be mined, and sending it again waits for it instead of repeating it"
                )
            bumped = self._bumped(fees)
            if bumped is None:
                capped = (
                    True  # at the cap: the same transaction is broadcast again (a node may have dropped it)
                )
                continue
            fees = bumped
            log.info(
                "%s: not mined after %.0f s, replacing nonce %d at %s gwei",
                self.action,
                self.chain.bump_after,
                nonce,
                format_gwei(fees[0]),
            )

    def _bumped(self, fees: tuple[int, int]) -> tuple[int, int] | None:
        """Replacement fees: at least +12.5 % on both (nodes require +10 %) and at least what the
        chain asks now; None when the fee cap leaves no room for a valid replacement."""
        now = self.chain.fees()
        tip = max(fees[1] * 9 // 8 + 1, now.max_priority_fee_per_gas)
        max_fee = max(fees[0] * 9 // 8 + 1, now.base_fee * 2 + tip)
        cap = self.chain.fee_cap
        if cap is not None and max_fee > cap:
            if cap < fees[0] * 9 // 8 + 1:
                return None
            max_fee, tip = cap, min(tip, cap)
        return max_fee, tip

    def _broadcast(self, raw: bytes) -> str:
        """'sent', 'nonce used' or 'too cheap'. A lost answer counts as sent: the hash is known and waited for."""
        try:
            self.chain.w3.eth.send_raw_transaction(raw)
            return "sent"
        except Exception as exc:
            text = str(exc).lower()
            if any(
                m in text
                for m in (
                    "already known",
                    "known transaction",
                    "alreadyknown",
                    "already imported",
                    "already in mempool",
                    "transaction already exists",
                )
            ):
                return "sent"
            if any(
                m in text
                for m in (
                    "nonce too low",
                    "nonce has already been used",
                    "nonce is too low",
                    "oldnonce",
                    "invalid nonce",
                )
            ):
                return "nonce used"
            if "less than block base fee" in text or "fee cap less than" in text:
                return "too cheap"  # refused outright (not pooled): it must be outbid now
            if "underpriced" in text or "fee too low" in text:
                return "sent"  # an earlier version with this nonce is pending; waiting covers it
            if isinstance(exc, (NodeUnreachable, OSError)):
                log.info("%s: no answer to the broadcast (%s); waiting for the receipt", self.action, exc)
                return "sent"
            raise self.errors.from_exception(exc) from None

    def _wait_any(self, hashes: list[str], until: float) -> Any:
        interval = self.chain.poll_interval
        while True:
            receipt = self._first_receipt(hashes)
            if receipt is not None or time.monotonic() >= until:
                return receipt
            time.sleep(min(interval, max(0.0, until - time.monotonic())))

    def _first_receipt(self, hashes: list[str]) -> Any:
        for tx_hash in hashes:
            try:
                receipt = self.chain.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                continue
            except NodeUnreachable:
                return None  # the node is away: keep waiting
            if receipt is not None:
                return receipt
        return None

    def _reconcile(self, sender: str, intent: str, record: dict[str, Any], timeout: float) -> Any:
        """An earlier send of this intent did not see its end: its receipt is the outcome; if its
        nonce went to something else it never happened; if it is still pending, keep at it."""
        hashes = [v["hash"] for v in record.get("versions", [])]
        receipt = self._first_receipt(hashes)
        if receipt is not None:
            return self._finish(self.chain.tx_journal, sender, intent, receipt)
        used = int(self.chain.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "latest"))
        if used > int(record["nonce"]):
            self._void(self.chain.tx_journal, sender, intent)
            return None
        last = record["versions"][-1]
        self._broadcast(bytes.fromhex(last["raw"]))
        receipt = self._wait_any(hashes, time.monotonic() + min(timeout, self.chain.bump_after))
        if receipt is not None:
            return self._finish(self.chain.tx_journal, sender, intent, receipt)
        raise ChainError(
            f"{self.action}: an earlier send (nonce {record['nonce']}) is still pending; "
            "it is waited for, not repeated — try again later"
        )

    def _finish(self, journal: TxJournal | None, sender: str, intent: str, receipt: Any) -> Any:
        if journal:
            journal.finish(sender, intent, DONE, "0x" + bytes(receipt["transactionHash"]).hex())
        return receipt

    def _void(self, journal: TxJournal | None, sender: str, intent: str) -> None:
        if journal:
            journal.finish(sender, intent, VOID)

    def _result(self, receipt: Any, sender: str) -> TxResult:
        if receipt["status"] != 1:
            self.chain.nonces.forget(sender)
            raise self._replay_failure(receipt["blockNumber"])
        return TxResult(
            action=self.action,
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex().removeprefix("0x"),
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
            events=self.decode_events(receipt),
        )

    def _replay_failure(self, block: int) -> ChainError:
        """Why a mined transaction failed: replayed on the state after its block (a transaction
        before it in the same block, say another requester's `createTask`, is often the cause),
        then on the state before it."""
        for at in (block, block - 1):
            try:
                self.function.call({"from": self._sender(), "value": self.value}, block_identifier=at)
            except Exception as exc:
                return self.errors.from_exception(exc)
        return ChainError(f"{self.action}: transaction failed (out of gas?)")
