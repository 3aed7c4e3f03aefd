// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Ratings
/// @notice Provider ratings of the iChain market. Written only by the Marketplace that
///         deployed it (once per finalised task), read by anyone.
contract Ratings {
    /// @notice The only writer: the Marketplace contract that created this one.
    address public immutable marketplace;

    /// @dev count in the low 64 bits, sum of scores in the next 64 bits (one slot per provider).
    mapping(address => uint256) private _packed;

    event Rated(address indexed provider, uint256 indexed taskId, address indexed rater, uint8 score);

    error OnlyMarketplace();
    error ScoreOutOfRange(uint8 score);

    constructor() {
        marketplace = msg.sender;
    }

    /// @notice Record one rating. The Marketplace guarantees one call per finalised task.
    function record(address provider, uint256 taskId, address rater, uint8 score) external {
        if (msg.sender != marketplace) revert OnlyMarketplace();
        if (score < 1 || score > 5) revert ScoreOutOfRange(score);
        uint256 packed = _packed[provider];
        uint256 count = uint64(packed) + 1;
        uint256 sum = uint64(packed >> 64) + score;
        _packed[provider] = count | (sum << 64);
        emit Rated(provider, taskId, rater, score);
    }

    /// @notice Number of ratings and the sum of their scores (average = sum / count).
    function ratingOf(address provider) external view returns (uint64 count, uint64 sum) {
        uint256 packed = _packed[provider];
        return (uint64(packed), uint64(packed >> 64));
    }
}
