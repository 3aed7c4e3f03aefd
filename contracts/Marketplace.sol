// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Narrow} from "./Narrow.sol";
import {Ratings} from "./Ratings.sol";

/// @title Marketplace (protocol v2)
/// @notice Escrowed machine-learning compute market with fair exchange of result and payment.
///
///  * Split-key release. The result is sealed under K = HKDF(K1 || K2): K1 comes from the task key
///    (which the requester already has), K2 is fresh. `submitResult` commits
///    keccak256(K2 || taskId || resultRoot); a pass verdict, or the provider's claim, reveals K2 and is
///    checked against that commitment in the same transaction that pays the provider. Nobody
///    decrypts without the provider being paid; nobody is paid without releasing the key.
///  * Validators are staked providers, named by the requester (the provider consents by not
///    declining, which is free) or drawn at random from the available pool. A validator's stake is
///    locked from assignment to its verdict; silence forfeits that lock.
///  * A fail can be appealed by the provider with a bond; a second validator is drawn at random;
///    the loser pays. An overturned fail slashes the first validator.
///  * Every state holding money has a deadline fixed when it is entered and a timed exit.
///
/// @dev Invariant: address(this).balance == sum(escrowOf(open tasks)) + sum(stakes) + sum(credits).
///      Every call is O(1): the pool is a swap-and-pop array with an index map.
contract Marketplace {
    enum State {
        None, //       0: no such task
        Assigned, //   1: provider executing until deadline (escrow: payment + fee)
        Validating, // 2: result committed, validator's verdict due by deadline (payment + fee)
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
        Random //  drawn from the pool when the task is created
    }

    struct Task {
        // slot 0
        address requester;
        State state;
        Mode mode;
        uint8 flags; // bit 0: validator replaced, 1: rated, 2: counted (decided by a drawn validator)
        uint40 deadline;
        uint24 reviewWindow;
        // slot 1
        address provider;
        uint96 payment;
        // slot 2
        address validator;
        uint96 validatorFee;
        // slot 3
        bytes32 keyCommit; // keccak256(K2 || taskId || resultRoot)
        // slot 4 (appeals only)
        address firstValidator;
    }

    struct Provider {
        // slot 0
        uint80 stake;
        uint80 locked;
        uint80 price;
        bool registered;
        bool available;
        // slots 1-2
        bytes32 keyX;
        bytes32 keyY;
        // slot 3+
        string hardware;
    }

    uint8 private constant REPLACED = 1;
    uint8 private constant RATED = 2;
    uint8 private constant COUNTED = 4;
    uint256 private constant DRAW_PROBES = 4;
    uint256 public constant MAX_REASON = 200; // bytes of a decline reason

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
    address[] private _pool;
    mapping(address => uint256) private _poolIndex; // index + 1; 0: not in the pool

    event ProviderRegistered(address indexed provider, bytes publicKey, uint256 price, uint256 stake, string hardware);
    event ProviderUpdated(address indexed provider, uint256 price, string hardware);
    event AvailabilityChanged(address indexed provider, bool available);
    event StakeChanged(address indexed provider, uint256 stake, uint256 locked);
    event TaskCreated(
        uint256 indexed taskId,
        address indexed requester,
        address indexed provider,
        Mode mode,
        uint256 payment,
        uint256 validatorFee,
        bytes32 taskRoot,
        bytes requesterKey
    );
    event ProviderAssigned(uint256 indexed taskId, address indexed provider, bytes envelope);
    event ValidatorAssigned(uint256 indexed taskId, address indexed validator, uint8 round, bool drawn);
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
    error NoValidatorDrawn(uint256 taskId);
    error AlreadyReplaced(uint256 taskId);
    error PaymentBelowPrice(uint256 payment, uint256 price);
    error FeeOutOfRange(uint256 fee, uint256 min, uint256 max);
    error WrongValue(uint256 expected, uint256 sent);
    error StakeTooLow(uint256 stake, uint256 required);
    error StakeLocked(uint256 free, uint256 requested);
    error WindowOutOfRange(uint256 window);
    error TaskIdTaken(uint256 expected, uint256 next);
    error KeyMismatch(uint256 taskId);
    error AmountTooLarge();
    error ZeroPayment();
    error NothingToWithdraw();
    error TransferFailed();
    error ReasonTooLong(uint256 length);

    constructor(uint256 minStake_, uint256 slashBps_, uint256 minFeeBps_) {
        if (slashBps_ > BPS || minFeeBps_ > slashBps_) revert AmountTooLarge();
        minStake = minStake_;
        slashBps = slashBps_;
        minFeeBps = minFeeBps_;
        ratings = new Ratings();
        deployBlock = block.number;
        _nextTaskId = 1;
    }

    // ----------------------------------------------------------------- providers

    /// @notice Join as a provider. `publicKey` is the 64-byte uncompressed secp256k1 key (no 0x04
    ///         prefix) whose keccak is the caller's address; parties encrypt envelopes to it.
    function registerProvider(bytes calldata publicKey, uint256 price, string calldata hardware) external payable {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered();
        if (publicKey.length != 64 || address(uint160(uint256(keccak256(publicKey)))) != msg.sender) {
            revert InvalidPublicKey();
        }
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        p.stake = Narrow.u80(msg.value);
        p.price = Narrow.u80(price);
        p.registered = true;
        p.keyX = bytes32(publicKey[0:32]);
        p.keyY = bytes32(publicKey[32:64]);
        p.hardware = hardware;
        emit ProviderRegistered(msg.sender, publicKey, price, msg.value, hardware);
        emit StakeChanged(msg.sender, msg.value, 0);
        _setAvailable(msg.sender, p, true);
    }

    /// @notice Change price, hardware summary and whether new tasks may be assigned.
    function updateProvider(uint256 price, bool available, string calldata hardware) external {
        Provider storage p = _registered(msg.sender);
        if (available && p.stake < minStake) revert StakeTooLow(p.stake, minStake);
        p.price = Narrow.u80(price);
        p.hardware = hardware;
        emit ProviderUpdated(msg.sender, price, hardware);
        _setAvailable(msg.sender, p, available);
    }

    /// @notice Only change availability (cheaper than `updateProvider`).
    function setAvailable(bool available) external {
        Provider storage p = _registered(msg.sender);
        if (available && p.stake < minStake) revert StakeTooLow(p.stake, minStake);
        _setAvailable(msg.sender, p, available);
    }

    function addStake() external payable {
        Provider storage p = _registered(msg.sender);
        p.stake = Narrow.u80(uint256(p.stake) + msg.value);
        emit StakeChanged(msg.sender, p.stake, p.locked);
    }

    /// @notice Take back stake that no open task has locked. Falling below the minimum stake
    ///         makes the provider unavailable.
    function withdrawStake(uint256 amount) external {
        Provider storage p = _registered(msg.sender);
        uint256 free = uint256(p.stake) - p.locked;
        if (amount == 0 || amount > free) revert StakeLocked(free, amount);
        p.stake -= uint80(amount);
        emit StakeChanged(msg.sender, p.stake, p.locked);
        if (p.stake < minStake) _setAvailable(msg.sender, p, false);
        _send(msg.sender, amount);
    }

    // ----------------------------------------------------------------- requester

    /// @notice Escrow `payment + validatorFee` (exactly msg.value) for a task whose package has
    ///         Merkle root `taskRoot`, assigned to `provider` at once. `expectedId` must be the id the
    ///         task gets (envelopes are bound to it); a race with another requester reverts and
    ///         costs nothing but gas. `mode` None: no validator (fee 0); Named: `validator` (the
    ///         provider may decline it for free); Random: drawn now from the available pool.
    function createTask(
        uint256 expectedId,
        address provider,
        Mode mode,
        address validator,
        uint256 payment,
        uint256 validatorFee,
        uint256 executeWindow,
        uint256 reviewWindow,
        bytes32 taskRoot,
        bytes calldata requesterKey,
        bytes calldata providerEnvelope
    ) external payable returns (uint256 taskId) {
        taskId = _nextTaskId;
        if (expectedId != taskId) revert TaskIdTaken(expectedId, taskId);
        if (msg.value != payment + validatorFee) revert WrongValue(payment + validatorFee, msg.value);
        if (payment == 0) revert ZeroPayment();
        if (payment > type(uint96).max || validatorFee > type(uint96).max) revert AmountTooLarge();
        _checkWindow(executeWindow);
        _checkWindow(reviewWindow);
        if (requesterKey.length != 64 || address(uint160(uint256(keccak256(requesterKey)))) != msg.sender) {
            revert InvalidPublicKey();
        }
        uint256 lock = lockFor(payment);
        if (mode == Mode.None) {
            if (validatorFee != 0 || validator != address(0)) revert FeeOutOfRange(validatorFee, 0, 0);
        } else {
            uint256 minFee = minFeeFor(payment);
            if (validatorFee < minFee || validatorFee > lock) revert FeeOutOfRange(validatorFee, minFee, lock);
        }
        _nextTaskId = taskId + 1;
        Task storage t = _tasks[taskId];
        t.requester = msg.sender;
        t.mode = mode;
        t.reviewWindow = uint24(reviewWindow);
        t.payment = uint96(payment);
        t.validatorFee = uint96(validatorFee);
        emit TaskCreated(taskId, msg.sender, provider, mode, payment, validatorFee, taskRoot, requesterKey);

        Provider storage p = _providers[provider];
        if (provider == msg.sender || !p.available) revert ProviderUnavailable(provider);
        if (payment < p.price) revert PaymentBelowPrice(payment, p.price);
        _lock(provider, p, lock);
        t.provider = provider;
        _setState(t, taskId, State.Assigned, block.timestamp + executeWindow);
        emit ProviderAssigned(taskId, provider, providerEnvelope);

        if (mode == Mode.Named) {
            if (!_eligible(validator, msg.sender, provider, address(0), lock)) revert ValidatorIneligible(validator);
            _assignValidator(t, taskId, validator, lock, 0, false);
        } else if (mode == Mode.Random) {
            address drawn = _draw(taskId, 0, msg.sender, provider, address(0), lock);
            if (drawn == address(0)) revert NoValidatorDrawn(taskId);
            t.flags = COUNTED;
            _assignValidator(t, taskId, drawn, lock, 0, true);
        }
    }

    /// @notice Rate the provider (1..5) once the provider is paid. Counts toward its validated
    ///         reputation only when a drawn validator passed the task.
    function rate(uint256 taskId, uint8 rating) external {
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

    /// @notice Give an assigned task back before delivering (e.g. it asks for more than the
    ///         provider's policy allows, its validator is not acceptable, or its own run failed)
    ///         with a short reason for the requester; the requester is refunded in full, nobody
    ///         is slashed.
    function declineTask(uint256 taskId, string calldata reason) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Assigned);
        if (bytes(reason).length > MAX_REASON) revert ReasonTooLong(bytes(reason).length);
        emit TaskDeclined(taskId, reason);
        _setState(t, taskId, State.Cancelled, 0);
        _releaseParties(t, taskId);
        _credit(t.requester, taskId, uint256(t.payment) + t.validatorFee);
    }

    /// @notice Commit to the result before the deadline: its Merkle root and
    ///         keyCommit = keccak256(abi.encodePacked(K2, taskId, resultRoot)). The requester's
    ///         envelope carries the result's locator (no key); the validator's carries the task and
    ///         result references with K2.
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
        emit ResultCommitted(taskId, msg.sender, resultRoot, keyCommit, requesterEnvelope, validatorEnvelope);
        State next = t.mode == Mode.None ? State.Executed : State.Validating;
        _setState(t, taskId, next, block.timestamp + t.reviewWindow);
    }

    /// @notice Post an envelope for the task's current validator (after a replacement or an appeal
    ///         draw, whose validator was not known at `submitResult`).
    function postEnvelope(uint256 taskId, bytes calldata envelope) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider && msg.sender != t.requester) revert NotParty(taskId);
        emit Envelope(taskId, t.validator, msg.sender, envelope);
    }

    /// @notice Be paid by revealing K2: without a validator at once; after silent validators once
    ///         the fixed bound (two review windows after `submitResult`) has passed. Open for one
    ///         review window; after that the requester takes the refund.
    function claimPayment(uint256 taskId, bytes32 resultRoot, bytes32 key) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        State s = t.state;
        uint256 opens;
        if (s == State.Validating) {
            opens = _claimOpens(t);
            if (block.timestamp <= opens) revert DeadlineNotReached(taskId, opens);
        } else if (s == State.Executed) {
            opens = t.deadline - t.reviewWindow;
        } else {
            revert WrongState(taskId, s);
        }
        if (block.timestamp > opens + t.reviewWindow) revert DeadlinePassed(taskId, opens + t.reviewWindow);
        _reveal(t, taskId, resultRoot, key);
        _setState(t, taskId, State.Closed, 0);
        _release(t.provider, taskId, t.payment, t.payment);
        if (s == State.Validating) {
            _forfeit(t, taskId, t.validator);
            _credit(t.requester, taskId, t.validatorFee);
        }
    }

    /// @notice Contest a fail verdict before its deadline with a bond equal to the validator fee. A
    ///         second validator is drawn at random (never a previous party of the task).
    function appeal(uint256 taskId) external payable {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Failed);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        if (msg.value != t.validatorFee) revert WrongValue(t.validatorFee, msg.value);
        uint256 lock = lockFor(t.payment);
        address first = t.validator;
        address drawn = _draw(taskId, 2, t.requester, t.provider, first, lock);
        if (drawn == address(0)) revert NoValidatorDrawn(taskId);
        t.firstValidator = first;
        t.flags |= COUNTED;
        emit Appealed(taskId, msg.sender, msg.value);
        _setState(t, taskId, State.Appealed, block.timestamp + t.reviewWindow);
        _assignValidator(t, taskId, drawn, lock, 2, true);
    }

    // ----------------------------------------------------------------- validator

    /// @notice The verdict, due before the deadline. A pass must reveal K2 (checked against the
    ///         commitment with the result root) and pays the provider at once; a fail opens the
    ///         provider's appeal window. The validator earns its fee either way.
    function submitVerdict(uint256 taskId, bool passed, bytes32 resultRoot, bytes32 key) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.validator) revert NotValidator(taskId);
        State s = t.state;
        if (s != State.Validating && s != State.Appealed) revert WrongState(taskId, s);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        uint256 lock = lockFor(t.payment);
        uint96 fee = t.validatorFee;
        emit VerdictSubmitted(taskId, msg.sender, passed, s == State.Appealed ? 2 : (t.flags & REPLACED != 0 ? 1 : 0));
        // A first fail keeps the validator's lock until the appeal is decided (an overturn slashes it).
        // The fee is earned either way; a first fail keeps the validator's lock until the appeal is
        // decided (an overturn slashes it).
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

    // ----------------------------------------------------------------- timed exits (anyone)

    /// @notice After the validator's deadline (once per task, within one review window of it):
    ///         its lock is forfeited and another validator is drawn, due by the fixed bound.
    function replaceValidator(uint256 taskId) external {
        Task storage t = _task(taskId);
        _expect(t, taskId, State.Validating);
        uint256 deadline = t.deadline;
        if (block.timestamp <= deadline) revert DeadlineNotReached(taskId, deadline);
        if (t.flags & REPLACED != 0) revert AlreadyReplaced(taskId);
        uint256 bound = deadline + t.reviewWindow;
        if (block.timestamp >= bound) revert DeadlinePassed(taskId, bound);
        uint256 lock = lockFor(t.payment);
        address silent = t.validator;
        address drawn = _draw(taskId, 1, t.requester, t.provider, silent, lock);
        if (drawn == address(0)) revert NoValidatorDrawn(taskId);
        _forfeit(t, taskId, silent);
        t.flags |= REPLACED | COUNTED;
        _setState(t, taskId, State.Validating, bound);
        _assignValidator(t, taskId, drawn, lock, 1, true);
    }

    /// @notice Settle a fail whose appeal window passed without an appeal (the provider's lock is
    ///         slashed), or an appeal whose drawn validator stayed silent (void: nobody but that
    ///         validator is slashed).
    function settle(uint256 taskId) external {
        Task storage t = _task(taskId);
        State s = t.state;
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

    /// @notice Timed exit to the requester: the provider let its execution deadline pass, or never
    ///         claimed within its claim window.
    function refund(uint256 taskId) external {
        Task storage t = _task(taskId);
        State s = t.state;
        uint256 due;
        if (s == State.Assigned) {
            due = t.deadline;
        } else if (s == State.Validating) {
            due = _claimOpens(t) + t.reviewWindow;
        } else if (s == State.Executed) {
            due = t.deadline;
        } else {
            revert WrongState(taskId, s);
        }
        if (block.timestamp <= due) revert DeadlineNotReached(taskId, due);
        _setState(t, taskId, State.Expired, 0);
        _release(t.provider, taskId, t.payment, 0);
        if (s == State.Validating) _forfeit(t, taskId, t.validator);
        else if (s == State.Assigned && t.validator != address(0)) _release(t.validator, taskId, t.payment, 0);
        _credit(t.requester, taskId, uint256(t.payment) + t.validatorFee);
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

    /// @notice Stake locked from the provider (and from the validator) while they hold a task.
    function lockFor(uint256 payment) public view returns (uint256) {
        return payment * slashBps / BPS;
    }

    /// @notice Least validator fee for a validated task of this payment.
    function minFeeFor(uint256 payment) public view returns (uint256) {
        return payment * minFeeBps / BPS;
    }

    /// @notice Providers that can be drawn or named as validators (available with the minimum stake).
    function poolSize() external view returns (uint256) {
        return _pool.length;
    }

    function poolAt(uint256 index) external view returns (address) {
        return _pool[index];
    }

    /// @notice When a provider whose own check passed may claim, if validators stay silent.
    function claimOpensAt(uint256 taskId) external view returns (uint256) {
        Task storage t = _tasks[taskId];
        if (t.state == State.Executed) return t.deadline - t.reviewWindow;
        if (t.state != State.Validating) return 0;
        return _claimOpens(t);
    }

    /// @notice True when `account` may validate a task of `payment` between requester and provider.
    function isEligibleValidator(address account, address requester, address provider, uint256 payment)
        external
        view
        returns (bool)
    {
        return _eligible(account, requester, provider, address(0), lockFor(payment));
    }

    // ----------------------------------------------------------------- internals

    function _claimOpens(Task storage t) private view returns (uint256) {
        return t.flags & REPLACED != 0 ? t.deadline : uint256(t.deadline) + t.reviewWindow;
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

    function _assignValidator(Task storage t, uint256 taskId, address validator, uint256 lock, uint8 round, bool drawn)
        private
    {
        _lock(validator, _providers[validator], lock);
        t.validator = validator;
        emit ValidatorAssigned(taskId, validator, round, drawn);
    }

    /// @dev Pick from the pool with `block.prevrandao`: up to DRAW_PROBES independent uniform picks
    ///      until one is eligible (independent, so no entry is favoured for following an ineligible
    ///      one); a small pool is then scanned from the last pick. O(1) whatever the pool size.
    function _draw(uint256 taskId, uint256 round, address requester, address provider, address excluded, uint256 lock)
        private
        view
        returns (address)
    {
        uint256 n = _pool.length;
        if (n == 0) return address(0);
        uint256 seed = uint256(keccak256(abi.encode(block.prevrandao, address(this), taskId, round)));
        uint256 index;
        for (uint256 i = 0; i < DRAW_PROBES; ++i) {
            index = uint256(keccak256(abi.encode(seed, i))) % n;
            address candidate = _pool[index];
            if (_eligible(candidate, requester, provider, excluded, lock)) return candidate;
        }
        if (n <= DRAW_PROBES) {
            for (uint256 i = 1; i < n; ++i) {
                address candidate = _pool[(index + i) % n];
                if (_eligible(candidate, requester, provider, excluded, lock)) return candidate;
            }
        }
        return address(0);
    }

    function _eligible(address account, address requester, address provider, address excluded, uint256 lock)
        private
        view
        returns (bool)
    {
        if (account == address(0) || account == requester || account == provider || account == excluded) return false;
        Provider storage p = _providers[account];
        return p.available && uint256(p.stake) - p.locked >= lock;
    }

    function _lock(address account, Provider storage p, uint256 amount) private {
        uint256 free = uint256(p.stake) - p.locked;
        if (free < amount) revert StakeTooLow(free, amount);
        p.locked = uint80(uint256(p.locked) + amount);
        emit StakeChanged(account, p.stake, p.locked);
    }

    /// @dev Unlock the stake held for a task of `payment` (0: nothing) and add `earned` to the
    ///      stake: providers and validators are paid into their stake (one storage write), from
    ///      which `withdrawStake` takes the free part.
    function _release(address account, uint256 taskId, uint256 payment, uint256 earned) private {
        Provider storage p = _providers[account];
        p.locked -= uint80(lockFor(payment));
        if (earned > 0) {
            p.stake = Narrow.u80(uint256(p.stake) + earned);
            emit Credited(account, taskId, earned);
        }
        emit StakeChanged(account, p.stake, p.locked);
    }

    function _releaseParties(Task storage t, uint256 taskId) private {
        _release(t.provider, taskId, t.payment, 0);
        if (t.validator != address(0)) _release(t.validator, taskId, t.payment, 0);
    }

    /// @dev Take `amount` of `account`'s locked stake. reason 0: provider's fail stands (burned);
    ///      1: silent validator and 2: overturned validator (the caller pays it onward).
    function _slash(address account, uint256 taskId, uint256 amount, uint8 reason) private {
        Provider storage p = _providers[account];
        p.locked -= uint80(amount);
        p.stake -= uint80(amount);
        emit Slashed(account, taskId, amount, reason);
        emit StakeChanged(account, p.stake, p.locked);
        if (p.stake < minStake) _setAvailable(account, p, false);
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
