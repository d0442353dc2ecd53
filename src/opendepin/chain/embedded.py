"""`EmbeddedChain`: an in-process EVM (titanoboa's py-evm), the default backend.

No node to install: the demo, the test suite and single-machine networks run on it. Each
instance owns its own `boa.Env`, so several chains can live in one process.

Block model. py-evm executes messages, not blocks, so this backend keeps a small block list
itself, like a node with automine: every successful transaction is mined into its own new
block (block numbers count from 0 = genesis). A block's hash is
`keccak256(parent_hash ‖ number ‖ timestamp ‖ tx_hash)` — deterministic for a given history,
which keeps simulations reproducible. Time only moves when asked (`time_travel`); blocks
mined without it share a timestamp. Reverted transactions are not mined and consume no
nonce (as on `RpcChain`, where gas estimation catches them before sending). Logs are kept
per block so `get_logs` can answer range queries; `snapshot()`/`revert()` (or the
`anchor()` context manager) roll state, blocks, logs and time back together.

Gas used is py-evm's execution gas plus the intrinsic cost (21,000 + calldata), i.e. what
a node would report, without refunds beyond py-evm's own accounting.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_canonical_address, to_checksum_address

from opendepin.chain._book import ContractBook, abi_of, resolve
from opendepin.chain.abi import decode_revert
from opendepin.chain.accounts import AccountLike
from opendepin.chain.artifacts import CompiledContract
from opendepin.chain.backend import Event, Receipt
from opendepin.crypto import keccak256
from opendepin.errors import ChainError, TransactionReverted
from opendepin.types import Address

DEFAULT_CHAIN_ID = 31337
TX_INTRINSIC_GAS = 21_000
CREATE_INTRINSIC_GAS = 32_000
CALLDATA_ZERO_BYTE_GAS = 4
CALLDATA_NONZERO_BYTE_GAS = 16
BLOCKHASH_WINDOW_BLOCKS = 256
"""The EVM's BLOCKHASH opcode sees this many recent blocks."""


def intrinsic_gas(data: bytes, *, create: bool = False) -> int:
    """Gas a transaction pays before executing: 21,000 (+32,000 to create) plus calldata
    at 4 per zero byte and 16 per non-zero byte."""
    zeros = data.count(0)
    return (
        TX_INTRINSIC_GAS
        + (CREATE_INTRINSIC_GAS if create else 0)
        + zeros * CALLDATA_ZERO_BYTE_GAS
        + (len(data) - zeros) * CALLDATA_NONZERO_BYTE_GAS
    )


@dataclass(frozen=True, slots=True)
class _Block:
    number: int
    timestamp: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class _Snapshot:
    evm: Any
    n_blocks: int
    n_logs: int
    now: int


class EmbeddedChain:
    """A private in-process chain (one `boa.Env`)."""

    def __init__(self, chain_id: int = DEFAULT_CHAIN_ID, *, genesis_timestamp: int | None = None):
        import boa

        self._env = boa.Env()
        self._env.evm.patch.chain_id = chain_id
        self._chain_id = chain_id
        self._now = int(time.time()) if genesis_timestamp is None else genesis_timestamp
        genesis = keccak256(b"opendepin-embedded-genesis" + chain_id.to_bytes(32, "big"))
        self._blocks: list[_Block] = [_Block(0, self._now, genesis)]
        self._logs: list[Event] = []
        self._book = ContractBook()
        self._snapshots: dict[int, _Snapshot] = {}
        self._next_snapshot = 1
        self._sync_env(self._blocks[-1].number)

    # -- chain state ------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain_id

    def block_number(self) -> int:
        return self._blocks[-1].number

    def block_hash(self, number: int | None = None) -> bytes:
        return self._block(number).hash

    def timestamp(self, number: int | None = None) -> int:
        return self._block(number).timestamp

    def now(self) -> int:
        """Timestamp the next block will carry."""
        return self._now

    def balance(self, address: Address) -> int:
        return int(self._env.get_balance(address))

    def fund(self, address: Address, wei: int) -> None:
        self._env.set_balance(address, wei)

    def code(self, address: Address) -> bytes:
        return bytes(self._env.get_code(address))

    def nonce(self, address: Address) -> int:
        return int(self._env.evm.vm.state.get_nonce(to_canonical_address(address)))

    # -- time and snapshots -----------------------------------------------------------

    def time_travel(self, seconds: int) -> None:
        """Move the clock forward; the next block carries the new time."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds

    def mine(self) -> int:
        """Mine an empty block at the current time; returns its number."""
        return self._mine(b"").number

    def snapshot(self) -> int:
        """Remember the whole chain (state, blocks, logs, time); returns an id for revert."""
        sid = self._next_snapshot
        self._next_snapshot += 1
        self._snapshots[sid] = _Snapshot(
            self._env.evm.snapshot(), len(self._blocks), len(self._logs), self._now
        )
        return sid

    def revert(self, snapshot_id: int) -> None:
        """Return to `snapshot_id`; it and every later snapshot are consumed."""
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            raise ChainError(f"unknown or already used snapshot {snapshot_id}")
        for sid in [s for s in self._snapshots if s >= snapshot_id]:
            del self._snapshots[sid]
        self._env.evm.revert(snap.evm)
        del self._blocks[snap.n_blocks :]
        del self._logs[snap.n_logs :]
        self._now = snap.now
        self._sync_env(self._blocks[-1].number)

    @contextlib.contextmanager
    def anchor(self) -> Iterator[None]:
        """Everything done inside the block is undone on exit."""
        sid = self.snapshot()
        try:
            yield
        finally:
            self.revert(sid)

    # -- contracts --------------------------------------------------------------------

    def attach(self, contract: str | CompiledContract, address: Address) -> None:
        self._book.add(address, resolve(contract))

    def deploy(self, contract: str | CompiledContract, *args: Any, sender: AccountLike) -> Address:
        compiled = resolve(contract)
        initcode = compiled.bytecode + abi_of(compiled).encode_constructor(args)
        env = self._env
        block_no = self.block_number() + 1
        self._sync_env(block_no)
        checkpoint = env.evm.snapshot()
        target, computation = env.deploy(sender=sender.address, bytecode=initcode)
        if computation.is_error:
            env.evm.revert(checkpoint)  # also undoes the nonce bump of address generation
            self._sync_env(block_no - 1)
            raise TransactionReverted(decode_revert(bytes(computation.output)))
        address = Address(to_checksum_address(target.canonical_address))
        self._book.add(address, compiled)
        gas = self._gas(computation, initcode, create=True)
        self._finish(computation, sender, initcode, gas)
        return address

    def call(self, address: Address, fn: str, *args: Any) -> Any:
        function = self._book.abi(address).function(fn, len(args))
        self._sync_env(self.block_number())
        computation = self._env.execute_code(
            to_address=address,
            data=function.encode_call(args),
            is_modifying=False,
        )
        if computation.is_error:
            raise TransactionReverted(decode_revert(bytes(computation.output)))
        return function.decode_output(bytes(computation.output))

    def transact(self, address: Address, fn: str, *args: Any, sender: AccountLike) -> Receipt:
        data = self._book.abi(address).function(fn, len(args)).encode_call(args)
        block_no = self.block_number() + 1
        self._sync_env(block_no)
        computation = self._env.execute_code(to_address=address, sender=sender.address, data=data)
        if computation.is_error:
            self._sync_env(block_no - 1)
            raise TransactionReverted(decode_revert(bytes(computation.output)))
        self._env.evm.vm.state.increment_nonce(to_canonical_address(sender.address))
        return self._finish(computation, sender, data, self._gas(computation, data))

    def get_logs(
        self, address: Address, event: str, from_block: int = 0, to_block: int | None = None
    ) -> list[Event]:
        self._book.abi(address).event(event)  # raises for an unknown event name
        last = self.block_number() if to_block is None else to_block
        want = address.lower()
        return [
            e
            for e in self._logs
            if e.name == event
            and e.address.lower() == want
            and from_block <= e.block_number <= last
        ]

    # -- internals --------------------------------------------------------------------

    def _block(self, number: int | None) -> _Block:
        if number is None:
            return self._blocks[-1]
        if not 0 <= number < len(self._blocks):
            raise ChainError(f"block {number} does not exist (latest is {self.block_number()})")
        return self._blocks[number]

    def _sync_env(self, block_number: int) -> None:
        patch = self._env.evm.patch
        patch.block_number = block_number
        patch.timestamp = self._now

    def _mine(self, tx_hash: bytes) -> _Block:
        parent = self._blocks[-1]
        number = parent.number + 1
        digest = keccak256(
            parent.hash + number.to_bytes(32, "big") + self._now.to_bytes(32, "big") + tx_hash
        )
        block = _Block(number, self._now, digest)
        self._blocks.append(block)
        recent = self._blocks[-1 : -BLOCKHASH_WINDOW_BLOCKS - 1 : -1]
        self._env.evm.patch.prev_hashes = [b.hash for b in recent]
        self._sync_env(number)
        return block

    @staticmethod
    def _gas(computation: Any, data: bytes, *, create: bool = False) -> int:
        return intrinsic_gas(data, create=create) + int(computation.net_gas_used)

    def _finish(self, computation: Any, sender: AccountLike, data: bytes, gas: int) -> Receipt:
        nonce = self.nonce(sender.address)
        tx_hash = keccak256(to_canonical_address(sender.address) + nonce.to_bytes(32, "big") + data)
        block = self._mine(tx_hash)
        events: list[Event] = []
        for index, (addr, topics, payload) in enumerate(computation.get_log_entries()):
            ev = self._book.decode_log(
                addr,
                [t.to_bytes(32, "big") for t in topics],
                bytes(payload),
                block_number=block.number,
                log_index=index,
                tx_hash=tx_hash,
            )
            if ev is not None:
                events.append(ev)
        self._logs.extend(events)
        created = None
        if computation.msg.is_create:
            created = Address(to_checksum_address(computation.msg.storage_address))
        return Receipt(tx_hash, True, gas, block.number, tuple(events), created)
