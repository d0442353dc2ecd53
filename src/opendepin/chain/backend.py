"""The one interface every chain backend offers.

The rest of opendepin (oracle, agent, demo, simulator) never touches titanoboa or web3
directly: it talks to a `Chain` through the typed contract clients in `clients.py`. Two
backends implement it identically:

- `EmbeddedChain` — titanoboa's in-process py-evm (the default; also time travel and
  snapshots for tests and simulation);
- `RpcChain` — any EVM JSON-RPC node via web3.py, signing locally.

Contracts are addressed by the name they were deployed or attached under (`deploy`,
`attach`), which tells the backend their ABI. Functions are called by name; values go in
and come out as plain Python (addresses as EIP-55 strings, `bytes32` as bytes, ints).

A transaction that would revert raises `opendepin.errors.TransactionReverted` carrying the
contract's revert string (`"RewardDistributor: stale epoch"`), on both backends, and leaves
no trace (RpcChain detects it with an `eth_call` at the cached gas limit, or while estimating
gas, before anything is signed or sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from opendepin.chain.accounts import AccountLike
from opendepin.chain.artifacts import CompiledContract
from opendepin.types import Address


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded contract event (log)."""

    name: str
    """Event name, e.g. "RootSubmitted"."""
    address: Address
    """Contract that emitted it."""
    args: Mapping[str, Any]
    """Decoded fields by name (indexed dynamic fields hold their 32-byte topic hash)."""
    block_number: int
    """Block the event was included in."""
    log_index: int
    """Position of the log within its block."""
    tx_hash: bytes
    """Transaction that emitted it."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """Outcome of a mined, successful transaction."""

    tx_hash: bytes
    """32-byte transaction hash."""
    status: bool
    """True for success (a revert raises instead of returning a receipt)."""
    gas_used: int
    """Gas the transaction used."""
    block_number: int
    """Block it was included in."""
    events: tuple[Event, ...] = field(default_factory=tuple)
    """Logs emitted by contracts this backend knows, decoded; in log order."""
    contract_address: Address | None = None
    """Address of the created contract, for deployments."""

    def events_named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


@runtime_checkable
class Chain(Protocol):
    """What oracle, agent and demo need from a chain, whatever the backend."""

    @property
    def chain_id(self) -> int: ...

    def block_number(self) -> int:
        """Number of the latest block."""
        ...

    def block_hash(self, number: int | None = None) -> bytes:
        """32-byte hash of block `number` (default: latest) — the entropy source."""
        ...

    def timestamp(self, number: int | None = None) -> int:
        """Unix time of block `number` (default: latest)."""
        ...

    def deploy(self, contract: str | CompiledContract, *args: Any, sender: AccountLike) -> Address:
        """Deploy a packaged contract by name (or a compiled one); returns its address."""
        ...

    def attach(self, contract: str | CompiledContract, address: Address) -> None:
        """Tell the backend which contract lives at `address` (for already deployed ones)."""
        ...

    def call(self, address: Address, fn: str, *args: Any) -> Any:
        """Read-only call at the latest block; raises TransactionReverted on revert."""
        ...

    def transact(self, address: Address, fn: str, *args: Any, sender: AccountLike) -> Receipt:
        """Send a transaction and wait for it to be mined."""
        ...

    def get_logs(
        self, address: Address, event: str, from_block: int = 0, to_block: int | None = None
    ) -> list[Event]:
        """Decoded `event` logs of `address` in [from_block, to_block] (default: latest)."""
        ...

    def balance(self, address: Address) -> int:
        """Native (ETH) balance in wei."""
        ...

    def fund(self, address: Address, wei: int) -> None:
        """Set an account's native balance (test and dev networks)."""
        ...

    def code(self, address: Address) -> bytes:
        """Runtime code at `address`."""
        ...
