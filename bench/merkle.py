"""Benchmark: OpenZeppelin-compatible reward tree over 1,000,000 accounts, plus one proof.

Prints build and proof seconds, leaves per second, and the ratio of the build time to the
hashing floor measured in the same run (the same number of bare keccak-256 calls a tree of
this size needs: two per leaf, one per internal node). Target: build + proof under 10 s.

    .venv/bin/python bench/merkle.py [ACCOUNTS]
"""

from __future__ import annotations

import random
import sys
import time

from opendepin.crypto import keccak_256
from opendepin.rewards.merkle import RewardTree, verify_proof

DEFAULT_ACCOUNTS = 1_000_000
TARGET_SECONDS = 10.0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ACCOUNTS
    rng = random.Random(2026)
    entries = [("0x" + rng.randbytes(20).hex(), rng.randrange(10**24)) for _ in range(n)]

    start = time.perf_counter()
    tree = RewardTree.build(entries)
    built = time.perf_counter()
    account, amount = entries[n // 2]
    proof = tree.proof(account)
    proved = time.perf_counter()
    assert verify_proof(tree.root, RewardTree.leaf_hash(account, amount), proof)

    block = bytes(64)
    hashes = 3 * n - 1
    floor_start = time.perf_counter()
    for _ in range(hashes):
        keccak_256(block).digest()
    floor = time.perf_counter() - floor_start

    build_s, proof_s = built - start, proved - built
    print(f"accounts            {n:,}")
    print(f"root                0x{tree.root.hex()}")
    print(f"build               {build_s:.3f} s")
    print(f"proof               {proof_s * 1e3:.3f} ms ({len(proof)} nodes)")
    print(f"leaves/s            {n / build_s:,.0f}")
    print(f"hash floor          {floor:.3f} s for {hashes:,} bare keccak-256 calls")
    print(f"build / hash floor  {build_s / floor:.2f}x")
    verdict = "OK" if build_s + proof_s < TARGET_SECONDS else "OVER"
    print(f"target              build+proof < {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
