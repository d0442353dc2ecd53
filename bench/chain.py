"""Chain backends: ERC-20 transfers and Merkle claims per second, embedded vs anvil.

Run: .venv/bin/python bench/chain.py [N]. Prints rates per backend and the ratio of the
embedded chain to anvil (sequential, locally signed, one receipt wait per transaction).
"""

from __future__ import annotations

import sys
import time

from opendepin.chain import AnvilProcess, EmbeddedChain, RpcChain, Signer, deploy_network
from opendepin.chain.backend import Chain
from opendepin.network.settings import Settings
from opendepin.rewards.merkle import RewardTree

ONE = 10**18


def measure(chain: Chain, n: int) -> tuple[float, float]:
    gov, payer = Signer.generate(), Signer.generate()
    oracles = [Signer.generate() for _ in range(3)]
    for account in (gov, payer):
        chain.fund(account.address, 10**22)
    d = deploy_network(chain, Settings(), gov, [o.address for o in oracles], gov.address)
    accounts = [Signer.generate().address for _ in range(n)]
    tree = RewardTree.build([(a, ONE) for a in [*accounts, payer.address]])
    dist, token = d.distributor(chain), d.token(chain)
    total = ONE * (n + 1)
    digest = dist.epoch_root_digest(0, tree.root, total, bytes(32))
    dist.submit_root(0, tree.root, total, bytes(32), [o.sign_digest(digest) for o in oracles[:2]], sender=gov)
    t = time.perf_counter()
    for a in accounts:
        dist.claim(a, ONE, tree.proof(a), sender=payer)
    claims = n / (time.perf_counter() - t)
    dist.claim(payer.address, ONE, tree.proof(payer.address), sender=payer)
    t = time.perf_counter()
    for a in accounts:
        token.transfer(a, 1, sender=payer)
    transfers = n / (time.perf_counter() - t)
    return transfers, claims


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    emb = measure(EmbeddedChain(), n)
    print(f"embedded: {emb[0]:8.0f} transfers/s {emb[1]:8.0f} claims/s  (n={n})")
    with AnvilProcess() as node:
        rpc = measure(RpcChain(node.url), n)
    print(f"anvil   : {rpc[0]:8.0f} transfers/s {rpc[1]:8.0f} claims/s  (n={n}, sequential)")
    print(f"ratio embedded/anvil: transfers {emb[0] / rpc[0]:.1f}x, claims {emb[1] / rpc[1]:.1f}x")


if __name__ == "__main__":
    main()
