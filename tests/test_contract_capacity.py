"""Slots, rates and task terms on chain (issue 22) and the batch calls a sweep uses (issue 24),
on eth-tester and on anvil: a full provider, too many GPUs, a payment below rate x limit and a time
limit the execute window cannot hold are refused before any money moves; the running count
follows every way out of Assigned; `createTasks` and `rateMany` do in one transaction what many
`createTask` and `rate` calls do."""

from __future__ import annotations

from conftest import FEE, PRICE
from market_flow import K2, RESULT_ROOT, TASK_ROOT, create, key_commit, reverts, submit

from ichain_tui.chain.types import ProviderTerms, TaskState, TaskTerms, ValidatorMode, price_for

HOUR = 3600


def _terms(p, **changes) -> ProviderTerms:
    return ProviderTerms(**{"rate_per_hour": PRICE, **changes})


def _set(p, **changes) -> None:
    p.provider.update_provider(_terms(p, **changes), True, "cpu=8 gpu=2x A100:81920").send()


def _create(p, payment=PRICE, time_limit=HOUR, gpus=0, execute_window=None):
    return p.requester.create_task(
        provider=p.provider.account.address,
        payment=payment,
        mode=ValidatorMode.NONE,
        task_root=TASK_ROOT,
        requester_key=p.pub(p.requester),
        time_limit=time_limit,
        gpus=gpus,
        execute_window=execute_window,
    )


def _info(p):
    return p.requester.provider(p.provider.account.address)


def test_a_full_provider_is_refused_before_money_moves_and_a_slot_frees_on_each_way_out(parties):
    p = parties
    _set(p, slots=2)
    before = p.chain.balance(p.requester.account.address)
    first = p.requester.task_id_of(_create(p).send())
    second = p.requester.task_id_of(_create(p).send())
    assert (_info(p).slots, _info(p).running, _info(p).free_slots) == (2, 2, 0)
    error = reverts("ProviderFull", _create(p))
    assert "no free slot" in str(error)
    spent = before - p.chain.balance(p.requester.account.address)
    assert spent < 2 * PRICE + 10**16  # the refused call moved no money (gas only)
    # delivered: the slot is free at once, before any validation or payment
    p.provider.submit_result(first, RESULT_ROOT, key_commit(first), b"", b"").send()
    assert _info(p).running == 1
    third = p.requester.task_id_of(_create(p).send())
    p.provider.decline_task(third, "busy").send()  # declined: free again
    assert _info(p).running == 1
    p.chain.advance_time(HOUR + 900 + 1)
    p.stranger.refund(second).send()  # expired: free again
    assert _info(p).running == 0
    assert p.requester.task(second).state is TaskState.EXPIRED


def test_a_queue_accepts_tasks_beyond_the_slots_up_to_its_length(parties):
    """`queue` places wait for a slot: slots + queue tasks are accepted, the next is refused; the
    terms, the room and the queued count are read back as set."""
    p = parties
    _set(p, slots=1, queue=2)
    info = _info(p)
    assert (info.slots, info.queue, info.room, info.queued) == (1, 2, 3, 0)
    for _ in range(3):
        _create(p).send()
    info = _info(p)
    assert (info.running, info.free_slots, info.room, info.queued) == (3, 0, 0, 2)
    reverts("ProviderFull", _create(p))
    reverts("TermsOutOfRange", p.provider.update_provider(_terms(p, queue=2**16), True, "cpu=8"))


def test_payment_must_cover_the_rates_times_the_time_limit(parties):
    p = parties
    _set(p, rate_per_gpu_hour=PRICE * 3, gpus=2)
    info = _info(p)
    two_hours = info.price_for(2 * HOUR, gpus=1)
    assert two_hours == price_for(PRICE, PRICE * 3, 2 * HOUR, 1) == 8 * PRICE
    assert p.requester.price_of(p.provider.account.address, 2 * HOUR, 1) == two_hours
    error = reverts("PaymentBelowRate", _create(p, payment=two_hours - 1, time_limit=2 * HOUR, gpus=1))
    assert error.args_ == (two_hours - 1, two_hours)
    task_id = p.requester.task_id_of(_create(p, payment=two_hours, time_limit=2 * HOUR, gpus=1).send())
    task = p.requester.task(task_id)
    assert (task.time_limit, task.gpus) == (2 * HOUR, 1)
    # the execute window defaults to the limit plus the transfer allowance
    assert task.deadline - p.chain.timestamp() >= 2 * HOUR + 900 - 5
    # a short task costs a share of the hour, rounded up to the wei
    assert info.price_for(60) == -(-PRICE * 60 // HOUR)


def test_more_gpus_than_offered_or_a_limit_longer_than_the_window_are_refused(parties):
    p = parties
    _set(p, gpus=2, rate_per_gpu_hour=1)
    assert reverts("GpusRefused", _create(p, payment=10 * PRICE, gpus=3)).args_ == (3, 2)
    assert reverts("TimeLimitOutOfRange", _create(p, time_limit=2 * HOUR, execute_window=HOUR)).args_ == (
        2 * HOUR,
        HOUR,
    )
    assert reverts("TimeLimitOutOfRange", _create(p, time_limit=0, execute_window=HOUR))
    assert reverts("TermsOutOfRange", p.provider.update_provider(_terms(p, slots=0), True, "cpu=1"))
    assert _info(p).running == 0


def test_create_tasks_escrows_many_in_one_transaction_and_rate_many_rates_them(parties):
    p = parties
    provider, validator = p.provider.account.address, p.validator.account.address
    runs = [
        TaskTerms(provider=provider, payment=PRICE, task_root=TASK_ROOT, mode=ValidatorMode.NONE),
        TaskTerms(provider=validator, payment=PRICE, task_root=TASK_ROOT, mode=ValidatorMode.NONE),
        TaskTerms(provider=provider, payment=PRICE, task_root=TASK_ROOT, validator_fee=FEE),
    ]
    first = p.requester.task_count() + 1
    value = sum(r.value for r in runs)
    wrong = p.requester.create_tasks(runs, p.pub(p.requester), first)
    wrong.value = value - 1
    assert reverts("WrongValue", wrong).args_ == (value, value - 1)
    tx = p.requester.create_tasks(runs, p.pub(p.requester), first).send()
    created = [e["taskId"] for e in tx.events if e["event"] == "TaskCreated"]
    assert created == [first, first + 1, first + 2]
    assert [p.requester.task(i).provider for i in created] == [provider, validator, provider]
    assert p.requester.task(first + 2).mode is ValidatorMode.RANDOM
    assert _info(p).running == 2
    assert p.requester.contract_balance() >= value
    # the envelope of each is bound to its id: a race for `first` reverts the whole batch
    assert reverts("TaskIdTaken", p.requester.create_tasks(runs, p.pub(p.requester), first)).args_ == (
        first,
        first + 3,
    )
    for task_id, who in ((first, p.provider), (first + 1, p.validator)):
        who.submit_result(task_id, RESULT_ROOT, key_commit(task_id), b"", b"").send()
        who.claim_payment(task_id, RESULT_ROOT, K2).send()
    assert reverts("LengthMismatch", p.requester.rate_many([first, first + 1], [5]))
    assert reverts("WrongState", p.requester.rate_many([first, first + 2], [5, 4]))  # one unpaid: none
    rated = p.requester.rate_many([first, first + 1], [5, 4]).send()
    assert [e["event"] for e in rated.events].count("TaskStateChanged") == 0  # Closed already
    assert p.requester.task(first).rated and p.requester.task(first + 1).rated
    assert reverts("AlreadyRated", p.requester.rate_many([first], [3]))


def test_a_batch_with_one_bad_run_moves_nothing(parties):
    p = parties
    provider = p.provider.account.address
    runs = [
        TaskTerms(provider=provider, payment=PRICE, task_root=TASK_ROOT, mode=ValidatorMode.NONE),
        TaskTerms(provider=provider, payment=PRICE - 1, task_root=TASK_ROOT, mode=ValidatorMode.NONE),
    ]
    count = p.requester.task_count()
    reverts("PaymentBelowRate", p.requester.create_tasks(runs, p.pub(p.requester)))
    assert p.requester.task_count() == count and _info(p).running == 0


def test_a_validated_task_in_the_flow_helpers_still_frees_its_slot_at_commit(parties):
    p = parties
    _set(p, slots=1)
    task_id = create(p)
    reverts("ProviderFull", _create(p))
    submit(p, task_id)
    assert _info(p).running == 0
    assert p.requester.task(task_id).state is TaskState.VALIDATING
