// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Ratings
/// @notice Validated reputation of the iChain market's providers. Written only by the Marketplace
///         that deployed it, read by anyone. Only tasks decided by a validator drawn at random
///         (not chosen by the requester alone) count; ratings of those tasks are weighted by the
///         payment, so a reputation costs the validator fees of real volume to build. Its
///         counters saturate instead of reverting: they are written in the calls that reveal a
///         result key, which must never fail after the key is in their calldata.
contract Ratings {
    /// @notice The only writer: the Marketplace contract that created this one.
    address public immutable marketplace;

    struct Stats {
        // slot 0
        uint32 validated; // tasks decided by a drawn validator
        uint32 passes;
        uint32 fails;
        uint32 ratings; // counted ratings
        uint128 paidVolume; // wei paid for validated passes
        // slot 1
        uint128 ratedWeight; // sum of the payments of counted, rated tasks
        uint128 weightedScore; // sum of payment * score over the same tasks
    }

    mapping(address => Stats) private _stats;

    event Rated(address indexed provider, uint256 indexed taskId, address indexed rater, uint8 score, bool counted);

    error OnlyMarketplace();
    error ScoreOutOfRange(uint8 score);

    constructor() {
        marketplace = msg.sender;
    }

    modifier onlyMarketplace() {
        if (msg.sender != marketplace) revert OnlyMarketplace();
        _;
    }

    /// @notice Record the final verdict on a task (once per task, guaranteed by the Marketplace; its
    ///         events carry the verdict).
    function recordVerdict(address provider, uint256, /* taskId */ bool passed, bool counted, uint256 payment)
        external
        onlyMarketplace
    {
        if (!counted) return;
        Stats storage s = _stats[provider];
        s.validated = _add32(s.validated, 1);
        if (passed) {
            s.passes = _add32(s.passes, 1);
            s.paidVolume = uint128(_sat(uint256(s.paidVolume) + payment, type(uint128).max));
        } else {
            s.fails = _add32(s.fails, 1);
        }
    }

    /// @notice Record the requester's rating (once per paid task, guaranteed by the Marketplace).
    function recordRating(address provider, uint256 taskId, address rater, uint8 score, bool counted, uint256 weight)
        external
        onlyMarketplace
    {
        if (score < 1 || score > 5) revert ScoreOutOfRange(score);
        emit Rated(provider, taskId, rater, score, counted);
        if (!counted) return;
        Stats storage s = _stats[provider];
        s.ratings = _add32(s.ratings, 1);
        s.ratedWeight = uint128(_sat(uint256(s.ratedWeight) + weight, type(uint128).max));
        s.weightedScore = uint128(_sat(uint256(s.weightedScore) + weight * score, type(uint128).max));
    }

    /// @notice Everything the market knows about a provider's validated work.
    function statsOf(address provider) external view returns (Stats memory) {
        return _stats[provider];
    }

    /// @notice `statsOf` for many providers in one call (a pool viewer reads a thousand at once).
    function statsOfMany(address[] calldata providers) external view returns (Stats[] memory stats) {
        stats = new Stats[](providers.length);
        for (uint256 i = 0; i < providers.length; i++) {
            stats[i] = _stats[providers[i]];
        }
    }

    function _add32(uint32 value, uint256 amount) private pure returns (uint32) {
        return uint32(_sat(uint256(value) + amount, type(uint32).max));
    }

    function _sat(uint256 value, uint256 max) private pure returns (uint256) {
        return value > max ? max : value;
    }
}
