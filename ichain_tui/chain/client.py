"""Provides `MarketClient`: one typed method per Marketplace/Ratings call.

Reads return dataclasses from `types`; writes return a `PreparedCall` to `preview()` (gas and cost,
nothing spent) or `send()` (returns a `TxResult` whose `events` are the decoded logs).
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode, encode
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_output_types
from hexbytes import HexBytes
from web3 import Web3
from web3.logs import DISCARD

from ..hardware import HardwareProfile
from . import artifacts
from .errors import ChainError, ContractRevert, ErrorDecoder, NodeUnreachable, WalletError
from .events import LogWindow
from .network import Chain
from .transactions import PreparedCall
from .types import Provider, ProviderTerms, Rating, Task, TaskState, TaskTerms, TxResult, ValidatorMode

ZERO = "0x0000000000000000000000000000000000000000"
DEFAULT_MIN_STAKE = 10**16  # 0.01 ETH
DEFAULT_SLASH_BPS = 5_000  # half of the payment is locked from provider's and validator's stakes
DEFAULT_MIN_FEE_BPS = 1_000  # a validated task pays its validator at least 10% of the payment
DEFAULT_MAX_LOCK = 7 * 86400  # a task may hold a provider's stake a week (execute + 6 review windows)
DEFAULT_RETENTION = 30 * 86400  # a paid result is served 30 days
DRAW_GAS = 160_000  # the most a draw's resolution may use beyond the estimate (24 probes and a lock)
BOUND_WINDOWS = 6  # review windows after the execute window in a task's bound (the contract's constant)
DEFAULT_TRANSFER_S = 900  # the execute window's allowance for fetching the task and sealing the result


def _opt(address: str) -> str | None:
    return None if int(address, 16) == 0 else Web3.to_checksum_address(address)


MAX_REASON_BYTES = 200


class MarketClient:
    """The Marketplace at `address` on `chain`, acting as `account` (None: read only)."""

    def __init__(self, chain: Chain, address: str, account: LocalAccount | None = None) -> None:
        self.chain = chain
        self.account = account
        market = artifacts.load("Marketplace")
        ratings = artifacts.load("Ratings")
        self.errors = ErrorDecoder(market.abi, ratings.abi)
        w3 = chain.w3
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=market.abi)
        try:
            code = w3.eth.get_code(self.address)
        except ChainError:
            raise  # the connection's own words (node down, wrong chain)
        except Exception as exc:
            raise NodeUnreachable(f"cannot reach the node at {chain.label}: {exc}") from None
        if not code:
            raise ChainError(f"no Marketplace contract at {self.address} on {chain.label}")
        self.ratings_address = Web3.to_checksum_address(self.contract.functions.ratings().call())
        self.ratings = w3.eth.contract(address=self.ratings_address, abi=ratings.abi)
        self._event_names = [e["name"] for e in market.abi if e["type"] == "event"]
        many: Any = next(
            e for e in ratings.abi if e.get("type") == "function" and e.get("name") == "statsOfMany"
        )
        self._stats_many_types = get_abi_output_types(many)
        self._stats_many_selector = bytes(function_abi_to_4byte_selector(many))
        self._deploy_block: int | None = None
        self.log_window = LogWindow()
        self._event_cache: dict[
            tuple[Any, ...], tuple[int, list[Any]]
        ] = {}  # (name, filters) -> (last block read, events)
        self._scope: str | None = None
        self._cache_rewinds = chain.rewinds
        self._checked_reconnects = 0  # the reconnect count the market's code was last checked at

    @property
    def signer(self) -> LocalAccount:
        """The account this client acts as; a read-only client raises `WalletError`."""
        if self.account is None:
            raise WalletError("no wallet is unlocked for this market (run `ichain wallet new` or unlock one)")
        return self.account

    # ------------------------------------------------------------------ deployment
    @classmethod
    def deploy(
        cls,
        chain: Chain,
        account: LocalAccount,
        min_stake: int = DEFAULT_MIN_STAKE,
        slash_bps: int = DEFAULT_SLASH_BPS,
        min_fee_bps: int = DEFAULT_MIN_FEE_BPS,
    ) -> MarketClient:
        art = artifacts.load("Marketplace")
        factory = chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        call = PreparedCall(
            chain,
            account,
            "deploy",
            factory.constructor(min_stake, slash_bps, min_fee_bps),
            0,
            ErrorDecoder(art.abi),
            lambda receipt: [],
        )
        result = call.send()
        receipt = chain.w3.eth.get_transaction_receipt(HexStr(result.tx_hash))
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError("the deployment's receipt names no contract")
        return cls(chain, address, account)

    def ensure_still_here(self) -> None:
        """After the node connection came back (an outage, another endpoint), check once that the
        market's code is still at its address: a node of another network, or a chain reset under
        the same id, stops the agents with one line instead of letting them act on nothing."""
        status = self.chain.rpc_status
        if status is None or status.reconnects == self._checked_reconnects:
            return
        try:
            code = self.chain.w3.eth.get_code(self.address)
        except Exception as exc:
            raise NodeUnreachable(f"cannot reach the node at {self.chain.label}: {exc}") from None
        if not code:
            raise ChainError(
                f"the node at {status.endpoint} has no Marketplace at {self.address} any more "
                "(another network, or the chain was reset); nothing is sent until it has"
            )
        self._checked_reconnects = status.reconnects

    def as_account(self, account: LocalAccount | None) -> MarketClient:
        """The same contract, acting as another account (shares no mutable state)."""
        other = object.__new__(MarketClient)
        other.__dict__.update(self.__dict__)
        other.account = account
        return other

    # ------------------------------------------------------------------ reads
    def _read(self, fn: Any, block: str | None = None) -> Any:
        try:
            return fn.call() if block is None else fn.call(block_identifier=block)
        except Exception as exc:
            raise self.errors.from_exception(exc) from None

    @property
    def min_stake(self) -> int:
        return int(self._read(self.contract.functions.minStake()))

    @property
    def slash_bps(self) -> int:
        return int(self._read(self.contract.functions.slashBps()))

    @property
    def min_fee_bps(self) -> int:
        return int(self._read(self.contract.functions.minFeeBps()))

    def task_count(self) -> int:
        return int(self._read(self.contract.functions.taskCount()))

    def task(self, task_id: int) -> Task:
        raw = self._read(self.contract.functions.getTask(task_id))
        (
            requester,
            state,
            mode,
            flags,
            deadline,
            review,
            provider,
            bound,
            draw_block,
            _draw_entries,
            validator,
            time_limit,
            gpus,
            payment,
            fee,
            commit,
            first,
            excluded,
        ) = raw
        return Task(
            task_id=task_id,
            requester=Web3.to_checksum_address(requester),
            state=TaskState(state),
            mode=ValidatorMode(mode),
            flags=int(flags),
            deadline=int(deadline),
            review_window=int(review),
            provider=_opt(provider),
            payment=int(payment),
            validator=_opt(validator),
            validator_fee=int(fee),
            key_commit=None if int.from_bytes(commit, "big") == 0 else bytes(commit),
            first_validator=_opt(first),
            bound=int(bound),
            draw_block=int(draw_block),
            excluded=_opt(excluded),
            time_limit=int(time_limit),
            gpus=int(gpus),
        )

    def provider(self, address: str) -> Provider:
        address = Web3.to_checksum_address(address)
        (
            stake,
            locked,
            rate,
            max_lock,
            retention,
            _units,
            registered,
            available,
            slots,
            running,
            gpus,
            gpu_rate,
            queue,
            key_x,
            key_y,
            hardware,
        ) = self._read(self.contract.functions.getProvider(address))
        return Provider(
            address=address,
            stake=int(stake),
            locked=int(locked),
            rate_per_hour=int(rate),
            rate_per_gpu_hour=int(gpu_rate),
            slots=int(slots),
            running=int(running),
            gpus=int(gpus),
            queue=int(queue),
            registered=bool(registered),
            available=bool(available),
            public_key=bytes(key_x) + bytes(key_y) if registered else b"",
            hardware=HardwareProfile.parse(str(hardware)),
            max_lock=int(max_lock),
            retention=int(retention),
        )

    def rating(self, address: str) -> Rating:
        """The provider's validated record and payment-weighted ratings (`Ratings.statsOf`)."""
        raw = self._read(self.ratings.functions.statsOf(Web3.to_checksum_address(address)))
        validated, passes, fails, count, volume, weight, score = raw
        return Rating(
            validated=int(validated),
            passes=int(passes),
            fails=int(fails),
            count=int(count),
            paid_volume=int(volume),
            rated_weight=int(weight),
            weighted_score=int(score),
        )

    def ratings_of(self, addresses: list[str]) -> list[Rating]:
        """`rating` of many providers in one call (`Ratings.statsOfMany`), decoded by eth-abi
        directly (web3's result formatting costs four times the call for a thousand records)."""
        # encoded here too: web3 checks every address's checksum (keccak) several times over
        data = self._stats_many_selector + encode(["address[]"], [[bytes.fromhex(a[2:]) for a in addresses]])
        try:
            raw = self.chain.w3.eth.call({"to": self.ratings_address, "data": HexBytes(data)})
            (records,) = decode(self._stats_many_types, bytes(raw))
        except ChainError:
            raise
        except Exception as exc:
            raise self.errors.from_exception(exc) from None
        return [Rating(*(int(v) for v in record)) for record in records]

    def credits(self, address: str) -> int:
        return int(self._read(self.contract.functions.credits(Web3.to_checksum_address(address))))

    def escrow_of(self, task_id: int) -> int:
        return int(self._read(self.contract.functions.escrowOf(task_id)))

    def lock_for(self, payment: int) -> int:
        return int(self._read(self.contract.functions.lockFor(payment)))

    def min_fee_for(self, payment: int) -> int:
        return int(self._read(self.contract.functions.minFeeFor(payment)))

    def claim_opens_at(self, task_id: int) -> int:
        return int(self._read(self.contract.functions.claimOpensAt(task_id)))

    def pending_validator(self, task_id: int) -> str | None:
        """Who the task's pending draw would pick if resolved in the next block (None: nobody
        yet). Asked of the pending block: in the latest block the request's own hash is unknown."""
        return _opt(self._read(self.contract.functions.pendingValidator(task_id), "pending"))

    def pool(self) -> list[str]:
        """Addresses that can be named or drawn as validators now (the on-chain pool)."""
        size = int(self._read(self.contract.functions.poolSize()))
        return [Web3.to_checksum_address(self._read(self.contract.functions.poolAt(i))) for i in range(size)]

    def contract_balance(self) -> int:
        return self.chain.balance(self.address)

    # ------------------------------------------------------------------ writes
    def _call(self, action: str, fn: Any, value: int = 0, extra_gas: int = 0) -> PreparedCall:
        return PreparedCall(
            self.chain, self.account, action, fn, value, self.errors, self.decode_receipt, extra_gas
        )

    def register_provider(
        self,
        public_key: bytes,
        terms: ProviderTerms | int,
        hardware: HardwareProfile | str,
        stake: int,
    ) -> PreparedCall:
        """Join the pool with `stake`; `terms` (an int: a rate per hour with the default terms);
        `hardware` a profile, or raw text as any party may send."""
        fn = self.contract.functions.registerProvider(
            public_key, _terms(terms).as_tuple(), _hardware_text(hardware)
        )
        return self._call("registerProvider", fn, stake)

    def update_provider(
        self, terms: ProviderTerms | int, available: bool, hardware: HardwareProfile | str
    ) -> PreparedCall:
        fn = self.contract.functions.updateProvider(
            _terms(terms).as_tuple(), available, _hardware_text(hardware)
        )
        return self._call("updateProvider", fn)

    def price_of(self, provider: str, time_limit: int, gpus: int = 0) -> int:
        """The least payment `provider` accepts for `time_limit` seconds on `gpus` GPUs."""
        fn = self.contract.functions.priceOf(Web3.to_checksum_address(provider), time_limit, gpus)
        return int(self._read(fn))

    def add_stake(self, amount: int) -> PreparedCall:
        return self._call("addStake", self.contract.functions.addStake(), amount)

    def withdraw_stake(self, amount: int) -> PreparedCall:
        return self._call("withdrawStake", self.contract.functions.withdrawStake(amount))

    def set_available(self, available: bool) -> PreparedCall:
        return self._call("setAvailable", self.contract.functions.setAvailable(available))

    def create_task(
        self,
        *,
        provider: str,
        payment: int,
        task_root: bytes,
        requester_key: bytes,
        mode: ValidatorMode = ValidatorMode.RANDOM,
        validator: str | None = None,
        validator_fee: int = 0,
        time_limit: int | None = None,
        gpus: int = 0,
        execute_window: int | None = None,
        review_window: int = 3600,
        provider_envelope: bytes = b"",
        expected_id: int | None = None,
    ) -> PreparedCall:
        """Escrow and assign. `time_limit` (default: the execute window, else an hour) and `gpus`
        are on-chain terms the payment must cover at the provider's rates; the execute window
        defaults to the time limit plus DEFAULT_TRANSFER_S. `expected_id` (default: the next id
        now) is the id the envelope is bound to; if another task takes it first the call reverts
        with `TaskIdTaken`."""
        if time_limit is None:
            time_limit = execute_window or 3600
        terms = TaskTerms(
            provider=provider,
            payment=payment,
            task_root=task_root,
            time_limit=time_limit,
            gpus=gpus,
            mode=mode,
            validator=validator,
            validator_fee=validator_fee,
            execute_window=execute_window,
            review_window=review_window,
            provider_envelope=provider_envelope,
        )
        if expected_id is None:
            expected_id = self.task_count() + 1
        fn = self.contract.functions.createTask(expected_id, task_terms_abi(terms), requester_key)
        return self._call("createTask", fn, terms.value)

    def create_tasks(
        self, terms: list[TaskTerms], requester_key: bytes, first_id: int | None = None
    ) -> PreparedCall:
        """Many tasks in one transaction, with consecutive ids from `first_id` (default: the next
        id now; each envelope in `terms` must be bound to its own id)."""
        if first_id is None:
            first_id = self.task_count() + 1
        fn = self.contract.functions.createTasks(first_id, [task_terms_abi(t) for t in terms], requester_key)
        return self._call("createTasks", fn, sum(t.value for t in terms))

    def rate_many(self, task_ids: list[int], ratings: list[int]) -> PreparedCall:
        """`rate` for many tasks in one transaction."""
        for rating in ratings:
            if not 0 <= rating <= 255:
                raise ContractRevert("InvalidRating", (rating,), f"rating must be 1 to 5, got {rating}")
        return self._call("rateMany", self.contract.functions.rateMany(list(task_ids), list(ratings)))

    def rate(self, task_id: int, rating: int) -> PreparedCall:
        if not 0 <= rating <= 255:  # does not fit uint8: refuse here, the contract refuses 0 and 6..255
            raise ContractRevert("InvalidRating", (rating,), f"rating must be 1 to 5, got {rating}")
        return self._call("rate", self.contract.functions.rate(task_id, rating))

    def refund(self, task_id: int) -> PreparedCall:
        return self._call("refund", self.contract.functions.refund(task_id))

    def decline_task(self, task_id: int, reason: str = "") -> PreparedCall:
        """Give the task back with a reason for the requester (cut to the contract's 200 bytes)."""
        short = reason.encode()[:MAX_REASON_BYTES].decode("utf-8", "ignore")
        return self._call("declineTask", self.contract.functions.declineTask(task_id, short))

    def decline_reason(self, task_id: int, from_block: int = 0) -> str | None:
        """The reason the provider gave when it declined `task_id` (None: not declined)."""
        events = self.events("TaskDeclined", from_block, {"taskId": task_id})
        if not events:
            return None
        # written by the provider: no terminal control sequences reach the requester's screen
        return "".join(c for c in str(events[-1].args["reason"]) if c.isprintable())

    def submit_result(
        self,
        task_id: int,
        result_root: bytes,
        key_commit: bytes,
        requester_envelope: bytes = b"",
        validator_envelope: bytes = b"",
    ) -> PreparedCall:
        fn = self.contract.functions.submitResult(
            task_id, result_root, key_commit, requester_envelope, validator_envelope
        )
        return self._call("submitResult", fn)

    def post_envelope(self, task_id: int, envelope: bytes) -> PreparedCall:
        return self._call("postEnvelope", self.contract.functions.postEnvelope(task_id, envelope))

    def claim_payment(self, task_id: int, result_root: bytes, key: bytes) -> PreparedCall:
        return self._call("claimPayment", self.contract.functions.claimPayment(task_id, result_root, key))

    def appeal(self, task_id: int, bond: int) -> PreparedCall:
        return self._call("appeal", self.contract.functions.appeal(task_id), bond)

    def submit_verdict(
        self, task_id: int, passed: bool, result_root: bytes = b"\0" * 32, key: bytes = b"\0" * 32
    ) -> PreparedCall:
        return self._call(
            "submitVerdict", self.contract.functions.submitVerdict(task_id, passed, result_root, key)
        )

    def draw_validator(
        self, task_id: int, expected: str | None = None, envelope: bytes = b""
    ) -> PreparedCall:
        """Resolve the task's pending draw (anyone may; the outcome was fixed when it was asked);
        a party's `envelope`, sealed to `expected`, is posted if the draw picked `expected`."""
        fn = self.contract.functions.drawValidator(
            task_id, Web3.to_checksum_address(expected or ZERO), envelope
        )
        return self._call("drawValidator", fn, extra_gas=DRAW_GAS)

    def decline_draw(self, task_id: int) -> PreparedCall:
        """As the task's validator, give it back within a quarter of the window (no slash)."""
        return self._call("declineDraw", self.contract.functions.declineDraw(task_id))

    def replace_validator(self, task_id: int) -> PreparedCall:
        return self._call("replaceValidator", self.contract.functions.replaceValidator(task_id))

    def settle(self, task_id: int) -> PreparedCall:
        return self._call("settle", self.contract.functions.settle(task_id))

    def withdraw(self) -> PreparedCall:
        return self._call("withdraw", self.contract.functions.withdraw())

    # ------------------------------------------------------------------ events
    def decode_receipt(self, receipt: Any) -> list[dict[str, Any]]:
        """All Marketplace events of a receipt, in log order, as {'event': name, **args}."""
        found: list[tuple[int, dict[str, Any]]] = []
        for name in self._event_names:
            for log in getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD):
                found.append((int(log["logIndex"]), {"event": name, **dict(log["args"])}))
        return [item for _, item in sorted(found, key=lambda pair: pair[0])]

    @property
    def scope(self) -> str:
        """`<chain id>-<market address>-<deployment block hash, 8 hex>`: what makes a task id
        unique beyond this market, so folders and journals of another chain, another deployment,
        or a development chain reset under the same id and address are never taken for this one's."""
        if self._scope is None:
            if self._deploy_block is None:
                self._deploy_block = int(self._read(self.contract.functions.deployBlock()))
            try:
                block = self.chain.w3.eth.get_block(self._deploy_block)
            except Exception as exc:
                raise NodeUnreachable(f"cannot read the market's deployment block: {exc}") from None
            self._scope = f"{self.chain.chain_id}-{self.address.lower()}-{bytes(block['hash']).hex()[:8]}"
        return self._scope

    @property
    def deploy_block(self) -> int:
        """The block the market was deployed in (read once; no event of it is older)."""
        if self._deploy_block is None:
            try:
                self._deploy_block = int(self._read(self.contract.functions.deployBlock()))
            except ChainError:
                return 0  # not answered now (or a market from before deployBlock): read from 0
        return self._deploy_block

    def events(
        self,
        name: str,
        from_block: int = 0,
        filters: dict[str, Any] | None = None,
        to_block: int | None = None,
    ) -> list[Any]:
        """Decoded `name` events (Marketplace) read with eth_getLogs over block ranges, never
        from before the market's deployment, in ranges the node accepts."""
        from .events import read_events

        start = max(from_block, self.deploy_block)
        if start > self.deploy_block or to_block is not None:
            return read_events(
                self.contract,
                name,
                from_block=start,
                to_block=to_block,
                filters=filters,
                window=self.log_window,
            )
        # the whole history: settled blocks are read once and kept; only newer ones are asked for
        key = (name, tuple(sorted((filters or {}).items())))
        if self._cache_rewinds != self.chain.rewinds:  # a development chain was reverted
            self._event_cache.clear()
            self._cache_rewinds = self.chain.rewinds
        cached_to, cached = self._event_cache.get(key, (start - 1, []))
        settled = self.chain.settled_block()
        if settled > cached_to:
            cached = cached + read_events(
                self.contract,
                name,
                from_block=cached_to + 1,
                to_block=settled,
                filters=filters,
                window=self.log_window,
            )
            cached_to = settled
            self._event_cache[key] = (cached_to, cached)
        if not self.chain.confirmations:
            return list(cached)
        return cached + read_events(
            self.contract, name, from_block=cached_to + 1, filters=filters, window=self.log_window
        )

    def tasks_naming(
        self, address: str, from_block: int, to_block: int | None = None, as_requester: bool = False
    ) -> dict[int, int]:
        """Ids of tasks that named `address` as provider or validator (and, with `as_requester`,
        that it created) in [from_block, to_block], with the block of the first such event: one
        `eth_getLogs` per range for all these events (the address is the second indexed topic of
        each of them)."""
        from .events import read_logs

        if to_block is None:
            to_block = self.chain.block_number()
        names = ["ProviderAssigned", "ValidatorAssigned"] + (["TaskCreated"] if as_requester else [])
        topics = [
            [self._topic(name) for name in names],
            None,
            "0x" + "00" * 12 + Web3.to_checksum_address(address)[2:].lower(),
        ]
        logs = read_logs(
            self.chain.w3, self.address, topics, max(from_block, self.deploy_block), to_block, self.log_window
        )
        found: dict[int, int] = {}
        for log in logs:
            found.setdefault(int.from_bytes(bytes(log["topics"][1]), "big"), int(log["blockNumber"]))
        return found

    def _topic(self, name: str) -> str:
        abi: dict[str, Any] = next(
            dict(e) for e in self.contract.abi if e.get("type") == "event" and e.get("name") == name
        )
        signature = f"{name}({','.join(i['type'] for i in abi['inputs'])})"
        return "0x" + Web3.keccak(text=signature).hex().removeprefix("0x")

    @staticmethod
    def task_id_of(result: TxResult) -> int:
        for event in result.events:
            if event["event"] == "TaskCreated":
                return int(event["taskId"])
        raise ChainError("no TaskCreated event in the receipt")


def _terms(terms: ProviderTerms | int) -> ProviderTerms:
    return terms if isinstance(terms, ProviderTerms) else ProviderTerms(rate_per_hour=int(terms))


def task_terms_abi(t: TaskTerms) -> tuple[Any, ...]:
    """`t` as the contract's `TaskTerms` tuple (what `createTask` and `createTasks` take)."""
    execute = t.time_limit + DEFAULT_TRANSFER_S if t.execute_window is None else t.execute_window
    return (
        Web3.to_checksum_address(t.provider or ZERO),
        int(t.mode),
        Web3.to_checksum_address(t.validator or ZERO),
        t.payment,
        t.validator_fee,
        t.time_limit,
        t.gpus,
        execute,
        t.review_window,
        t.task_root,
        t.provider_envelope,
    )


def _hardware_text(hardware: HardwareProfile | str) -> str:
    return hardware.encode() if isinstance(hardware, HardwareProfile) else hardware
