// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Narrow
/// @notice Checked narrowing of uint256 into the packed fields of the iChain contracts (in the
///         manner of OpenZeppelin's SafeCast): a value that does not fit reverts, never wraps.
library Narrow {
    error ValueOutOfRange(uint256 value, uint256 bits);

    function u32(uint256 value) internal pure returns (uint32) {
        if (value > type(uint32).max) revert ValueOutOfRange(value, 32);
        return uint32(value);
    }

    function u40(uint256 value) internal pure returns (uint40) {
        if (value > type(uint40).max) revert ValueOutOfRange(value, 40);
        return uint40(value);
    }

    function u80(uint256 value) internal pure returns (uint80) {
        if (value > type(uint80).max) revert ValueOutOfRange(value, 80);
        return uint80(value);
    }

    function u96(uint256 value) internal pure returns (uint96) {
        if (value > type(uint96).max) revert ValueOutOfRange(value, 96);
        return uint96(value);
    }

    function u128(uint256 value) internal pure returns (uint128) {
        if (value > type(uint128).max) revert ValueOutOfRange(value, 128);
        return uint128(value);
    }
}
