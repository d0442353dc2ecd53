"""The Chain protocol behaves the same on EmbeddedChain and on anvil over RpcChain."""

from __future__ import annotations

import pytest

from opendepin.chain import Signer
from opendepin.chain.backend import Chain
from opendepin.chain.compiler import CompiledContract
from opendepin.errors import TransactionReverted


def test_deploy_and_call_returns_constructor_state(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 5, sender=funded)
    assert chain.call(address, "value") == 5
    assert chain.code(address)


def test_transact_returns_receipt_with_decoded_event(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 0, sender=funded)
    before = chain.block_number()
    receipt = chain.transact(address, "store", 7, "hello", sender=funded)
    assert receipt.status
    assert receipt.block_number == before + 1 == chain.block_number()
    assert receipt.gas_used > 21_000
    (event,) = receipt.events
    assert event.name == "Stored"
    assert event.address == address
    assert dict(event.args) == {"who": funded.address, "value": 7, "note": "hello"}


def test_call_default_argument_overload_resolves_by_arity(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 0, sender=funded)
    receipt = chain.transact(address, "store", 8, sender=funded)
    assert receipt.events[0].args["note"] == "x"
    assert chain.call(address, "info") == (funded.address, 8)


def test_transact_revert_raises_reason_and_changes_nothing(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 1, sender=funded)
    block = chain.block_number()
    with pytest.raises(TransactionReverted) as info:
        chain.transact(address, "store", 13, sender=funded)
    assert info.value.reason == "Box: unlucky"
    assert chain.block_number() == block
    assert chain.call(address, "value") == 1
    # the nonce was not consumed: the next transaction goes through
    assert chain.transact(address, "store", 2, sender=funded).block_number == block + 1


def test_get_logs_filters_by_block_range(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 0, sender=funded)
    blocks = [chain.transact(address, "store", v, sender=funded).block_number for v in (1, 2, 3)]
    assert [e.args["value"] for e in chain.get_logs(address, "Stored")] == [1, 2, 3]
    middle = chain.get_logs(address, "Stored", blocks[1], blocks[1])
    assert [e.args["value"] for e in middle] == [2]
    assert chain.get_logs(address, "Stored", blocks[2] + 1) == []


def test_env_reports_chain_id_block_and_time(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 0, sender=funded)
    chain_id, _, timestamp = chain.call(address, "env")
    assert chain_id == chain.chain_id == 31337
    assert timestamp >= chain.timestamp(0)
    assert len(chain.block_hash()) == 32
    assert chain.block_hash(0) != chain.block_hash()


def test_fund_sets_balance(chain: Chain) -> None:
    account = Signer.generate().address
    assert chain.balance(account) == 0
    chain.fund(account, 12345)
    assert chain.balance(account) == 12345


def test_sequential_transactions_from_one_sender_all_land(
    chain: Chain, funded: Signer, box: CompiledContract
) -> None:
    address = chain.deploy(box, 0, sender=funded)
    for value in range(1, 6):
        chain.transact(address, "store", value, sender=funded)
    assert [e.args["value"] for e in chain.get_logs(address, "Stored")] == [1, 2, 3, 4, 5]


def test_contract_addresses_follow_sender_nonce_on_both_backends(
    chain: Chain, box: CompiledContract
) -> None:
    import rlp  # type: ignore[import-untyped]
    from eth_utils.address import to_checksum_address

    from opendepin.crypto import keccak256

    signer = Signer.generate()
    chain.fund(signer.address, 10**21)
    address = chain.deploy(box, 0, sender=signer)
    expected = to_checksum_address(keccak256(rlp.encode([bytes.fromhex(signer.address[2:]), 0]))[-20:])
    assert address == expected
