"""Chain backends: ERC-20 transfers and Merkle claims per second, embedded vs anvil.

Run: .venv/bin/python bench/chain.py [N]. Prints rates per backend, the ratio of the
embedded chain to anvil (sequential, locally signed, one receipt wait per transaction) and
the *floor*: what anvil accepts in the same run from a bare JSON-RPC client written here —
one keep-alive `http.client` connection, transactions signed before the clock starts (so
no estimate, no fee or nonce reads, no ABI or log decoding), `eth_sendRawTransaction`
then `eth_getTransactionReceipt` in a tight loop until mined. `RpcChain` is then shown as
a fraction of that floor for the same ERC-20 transfers.

The floor and `RpcChain` run in alternating rounds on one node, so load from elsewhere on
the machine falls on both alike.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from typing import Any

from eth_abi.abi import encode
from eth_account import Account

from opendepin.chain import AnvilProcess, EmbeddedChain, RpcChain, Signer, deploy_network
from opendepin.chain.backend import Chain
from opendepin.chain.clients import DistributorClient, TokenClient
from opendepin.crypto import keccak256
from opendepin.network.settings import Settings
from opendepin.rewards.merkle import RewardTree
from opendepin.types import Address

ONE = 10**18
ROUNDS = 3
"""Floor and RpcChain alternate this many times over the transfers."""
FLOOR_GAS = 100_000
"""Gas limit of the floor's pre-signed transfers (an ERC-20 transfer uses about 35 000)."""
TRANSFER_SELECTOR = keccak256(b"transfer(address,uint256)")[:4]


class Setup:
    """A deployed network with a funded payer holding tokens, and recipients that hold some."""

    def __init__(self, chain: Chain, n: int) -> None:
        gov, self.payer, self.bare = Signer.generate(), Signer.generate(), Signer.generate()
        oracles = [Signer.generate() for _ in range(3)]
        for account in (gov, self.payer, self.bare):
            chain.fund(account.address, 10**22)
        d = deploy_network(chain, Settings(), gov, [o.address for o in oracles], gov.address)
        self.accounts = [Signer.generate().address for _ in range(n)]
        everyone = [*self.accounts, self.payer.address, self.bare.address]
        self.tree = RewardTree.build([(a, ONE) for a in everyone])
        self.dist: DistributorClient = d.distributor(chain)
        self.token: TokenClient = d.token(chain)
        total = ONE * len(everyone)
        digest = self.dist.epoch_root_digest(0, self.tree.root, total, bytes(32))
        signatures = [o.sign_digest(digest) for o in oracles[:2]]
        self.dist.submit_root(0, self.tree.root, total, bytes(32), signatures, sender=gov)

    def claim(self, account: Address) -> None:
        self.dist.claim(account, ONE, self.tree.proof(account), sender=self.payer)


def measure(chain: Chain, n: int) -> tuple[float, float]:
    """(transfers/s, claims/s) through `chain`."""
    s = Setup(chain, n)
    t = time.perf_counter()
    for a in s.accounts:
        s.claim(a)
    claims = n / (time.perf_counter() - t)
    s.claim(s.payer.address)
    t = time.perf_counter()
    for a in s.accounts:
        s.token.transfer(a, 1, sender=s.payer)
    transfers = n / (time.perf_counter() - t)
    return transfers, claims


class BareClient:
    """The floor: raw JSON-RPC over one keep-alive connection, nothing else."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.ids = 0

    def rpc(self, method: str, params: list[Any]) -> Any:
        self.ids += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = json.loads(self.conn.getresponse().read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def send_all(self, raws: list[tuple[str, str]]) -> None:
        """Send each pre-signed transaction and poll its receipt until mined (status 1)."""
        for raw, tx_hash in raws:
            self.rpc("eth_sendRawTransaction", [raw])
            while (receipt := self.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
                pass
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"floor transfer {tx_hash} reverted")


def presign_transfers(
    bare: BareClient, signer: Signer, token: TokenClient, recipients: list[Address], chain_id: int
) -> list[tuple[str, str]]:
    """ERC-20 transfer(recipient, 1) transactions from `signer`, signed with eth-account."""
    nonce = int(bare.rpc("eth_getTransactionCount", [signer.address, "pending"]), 16)
    base_fee = int(bare.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    priority = int(bare.rpc("eth_maxPriorityFeePerGas", []), 16)
    out = []
    for i, recipient in enumerate(recipients):
        tx = {
            "chainId": chain_id,
            "nonce": nonce + i,
            "to": token.address,
            "data": TRANSFER_SELECTOR + encode(["address", "uint256"], [recipient, 1]),
            "value": 0,
            "gas": FLOOR_GAS,
            "maxFeePerGas": 2 * base_fee + priority,
            "maxPriorityFeePerGas": priority,
            "type": 2,
        }
        signed = Account.sign_transaction(tx, signer.private_bytes())
        out.append(("0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()))
    return out


def floor_and_rpc(node: AnvilProcess, n: int) -> tuple[float, float]:
    """(floor transfers/s, RpcChain transfers/s), alternating rounds on one node."""
    chain = RpcChain(node.url)
    s = Setup(chain, n)
    s.claim(s.payer.address)
    s.claim(s.bare.address)
    bare = BareClient(node.host, node.port)
    floor_s = rpc_s = 0.0
    chunk = max(1, n // ROUNDS)
    for start in range(0, n, chunk):
        recipients = s.accounts[start : start + chunk]
        raws = presign_transfers(bare, s.bare, s.token, recipients, chain.chain_id)
        t = time.perf_counter()
        bare.send_all(raws)
        floor_s += time.perf_counter() - t
        t = time.perf_counter()
        for a in recipients:
            s.token.transfer(a, 1, sender=s.payer)
        rpc_s += time.perf_counter() - t
    if (
        s.token.balance_of(s.bare.address) != ONE - n
        or s.token.balance_of(s.payer.address) != ONE - n
    ):
        raise RuntimeError("a transfer went missing or ran twice")
    return n / floor_s, n / rpc_s


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    emb = measure(EmbeddedChain(), n)
    print(f"embedded: {emb[0]:8.0f} transfers/s {emb[1]:8.0f} claims/s  (n={n})")
    with AnvilProcess() as node:
        rpc = measure(RpcChain(node.url), n)
        floor, rpc_transfers = floor_and_rpc(node, n)
    print(f"anvil   : {rpc[0]:8.0f} transfers/s {rpc[1]:8.0f} claims/s  (n={n}, sequential)")
    print(f"ratio embedded/anvil: transfers {emb[0] / rpc[0]:.1f}x, claims {emb[1] / rpc[1]:.1f}x")
    print(f"floor   : {floor:8.0f} transfers/s  (bare JSON-RPC client, pre-signed, keep-alive)")
    print(
        f"RpcChain: {rpc_transfers:8.0f} transfers/s  = {rpc_transfers / floor:.2f}x the floor "
        f"(same run, {ROUNDS} alternating rounds)"
    )


if __name__ == "__main__":
    main()
