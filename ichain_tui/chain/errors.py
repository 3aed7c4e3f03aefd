"""Provides chain exceptions and the one place where node reverts become them.

eth-tester raises `TransactionFailed` with the raw custom-error data, anvil answers with a JSON-RPC
error that web3 turns into `ContractCustomError`/`ContractLogicError`; both end here as the same
`ContractRevert` subclass carrying the decoded error name and arguments.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector

from ..errors import IchainError
from .types import TaskState


class ChainError(IchainError):
    title = "Chain error"


class NodeUnreachable(ChainError):
    title = "Node unreachable"


class WrongChain(ChainError):
    title = "Wrong chain"


class InsufficientFunds(ChainError):
    title = "Insufficient funds"


class WalletError(ChainError):
    title = "Wallet error"


class ContractRevert(ChainError):
    """A contract call reverted; `name` is the Solidity error name, `args` its decoded values."""

    title = "Transaction refused"

    def __init__(self, name: str, args: tuple[Any, ...] = (), message: str | None = None) -> None:
        self.name = name
        self.args_ = tuple(args)
        super().__init__(message or describe(name, self.args_))


# Friendly one-line texts for the Marketplace/Ratings custom errors.
_TEXTS: dict[str, str] = {
    "UnknownTask": "task {0} does not exist",
    "WrongState": "task {0} is {1} and cannot do that now",
    "NotRequester": "only the requester of task {0} may do that",
    "NotProvider": "only the provider of task {0} may do that",
    "NotValidator": "only the validator of task {0} may do that",
    "NotParty": "only the requester or provider of task {0} may do that",
    "DeadlinePassed": "the deadline of task {0} has passed",
    "DeadlineNotReached": "task {0} is still within its deadline",
    "InvalidRating": "rating must be 1 to 5, got {0}",
    "InvalidPublicKey": "the public key does not belong to the sending address",
    "AlreadyRegistered": "this address is already registered as a provider",
    "NotRegistered": "this address is not a registered provider",
    "ProviderUnavailable": "provider {0} is not available",
    "ValidatorIneligible": "{0} cannot validate this task (must be an available provider with free stake, "
    "neither requester nor provider)",
    "NoDrawPending": "task {0} waits for no validator draw",
    "TermsRefused": "the task would hold the provider's stake {0} s (execute window + 6 review windows); "
    "the provider accepts at most {1} s: shorten the windows or pick another provider",
    "AlreadyReplaced": "the validator of task {0} was already replaced once",
    "AlreadyRated": "task {0} is already rated",
    "FeeOutOfRange": "validator fee {0} wei must be between {1} and {2} wei",
    "TaskIdTaken": "another task took id {0} first (next is {1}); nothing was spent, send again",
    "KeyMismatch": "the key does not match the result committed for task {0}",
    "ValueOutOfRange": "value {0} does not fit in {1} bits",
    "PaymentBelowRate": "payment {0} wei is below the provider's rates x the time limit ({1} wei)",
    "ProviderFull": "provider {0} runs {1} tasks at once and has no free slot or place in its queue: pick another or wait",
    "GpusRefused": "the task asks for {0} GPUs; the provider offers {1}",
    "TimeLimitOutOfRange": "time limit {0} s must be above 0 and within the execute window ({1} s)",
    "LengthMismatch": "as many ratings as tasks are needed",
    "TermsOutOfRange": "slots must be 1 to 65535 and GPUs at most 255",
    "WrongValue": "expected exactly {0} wei, sent {1}",
    "StakeTooLow": "stake {0} wei is below the required {1} wei",
    "StakeLocked": "only {0} wei of stake is free, asked for {1}",
    "WindowOutOfRange": "window of {0} s is outside 60 s .. 30 days",
    "AmountTooLarge": "amount too large",
    "ZeroPayment": "payment must be above zero",
    "NothingToWithdraw": "nothing to withdraw",
    "TransferFailed": "the ether transfer failed",
    "ReasonTooLong": "a decline reason may be at most 200 bytes, got {0}",
    "OnlyMarketplace": "only the Marketplace may record ratings",
    "ScoreOutOfRange": "rating must be 1 to 5, got {0}",
}


def describe(name: str, args: tuple[Any, ...]) -> str:
    shown = list(args)
    if name == "WrongState" and len(shown) == 2 and isinstance(shown[1], int):
        try:
            shown[1] = TaskState(shown[1]).label
        except ValueError:
            pass
    template = _TEXTS.get(name)
    if template is None:
        return f"reverted: {name}{tuple(shown) if shown else ''}"
    try:
        return template.format(*shown)
    except (IndexError, ValueError):
        return f"reverted: {name}"


class ErrorDecoder:
    """Maps 4-byte custom-error selectors of one or more ABIs to names and argument types."""

    def __init__(self, *abis: list[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item.get("inputs", [])]
                sig = f"{item['name']}({','.join(types)})"
                self._by_selector[function_signature_to_4byte_selector(sig)] = (item["name"], types)

    def decode(self, data: bytes) -> ContractRevert:
        if len(data) >= 4 and data[:4] in self._by_selector:
            name, types = self._by_selector[data[:4]]
            try:
                return ContractRevert(name, tuple(abi_decode(types, data[4:])))
            except Exception:  # malformed tail: still name the error
                return ContractRevert(name)
        if data[:4] == bytes.fromhex("08c379a0"):  # Error(string)
            (text,) = abi_decode(["string"], data[4:])
            return ContractRevert("Error", (text,), f"reverted: {text}")
        if data[:4] == bytes.fromhex("4e487b71"):  # Panic(uint256)
            (code,) = abi_decode(["uint256"], data[4:])
            return ContractRevert("Panic", (code,), f"contract panic 0x{code:02x}")
        return ContractRevert("Revert", (), "the transaction reverted")

    def from_exception(self, exc: BaseException) -> ChainError:
        """Turn whatever a node/provider raised for a failed call into a ChainError."""
        if isinstance(exc, ChainError):
            return exc
        data = _revert_data(exc)
        seen = 0
        context = exc.__context__ or exc.__cause__
        while data is None and context is not None and seen < 5:
            # eth-tester: web3 can fail while formatting a revert (OverflowError on some payloads);
            # the revert itself is the exception it was handling.
            data = _revert_data(context)
            context, seen = context.__context__ or context.__cause__, seen + 1
        if data is not None:
            return self.decode(data)
        text = str(exc)
        lowered = text.lower()
        if any(s in lowered for s in ("insufficient funds", "enough funds", "enough balance")):
            return InsufficientFunds("insufficient funds for value plus gas")
        if "execution reverted" in lowered or "transactionfailed" in type(exc).__name__.lower():
            return ContractRevert("Revert", (), "the transaction reverted")
        return ChainError(f"node error: {text.splitlines()[0] if text else type(exc).__name__}")


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")
# eth-tester: "execution reverted: b'H\\x99...'" (a Python bytes literal of the revert data)
_BYTES_REPR = re.compile(r"""(b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")""")


def _revert_data(exc: BaseException) -> bytes | None:
    candidates: list[Any] = []
    data = getattr(exc, "data", None)
    if data is not None:
        candidates.append(data)
    candidates.extend(exc.args)
    for item in candidates:
        if isinstance(item, dict):
            item = item.get("data")
        if isinstance(item, (bytes, bytearray)) and len(item) >= 4:
            return bytes(item)
        if isinstance(item, str):
            literal = _BYTES_REPR.search(item)
            if literal:
                try:
                    value = ast.literal_eval(literal.group(1))
                except (ValueError, SyntaxError):
                    value = b""
                if len(value) >= 4:
                    return bytes(value)
            match = _HEX.search(item)
            if match and (len(match.group(0)) - 2) % 2 == 0:
                return bytes.fromhex(match.group(0)[2:])
    return None
