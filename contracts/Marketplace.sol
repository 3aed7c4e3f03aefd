// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ratings} from "./Ratings.sol";

/// @title Marketplace
/// @notice Escrowed machine-learning compute market: providers with stakes, tasks with deadlines
///         in every state that holds money, a validator's verdict before the provider is paid,
///         pull payments, and ratings written only on the requester's finalise.
/// @dev Invariant: address(this).balance == sum(escrowOf(open tasks)) + sum(stakes) + sum(credits).
///      Every external call is O(1): pools are read from events, never iterated on chain.
contract Marketplace {
    enum State {
        None,        // 0: no such task
        Created,     // 1: escrow held, no provider yet; requester assigns by deadline or cancels
        Assigned,    // 2: provider named, executing until deadline
        Executed,    // 3: result committed, waiting for the requester to name a validator or accept
        Validating,  // 4: validator named, verdict due by deadline
        Passed,      // 5: verdict pass, validator paid; requester finalises or provider claims after deadline
        Failed,      // 6: verdict fail: requester refunded, provider slashed, validator paid (final)
        Closed,      // 7: provider paid (final)
        Cancelled,   // 8: refunded before any work was delivered (final)
        Expired      // 9: refunded after a silent provider or validator (final)
    }

    struct Task {
        // slot 0
        address requester;
        State state;
        uint40 deadline;
        uint24 executeWindow;
        uint24 reviewWindow;
        // slot 1
        address provider;
        uint96 payment;
        // slot 2
        address validator;
        uint96 validatorFee;
        // slot 3
        bytes32 resultRoot;
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

    uint256 public constant MIN_WINDOW = 60;
    uint256 public constant MAX_WINDOW = 30 days;
    uint256 private constant BPS = 10_000;

    /// @notice Stake a provider must keep to be available (also to act as validator).
    uint256 public immutable minStake;
    /// @notice Part of the payment, in basis points, locked from the provider's stake while it
    ///         holds a task and burned when the validator fails its result.
    uint256 public immutable slashBps;
    Ratings public immutable ratings;

    /// @dev Starts at 1 (set in the constructor) so the first task pays no zero-to-nonzero write.
    uint256 private _nextTaskId;
    mapping(uint256 => Task) private _tasks;
    mapping(address => Provider) private _providers;
    mapping(address => uint256) public credits;

    event ProviderRegistered(address indexed provider, bytes publicKey, uint256 price, uint256 stake, string hardware);
    event ProviderUpdated(address indexed provider, uint256 price, bool available, string hardware);
    event StakeChanged(address indexed provider, uint256 stake, uint256 locked);
    event TaskCreated(
        uint256 indexed taskId,
        address indexed requester,
        address indexed provider,
        address validator,
        uint256 payment,
        uint256 validatorFee,
        bytes32 taskRoot,
        bytes requesterKey
    );
    event TaskStateChanged(uint256 indexed taskId, State indexed state, uint256 deadline);
    event ProviderAssigned(uint256 indexed taskId, address indexed provider, bytes envelope);
    event ValidatorAssigned(uint256 indexed taskId, address indexed validator, bytes envelope);
    event ResultCommitted(
        uint256 indexed taskId, address indexed provider, bytes32 resultRoot, bytes requesterEnvelope, bytes validatorEnvelope
    );
    event VerdictSubmitted(uint256 indexed taskId, address indexed validator, bool passed);
    event Credited(address indexed account, uint256 indexed taskId, uint256 amount);
    event Slashed(address indexed provider, uint256 indexed taskId, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    error UnknownTask(uint256 taskId);
    error WrongState(uint256 taskId, State state);
    error NotRequester(uint256 taskId);
    error NotProvider(uint256 taskId);
    error NotValidator(uint256 taskId);
    error NotParty(uint256 taskId);
    error DeadlinePassed(uint256 taskId, uint256 deadline);
    error DeadlineNotReached(uint256 taskId, uint256 deadline);
    error InvalidRating(uint8 rating);
    error InvalidPublicKey();
    error AlreadyRegistered();
    error NotRegistered();
    error ProviderUnavailable(address provider);
    error ValidatorIneligible(address validator);
    error PaymentBelowPrice(uint256 payment, uint256 price);
    error WrongValue(uint256 expected, uint256 sent);
    error StakeTooLow(uint256 stake, uint256 required);
    error StakeLocked(uint256 free, uint256 requested);
    error WindowOutOfRange(uint256 window);
    error AmountTooLarge();
    error ZeroPayment();
    error NothingToWithdraw();
    error TransferFailed();

    constructor(uint256 minStake_, uint256 slashBps_) {
        if (slashBps_ > BPS) revert AmountTooLarge();
        minStake = minStake_;
        slashBps = slashBps_;
        ratings = new Ratings();
        _nextTaskId = 1;
    }

    // ----------------------------------------------------------------- providers

    /// @notice Join as a provider. `publicKey` is the 64-byte uncompressed secp256k1 key (no 0x04
    ///         prefix) whose keccak is the caller's address; requesters encrypt envelopes to it.
    function registerProvider(bytes calldata publicKey, uint256 price, string calldata hardware) external payable {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered();
        if (publicKey.length != 64 || address(uint160(uint256(keccak256(publicKey)))) != msg.sender) {
            revert InvalidPublicKey();
        }
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        p.stake = _u80(msg.value);
        p.price = _u80(price);
        p.registered = true;
        p.available = true;
        p.keyX = bytes32(publicKey[0:32]);
        p.keyY = bytes32(publicKey[32:64]);
        p.hardware = hardware;
        emit ProviderRegistered(msg.sender, publicKey, price, msg.value, hardware);
    }

    /// @notice Change price, hardware summary and whether new tasks may be assigned.
    function updateProvider(uint256 price, bool available, string calldata hardware) external {
        Provider storage p = _registered(msg.sender);
        if (available && p.stake < minStake) revert StakeTooLow(p.stake, minStake);
        p.price = _u80(price);
        p.available = available;
        p.hardware = hardware;
        emit ProviderUpdated(msg.sender, price, available, hardware);
    }

    function addStake() external payable {
        Provider storage p = _registered(msg.sender);
        p.stake = _u80(uint256(p.stake) + msg.value);
        emit StakeChanged(msg.sender, p.stake, p.locked);
    }

    /// @notice Take back stake that no open task has locked. Falling below the minimum stake
    ///         makes the provider unavailable.
    function withdrawStake(uint256 amount) external {
        Provider storage p = _registered(msg.sender);
        uint256 free = uint256(p.stake) - p.locked;
        if (amount == 0 || amount > free) revert StakeLocked(free, amount);
        p.stake -= uint80(amount);
        if (p.available && p.stake < minStake) {
            p.available = false;
            emit ProviderUpdated(msg.sender, p.price, false, p.hardware);
        }
        emit StakeChanged(msg.sender, p.stake, p.locked);
        _send(msg.sender, amount);
    }

    // ----------------------------------------------------------------- requester

    /// @notice Escrow `payment + validatorFee` (exactly msg.value) for a task whose package has
    ///         Merkle root `taskRoot`. `provider` may be zero (assign later) and `validator` may be
    ///         zero (name it once the result is committed). Envelopes are opaque ciphertexts for
    ///         the named parties; `requesterKey` is the caller's 64-byte public key.
    function createTask(
        address provider,
        address validator,
        uint256 payment,
        uint256 validatorFee,
        uint256 executeWindow,
        uint256 reviewWindow,
        bytes32 taskRoot,
        bytes calldata requesterKey,
        bytes calldata providerEnvelope,
        bytes calldata validatorEnvelope
    ) external payable returns (uint256 taskId) {
        if (msg.value != payment + validatorFee) revert WrongValue(payment + validatorFee, msg.value);
        if (payment == 0) revert ZeroPayment();
        if (payment > type(uint96).max || validatorFee > type(uint96).max) revert AmountTooLarge();
        _checkWindow(executeWindow);
        _checkWindow(reviewWindow);
        if (requesterKey.length != 64 || address(uint160(uint256(keccak256(requesterKey)))) != msg.sender) {
            revert InvalidPublicKey();
        }
        taskId = _nextTaskId++;
        Task storage t = _tasks[taskId];
        t.requester = msg.sender;
        t.executeWindow = uint24(executeWindow);
        t.reviewWindow = uint24(reviewWindow);
        t.payment = uint96(payment);
        if (validator != address(0)) {
            _checkValidator(validator, msg.sender, provider);
            t.validator = validator;
        }
        t.validatorFee = uint96(validatorFee);
        emit TaskCreated(taskId, msg.sender, provider, validator, payment, validatorFee, taskRoot, requesterKey);
        if (provider == address(0)) {
            _setState(t, taskId, State.Created, block.timestamp + executeWindow);
        } else {
            _assign(t, taskId, provider, providerEnvelope);
        }
        if (validator != address(0)) emit ValidatorAssigned(taskId, validator, validatorEnvelope);
    }

    /// @notice Name the provider of a task created without one.
    function assignProvider(uint256 taskId, address provider, bytes calldata envelope) external {
        Task storage t = _requesterTask(taskId);
        _expect(t, taskId, State.Created);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        if (provider == address(0) || provider == t.validator) revert ProviderUnavailable(provider);
        _assign(t, taskId, provider, envelope);
    }

    /// @notice Take the escrow back while no provider holds the task (at any time; after the
    ///         assignment deadline of a Created task this is its only exit).
    function cancelTask(uint256 taskId) external {
        Task storage t = _requesterTask(taskId);
        _expect(t, taskId, State.Created);
        _setState(t, taskId, State.Cancelled, 0);
        _credit(t.requester, taskId, uint256(t.payment) + t.validatorFee);
    }

    /// @notice Name (or, after a silent validator's deadline, replace) the validator. The
    ///         envelope gives it the task and result keys and locators.
    function assignValidator(uint256 taskId, address validator, bytes calldata envelope) external {
        Task storage t = _requesterTask(taskId);
        State s = t.state;
        if (s == State.Executed) {
            if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        } else if (s == State.Validating) {
            if (block.timestamp <= t.deadline) revert DeadlineNotReached(taskId, t.deadline);
        } else {
            revert WrongState(taskId, s);
        }
        _checkValidator(validator, msg.sender, t.provider);
        t.validator = validator;
        _setState(t, taskId, State.Validating, block.timestamp + t.reviewWindow);
        emit ValidatorAssigned(taskId, validator, envelope);
    }

    /// @notice Pay the provider and rate it (1..5) in one call. Allowed after a pass, or as an
    ///         explicit acceptance of an unvalidated result (Executed, or Validating once the
    ///         validator's deadline passed); any unspent validator fee returns to the requester.
    function finalizeAndRate(uint256 taskId, uint8 rating) external {
        Task storage t = _requesterTask(taskId);
        if (rating < 1 || rating > 5) revert InvalidRating(rating);
        State s = t.state;
        if (s == State.Validating) {
            if (block.timestamp <= t.deadline) revert DeadlineNotReached(taskId, t.deadline);
        } else if (s != State.Passed && s != State.Executed) {
            revert WrongState(taskId, s);
        }
        _payProvider(t, taskId, s != State.Passed);
        ratings.record(t.provider, taskId, msg.sender, rating);
    }

    /// @notice Timed exit to the requester: the provider let its deadline pass (callable by the
    ///         requester or the provider), or the validator did (callable by the requester).
    function refund(uint256 taskId) external {
        Task storage t = _task(taskId);
        State s = t.state;
        if (s == State.Assigned) {
            if (msg.sender != t.requester && msg.sender != t.provider) revert NotParty(taskId);
        } else if (s == State.Validating) {
            if (msg.sender != t.requester) revert NotRequester(taskId);
        } else {
            revert WrongState(taskId, s);
        }
        if (block.timestamp <= t.deadline) revert DeadlineNotReached(taskId, t.deadline);
        _setState(t, taskId, State.Expired, 0);
        _unlock(t.provider, t.payment);
        _credit(t.requester, taskId, uint256(t.payment) + t.validatorFee);
    }

    // ----------------------------------------------------------------- provider

    /// @notice Give an assigned task back before delivering; the requester is refunded in full.
    function declineTask(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Assigned);
        _setState(t, taskId, State.Cancelled, 0);
        _unlock(t.provider, t.payment);
        _credit(t.requester, taskId, uint256(t.payment) + t.validatorFee);
    }

    /// @notice Commit to the result's Merkle root before the deadline. The envelopes carry the
    ///         result key to the requester and, when already named, the validator.
    function submitResult(
        uint256 taskId,
        bytes32 resultRoot,
        bytes calldata requesterEnvelope,
        bytes calldata validatorEnvelope
    ) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        _expect(t, taskId, State.Assigned);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        t.resultRoot = resultRoot;
        emit ResultCommitted(taskId, msg.sender, resultRoot, requesterEnvelope, validatorEnvelope);
        State next = t.validator == address(0) ? State.Executed : State.Validating;
        _setState(t, taskId, next, block.timestamp + t.reviewWindow);
    }

    /// @notice Get paid when the requester stayed silent: after the review deadline of a
    ///         committed result, after the finalise deadline of a pass, or one review window
    ///         after a silent validator's deadline.
    function claimPayment(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.provider) revert NotProvider(taskId);
        State s = t.state;
        uint256 due = t.deadline;
        if (s == State.Validating) due += t.reviewWindow;
        else if (s != State.Executed && s != State.Passed) revert WrongState(taskId, s);
        if (block.timestamp <= due) revert DeadlineNotReached(taskId, due);
        _payProvider(t, taskId, s != State.Passed);
    }

    // ----------------------------------------------------------------- validator

    /// @notice The validator's verdict, due before the deadline. The validator earns its fee
    ///         either way; a pass lets the provider be paid, a fail refunds the requester and
    ///         burns the provider's locked stake.
    function submitVerdict(uint256 taskId, bool passed) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.validator) revert NotValidator(taskId);
        _expect(t, taskId, State.Validating);
        if (block.timestamp > t.deadline) revert DeadlinePassed(taskId, t.deadline);
        emit VerdictSubmitted(taskId, msg.sender, passed);
        _credit(msg.sender, taskId, t.validatorFee);
        if (passed) {
            _setState(t, taskId, State.Passed, block.timestamp + t.reviewWindow);
            return;
        }
        _setState(t, taskId, State.Failed, 0);
        uint256 slash = lockFor(t.payment);
        Provider storage p = _providers[t.provider];
        p.locked -= uint80(slash);
        p.stake -= uint80(slash);
        if (p.available && p.stake < minStake) p.available = false;
        emit Slashed(t.provider, taskId, slash);
        emit StakeChanged(t.provider, p.stake, p.locked);
        _credit(t.requester, taskId, t.payment);
        if (slash > 0) _send(address(0), slash);
    }

    // ----------------------------------------------------------------- anyone

    /// @notice Pull everything credited to the caller.
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
        if (s == State.Passed) return t.payment;
        if (s >= State.Created && s <= State.Validating) return uint256(t.payment) + t.validatorFee;
        return 0;
    }

    /// @notice Stake locked from the provider while it holds a task of this payment.
    function lockFor(uint256 payment) public view returns (uint256) {
        return payment * slashBps / BPS;
    }

    /// @notice True when `account` may be named as a validator for a task of requester and provider.
    function isEligibleValidator(address account, address requester, address provider) external view returns (bool) {
        Provider storage p = _providers[account];
        return account != requester && account != provider && p.registered && p.available && p.stake >= minStake;
    }

    // ----------------------------------------------------------------- internals

    function _assign(Task storage t, uint256 taskId, address provider, bytes calldata envelope) private {
        Provider storage p = _providers[provider];
        uint256 payment = t.payment;
        if (provider == t.requester || !p.available) revert ProviderUnavailable(provider);
        if (payment < p.price) revert PaymentBelowPrice(payment, p.price);
        uint256 lock = lockFor(payment);
        uint256 free = uint256(p.stake) - p.locked;
        if (free < lock) revert StakeTooLow(free, lock);
        p.locked += uint80(lock);
        t.provider = provider;
        _setState(t, taskId, State.Assigned, block.timestamp + t.executeWindow);
        emit ProviderAssigned(taskId, provider, envelope);
    }

    function _payProvider(Task storage t, uint256 taskId, bool refundFee) private {
        _setState(t, taskId, State.Closed, 0);
        _unlock(t.provider, t.payment);
        _credit(t.provider, taskId, t.payment);
        if (refundFee) _credit(t.requester, taskId, t.validatorFee);
    }

    function _unlock(address provider, uint256 payment) private {
        _providers[provider].locked -= uint80(lockFor(payment));
    }

    function _credit(address account, uint256 taskId, uint256 amount) private {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, taskId, amount);
    }

    function _setState(Task storage t, uint256 taskId, State state, uint256 deadline) private {
        t.state = state;
        t.deadline = uint40(deadline);
        emit TaskStateChanged(taskId, state, deadline);
    }

    function _checkValidator(address validator, address requester, address provider) private view {
        Provider storage p = _providers[validator];
        if (
            validator == requester || validator == provider || !p.registered || !p.available
                || p.stake < minStake
        ) revert ValidatorIneligible(validator);
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

    function _u80(uint256 value) private pure returns (uint80) {
        if (value > type(uint80).max) revert AmountTooLarge();
        return uint80(value);
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
