// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Narrow} from "./Narrow.sol";

/// @title Ratings
/// @notice Validated reputation of the iChain market's providers. Written only by the Marketplace
///         that deployed it, read by anyone. Only tasks decided by a validator drawn at random
///         (not chosen by the requester alone) count; ratings of those tasks are weighted by the
///         payment, so a reputation costs the validator fees of real volume to build.
contract Ratings {
    /// @notice The only writer: the Marketplace contract that created this one.
    address public immutable marketplace;

    struct Stats {
        // slot 0
        uint32 validated; // tasks decided by a drawn validator
        uint32 passes;
        uint32 fails;
        uint32 ratings; // counted ratings
        uint32 raters; // distinct requesters among the counted ratings
        uint96 paidVolume; // wei paid for validated passes
        // slot 1
        uint96 ratedWeight; // sum of the payments of counted, rated tasks
        uint128 weightedScore; // sum of payment * score over the same tasks
    }

    mapping(address => Stats) private _stats;
    mapping(bytes32 => bool) private _rated; // keccak(provider, rater) seen

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
        s.validated = Narrow.u32(uint256(s.validated) + 1);
        if (passed) {
            s.passes = Narrow.u32(uint256(s.passes) + 1);
            s.paidVolume = Narrow.u96(uint256(s.paidVolume) + payment);
        } else {
            s.fails = Narrow.u32(uint256(s.fails) + 1);
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
        s.ratings = Narrow.u32(uint256(s.ratings) + 1);
        bytes32 pair = keccak256(abi.encodePacked(provider, rater));
        if (!_rated[pair]) {
            _rated[pair] = true;
            s.raters = Narrow.u32(uint256(s.raters) + 1);
        }
        s.ratedWeight = Narrow.u96(uint256(s.ratedWeight) + weight);
        s.weightedScore = Narrow.u128(uint256(s.weightedScore) + weight * score);
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
}
