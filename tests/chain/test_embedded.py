"""EmbeddedChain specifics: blocks, time travel, snapshots, independent instances."""

from __future__ import annotations

import pytest

from opendepin.chain import EmbeddedChain, Signer
from opendepin.chain.compiler import CompiledContract
from opendepin.errors import ChainError


@pytest.fixture
def setup(box: CompiledContract) -> tuple[EmbeddedChain, Signer, str]:
    chain = EmbeddedChain(genesis_timestamp=1_800_000_000)
    signer = Signer.generate()
    address = chain.deploy(box, 0, sender=signer)
    return chain, signer, address


def test_time_travel_moves_block_timestamp(setup: tuple[EmbeddedChain, Signer, str]) -> None:
    chain, signer, address = setup
    chain.time_travel(3_600)
    receipt = chain.transact(address, "store", 1, sender=signer)
    assert chain.timestamp(receipt.block_number) == 1_800_003_600
    assert chain.call(address, "env")[2] == 1_800_003_600


def test_time_travel_backwards_is_refused(setup: tuple[EmbeddedChain, Signer, str]) -> None:
    with pytest.raises(ValueError):
        setup[0].time_travel(-1)


def test_revert_restores_state_blocks_logs_and_time(
    setup: tuple[EmbeddedChain, Signer, str],
) -> None:
    chain, signer, address = setup
    chain.transact(address, "store", 1, sender=signer)
    block, head = chain.block_number(), chain.block_hash()
    sid = chain.snapshot()
    chain.time_travel(100)
    chain.transact(address, "store", 2, sender=signer)
    chain.revert(sid)
    assert (chain.block_number(), chain.block_hash(), chain.now()) == (block, head, 1_800_000_000)
    assert chain.call(address, "value") == 1
    assert [e.args["value"] for e in chain.get_logs(address, "Stored")] == [1]
    with pytest.raises(ChainError):
        chain.revert(sid)  # consumed


def test_anchor_undoes_everything_inside(setup: tuple[EmbeddedChain, Signer, str]) -> None:
    chain, signer, address = setup
    with chain.anchor():
        chain.transact(address, "store", 5, sender=signer)
        assert chain.call(address, "value") == 5
    assert chain.call(address, "value") == 0


def test_same_history_gives_same_block_hashes(box: CompiledContract) -> None:
    signer = Signer.generate()
    hashes = []
    for _ in range(2):
        chain = EmbeddedChain(genesis_timestamp=1_800_000_000)
        chain.deploy(box, 0, sender=signer)
        hashes.append(chain.block_hash())
    assert hashes[0] == hashes[1]


def test_two_instances_do_not_share_state(box: CompiledContract) -> None:
    one, two = EmbeddedChain(), EmbeddedChain(chain_id=5)
    signer = Signer.generate()
    address = one.deploy(box, 7, sender=signer)
    assert two.code(address) == b""
    assert two.chain_id == 5 and one.chain_id == 31337


def test_mine_adds_empty_block(setup: tuple[EmbeddedChain, Signer, str]) -> None:
    chain = setup[0]
    before = chain.block_number()
    assert chain.mine() == before + 1
    with pytest.raises(ChainError):
        chain.block_hash(before + 2)
