// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Steer (a test attacker, never deployed by the application)
/// @notice The code an attacker's EOA delegates to with EIP-7702: it calls the market as the EOA
///         (so its registered key and address still match), reads who validates the task in the
///         same transaction, and reverts unless that is `wanted` — the retry-and-revert steering
///         that chose protocol v2's "random" validators for the price of gas.
interface IMarketplace {
    struct Task {
        address requester;
        uint8 state;
        uint8 mode;
        uint8 flags;
        uint40 deadline;
        uint24 reviewWindow;
        address provider;
        uint40 bound;
        uint32 drawBlock;
        uint24 drawEntries;
        address validator;
        uint32 timeLimit;
        uint8 gpus;
        uint128 payment;
        uint128 validatorFee;
        bytes32 keyCommit;
        address firstValidator;
        address excluded;
    }

    function getTask(uint256 taskId) external view returns (Task memory);
    function pendingValidator(uint256 taskId) external view returns (address);
}

contract Steer {
    error NotMine(address validator, address pending);

    event Seen(uint256 taskId, address validator, address pending);

    /// @notice Send `call` (createTask, appeal, submitResult, replaceValidator, drawValidator, ...)
    ///         to the market with `msg.value`, then keep the transaction only if task `taskId`
    ///         (0: the id `call` returned) now has `wanted` as its validator, assigned or pending.
    function callIfMine(address market, bytes calldata call, uint256 taskId, address wanted)
        external
        payable
        returns (uint256)
    {
        (bool ok, bytes memory ret) = market.call{value: msg.value}(call);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (taskId == 0) taskId = abi.decode(ret, (uint256));
        address validator = IMarketplace(market).getTask(taskId).validator;
        address pending = IMarketplace(market).pendingValidator(taskId);
        emit Seen(taskId, validator, pending);
        if (validator != wanted && pending != wanted) revert NotMine(validator, pending);
        return taskId;
    }

    receive() external payable {}
}
