"""Provides signing and sending of contract calls: EIP-1559 fees, gas preview, nonces, revert mapping.

A `PreparedCall` is one state-changing call not yet sent: `preview()` estimates gas and cost
without spending anything, `send()` signs with the local account, sends, waits for the receipt
and returns a `TxResult`. Every failure leaves as a `ChainError` subclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from eth_account.signers.local import LocalAccount
from web3.exceptions import TimeExhausted

from .errors import ChainError, ErrorDecoder, InsufficientFunds, WalletError
from .network import Chain
from .types import GasPreview, TxResult

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

    def _sender(self) -> str:
        if self.account is None:
            raise WalletError(f"{self.action}: no account unlocked (open or create a wallet first)")
        return self.account.address

    def estimate_gas(self) -> int:
        sender = self._sender()
        if self.value and self.chain.balance(sender) < self.value:
            raise InsufficientFunds(f"{self.action} sends {self.value / 1e18:.6f} ETH, {sender} has less")
        try:
            return int(self.function.estimate_gas({"from": sender, "value": self.value}))
        except ChainError:
            raise
        except Exception as exc:
            raise self.errors.from_exception(exc) from None

    def preview(self) -> GasPreview:
        gas = int(self.estimate_gas() * GAS_MARGIN)
        fees = self.chain.fees()
        return GasPreview(
            action=self.action,
            gas=gas,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            base_fee=fees.base_fee,
            value=self.value,
        )

    def send(self, timeout: float = 120.0) -> TxResult:
        sender = self._sender()
        preview = self.preview()  # reverts surface here, before anything is signed or spent
        balance = self.chain.balance(sender)
        if balance < preview.value + preview.max_cost:
            raise InsufficientFunds(
                f"{self.action} needs up to {(preview.value + preview.max_cost) / 1e18:.6f} ETH, "
                f"{sender} has {balance / 1e18:.6f} ETH"
            )
        nonce = self.chain.nonces.reserve(sender)
        tx = self.function.build_transaction(
            {
                "from": sender,
                "value": self.value,
                "nonce": nonce,
                "gas": preview.gas,
                "maxFeePerGas": preview.max_fee_per_gas,
                "maxPriorityFeePerGas": preview.max_priority_fee_per_gas,
                "chainId": self.chain.chain_id,
            }
        )
        signed = self.account.sign_transaction(tx)  # type: ignore[union-attr]
        w3 = self.chain.w3
        try:
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:
            self.chain.nonces.forget(sender)
            raise self.errors.from_exception(exc) from None
        try:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
        except TimeExhausted:
            raise ChainError(f"{self.action}: no receipt within {timeout:.0f} s for {tx_hash.hex()}") from None
        if receipt["status"] != 1:
            self.chain.nonces.forget(sender)
            raise self._replay_failure(receipt["blockNumber"])
        return TxResult(
            action=self.action,
            tx_hash="0x" + bytes(tx_hash).hex().removeprefix("0x"),
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
            events=self.decode_events(receipt),
        )

    def _replay_failure(self, block: int) -> ChainError:
        try:
            self.function.call({"from": self._sender(), "value": self.value}, block_identifier=block - 1)
        except Exception as exc:
            return self.errors.from_exception(exc)
        return ChainError(f"{self.action}: transaction failed (out of gas?)")
