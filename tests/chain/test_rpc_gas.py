"""RpcChain's fast transaction path against a real anvil: cached gas, fee refusals, re-sends.

Every test watches the JSON-RPC requests at the edge (a provider subclass that records the
method of each request and can change one answer) and checks what reached the chain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from opendepin.chain import AnvilProcess, RpcChain, Signer, compile_source
from opendepin.chain.compiler import CompiledContract
from opendepin.chain.rpc import HTTP_TIMEOUT_S
from opendepin.chain.wire import KeepAliveProvider
from opendepin.errors import TransactionReverted
from opendepin.types import Address

pytestmark = pytest.mark.anvil

WORK_SOURCE = """
# pragma version ~=0.4.3
total: public(uint256)

@external
def work(n: uint256):
    assert n != 13, "Work: unlucky"
    for i: uint256 in range(n, bound=400):
        self.total += i + 1
"""

Rewrite = Callable[[str, Any, dict[str, Any]], dict[str, Any] | None]


class Watching(KeepAliveProvider):
    """The real keep-alive provider, recording each request; `rewrite` may replace an answer."""

    def __init__(self, url: str) -> None:
        super().__init__(url, HTTP_TIMEOUT_S)
        self.methods: list[str] = []
        self.raw_sent: list[str] = []
        self.rewrite: Rewrite | None = None

    def make_request(self, method: Any, params: Any) -> Any:
        self.methods.append(str(method))
        if method == "eth_sendRawTransaction":
            self.raw_sent.append(str(params[0]))
        answer = super().make_request(method, params)
        if self.rewrite is not None:
            replaced = self.rewrite(str(method), params, dict(answer))
            if replaced is not None:
                return replaced
        return answer

    def count(self, method: str) -> int:
        return self.methods.count(method)


@pytest.fixture(scope="module")
def work() -> CompiledContract:
    return compile_source(WORK_SOURCE, "Work")


def _setup(
    node: AnvilProcess, contract: CompiledContract, *args: Any
) -> tuple[RpcChain, Watching, Signer, Address]:
    provider = Watching(node.url)
    chain = RpcChain(provider=provider)
    signer = Signer.generate()
    chain.fund(signer.address, 10**21)
    address = chain.deploy(contract, *args, sender=signer)
    return chain, provider, signer, address


def test_second_transaction_to_a_function_is_checked_by_call_not_estimate(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    chain, provider, signer, address = _setup(anvil_node, box, 0)
    chain.transact(address, "store", 1, sender=signer)
    estimates = provider.count("eth_estimateGas")
    calls = provider.count("eth_call")
    receipt = chain.transact(address, "store", 2, sender=signer)
    assert provider.count("eth_estimateGas") == estimates  # the cached limit was used
    assert provider.count("eth_call") == calls + 1  # ... after one check at that limit
    assert receipt.events[0].args["value"] == 2
    assert chain.call(address, "value") == 2


def test_revert_after_cached_gas_raises_reason_and_burns_no_nonce(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    chain, provider, signer, address = _setup(anvil_node, box, 0)
    chain.transact(address, "store", 42, sender=signer)  # caches store's gas limit
    nonce = chain.nonce(signer.address)
    sent = len(provider.raw_sent)
    estimates = provider.count("eth_estimateGas")
    with pytest.raises(TransactionReverted, match="Box: unlucky"):
        chain.transact(address, "store", 13, sender=signer)
    assert len(provider.raw_sent) == sent  # nothing was signed and sent
    assert provider.count("eth_estimateGas") == estimates + 1  # the estimate decided
    assert chain.nonce(signer.address) == nonce
    chain.transact(address, "store", 7, sender=signer)  # the cached nonce is still right
    assert chain.call(address, "value") == 7
    assert chain.nonce(signer.address) == nonce + 1


def test_transaction_needing_more_gas_than_cached_is_re_estimated(
    anvil_node: AnvilProcess, work: CompiledContract
) -> None:
    chain, provider, signer, address = _setup(anvil_node, work)
    small = chain.transact(address, "work", 1, sender=signer)
    estimates = provider.count("eth_estimateGas")
    nonce = chain.nonce(signer.address)
    big = chain.transact(address, "work", 300, sender=signer)  # ~300 more storage writes
    assert big.gas_used > 2 * small.gas_used  # far beyond the 125 % limit cached for work(1)
    assert provider.count("eth_estimateGas") == estimates + 1
    assert chain.call(address, "total") == 1 + 300 * 301 // 2
    assert chain.nonce(signer.address) == nonce + 1  # one transaction, not a failed one first
    chain.transact(address, "work", 2, sender=signer)  # the larger limit now serves smaller
    assert provider.count("eth_estimateGas") == estimates + 1


def test_transaction_mined_as_failed_drops_the_cached_gas(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    """A check that passed but a transaction that failed on chain (state moved meanwhile)."""
    chain, provider, signer, address = _setup(anvil_node, box, 0)
    chain.transact(address, "store", 1, sender=signer)

    def pretend_the_check_passed(method: str, params: Any, answer: dict[str, Any]) -> Any:
        if method == "eth_call" and "gas" in params[0]:
            return {"jsonrpc": "2.0", "id": answer.get("id"), "result": "0x"}
        return None

    provider.rewrite = pretend_the_check_passed
    nonce = chain.nonce(signer.address)
    with pytest.raises(TransactionReverted, match="Box: unlucky"):  # replayed at its block
        chain.transact(address, "store", 13, sender=signer)
    assert chain.nonce(signer.address) == nonce + 1  # it was mined (status 0)
    provider.rewrite = None
    estimates = provider.count("eth_estimateGas")
    chain.transact(address, "store", 5, sender=signer)
    assert provider.count("eth_estimateGas") == estimates + 1  # cache entry was dropped
    assert chain.call(address, "value") == 5


def test_fee_refused_as_too_low_is_re_signed_with_the_same_nonce(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    chain, provider, signer, address = _setup(anvil_node, box, 0)
    chain._fees = None  # the next send reads fees: make that read lie once
    lied: list[str] = []

    def zero_fees(method: str, params: Any, answer: dict[str, Any]) -> Any:
        if method == "eth_getBlockByNumber" and not lied:
            lied.append(method)
            return {**answer, "result": {**answer["result"], "baseFeePerGas": "0x0"}}
        if method == "eth_maxPriorityFeePerGas" and len(lied) == 1:
            lied.append(method)
            return {**answer, "result": "0x0"}
        return None

    provider.rewrite = zero_fees
    nonce = chain.nonce(signer.address)
    sent = len(provider.raw_sent)
    chain.transact(address, "store", 9, sender=signer)
    attempts = provider.raw_sent[sent:]
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # refused, then re-signed
    decoded = [TypedTransaction.from_bytes(HexBytes(raw)).as_dict() for raw in attempts]
    assert [d["nonce"] for d in decoded] == [nonce, nonce]
    assert decoded[0]["maxFeePerGas"] == 0 < decoded[1]["maxFeePerGas"]
    assert chain.nonce(signer.address) == nonce + 1
    assert [e.args["value"] for e in chain.get_logs(address, "Stored")] == [9]


class LosesFirstSendAnswer(Watching):
    """Forwards the first raw send and then loses the answer (a timeout after arrival)."""

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_sendRawTransaction" and not self.raw_sent:
            super().make_request(method, params)
            raise TimeoutError("timed out")
        return super().make_request(method, params)


def test_timed_out_send_asks_the_node_before_sending_again(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    setup = RpcChain(anvil_node.url)
    signer = Signer.generate()
    setup.fund(signer.address, 10**21)
    address = setup.deploy(box, 0, sender=signer)
    nonce = setup.nonce(signer.address)
    provider = LosesFirstSendAnswer(anvil_node.url)
    chain = RpcChain(provider=provider)
    chain.attach(box, address)
    chain.transact(address, "store", 3, sender=signer)
    assert len(provider.raw_sent) == 1  # the node knew the hash: never sent again
    first_send = provider.methods.index("eth_sendRawTransaction")
    assert provider.methods[first_send + 1] == "eth_getTransactionByHash"
    assert setup.nonce(signer.address) == nonce + 1
    assert [e.args["value"] for e in setup.get_logs(address, "Stored")] == [3]


def test_concurrent_senders_through_one_chain_each_land_once(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    chain = RpcChain(anvil_node.url)
    owner = Signer.generate()
    chain.fund(owner.address, 10**21)
    address = chain.deploy(box, 0, sender=owner)
    senders = [Signer.generate() for _ in range(4)]
    for s in senders:
        chain.fund(s.address, 10**21)
    errors: list[BaseException] = []

    def run(signer: Signer, base: int) -> None:
        try:
            for i in range(5):
                chain.transact(address, "store", base + i, sender=signer)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, 100 * (k + 1))) for k, s in enumerate(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    values = sorted(e.args["value"] for e in chain.get_logs(address, "Stored"))
    assert values == sorted(100 * (k + 1) + i for k in range(4) for i in range(5))
    assert all(chain.nonce(s.address) == 5 for s in senders)
