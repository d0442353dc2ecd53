"""Repair: find segments whose redundancy decayed and rebuild their missing pieces elsewhere.

**The checker** decides, for every live piece of a segment, whether it still counts:

* its node is known and answered the directory's last `refresh` (else `unreachable`);
* its node is not disqualified by the oracles' reputation (`disqualified`);
* its storage term has not ended (`term_ended`);
* a probe — the placer's own audit — downloads the piece with a GET order and checks it
  against the root the placement committed to (the node's refusal code, e.g.
  `no_such_piece` / `corrupt_piece`, or `root_mismatch` / `size_mismatch`). Probing costs
  egress, so it is sampled: each piece with probability `probe_ppm` / 10⁶ (default: all,
  which suits small networks; the oracles' audits cover the rest statistically).

A segment needs repair when its healthy pieces are at most the `repair` threshold of the
redundancy (Storj's rule), and cannot be repaired when fewer than k remain.

**The worker** downloads k healthy pieces (checked again), rebuilds the missing piece
numbers (`erasure.rebuild_pieces`), places them with *new* piece ids and new placements on
nodes that hold no piece of the segment (owners of the healthy pieces avoided where
possible), and only after the acks updates the metadata in one transaction: the replaced
pieces become `lost` (and are queued for deletion), the new ones `repaired`. A crash before
that transaction leaves the metadata as it was (the orphaned new pieces expire with their
term); running the repair again is harmless — a healthy segment is left alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final

from opendepin.storage.client import NodeUnavailable
from opendepin.storage.directory import PlacerError
from opendepin.storage.erasure import rebuild_pieces
from opendepin.storage.metadata import ObjectRow, PieceRow, PieceState, SegmentRow
from opendepin.storage.orders import StorageError
from opendepin.storage.placer import Placer

PPM: Final = 1_000_000
DEFAULT_PROBE_PPM: Final = PPM
"""Probe every piece (small networks); lower it where egress costs."""


@dataclass(frozen=True, slots=True)
class SegmentHealth:
    """One segment's pieces sorted into healthy and not (with the reason)."""

    object: ObjectRow
    segment: SegmentRow
    healthy: tuple[PieceRow, ...]
    unhealthy: tuple[tuple[PieceRow, str], ...]
    repair_threshold: int

    @property
    def needs_repair(self) -> bool:
        return len(self.healthy) <= self.repair_threshold or len(self.healthy) < self.segment.n

    @property
    def below_threshold(self) -> bool:
        return len(self.healthy) <= self.repair_threshold

    @property
    def recoverable(self) -> bool:
        return len({p.number for p in self.healthy}) >= self.segment.k


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What repairing one segment did."""

    bucket: str
    key: str
    segment: int
    healthy_before: int
    rebuilt: tuple[int, ...] = ()
    """Piece numbers placed anew."""
    healthy_after: int = 0
    error: str | None = None


@dataclass(slots=True)
class RepairReport:
    """A checker + worker pass over the metadata."""

    checked_segments: int = 0
    probed_pieces: int = 0
    unhealthy_pieces: int = 0
    results: list[RepairResult] = field(default_factory=list)


class Checker:
    """Sorts every segment's pieces into healthy and unhealthy (see the module docstring)."""

    def __init__(
        self,
        placer: Placer,
        *,
        disqualified: Iterable[str] = (),
        probe_ppm: int = DEFAULT_PROBE_PPM,
        seed: int | None = None,
    ) -> None:
        if not 0 <= probe_ppm <= PPM:
            raise ValueError(f"probe_ppm must be 0..{PPM}")
        self.placer = placer
        self.disqualified = frozenset(disqualified) | placer.directory.disqualified
        self.probe_ppm = probe_ppm
        self._rng = random.Random(seed)
        self.probed = 0

    def _probe(self, piece: PieceRow) -> str | None:
        try:
            self.placer.fetch_piece(piece)
        except StorageError as exc:
            return exc.reason.value
        except NodeUnavailable:
            return "unreachable"
        return None

    def check_segment(self, obj: ObjectRow, segment: SegmentRow) -> SegmentHealth:
        now = self.placer.now_ms()
        directory = self.placer.directory
        live = [p for p in self.placer.metadata.pieces(obj.id, segment.idx) if p.live]
        verdicts: dict[bytes, str | None] = {}
        to_probe: list[PieceRow] = []
        for piece in live:
            if piece.node in self.disqualified:
                verdicts[piece.piece_id] = "disqualified"
            elif not directory.reachable(piece.node):
                verdicts[piece.piece_id] = "unreachable"
            elif piece.term_end_ms <= now:
                verdicts[piece.piece_id] = "term_ended"
            elif self.probe_ppm >= PPM or self._rng.randrange(PPM) < self.probe_ppm:
                to_probe.append(piece)
            else:
                verdicts[piece.piece_id] = None
        self.probed += len(to_probe)
        for piece, verdict in zip(
            to_probe, self.placer.pool.map(self._probe, to_probe), strict=True
        ):
            verdicts[piece.piece_id] = verdict
        healthy, unhealthy, seen = [], [], set[int]()
        for piece in live:
            verdict = verdicts[piece.piece_id]
            if verdict is None and piece.number not in seen:
                healthy.append(piece)
                seen.add(piece.number)
            else:
                unhealthy.append((piece, verdict or "duplicate_number"))
        return SegmentHealth(
            obj, segment, tuple(healthy), tuple(unhealthy), self.placer.config.redundancy.repair
        )

    def check(self) -> list[SegmentHealth]:
        """Every committed object's segments (refreshing the node directory first)."""
        self.placer.directory.refresh()
        out = []
        for object_id in self.placer.metadata.committed_object_ids():
            obj = self.placer.metadata.object_by_id(object_id)
            if obj is None:
                continue
            for segment in self.placer.metadata.segments(object_id):
                out.append(self.check_segment(obj, segment))
        return out


class RepairWorker:
    """Rebuilds and re-places the missing pieces of segments the checker flagged."""

    def __init__(self, placer: Placer) -> None:
        self.placer = placer

    def repair(self, health: SegmentHealth) -> RepairResult:
        seg, obj = health.segment, health.object
        base = _with(  # until something is placed, as healthy as before
            RepairResult(obj.bucket, obj.key, seg.idx, len(health.healthy)),
            healthy_after=len(health.healthy),
        )
        if not health.recoverable:
            return _with(
                base, error=f"unrecoverable: {len(health.healthy)} healthy, {seg.k} needed"
            )
        present = {p.number for p in health.healthy}
        missing = [i for i in range(seg.n) if i not in present]
        if not missing:
            return _with(base, healthy_after=len(health.healthy))
        try:
            got = self.placer.read_segment(seg, list(health.healthy))
        except PlacerError as exc:
            return _with(base, error=str(exc))
        rebuilt = rebuild_pieces(got, seg.k, seg.n, seg.length, missing)
        directory = self.placer.directory
        holders = [p.node for p in health.healthy] + [p.node for p, _ in health.unhealthy]
        owners = [
            e.owner_key
            for e in (directory.by_node(p.node) for p in health.healthy)
            if e is not None
        ]
        try:
            attempts = self.placer.place(
                seg,
                rebuilt,
                minimum=1,
                state=PieceState.REPAIRED,
                exclude_nodes=holders,
                exclude_owners=owners,
            )
        except PlacerError as exc:
            return _with(base, error=str(exc))
        placed = [a.piece for a in attempts if a.error is None]
        numbers = {p.number for p in placed}
        lost = [p for p, _ in health.unhealthy if p.number in numbers or p.number in present]
        now = self.placer.now_ms()
        if not self.placer.metadata.replace_pieces(seg, lost, placed, now):
            self.placer.metadata.queue_deletes(placed, now)  # the object changed meanwhile
            self.placer.flush_deletes()
            return _with(base, error="object_changed: the segment no longer exists")
        self.placer.flush_deletes()
        failed = sorted({a.piece.number for a in attempts if a.error is not None} - numbers)
        return _with(
            base,
            rebuilt=tuple(sorted(numbers)),
            healthy_after=len(health.healthy) + len(placed),
            error=f"pieces {failed} could not be placed" if failed else None,
        )


def _with(result: RepairResult, **changes: object) -> RepairResult:
    return replace(result, **changes)  # type: ignore[arg-type]


def run_repair(
    placer: Placer,
    *,
    disqualified: Iterable[str] = (),
    probe_ppm: int = DEFAULT_PROBE_PPM,
    seed: int | None = None,
    full: bool = False,
) -> RepairReport:
    """Check everything; repair segments at or below the threshold (or any with a missing piece if `full`)."""
    checker = Checker(placer, disqualified=disqualified, probe_ppm=probe_ppm, seed=seed)
    worker = RepairWorker(placer)
    report = RepairReport()
    for health in checker.check():
        report.checked_segments += 1
        report.unhealthy_pieces += len(health.unhealthy)
        if health.below_threshold or (full and health.needs_repair):
            report.results.append(worker.repair(health))
    report.probed_pieces = checker.probed
    return report


__all__ = ["Checker", "RepairReport", "RepairResult", "RepairWorker", "SegmentHealth", "run_repair"]
