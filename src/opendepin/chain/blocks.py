"""Finding blocks by time: the one place the chain's clock is searched.

Every oracle must read the registry and entropy at the same block whenever it runs, so both
searches are binary searches over block timestamps that depend only on the chain:

- `close_block(chain, end_unix)`: the last block with timestamp < the epoch's end — the
  state at the epoch's end (the epoch's *close block*);
- `last_block_at_or_before(chain, unix, upper)`: the last block (≤ `upper`) with timestamp ≤
  `unix` — an entropy window's block, which devices could see from the window's start.
"""

from __future__ import annotations

from opendepin.chain.backend import Chain
from opendepin.errors import StageError


def close_block(chain: Chain, end_unix: int) -> int:
    """The last block with timestamp < `end_unix` (StageError if the chain has not reached it)."""
    lo, hi = 0, chain.block_number()
    if chain.timestamp(hi) < end_unix:
        raise StageError("the epoch has not ended on chain yet (no block at or after its end)")
    if chain.timestamp(0) >= end_unix:
        return 0
    while hi - lo > 1:  # invariant: timestamp(lo) < end_unix <= timestamp(hi)
        mid = (lo + hi) // 2
        if chain.timestamp(mid) < end_unix:
            lo = mid
        else:
            hi = mid
    return lo


def last_block_at_or_before(chain: Chain, unix: int, upper: int) -> int:
    """The last block (≤ `upper`) whose timestamp is ≤ `unix` (0 if none is)."""
    lo, hi = 0, upper
    if chain.timestamp(hi) <= unix:
        return hi
    if chain.timestamp(0) > unix:
        return 0
    while hi - lo > 1:  # invariant: timestamp(lo) <= unix < timestamp(hi)
        mid = (lo + hi) // 2
        if chain.timestamp(mid) <= unix:
            lo = mid
        else:
            hi = mid
    return lo
