"""Fixtures for chain tests: both backends, a throwaway contract, generated accounts.

`chain` is parametrised over the embedded backend and a real anvil node over JSON-RPC. One
anvil is started per test module (each start costs about a second) and always stopped. If
anvil is missing the anvil variants FAIL (AnvilProcess raises), they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opendepin.chain import AnvilProcess, EmbeddedChain, RpcChain, Signer, compile_source
from opendepin.chain.backend import Chain
from opendepin.chain.compiler import CompiledContract

FUNDING_WEI = 10**21

BOX_SOURCE = """
# pragma version ~=0.4.3
event Stored:
    who: indexed(address)
    value: uint256
    note: String[32]

struct Info:
    who: address
    value: uint256

value: public(uint256)
last: public(address)

@deploy
def __init__(initial: uint256):
    self.value = initial

@external
def store(v: uint256, note: String[32] = "x"):
    assert v != 13, "Box: unlucky"
    self.value = v
    self.last = msg.sender
    log Stored(who=msg.sender, value=v, note=note)

@view
@external
def info() -> Info:
    return Info(who=self.last, value=self.value)

@view
@external
def env() -> (uint256, uint256, uint256):
    return chain.id, block.number, block.timestamp
"""


@pytest.fixture(scope="session")
def box() -> CompiledContract:
    """A small contract (storage, an event, a struct, a revert string) for backend tests."""
    return compile_source(BOX_SOURCE, "Box")


@pytest.fixture(scope="module")
def anvil_node() -> Iterator[AnvilProcess]:
    with AnvilProcess(chain_id=31337) as node:
        yield node


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest) -> Chain:
    if request.param == "embedded":
        return EmbeddedChain()
    node: AnvilProcess = request.getfixturevalue("anvil_node")
    return RpcChain(node.url)


@pytest.fixture
def funded(chain: Chain) -> Signer:
    """A generated account with ETH for gas."""
    signer = Signer.generate()
    chain.fund(signer.address, FUNDING_WEI)
    return signer
