"""Helpers for the storage kind's oracle-side tests: a small signed world.

`World` holds a network's settings, a storage section with one authorised placer, storage
nodes (generated `DeviceKey`s registered as kind "storage"), one entropy block per audit
window (stamped at the window's start) and the kind state between epochs. It builds real
placer-signed placements and node-signed reports, real Merkle proofs of real bytes, and runs
`KIND.compute` exactly as the oracle does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey
from opendepin.network.settings import Settings
from opendepin.proofs.kind import KindJob, KindResult
from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged
from opendepin.proofs.storage.kind import KIND
from opendepin.proofs.storage.payload import placement_payload, proof_payload, removal_payload
from opendepin.proofs.storage.settings import StorageSection
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.storage import merkle
from opendepin.storage.orders import Action, OrderLimit, Placement, new_piece_id, new_serial
from opendepin.types import Address, DeviceId, Epoch, ProofKind

EPOCH = 2
HOUR_MS = 3_600_000
OWNER = Address("0x" + "0c" * 20)


def block_hash(epoch: int, window: int, salt: bytes = b"") -> bytes:
    return hashlib.blake2b(b"test-entropy" + salt + bytes([epoch, window]), digest_size=32).digest()


@dataclass
class Piece:
    """A piece placed on a node: its id, bytes and the signed placement."""

    piece: bytes
    data: bytes
    placement: Placement
    node: DeviceKey


@dataclass
class World:
    section: StorageSection
    settings: Settings = field(default_factory=Settings)
    placer: Signer = field(default_factory=Signer.generate)
    nodes: list[DeviceKey] = field(default_factory=list)
    state: bytes | None = None
    seqs: dict[str, int] = field(default_factory=dict)
    salt: bytes = b""

    @classmethod
    def make(cls, nodes: int = 1, **section: Any) -> World:
        placer = Signer.generate()
        defaults: dict[str, Any] = {"placers": [placer.address], "audit_probability_ppm": 1_000_000}
        defaults.update(section)
        world = cls(StorageSection(**defaults), placer=placer)
        world.nodes = [DeviceKey.generate() for _ in range(nodes)]
        world.state = KIND.initial_state(world.section)
        return world

    # -- clock and chain -------------------------------------------------------------------

    def epoch_start_ms(self, epoch: int = EPOCH) -> int:
        return self.settings.network.epoch_window_ms(epoch)[0]

    def window_start_ms(self, window: int, epoch: int = EPOCH) -> int:
        return self.epoch_start_ms(epoch) + window * self.section.audit_window_ms

    def windows(self) -> int:
        return self.settings.network.epoch_seconds // self.section.audit_window_seconds

    def block(self, window: int, epoch: int = EPOCH) -> EntropyBlock:
        start_s = self.window_start_ms(window, epoch) // 1_000
        return EntropyBlock(10_000 * epoch + window, block_hash(epoch, window, self.salt), start_s)

    def snapshot(
        self, epoch: int = EPOCH, records: list[DeviceRecord] | None = None
    ) -> ChainSnapshot:
        blocks = [self.block(w, epoch) for w in range(self.windows())]
        if records is None:
            records = [DeviceRecord(k.device_id, OWNER, "storage", 0, True) for k in self.nodes]
        return ChainSnapshot(
            block_number=10_000 * epoch + 999,
            entropy=b"\x07" * 32,
            devices={r.device: r for r in records},
            entropy_blocks={b.number: b for b in blocks},
        )

    # -- reports ----------------------------------------------------------------------------

    def report(
        self,
        key: DeviceKey,
        payload: dict[str, Any],
        at_ms: int,
        epoch: int = EPOCH,
        seq: int | None = None,
    ) -> IngestedReport:
        if seq is None:
            seq = self.seqs.get(key.device_id, 0)
            self.seqs[key.device_id] = seq + 1
        report = Report(
            network_id=self.settings.network.network_id,
            chain_id=self.settings.network.chain_id,
            device=key.device_id,
            kind=ProofKind("storage"),
            epoch=Epoch(epoch),
            seq=seq,
            timestamp_ms=at_ms,
            payload=canonical_payload(payload),
        )
        return IngestedReport(sign_report(report, key))

    def new_piece(
        self,
        node: DeviceKey,
        size: int,
        term_days: int = 30,
        data: bytes | None = None,
        **fields: Any,
    ) -> Piece:
        piece = new_piece_id()
        if data is None:
            data = hashlib.shake_256(piece).digest(size) if size else b""
        start = self.epoch_start_ms(0)
        placement = Placement(
            network=self.settings.network.network_id,
            chain_id=self.settings.network.chain_id,
            placer=DeviceId(self.placer.address),
            node=node.device_id,
            piece=piece,
            size=len(data),
            root=merkle.merkle_root(data),
            term_start_ms=start,
            term_end_ms=start + term_days * 86_400_000,
        )
        placement = replace(placement, **fields).signed(self.placer)
        return Piece(piece, data, placement, node)

    def place(self, piece: Piece, at_ms: int | None = None, epoch: int = EPOCH) -> IngestedReport:
        at = self.epoch_start_ms(epoch) - 1 if at_ms is None else at_ms
        if at < self.epoch_start_ms(epoch):
            at = self.epoch_start_ms(epoch)  # placed at the very start: audited from window 0
        return self.report(piece.node, placement_payload(piece.placement), at, epoch)

    def challenge(self, piece: Piece, window: int, epoch: int = EPOCH) -> tuple[bool, int]:
        block = self.block(window, epoch)
        leaves = merkle.leaf_count(len(piece.data))
        return (
            is_challenged(block.hash, piece.piece, self.section.audit_probability_ppm),
            challenged_leaf(block.hash, piece.piece, leaves),
        )

    def proof_payload(
        self, piece: Piece, window: int, epoch: int = EPOCH, index: int | None = None
    ) -> dict[str, Any]:
        _, leaf_index = self.challenge(piece, window, epoch)
        if index is None:
            index = leaf_index
        leaf, path = merkle.build_proof(piece.data, index)
        return proof_payload(self.block(window, epoch).number, piece.piece, index, leaf, path)

    def prove(
        self,
        piece: Piece,
        window: int,
        *,
        at_ms: int | None = None,
        epoch: int = EPOCH,
        report_epoch: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> IngestedReport:
        """A proof of `piece` for `window`, signed 5 minutes into it unless `at_ms`."""
        at = self.window_start_ms(window, epoch) + 300_000 if at_ms is None else at_ms
        body = payload if payload is not None else self.proof_payload(piece, window, epoch)
        return self.report(piece.node, body, at, epoch if report_epoch is None else report_epoch)

    def prove_all(
        self, piece: Piece, epoch: int = EPOCH, skip: frozenset[int] = frozenset()
    ) -> list[IngestedReport]:
        return [
            self.prove(piece, w, epoch=epoch)
            for w in range(self.windows())
            if w not in skip and self.challenge(piece, w, epoch)[0]
        ]

    def delete_order(
        self, piece: Piece, expires_ms: int | None = None, **fields: Any
    ) -> OrderLimit:
        order = OrderLimit(
            network=self.settings.network.network_id,
            chain_id=self.settings.network.chain_id,
            placer=DeviceId(self.placer.address),
            node=piece.node.device_id,
            piece=piece.piece,
            action=Action.DELETE,
            max_bytes=0,
            expires_ms=expires_ms if expires_ms is not None else self.epoch_start_ms(100),
            serial=new_serial(),
        )
        return replace(order, **fields).signed(self.placer)

    def remove(self, piece: Piece, at_ms: int, epoch: int = EPOCH, **fields: Any) -> IngestedReport:
        return self.report(
            piece.node, removal_payload(self.delete_order(piece, **fields)), at_ms, epoch
        )

    # -- the oracle ----------------------------------------------------------------------------

    def job(
        self,
        reports: list[IngestedReport],
        epoch: int = EPOCH,
        snapshot: ChainSnapshot | None = None,
    ) -> KindJob:
        return KindJob(
            Epoch(epoch),
            reports,
            snapshot or self.snapshot(epoch),
            self.settings,
            self.section,
            self.state,
        )

    def run(
        self,
        reports: list[IngestedReport],
        epoch: int = EPOCH,
        snapshot: ChainSnapshot | None = None,
        advance: bool = True,
    ) -> KindResult:
        result = KIND.compute(self.job(reports, epoch, snapshot))
        if advance:
            self.state = result.next_state
        return result


def reasons_of(result: KindResult) -> list[str | None]:
    return [None if v.reason is None else str(v.reason) for v in result.verdicts]
