"""RpcChain against a real anvil: nonces, safe re-sends, revert decoding."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from web3.providers import HTTPProvider

from opendepin.chain import AnvilProcess, RpcChain, Signer
from opendepin.chain.compiler import CompiledContract
from opendepin.chain.rpc import StaleNonce, _revert_reason
from opendepin.errors import TransactionReverted

pytestmark = pytest.mark.anvil


class FlakyFirstSend(HTTPProvider):
    """A real HTTP provider whose first raw-transaction send fails in transport.

    `reach_node=True` forwards the request and loses the answer (the node HAS the
    transaction, the client does not know it: the dangerous case for retries);
    `reach_node=False` fails before the request leaves. A correct client only ever sends
    the identical bytes again, or asks for the hash; it never signs a second transaction.
    """

    def __init__(self, url: str, *, reach_node: bool) -> None:
        super().__init__(url)
        self.reach_node = reach_node
        self.sent_raw: list[str] = []

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_sendRawTransaction":
            self.sent_raw.append(str(params[0]))
            if len(self.sent_raw) == 1:
                if self.reach_node:
                    super().make_request(method, params)
                raise requests.ConnectionError("transport failure")
        return super().make_request(method, params)


@pytest.mark.parametrize("reach_node", [True, False], ids=["answer-lost", "request-lost"])
def test_transact_after_transport_failure_lands_exactly_once(
    anvil_node: AnvilProcess, box: CompiledContract, reach_node: bool
) -> None:
    setup = RpcChain(anvil_node.url)
    signer = Signer.generate()
    setup.fund(signer.address, 10**21)
    address = setup.deploy(box, 0, sender=signer)
    nonce_before = setup.nonce(signer.address)

    provider = FlakyFirstSend(anvil_node.url, reach_node=reach_node)
    flaky = RpcChain(provider=provider)
    flaky.attach(box, address)
    receipt = flaky.transact(address, "store", 42, sender=signer)

    assert len(set(provider.sent_raw)) == 1  # only ever the same signed bytes
    if not reach_node:
        assert len(provider.sent_raw) == 2  # it had to re-send
    assert setup.nonce(signer.address) == nonce_before + 1
    assert [e.args["value"] for e in setup.get_logs(address, "Stored")] == [42]
    assert receipt.events[0].args["value"] == 42


def test_send_raw_twice_is_accepted_once(anvil_node: AnvilProcess, box: CompiledContract) -> None:
    from eth_account import Account

    chain = RpcChain(anvil_node.url)
    signer = Signer.generate()
    receiver = Signer.generate().address
    chain.fund(signer.address, 10**21)
    tx = {
        "chainId": chain.chain_id,
        "nonce": chain.nonce(signer.address),
        "to": receiver,
        "value": 1_000,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "type": 2,
    }
    signed = Account.sign_transaction(tx, signer.private_bytes())
    raw, tx_hash = bytes(signed.raw_transaction), bytes(signed.hash)
    assert chain.send_raw(raw, tx_hash) == tx_hash
    chain.wait_for_receipt(tx_hash)
    assert chain.send_raw(raw, tx_hash) == tx_hash  # "nonce too low", but it is our hash
    assert chain.balance(receiver) == 1_000


def test_send_raw_with_foreign_used_nonce_raises_stale_nonce(anvil_node: AnvilProcess) -> None:
    from eth_account import Account

    chain = RpcChain(anvil_node.url)
    signer = Signer.generate()
    chain.fund(signer.address, 10**21)
    base = {
        "chainId": chain.chain_id,
        "nonce": chain.nonce(signer.address),
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "type": 2,
    }
    first = Account.sign_transaction(
        {**base, "to": Signer.generate().address, "value": 1}, signer.private_bytes()
    )
    chain.send_raw(bytes(first.raw_transaction), bytes(first.hash))
    chain.wait_for_receipt(bytes(first.hash))
    other = Account.sign_transaction(
        {**base, "to": Signer.generate().address, "value": 2}, signer.private_bytes()
    )
    with pytest.raises(StaleNonce):
        chain.send_raw(bytes(other.raw_transaction), bytes(other.hash))


def test_stale_cached_nonce_is_resynced_when_another_client_used_it(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    one = RpcChain(anvil_node.url)
    two = RpcChain(anvil_node.url)
    signer = Signer.generate()
    one.fund(signer.address, 10**21)
    address = one.deploy(box, 0, sender=signer)  # `one` now caches nonce 1
    two.attach(box, address)
    two.transact(address, "store", 1, sender=signer)  # uses nonce 1 behind `one`'s back
    one.transact(address, "store", 2, sender=signer)  # stale cache -> re-signed with nonce 2
    assert [e.args["value"] for e in one.get_logs(address, "Stored")] == [1, 2]
    assert one.nonce(signer.address) == 3


def test_revert_during_estimate_consumes_no_nonce(
    anvil_node: AnvilProcess, box: CompiledContract
) -> None:
    chain = RpcChain(anvil_node.url)
    signer = Signer.generate()
    chain.fund(signer.address, 10**21)
    address = chain.deploy(box, 0, sender=signer)
    nonce = chain.nonce(signer.address)
    with pytest.raises(TransactionReverted, match="Box: unlucky"):
        chain.transact(address, "store", 13, sender=signer)
    assert chain.nonce(signer.address) == nonce


def test_revert_reason_decodes_error_string_payload() -> None:
    from eth_abi.abi import encode
    from web3.exceptions import ContractLogicError

    data = "0x08c379a0" + encode(["string"], ["RewardDistributor: stale epoch"]).hex()
    assert (
        _revert_reason(ContractLogicError("execution reverted", data))
        == "RewardDistributor: stale epoch"
    )
    assert _revert_reason(ContractLogicError("execution reverted: Box: x", None)) == "Box: x"
