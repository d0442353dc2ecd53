"""Which contract lives at which address (shared by both backends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opendepin.chain.abi import ContractAbi, checksum_address
from opendepin.chain.artifacts import CompiledContract
from opendepin.chain.artifacts import compiled as packaged_contract
from opendepin.chain.backend import Event
from opendepin.types import Address

_abis: dict[str, ContractAbi] = {}


def resolve(contract: str | CompiledContract) -> CompiledContract:
    """A packaged contract by name (from its published artefact), or `contract` itself."""
    return packaged_contract(contract) if isinstance(contract, str) else contract


def abi_of(compiled: CompiledContract) -> ContractAbi:
    key = compiled.name + ":" + compiled.runtime_bytecode[:64].hex() + str(len(compiled.abi))
    abi = _abis.get(key)
    if abi is None:
        abi = _abis[key] = ContractAbi(compiled.abi)
    return abi


class ContractBook:
    """address -> ABI tables, plus log decoding against them."""

    def __init__(self) -> None:
        self._by_address: dict[str, ContractAbi] = {}

    def add(self, address: str, compiled: CompiledContract) -> None:
        self._by_address[address.lower()] = abi_of(compiled)

    def abi(self, address: str) -> ContractAbi:
        abi = self._by_address.get(address.lower())
        if abi is None:
            raise LookupError(f"no contract known at {address}; deploy() or attach() it first")
        return abi

    def decode_log(
        self,
        address: bytes | str,
        topics: Sequence[bytes],
        data: bytes,
        *,
        block_number: int,
        log_index: int,
        tx_hash: bytes,
    ) -> Event | None:
        addr = checksum_address(address)
        abi = self._by_address.get(addr.lower())
        if abi is None or not topics:
            return None
        ev = abi.events_by_topic.get(bytes(topics[0]))
        if ev is None:
            return None
        args: dict[str, Any] = ev.decode_log(topics, data)
        return Event(ev.name, Address(addr), args, block_number, log_index, tx_hash)
