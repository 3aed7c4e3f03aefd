// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Narrow} from "./Narrow.sol";
import {Ratings} from "./Ratings.sol";

/// @title Marketplace (protocol v3)
/// @notice Escrowed machine-learning compute market with fair exchange of result and payment.
///
///  * Split-key release. The result is sealed under K = HKDF(K1 || K2): K1 comes from the task key
///    (which the requester already has), K2 is fresh. `submitResult` commits
///    keccak256(K2 || taskId || resultRoot); a pass verdict, or the provider's claim, reveals K2 and is
///    checked against that commitment in the same transaction that pays the provider. Claims and
///    refunds are exclusive by state: a claim never reverts for lateness while the task is
///    claimable, and a refund of a claimable task needs the bound fixed at creation.
///  * Draws nobody can choose. A draw (a random first validator, a replacement, an appeal, a
///    redraw after a decline) is requested by recording the block it is asked in; it is resolved
///    later by `drawValidator` (anyone; the provider, with the validator's envelope), from that
///    block's hash, which nobody knows while the request executes. The first draw is asked for by
///    `submitResult`: once it is known, the provider can no longer decline or let the task expire
///    to try another. Reverting a request or a resolution cannot change the outcome.
///    Candidates are stake entries (one per `minStake` of stake, at most MAX_UNITS per provider)
///    that existed at the request, so joining or re-staking after the hash is known adds nothing.
///  * Never against the asker. A draw that finds nobody waits (re-armed on a fresh block); when a
///    whole review window no longer fits before the bound, the task ends in the asker's favour.
///  * Whole windows, bounded total. Every validator assignment gives a whole review window; the
///    total is fixed at creation: bound = created + executeWindow + 6 x reviewWindow.
///  * Consent. An assigned validator may `declineDraw` within a quarter of its window (no slash; a
///    new draw); a provider's stake is never locked longer than the `maxLock` it advertises.
///  * One width for money: every amount is uint128 in storage, refused when it does not fit at
///    the call that brings the money in.
///
/// @dev Invariant: address(this).balance == sum(escrowOf(open tasks)) + sum(stakes) + sum(credits).
contract Marketplace {
    enum State {
        None, //       0: no such task
        Assigned, //   1: provider executing until deadline (escrow: payment + fee)
        Validating, // 2: result committed; validator's verdict due by deadline (payment + fee)
        Executed, //   3: no validator: provider claims by revealing K2 (payment)
        Passed, //     4: validated pass: provider paid, K2 public, rating open (final for money)
        Failed, //     5: fail verdict: provider may appeal until deadline (payment)
        Appealed, //   6: appeal validator's verdict due by deadline (payment + bond)
        Closed, //     7: provider paid (final)
        Rejected, //   8: fail stands: requester refunded (final)
        Cancelled, //  9: provider declined: requester refunded (final)
        Expired //    10: a deadline passed: requester refunded (final)
    }

    enum Mode {
        None, //   no validator: the provider is paid when it reveals the key
        Named, //  requester's validator; the provider consents by not declining
        Random //  drawn from the pool's stake entries once the result is committed
    }

    struct Task {
        // slot 0
        address requester;
        State state;
        Mode mode;
        uint8 flags; // bit 0: validator replaced, 1: rated, 2: counted (drawn validator), 3: exclusions
        uint40 deadline; // the current party's deadline (Validating with a pending draw: the claim bound)
        uint24 reviewWindow;
        // slot 1
        address provider;
        uint40 bound; // created + executeWindow + 6 x reviewWindow: every exit is decided by then
        uint32 drawBlock; // a pending draw: the block whose hash seeds it (0: none pending)
        uint24 drawEntries; // stake entries that existed at the request
        // slot 2
        address validator;
        uint32 timeLimit; // seconds the task may run (its on-chain terms; the provider's sandbox enforces it)
        uint8 gpus; // GPUs the task asked for
        // slot 3
        uint128 payment;
        uint128 validatorFee;
        // slot 4
        bytes32 keyCommit; // keccak256(K2 || taskId || resultRoot)
        // slot 5 (appeals only)
        address firstValidator;
        // slot 6 (after a replacement or a decline)
        address excluded;
    }

    struct Provider {
        // slot 0
        uint128 stake;
        uint128 locked;
        // slot 1
        uint128 ratePerHour; // wei per hour of a task's time limit
        uint32 maxLock; // longest a task may lock this provider's stake (executeWindow + 6 x review)
        uint32 retention; // seconds it serves a paid result (advertised; shown to requesters)
        uint8 units; // live stake entries in the draw pool
        bool registered;
        bool available;
        uint16 slots; // tasks it executes at once
        uint16 running; // tasks assigned to it and not yet delivered, declined or expired (running or queued)
        uint8 gpus; // GPUs it offers
        // slot 2
        uint128 ratePerGpuHour; // wei per GPU-hour asked for, on top of the hourly rate
        uint16 queue; // tasks it accepts beyond its slots, each waiting for one
        // slots 3-4
        bytes32 keyX;
        bytes32 keyY;
        // slot 5+
        string hardware;
    }

    /// @notice What a provider offers: rates, how long its stake may be locked, how long it keeps
    ///         a paid result, how many tasks it runs at once, how many GPUs it has, and how many
    ///         more tasks it accepts to wait for a slot (a requester queuing one sets an execute
    ///         window that covers the wait).
    struct Terms {
        uint256 ratePerHour;
        uint256 ratePerGpuHour;
        uint256 maxLock;
        uint256 retention;
        uint256 slots;
        uint256 gpus;
        uint256 queue;
    }

    /// @notice One task's terms. `payment` must cover the provider's rates x `timeLimit`; the
    ///         execute window must hold the time limit (plus transfer time).
    struct TaskTerms {
        address provider;
        Mode mode;
        address validator;
        uint256 payment;
        uint256 validatorFee;
        uint256 timeLimit;
        uint256 gpus;
        uint256 executeWindow;
        uint256 reviewWindow;
        bytes32 taskRoot;
        bytes providerEnvelope;
    }

    /// @dev One draw ticket per `minStake` of stake. Indices are stable: a dead entry (account 0)
    ///      is reused, and a reused entry counts only for draws requested from its block on.
    struct Entry {
        address account;
        uint40 since;
    }

    uint8 private constant REPLACED = 1;
    uint8 private constant RATED = 2;
    uint8 private constant COUNTED = 4;
    uint8 private constant EXCLUDES = 8; // `excluded` or `firstValidator` is set: the draw reads them
    uint256 private constant DRAW_PROBES = 24;
    uint256 public constant MAX_UNITS = 8; // draw weight stops growing at 8 x minStake
    uint256 public constant MAX_REASON = 200; // bytes of a decline reason
    uint256 public constant BOUND_WINDOWS = 6; // review windows in the bound after the execute window

    uint256 public constant MIN_WINDOW = 60;
    uint256 public constant MAX_WINDOW = 30 days;
    uint256 private constant BPS = 10_000;

    /// @notice Stake a provider must keep to be available (also to act as validator).
    uint256 public immutable minStake;
    /// @notice Part of the payment, in basis points, locked from the provider's and the validator's
    ///         stakes while they hold a task; slashed from whoever is found at fault.
    uint256 public immutable slashBps;
    /// @notice Least validator fee, in basis points of the payment, of a validated task.
    uint256 public immutable minFeeBps;
    Ratings public immutable ratings;
    /// @notice The block this market was deployed in: where readers of its events start.
    uint256 public immutable deployBlock;

    uint256 private _nextTaskId;
    mapping(uint256 => Task) private _tasks;
    mapping(address => Provider) private _providers;
    mapping(address => uint256) public credits;
    Entry[] private _entries;
    uint256[] private _deadEntries;
    mapping(address => uint32[8]) private _entryIndex; // unit -> index + 1
    address[] private _pool;
    mapping(address => uint256) private _poolIndex; // index + 1; 0: not in the pool

    event ProviderRegistered(address indexed provider, bytes publicKey, uint256 stake, string hardware);
    event ProviderUpdated(address indexed provider, string hardware);
    event TermsChanged(
        address indexed provider,
        uint256 ratePerHour,
        uint256 ratePerGpuHour,
        uint256 maxLock,
        uint256 retention,
        uint256 slots,
        uint256 gpus,
        uint256 queue
    );
    event AvailabilityChanged(address indexed provider, bool available);
    event StakeChanged(address indexed provider, uint256 stake, uint256 locked);
    event TaskCreated(
        uint256 indexed taskId,
        address indexed requester,
        address indexed provider,
        Mode mode,
        uint256 payment,
        uint256 validatorFee,
        uint256 timeLimit,
        uint256 gpus,
        bytes32 taskRoot,
        bytes requesterKey
    );
    event ProviderAssigned(uint256 indexed taskId, address indexed provider, bytes envelope);
    event ValidatorAssigned(uint256 indexed taskId, address indexed validator, uint8 round, bool drawn);
    event DrawRequested(uint256 indexed taskId, uint8 round, uint256 drawBlock);
    event DrawDeclined(uint256 indexed taskId, address indexed validator);
    event TaskStateChanged(uint256 indexed taskId, State indexed state, uint256 deadline);
    event ResultCommitted(
        uint256 indexed taskId,
        address indexed provider,
        bytes32 resultRoot,
        bytes32 keyCommit,
        bytes requesterEnvelope,
        bytes validatorEnvelope
    );
    event Envelope(uint256 indexed taskId, address indexed recipient, address sender, bytes envelope);
    event VerdictSubmitted(uint256 indexed taskId, address indexed validator, bool passed, uint8 round);
    event KeyReleased(uint256 indexed taskId, bytes32 resultRoot, bytes32 key);
    event Appealed(uint256 indexed taskId, address indexed provider, uint256 bond);
    event Credited(address indexed account, uint256 indexed taskId, uint256 amount);
    event Slashed(address indexed account, uint256 indexed taskId, uint256 amount, uint8 reason);
    event Withdrawn(address indexed account, uint256 amount);
    event TaskDeclined(uint256 indexed taskId, string reason);

    error UnknownTask(uint256 taskId);
    error WrongState(uint256 taskId, State state);
    error NotRequester(uint256 taskId);
    error NotProvider(uint256 taskId);
    error NotValidator(uint256 taskId);
    error NotParty(uint256 taskId);
    error DeadlinePassed(uint256 taskId, uint256 deadline);
    error DeadlineNotReached(uint256 taskId, uint256 deadline);
    error InvalidRating(uint8 rating);
    error AlreadyRated(uint256 taskId);
    error InvalidPublicKey();
    error AlreadyRegistered();
    error NotRegistered();
    error ProviderUnavailable(address provider);
    error ValidatorIneligible(address validator);
    error NoDrawPending(uint256 taskId);
    error AlreadyReplaced(uint256 taskId);
    error PaymentBelowRate(uint256 payment, uint256 required);
    error ProviderFull(address provider, uint256 slots);
    error GpusRefused(uint256 asked, uint256 offered);
    error TimeLimitOutOfRange(uint256 timeLimit, uint256 executeWindow);
    error LengthMismatch();
    error TermsOutOfRange();
    error FeeOutOfRange(uint256 fee, uint256 min, uint256 max);
    error WrongValue(uint256 expected, uint256 sent);
    error StakeTooLow(uint256 stake, uint256 required);
    error StakeLocked(uint256 free, uint256 requested);
    error WindowOutOfRange(uint256 window);
    error TermsRefused(uint256 lockSeconds, uint256 maxLock);
    error TaskIdTaken(uint256 expected, uint256 next);
    error KeyMismatch(uint256 taskId);
    error AmountTooLarge();
    error ZeroPayment();
    error NothingToWithdraw();
    error TransferFailed();
    error ReasonTooLong(uint256 length);

    constructor(uint256 minStake_, uint256 slashBps_, uint256 minFeeBps_) {
        if (slashBps_ > BPS || minFeeBps_ > slashBps_) revert AmountTooLarge();
        minStake = Narrow.u128(minStake_);
        slashBps = slashBps_;
        minFeeBps = minFeeBps_;
        ratings = new Ratings();
        deployBlock = block.number;
        _nextTaskId = 1;
    }

    // ----------------------------------------------------------------- providers

    /// @notice Join as a provider. `publicKey` is the 64-byte uncompressed secp256k1 key (no 0x04
    ///         prefix) whose keccak is the caller's address; parties encrypt envelopes to it.
    ///         `maxLock`: the longest (seconds) a task may hold this provider's stake, counted as
    ///         executeWindow + 6 x reviewWindow; `retention`: seconds it serves a paid result.
    function registerProvider(bytes calldata publicKey, Terms calldata terms, string calldata hardware)
        external
        payable
    {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered();
        if (publicKey.length != 64 || address(uint160(uint256(keccak256(publicKey)))) != msg.sender) {
            revert InvalidPublicKey();
        }
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        p.stake = Narrow.u128(msg.value);
        p.registered = true;
        p.keyX = bytes32(publicKey[0:32]);
        p.keyY = bytes32(publicKey[32:64]);
        p.hardware = hardware;
        emit ProviderRegistered(msg.sender, publicKey, msg.value, hardware);
        emit StakeChanged(msg.sender, msg.value, 0);
        _setTerms(p, terms);
        _setAvailable(msg.sender, p, true);
    }

    /// @notice Change terms, hardware summary and whether new tasks may be assigned (tasks already
    ///         running keep the terms they were created under).
    function updateProvider(Terms calldata terms, bool available, string calldata hardware) external {
        Provider storage p = _registered(msg.sender);
        if (available && p.stake < minStake) revert StakeTooLow(p.stake, minStake);
        p.hardware = hardware;
        emit ProviderUpdated(msg.sender, hardware);
        _setTerms(p, terms);
        _setAvailable(msg.sender, p, available);
    }

    /// @notice Only change availability (cheaper than `updateProvider`).
    function setAvailable(bool available) external {
        Provider storage p = _registered(msg.sender);
        if (available && p.stake < minStake) revert StakeTooLow(p.stake, minStake);
        _setAvailable(msg.sender, p, available);
    }

    /// @notice Add stake (any amount, 0 too): the draw weight follows the stake as of this call
    ///         (earnings paid into the stake count from the next such call).
    function addStake() external payable {
        Provider storage p = _registered(msg.sender);
        p.stake = Narrow.u128(uint256(p.stake) + msg.value);
        emit StakeChanged(msg.sender, p.stake, p.locked);
        _syncEntries(msg.sender, p);
    }

    /// @notice Take back stake that no open task has locked. Falling below the minimum stake
    ///         makes the provider unavailable.
    function withdrawStake(uint256 amount) external {
        Provider storage p = _registered(msg.sender);
        uint256 free = uint256(p.stake) - p.locked;
        if (amount == 0 || amount > free) revert StakeLocked(free, amount);
        p.stake -= uint128(amount);
        emit StakeChanged(msg.sender, p.stake, p.locked);
        if (p.stake < minStake) _setAvailable(msg.sender, p, false);
        else _syncEntries(msg.sender, p);
        _send(msg.sender, amount);
    }

    // ----------------------------------------------------------------- requester

    /// @notice Escrow `payment + validatorFee` (exactly msg.value) for a task whose package has
    ///         Merkle root `taskRoot`, assigned to `terms.provider` at once. `expectedId` must be the
    ///         id the task gets (envelopes are bound to it); a race with another requester reverts
    ///         and costs nothing but gas. `mode` None: no validator (fee 0); Named: `validator`
    ///         (locked when the result is committed; the provider may decline it for free); Random:
    ///         drawn from the hash of the block that commits the result. Refused before any money
    ///         moves: a full provider, more GPUs than it offers, a payment below its rates x the
    ///         time limit, a time limit the execute window cannot hold, a lock longer than its maxLock.
    function createTask(uint256 expectedId, TaskTerms calldata terms, bytes calldata requesterKey)
        external
        payable
        returns (uint256 taskId)
    {
        taskId = _nextTaskId;
        if (expectedId != taskId) revert TaskIdTaken(expectedId, taskId);
        _checkKey(requesterKey);
        uint256 value = _create(taskId, terms, requesterKey);
        if (msg.value != value) revert WrongValue(value, msg.value);
    }

    /// @notice `createTask` for many tasks in one transaction (a sweep): consecutive ids from
    ///         `firstId`, each with its own escrow, timeline and draw; msg.value is the sum.
    function createTasks(uint256 firstId, TaskTerms[] calldata terms, bytes calldata requesterKey)
        external
        payable
        returns (uint256)
    {
        if (firstId != _nextTaskId) revert TaskIdTaken(firstId, _nextTaskId);
        _checkKey(requesterKey);
        uint256 value = 0;
        for (uint256 i = 0; i < terms.length; ++i) {
            value += _create(firstId + i, terms[i], requesterKey);
        }
        if (msg.value != value) revert WrongValue(value, msg.value);
        return firstId;
    }

    /// @dev Checks and records one task; returns the wei it escrows.
    function _create(uint256 taskId, TaskTerms calldata c, bytes calldata requesterKey) private returns (uint256) {
        uint256 payment = c.payment;
        uint256 validatorFee = c.validatorFee;
        if (payment == 0) revert ZeroPayment();
        _checkWindow(c.executeWindow);
        _checkWindow(c.reviewWindow);
        if (c.timeLimit == 0 || c.timeLimit > c.executeWindow) revert TimeLimitOutOfRange(c.timeLimit, c.executeWindow);
        uint256 lock = lockFor(payment);
        if (c.mode == Mode.None) {
            if (validatorFee != 0 || c.validator != address(0)) revert FeeOutOfRange(validatorFee, 0, 0);
        } else {
            uint256 minFee = minFeeFor(payment);
            if (validatorFee < minFee || validatorFee > lock) revert FeeOutOfRange(validatorFee, minFee, lock);
        }
        address provider = c.provider;
        Provider storage p = _providers[provider];
        if (provider == msg.sender || !p.available) revert ProviderUnavailable(provider);
        if (p.running >= uint256(p.slots) + p.queue) revert ProviderFull(provider, p.slots);
        if (c.gpus > p.gpus) revert GpusRefused(c.gpus, p.gpus);
        uint256 required = priceOf(provider, c.timeLimit, c.gpus);
        if (payment < required) revert PaymentBelowRate(payment, required);
        uint256 span = c.executeWindow + BOUND_WINDOWS * c.reviewWindow;
        if (span > p.maxLock) revert TermsRefused(span, p.maxLock);
        _nextTaskId = taskId + 1;
        p.running += 1;
        Task storage t = _tasks[taskId];
        t.requester = msg.sender;
        t.mode = c.mode;
        t.reviewWindow = uint24(c.reviewWindow);
        t.payment = Narrow.u128(payment);
        t.validatorFee = Narrow.u128(validatorFee);
        t.provider = provider;
        t.bound = Narrow.u40(block.timestamp + span);
        t.timeLimit = uint32(c.timeLimit);
        t.gpus = uint8(c.gpus);
        emit TaskCreated(
            taskId, msg.sender, provider, c.mode, payment, validatorFee, c.timeLimit, c.gpus, c.taskRoot, requesterKey
        );
        _lock(provider, p, lock);
        _setState(t, taskId, State.Assigned, block.timestamp + c.executeWindow);
        emit ProviderAssigned(taskId, provider, c.providerEnvelope);
        if (c.mode == Mode.Named) {
            if (!_eligible(c.validator, msg.sender, provider, lock)) revert ValidatorIneligible(c.validator);
            t.validator = c.validator;
            emit ValidatorAssigned(taskId, c.validator, 0, false);
        } else if (c.mode == Mode.Random) {
            t.flags = COUNTED;
        }
        return payment + validatorFee;
    }

    /// @notice Rate the provider (1..5) once the provider is paid. Counts toward its validated
    ///         reputation only when a drawn validator passed the task.
    function rate(uint256 taskId, uint8 rating) external {
        _rate(taskId, rating);
    }

    /// @notice `rate` for many tasks in one transaction (a sweep's runs).
    function rateMany(uint256[] calldata taskIds, uint8[] calldata ratings_) external {
        if (taskIds.length != ratings_.length) revert LengthMismatch();
        for (uint256 i = 0; i < taskIds.length; ++i) {
            _rate(taskIds[i], ratings_[i]);
        }
    }

    function _rate(uint256 taskId, uint8 rating) private {
        Task storage t = _requesterTask(taskId);
        if (rating < 1 || rating > 5) revert InvalidRating(rating);
        State s = t.state;
        if (s != State.Passed && s != State.Closed) revert WrongState(taskId, s);
        uint8 flags = t.flags;
        if (flags & RATED != 0) revert AlreadyRated(taskId);
        t.flags = flags | RATED;
        bool counted = s == State.Passed && flags & COUNTED != 0;
        if (s == State.Passed) _setState(t, taskId, State.Closed, 0);
        ratings.recordRating(t.provider, taskId, msg.sender, rating, counted, t.payment);
    }

    // ----------------------------------------------------------------- provider

    /// @notice Give an assigned task back before delivering, with a short reason for the
    ///         requester; the requester is refunded in full, nobody is slashed.
    function declineTask(uint256 taskId, string calldata reason) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Assigned);
        if (bytes(reason).length > MAX_REASON) revert ReasonTooLong(bytes(reason).length);
        emit TaskDeclined(taskId, reason);
        _delivered(t);
        _setState(t, taskId, State.Cancelled, 0);
        t.drawBlock = 0;
        _release(t.provider, taskId, t.payment, 0);
        _credit(t.requester, taskId, uint256(t.payment) + t.validatorFee);
    }

    /// @notice Commit to the result before the deadline: its Merkle root and
    ///         keyCommit = keccak256(abi.encodePacked(K2, taskId, resultRoot)). The requester's
    ///         envelope carries the result's locator (no key); the validator's (a named validator,
    ///         locked here) carries the task and result references with K2. Without a named
    ///         validator the draw is asked for here and made by `drawValidator`.
    function submitResult(
        uint256 taskId,
        bytes32 resultRoot,
        bytes32 keyCommit,
        bytes calldata requesterEnvelope,
        bytes calldata validatorEnvelope
    ) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Assigned);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        t.keyCommit = keyCommit;
        _delivered(t);
        emit ResultCommitted(taskId, msg.sender, resultRoot, keyCommit, requesterEnvelope, validatorEnvelope);
        if (t.mode == Mode.None) {
            _setState(t, taskId, State.Executed, t.bound);
            return;
        }
        t.state = State.Validating;
        address named = t.validator;
        if (named != address(0)) {
            if (_eligible(named, t.requester, t.provider, lockFor(t.payment))) {
                _assign(t, taskId, named, 0, false);
                return;
            }
            // the named validator cannot take it now: an unchoosable draw replaces it
            t.validator = address(0);
            t.flags |= COUNTED;
        }
        // drawn from this block's hash: unknown until the provider has committed and can no
        // longer decline or let the task expire to try another draw
        _setState(t, taskId, State.Validating, _checkBound(t));
        _request(t, taskId);
    }

    /// @notice Post an envelope for the task's current validator (provider or requester), or,
    ///         from a validator of the task, for the requester (a second source of the result).
    function postEnvelope(uint256 taskId, bytes calldata envelope) external {
        Task storage t = _task(taskId);
        address recipient = t.validator;
        if (msg.sender == t.validator || msg.sender == t.firstValidator) recipient = t.requester;
        else if (msg.sender != t.provider && msg.sender != t.requester) revert NotParty(taskId);
        emit Envelope(taskId, recipient, msg.sender, envelope);
    }

    /// @notice Be paid by revealing K2. Open without a validator at once; with one, when the
    ///         check bound passed without a verdict (or a replacement's whole window passed), or
    ///         when an appeal found no validator while a whole window still fitted. Never closes
    ///         while the task is in such a state: only a refund after the bound ends it.
    function claimPayment(uint256 taskId, bytes32 resultRoot, bytes32 key) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        State s = t.state;
        uint256 opens = _claimOpens(t);
        if (opens == type(uint256).max) revert WrongState(taskId, s);
        if (block.timestamp <= opens) revert DeadlineNotReached(taskId, opens);
        _reveal(t, taskId, resultRoot, key);
        _setState(t, taskId, State.Closed, 0);
        t.drawBlock = 0;
        if (s == State.Appealed) {
            // nobody could be drawn for the appeal: the provider asked, so it is paid, its bond
            // comes back, and the first validator is released unslashed
            _release(t.firstValidator, taskId, t.payment, 0);
            _release(t.provider, taskId, t.payment, uint256(t.payment) + t.validatorFee);
            return;
        }
        _release(t.provider, taskId, t.payment, t.payment);
        if (s == State.Validating) {
            if (t.validator != address(0)) _forfeit(t, taskId, t.validator);
            _credit(t.requester, taskId, t.validatorFee);
        }
    }

    /// @notice Contest a fail verdict before its deadline with a bond equal to the validator fee. A
    ///         second validator is drawn (never a previous party of the task), from this block's
    ///         hash, when `drawValidator` is next called.
    function appeal(uint256 taskId) external payable {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Failed);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        if (msg.value != t.validatorFee) revert WrongValue(t.validatorFee, msg.value);
        t.firstValidator = t.validator;
        t.validator = address(0);
        t.flags |= COUNTED | EXCLUDES;
        emit Appealed(taskId, msg.sender, msg.value);
        _setState(t, taskId, State.Appealed, t.bound);
        _request(t, taskId);
    }

    // ----------------------------------------------------------------- validator

    /// @notice The verdict of the task's current validator, accepted while it is the validator
    ///         (its deadline only opens its replacement). A pass must reveal K2 (checked against
    ///         the commitment) and pays the provider at once; a fail opens the appeal window.
    function submitVerdict(uint256 taskId, bool passed, bytes32 resultRoot, bytes32 key) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.validator) revert NotValidator(taskId);
        State s = t.state;
        if (s != State.Validating && s != State.Appealed) revert WrongState(taskId, s);
        uint256 lock = lockFor(t.payment);
        uint256 fee = t.validatorFee;
        emit VerdictSubmitted(taskId, msg.sender, passed, _round(t));
        // The fee is earned either way; a first fail keeps the validator's lock until the appeal
        // is decided (an overturn slashes it).
        _release(msg.sender, taskId, passed || s == State.Appealed ? t.payment : 0, fee);
        if (passed) {
            _reveal(t, taskId, resultRoot, key);
            _setState(t, taskId, State.Passed, 0);
            uint256 pay = t.payment;
            if (s == State.Appealed) {
                // The first validator failed a result that a drawn validator passed: its lock pays
                // the appeal fee (above, from the bond), the provider gets its bond back and the rest.
                _slash(t.firstValidator, taskId, lock, 2);
                pay += lock;
            }
            _release(t.provider, taskId, t.payment, pay);
            ratings.recordVerdict(t.provider, taskId, true, t.flags & COUNTED != 0, t.payment);
            return;
        }
        if (s == State.Validating) {
            _setState(t, taskId, State.Failed, block.timestamp + t.reviewWindow);
            return;
        }
        // Appeal confirmed the fail: the provider's bond paid the appeal validator above.
        _reject(t, taskId, true, 0);
    }

    /// @notice An assigned validator gives the task back within a quarter of its window: its lock
    ///         is released, nobody is slashed, and another validator is drawn.
    function declineDraw(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.validator) revert NotValidator(taskId);
        State s = t.state;
        if (s != State.Validating && s != State.Appealed) revert WrongState(taskId, s);
        uint256 until = t.deadline - t.reviewWindow + declineWindowOf(t.reviewWindow);
        if (block.timestamp > until) revert DeadlinePassed(taskId, until);
        emit DrawDeclined(taskId, msg.sender);
        _release(msg.sender, taskId, t.payment, 0);
        t.validator = address(0);
        t.excluded = msg.sender;
        t.flags |= COUNTED | EXCLUDES;
        _setState(t, taskId, s, s == State.Appealed ? t.bound : _checkBound(t));
        _request(t, taskId);
    }

    // ----------------------------------------------------------------- draws and timed exits (anyone)

    /// @notice Resolve the task's pending draw (from the hash of the block it was requested in;
    ///         anyone may, the drawn validator's agent does). Returns false, and re-arms the draw
    ///         on this block, when no eligible validator was found; false without change when a
    ///         whole review window no longer fits. A party of the task may pass the validator's
    ///         envelope, sealed to `expected` (what `pendingValidator` said): it is posted when
    ///         the draw picked `expected`.
    function drawValidator(uint256 taskId, address expected, bytes calldata envelope) external returns (bool) {
        Task storage t = _task(taskId);
        if (t.drawBlock == 0 || (t.state != State.Validating && t.state != State.Appealed)) {
            revert NoDrawPending(taskId);
        }
        if (!_resolve(t, taskId)) return false;
        if (envelope.length > 0 && t.validator == expected && (msg.sender == t.provider || msg.sender == t.requester)) {
            emit Envelope(taskId, expected, msg.sender, envelope);
        }
        return true;
    }

    /// @notice After the validator's deadline (once per task, while a whole window still fits
    ///         before the check bound): its lock is forfeited and another validator is drawn.
    function replaceValidator(uint256 taskId) external {
        Task storage t = _task(taskId);
        _expect(t, taskId, State.Validating);
        address silent = t.validator;
        uint256 deadline = t.deadline;
        if (silent == address(0) || block.timestamp <= deadline) revert DeadlineNotReached(taskId, deadline);
        if (t.flags & REPLACED != 0) revert AlreadyReplaced(taskId);
        uint256 limit = _checkBound(t) - t.reviewWindow;
        if (block.timestamp > limit) revert DeadlinePassed(taskId, limit);
        _forfeit(t, taskId, silent);
        t.validator = address(0);
        t.excluded = silent;
        t.flags |= REPLACED | COUNTED | EXCLUDES;
        _setState(t, taskId, State.Validating, _checkBound(t));
        _request(t, taskId);
    }

    /// @notice Settle a fail whose appeal window passed without an appeal (the provider's lock is
    ///         slashed), or an appeal whose drawn validator stayed silent (void: nobody but that
    ///         validator is slashed).
    function settle(uint256 taskId) external {
        Task storage t = _task(taskId);
        State s = t.state;
        if (s == State.Appealed && t.validator == address(0)) revert WrongState(taskId, s);
        if (s != State.Failed && s != State.Appealed) revert WrongState(taskId, s);
        if (block.timestamp <= t.deadline) revert DeadlineNotReached(taskId, t.deadline);
        if (s == State.Failed) {
            _release(t.validator, taskId, t.payment, 0);
            _reject(t, taskId, true, 0);
            return;
        }
        _forfeit(t, taskId, t.validator);
        _reject(t, taskId, false, t.validatorFee); // the bond comes back
    }

    /// @notice Timed exit to the requester: the provider let its execution deadline pass, or the
    ///         bound fixed at creation passed without the provider claiming what it could claim.
    function refund(uint256 taskId) external {
        Task storage t = _task(taskId);
        State s = t.state;
        uint256 due = s == State.Assigned ? t.deadline : t.bound;
        if (s != State.Assigned && _claimOpens(t) == type(uint256).max) revert WrongState(taskId, s);
        if (block.timestamp <= due) revert DeadlineNotReached(taskId, due);
        if (s == State.Assigned) _delivered(t);
        _setState(t, taskId, State.Expired, 0);
        t.drawBlock = 0;
        _release(t.provider, taskId, t.payment, s == State.Appealed ? t.validatorFee : 0);
        uint256 back = uint256(t.payment) + t.validatorFee;
        if (s == State.Appealed) {
            _release(t.firstValidator, taskId, t.payment, 0);
            back = t.payment;
        } else if (s == State.Validating && t.validator != address(0)) {
            _forfeit(t, taskId, t.validator);
        } else if (s == State.Executed) {
            back = t.payment;
        }
        _credit(t.requester, taskId, back);
    }

    /// @notice Pull everything credited to the caller (refunds; providers and validators are paid
    ///         into their stake, see `withdrawStake`).
    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ----------------------------------------------------------------- views

    /// @notice Number of tasks ever created (ids run from 1 to taskCount()).
    function taskCount() external view returns (uint256) {
        return _nextTaskId - 1;
    }

    function getTask(uint256 taskId) external view returns (Task memory) {
        return _tasks[taskId];
    }

    function getProvider(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice 64-byte public key registered by a provider (empty when not registered).
    function publicKeyOf(address provider) external view returns (bytes memory) {
        Provider storage p = _providers[provider];
        if (!p.registered) return "";
        return abi.encodePacked(p.keyX, p.keyY);
    }

    /// @notice Wei this task still holds in escrow.
    function escrowOf(uint256 taskId) public view returns (uint256) {
        Task storage t = _tasks[taskId];
        State s = t.state;
        // Appealed holds the provider's bond, equal to the fee the first validator was paid.
        if (s == State.Assigned || s == State.Validating || s == State.Appealed) {
            return uint256(t.payment) + t.validatorFee;
        }
        if (s == State.Executed || s == State.Failed) return t.payment;
        return 0;
    }

    /// @notice The least payment `provider` accepts for a task of `timeLimit` seconds on `gpus` GPUs:
    ///         (ratePerHour + gpus x ratePerGpuHour) x timeLimit / 1 hour, rounded up.
    function priceOf(address provider, uint256 timeLimit, uint256 gpus) public view returns (uint256) {
        Provider storage p = _providers[provider];
        uint256 perHour = uint256(p.ratePerHour) + gpus * p.ratePerGpuHour;
        return (perHour * timeLimit + 3599) / 3600;
    }

    /// @notice Stake locked from the provider (and from the validator) while they hold a task.
    function lockFor(uint256 payment) public view returns (uint256) {
        return payment * slashBps / BPS;
    }

    /// @notice Least validator fee for a validated task of this payment.
    function minFeeFor(uint256 payment) public view returns (uint256) {
        return payment * minFeeBps / BPS;
    }

    /// @notice Seconds an assigned validator has to decline, from its assignment.
    function declineWindowOf(uint256 reviewWindow) public pure returns (uint256) {
        return reviewWindow / 4;
    }

    /// @notice Providers that can be named or drawn as validators (available with the minimum stake).
    function poolSize() external view returns (uint256) {
        return _pool.length;
    }

    function poolAt(uint256 index) external view returns (address) {
        return _pool[index];
    }

    /// @notice Stake entries (draw tickets) ever made; dead ones are reused.
    function entryCount() external view returns (uint256) {
        return _entries.length;
    }

    /// @notice When the provider may claim: after this time (max: not in the task's state).
    function claimOpensAt(uint256 taskId) external view returns (uint256) {
        return _claimOpens(_tasks[taskId]);
    }

    /// @notice Who the pending draw of a task would pick if resolved now (0: nobody yet, or not
    ///         resolvable in this block). The provider seals its validator envelope to it.
    function pendingValidator(uint256 taskId) external view returns (address) {
        Task storage t = _tasks[taskId];
        uint256 db = t.drawBlock;
        if (db == 0 || block.number <= db) return address(0);
        bytes32 seed = blockhash(db);
        if (seed == 0) return address(0);
        return _pick(t, taskId, seed);
    }

    /// @notice True when `account` may validate a task of `payment` between requester and provider.
    function isEligibleValidator(address account, address requester, address provider, uint256 payment)
        external
        view
        returns (bool)
    {
        return _eligible(account, requester, provider, lockFor(payment));
    }

    // ----------------------------------------------------------------- internals

    function _checkBound(Task storage t) private view returns (uint256) {
        return uint256(t.bound) - 3 * uint256(t.reviewWindow);
    }

    /// @dev When the provider may claim by revealing K2; max: not in this state.
    function _claimOpens(Task storage t) private view returns (uint256) {
        State s = t.state;
        if (s == State.Executed) return 0;
        if (s == State.Validating) {
            if (t.flags & REPLACED != 0 && t.validator != address(0)) return t.deadline;
            return _checkBound(t);
        }
        if (s == State.Appealed && t.validator == address(0)) {
            // the appeal draw can no longer give a whole window
            return uint256(t.bound) - t.reviewWindow;
        }
        return type(uint256).max;
    }

    function _round(Task storage t) private view returns (uint8) {
        if (t.state == State.Appealed) return 2;
        return t.flags & REPLACED != 0 ? 1 : 0;
    }

    /// @dev Ask for a draw seeded by this block's hash (unknown to everyone while this block is built).
    function _request(Task storage t, uint256 taskId) private {
        t.drawBlock = Narrow.u32(block.number);
        t.drawEntries = uint24(_entries.length);
        emit DrawRequested(taskId, _round(t), block.number);
    }

    /// @dev Resolve a pending draw if its seed is known and a whole window fits; re-arm when the
    ///      seed is out of `blockhash` reach or nobody eligible was found.
    function _resolve(Task storage t, uint256 taskId) private returns (bool) {
        uint256 db = t.drawBlock;
        if (db == 0 || block.number <= db) return false;
        uint256 limit = t.state == State.Appealed ? t.bound : _checkBound(t);
        if (block.timestamp + t.reviewWindow > limit) return false;
        bytes32 seed = blockhash(db);
        address found = seed == 0 ? address(0) : _pick(t, taskId, seed);
        if (found == address(0)) {
            _request(t, taskId);
            return false;
        }
        t.drawBlock = 0;
        _assign(t, taskId, found, _round(t), true);
        return true;
    }

    /// @dev Up to DRAW_PROBES independent uniform picks among the entries that existed at the
    ///      request, until one is eligible: rejection sampling, so each eligible entry is equally
    ///      likely and a provider's chance is its share of the eligible stake entries.
    function _pick(Task storage t, uint256 taskId, bytes32 seed) private view returns (address) {
        uint256 n = t.drawEntries;
        if (n == 0) return address(0);
        uint256 db = t.drawBlock;
        uint256 lock = lockFor(t.payment);
        address requester = t.requester;
        address provider = t.provider;
        address first;
        address excluded;
        if (t.flags & EXCLUDES != 0) (first, excluded) = (t.firstValidator, t.excluded);
        for (uint256 i = 0; i < DRAW_PROBES; ++i) {
            Entry storage e = _entries[uint256(keccak256(abi.encode(seed, address(this), taskId, i))) % n];
            address candidate = e.account;
            // a live entry is an available provider's (entries die when it leaves the pool)
            if (
                candidate == address(0) || e.since > db || candidate == requester || candidate == provider
                    || candidate == first || candidate == excluded
            ) continue;
            Provider storage p = _providers[candidate];
            if (uint256(p.stake) - p.locked >= lock) return candidate;
        }
        return address(0);
    }

    /// @dev A named validator's eligibility (drawn ones are checked in `_pick`).
    function _eligible(address account, address requester, address provider, uint256 lock) private view returns (bool) {
        if (account == address(0) || account == requester || account == provider) return false;
        Provider storage p = _providers[account];
        return p.available && uint256(p.stake) - p.locked >= lock;
    }

    function _assign(Task storage t, uint256 taskId, address validator, uint8 round, bool drawn) private {
        _lock(validator, _providers[validator], lockFor(t.payment));
        t.validator = validator;
        t.deadline = Narrow.u40(block.timestamp + t.reviewWindow);
        emit ValidatorAssigned(taskId, validator, round, drawn);
        emit TaskStateChanged(taskId, t.state, t.deadline);
    }

    function _reveal(Task storage t, uint256 taskId, bytes32 resultRoot, bytes32 key) private {
        if (keccak256(abi.encodePacked(key, taskId, resultRoot)) != t.keyCommit) revert KeyMismatch(taskId);
        emit KeyReleased(taskId, resultRoot, key);
    }

    /// @dev Final fail: refund the requester; slash the provider's lock when `slashProvider`, else
    ///      release it and pay the provider `back` (its appeal bond).
    function _reject(Task storage t, uint256 taskId, bool slashProvider, uint256 back) private {
        _setState(t, taskId, State.Rejected, 0);
        address first = t.firstValidator;
        if (first != address(0)) _release(first, taskId, t.payment, 0);
        if (slashProvider) _slash(t.provider, taskId, lockFor(t.payment), 0);
        else _release(t.provider, taskId, t.payment, back);
        _credit(t.requester, taskId, t.payment);
        ratings.recordVerdict(t.provider, taskId, false, slashProvider && t.flags & COUNTED != 0, t.payment);
    }

    function _lock(address account, Provider storage p, uint256 amount) private {
        uint256 free = uint256(p.stake) - p.locked;
        if (free < amount) revert StakeTooLow(free, amount);
        p.locked = uint128(uint256(p.locked) + amount);
        emit StakeChanged(account, p.stake, p.locked);
    }

    /// @dev Unlock the stake held for a task of `payment` (0: nothing) and add `earned` to the
    ///      stake: providers and validators are paid into their stake (one storage write), from
    ///      which `withdrawStake` takes the free part. Amounts are bounded by escrow and stake,
    ///      both uint128 on entry, so nothing here can fail once a key is public.
    function _release(address account, uint256 taskId, uint256 payment, uint256 earned) private {
        Provider storage p = _providers[account];
        p.locked -= uint128(lockFor(payment));
        if (earned > 0) {
            uint256 stake = uint256(p.stake) + earned;
            if (stake > type(uint128).max) {
                // beyond any real amount; kept exact in credits rather than lost
                _credit(account, taskId, stake - type(uint128).max);
                stake = type(uint128).max;
            }
            p.stake = uint128(stake);
            emit Credited(account, taskId, earned);
        }
        emit StakeChanged(account, p.stake, p.locked);
    }

    /// @dev Take `amount` of `account`'s locked stake. reason 0: provider's fail stands (burned);
    ///      1: silent validator and 2: overturned validator (the caller pays it onward).
    function _slash(address account, uint256 taskId, uint256 amount, uint8 reason) private {
        Provider storage p = _providers[account];
        p.locked -= uint128(amount);
        p.stake -= uint128(amount);
        emit Slashed(account, taskId, amount, reason);
        emit StakeChanged(account, p.stake, p.locked);
        if (p.stake < minStake) _setAvailable(account, p, false);
        else _syncEntries(account, p);
        if (reason == 0 && amount > 0) _send(address(0), amount);
    }

    /// @dev A silent validator loses its lock: half compensates the provider, half is burned.
    function _forfeit(Task storage t, uint256 taskId, address validator) private {
        uint256 amount = lockFor(t.payment);
        _slash(validator, taskId, amount, 1);
        uint256 half = amount / 2;
        _release(t.provider, taskId, 0, half);
        if (amount - half > 0) _send(address(0), amount - half);
    }

    function _setTerms(Provider storage p, Terms calldata c) private {
        p.ratePerHour = Narrow.u128(c.ratePerHour);
        p.ratePerGpuHour = Narrow.u128(c.ratePerGpuHour);
        p.maxLock = Narrow.u32(c.maxLock);
        p.retention = Narrow.u32(c.retention);
        if (
            c.slots == 0 || c.slots > type(uint16).max || c.gpus > type(uint8).max || c.queue > type(uint16).max
        ) revert TermsOutOfRange();
        p.slots = uint16(c.slots);
        p.gpus = uint8(c.gpus);
        p.queue = uint16(c.queue);
        emit TermsChanged(
            msg.sender, c.ratePerHour, c.ratePerGpuHour, c.maxLock, c.retention, c.slots, c.gpus, c.queue
        );
    }

    /// @dev The task leaves Assigned (delivered, declined or expired): its slot is free again.
    function _delivered(Task storage t) private {
        Provider storage p = _providers[t.provider];
        if (p.running > 0) p.running -= 1;
    }

    function _checkKey(bytes calldata requesterKey) private view {
        if (requesterKey.length != 64 || address(uint160(uint256(keccak256(requesterKey)))) != msg.sender) {
            revert InvalidPublicKey();
        }
    }

    function _setAvailable(address account, Provider storage p, bool available) private {
        if (p.available == available) return;
        p.available = available;
        if (available) {
            _pool.push(account);
            _poolIndex[account] = _pool.length;
        } else {
            uint256 index = _poolIndex[account] - 1;
            address last = _pool[_pool.length - 1];
            _pool[index] = last;
            _poolIndex[last] = index + 1;
            _pool.pop();
            _poolIndex[account] = 0;
        }
        emit AvailabilityChanged(account, available);
        _syncEntries(account, p);
    }

    /// @dev Make the provider's live stake entries match its stake (one per minStake, at most
    ///      MAX_UNITS; none while unavailable). New entries count for draws requested from this
    ///      block on.
    function _syncEntries(address account, Provider storage p) private {
        uint256 want = 0;
        if (p.available) {
            want = minStake == 0 ? 1 : p.stake / minStake;
            if (want > MAX_UNITS) want = MAX_UNITS;
        }
        uint256 units = p.units;
        if (units == want) return;
        uint32[8] storage index = _entryIndex[account];
        while (units < want) {
            Entry memory e = Entry(account, uint40(block.number));
            uint256 slot;
            if (_deadEntries.length > 0) {
                slot = _deadEntries[_deadEntries.length - 1];
                _deadEntries.pop();
                _entries[slot] = e;
            } else {
                slot = _entries.length;
                _entries.push(e);
            }
            index[units] = Narrow.u32(slot + 1);
            ++units;
        }
        while (units > want) {
            --units;
            uint256 slot = index[units] - 1;
            index[units] = 0;
            delete _entries[slot];
            _deadEntries.push(slot);
        }
        p.units = uint8(units);
    }

    function _credit(address account, uint256 taskId, uint256 amount) private {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, taskId, amount);
    }

    function _setState(Task storage t, uint256 taskId, State state, uint256 deadline) private {
        t.state = state;
        t.deadline = Narrow.u40(deadline);
        emit TaskStateChanged(taskId, state, deadline);
    }

    function _checkWindow(uint256 window) private pure {
        if (window < MIN_WINDOW || window > MAX_WINDOW) revert WindowOutOfRange(window);
    }

    function _expect(Task storage t, uint256 taskId, State state) private view {
        if (t.state != state) revert WrongState(taskId, t.state);
    }

    function _task(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.state == State.None) revert UnknownTask(taskId);
    }

    function _requesterTask(uint256 taskId) private view returns (Task storage t) {
        t = _task(taskId);
        if (msg.sender != t.requester) revert NotRequester(taskId);
    }

    function _registered(address provider) private view returns (Provider storage p) {
        p = _providers[provider];
        if (!p.registered) revert NotRegistered();
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
