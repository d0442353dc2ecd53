"""In-memory storage nodes and a simulated placer with a repair checker, for `depin demo`.

The simulation runs the real storage data path without sockets or disks: objects are real
bytes, cut into segments and erasure-coded with `opendepin.storage.erasure` (zfec), every piece
is committed to with `opendepin.storage.merkle`, and the placer signs real
`opendepin.storage.orders.Placement`s. What is simulated is only the transport: a node
"receives" a piece by a method call and "serves" it by returning its bytes.

**Nodes** (`SimNode`) keep what their behaviour lets them keep:

| behaviour    | keeps                                   | answers a probe            |
|--------------|-----------------------------------------|----------------------------|
| honest       | every piece's bytes                     | the bytes                  |
| deleter      | bytes, then silently drops half of them | the bytes it still has     |
| roots_only   | only each piece's size and Merkle root  | nothing (it has no bytes)  |
| offline      | every piece's bytes                     | nothing while it is offline|

**The placer** (`SimPlacer`) works like Storj's satellite with long-tail cancellation: of the
`total` pieces of a segment it keeps the first `success` to finish (a seeded choice of which),
each on a different node. Its **repair checker** runs every hour: it probes every piece it
points at (asks the node for the bytes and checks them against the placement's root); a piece
that fails is no longer healthy, and a node whose bytes are wrong or missing is never chosen
again (an unreachable node only while it is unreachable). When a segment's healthy pieces fall
to the `repair` threshold it rebuilds the missing piece numbers from any `required` healthy
ones (`erasure.rebuild_pieces`) and places them, with new piece ids and new placements, on
nodes that hold no piece of that segment, until the segment has `success` pieces again.

Everything is deterministic from the seed: object bytes, piece ids, node choices.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey
from opendepin.storage import erasure, merkle
from opendepin.storage.erasure import Redundancy
from opendepin.storage.orders import Placement
from opendepin.types import DeviceId

PIECE_ID_DOMAIN: Final = b"opendepin-sim:storage-piece:"


class Behaviour(StrEnum):
    """How a simulated storage node behaves (see the module table)."""

    HONEST = "honest"
    DELETER = "deleter"
    ROOTS_ONLY = "roots_only"
    OFFLINE = "offline"


@dataclass(slots=True)
class HeldPiece:
    """One piece as a node holds it."""

    placement: Placement
    """The placer-signed placement the node accepted."""
    data: bytes | None
    """The piece's bytes (None: never kept, or deleted)."""
    reported_ms: int | None = None
    """Timestamp of the node's placement report (None: not filed yet)."""


@dataclass(slots=True)
class SimNode:
    """One simulated storage node: its key, owner, behaviour and the pieces it holds."""

    index: int
    key: DeviceKey
    owner: Signer
    behaviour: Behaviour
    pieces: dict[bytes, HeldPiece] = field(default_factory=dict)
    """Piece id -> what the node holds of it, in the order received."""
    online: bool = True
    """Whether the node answers anything right now."""
    next_seq: int = 1
    """Next report sequence number it signs."""

    @property
    def device_id(self) -> DeviceId:
        return self.key.device_id

    def accept(self, placement: Placement, data: bytes) -> None:
        """Store an uploaded piece (a roots_only node keeps only what the placement says)."""
        kept = None if self.behaviour is Behaviour.ROOTS_ONLY else data
        self.pieces[placement.piece] = HeldPiece(placement, kept)

    def serve(self, piece: bytes) -> bytes | None:
        """The piece's bytes as the node would send them (None: offline or it has none)."""
        held = self.pieces.get(piece)
        if not self.online or held is None:
            return None
        return held.data

    def delete_half(self, rng: random.Random) -> int:
        """Silently drop the bytes of half the pieces it holds (a deleter); returns how many."""
        held = sorted(p for p, h in self.pieces.items() if h.data is not None)
        doomed = rng.sample(held, len(held) // 2)
        for piece in doomed:
            self.pieces[piece].data = None
        return len(doomed)


@dataclass(slots=True)
class Segment:
    """One erasure-coded segment of an object as the placer's metadata records it."""

    object_index: int
    offset: int
    length: int
    healthy: dict[int, tuple[int, Placement]] = field(default_factory=dict)
    """Piece number -> (node index, placement) of the pieces believed healthy."""


@dataclass(slots=True)
class StoredObject:
    """An object the placer stored: its bytes (to check reads) and its segments."""

    data: bytes
    segments: list[Segment]


@dataclass(slots=True)
class Transfer:
    """One piece the placer handed to a node."""

    node: int
    placement: Placement
    data: bytes


@dataclass(slots=True)
class RepairTally:
    """What the repair checker did so far."""

    probes: int = 0
    failed_probes: int = 0
    segments_repaired: int = 0
    pieces_repaired: int = 0
    unrepairable: int = 0
    """Segment checks that found fewer than `required` healthy pieces (data at risk)."""


class SimPlacer:
    """The placer: uploads objects, probes pieces, repairs segments (see the module docstring)."""

    def __init__(
        self,
        signer: Signer,
        *,
        seed: int,
        network_id: str,
        chain_id: int,
        redundancy: Redundancy,
        segment_size: int,
        term_seconds: int,
    ) -> None:
        self.signer = signer
        self.seed = seed
        self.network_id = network_id
        self.chain_id = chain_id
        self.redundancy = redundancy
        self.segment_size = segment_size
        self.term_ms = term_seconds * 1_000
        self.objects: list[StoredObject] = []
        self.tally = RepairTally()
        self.bad_nodes: set[int] = set()
        """Nodes that served wrong or no bytes while reachable: never chosen again."""
        self._verified: dict[bytes, bytes] = {}
        """Piece -> the bytes object a probe last found intact (a simulation shortcut: a node
        serving that same immutable object again serves the same bytes, so it is not re-hashed)."""
        self._rng = random.Random(seed ^ 0x5701)
        self._pieces = 0

    @property
    def address(self) -> DeviceId:
        return DeviceId(self.signer.address)

    def _piece_id(self) -> bytes:
        self._pieces += 1
        material = (
            PIECE_ID_DOMAIN
            + self.seed.to_bytes(8, "big", signed=True)
            + self._pieces.to_bytes(8, "big")
        )
        return hashlib.blake2b(material, digest_size=32).digest()

    def _placement(self, node: SimNode, data: bytes, now_ms: int) -> Placement:
        return Placement(
            network=self.network_id,
            chain_id=self.chain_id,
            placer=self.address,
            node=node.device_id,
            piece=self._piece_id(),
            size=len(data),
            root=merkle.merkle_root(data),
            term_start_ms=now_ms,
            term_end_ms=now_ms + self.term_ms,
        ).signed(self.signer)

    def _eligible(self, nodes: Sequence[SimNode], exclude: set[int]) -> list[SimNode]:
        return [
            n
            for n in nodes
            if n.online and n.index not in self.bad_nodes and n.index not in exclude
        ]

    def _place(
        self, segment: Segment, pieces: dict[int, bytes], nodes: Sequence[SimNode], now_ms: int
    ) -> list[Transfer]:
        """Put `pieces` (number -> bytes) of `segment` on distinct nodes holding none of it (as
        many as there are such nodes; the checker places the rest in a later hour)."""
        taken = {node for node, _ in segment.healthy.values()}
        choices = self._eligible(nodes, taken)
        wanted = sorted(pieces.items())[: len(choices)]
        targets = self._rng.sample(choices, len(wanted))
        out = []
        for (number, data), node in zip(wanted, targets, strict=True):
            placement = self._placement(node, data, now_ms)
            node.accept(placement, data)
            segment.healthy[number] = (node.index, placement)
            out.append(Transfer(node.index, placement, data))
        return out

    def upload(
        self, blobs: Sequence[bytes], nodes: Sequence[SimNode], now_ms: int
    ) -> list[Transfer]:
        """Store `blobs`: segment, erasure-code, keep `success` of `total` pieces per segment."""
        r = self.redundancy
        out: list[Transfer] = []
        for data in blobs:
            stored = StoredObject(data, [])
            self.objects.append(stored)
            for offset, length in erasure.segment_ranges(len(data), self.segment_size):
                segment = Segment(len(self.objects) - 1, offset, length)
                stored.segments.append(segment)
                coded = erasure.encode_segment(data[offset : offset + length], r.required, r.total)
                kept = sorted(
                    self._rng.sample(range(r.total), r.success)
                )  # the long tail is cancelled
                out.extend(self._place(segment, {i: coded[i] for i in kept}, nodes, now_ms))
        return out

    def _probe(self, segment: Segment, nodes: Sequence[SimNode]) -> dict[int, bytes]:
        """Probe the segment's healthy pieces; drop the ones that fail. Returns number -> bytes."""
        good: dict[int, bytes] = {}
        for number, (node_index, placement) in sorted(segment.healthy.items()):
            node = nodes[node_index]
            data = node.serve(placement.piece)
            self.tally.probes += 1
            if data is not None and self._verified.get(placement.piece) is data:
                good[number] = data  # the very bytes object already checked (bytes are immutable)
                continue
            if (
                data is not None
                and len(data) == placement.size
                and merkle.merkle_root(data) == placement.root
            ):
                good[number] = data
                self._verified[placement.piece] = data
                continue
            self.tally.failed_probes += 1
            del segment.healthy[number]
            if node.online:  # reachable but wrong or missing bytes: never trusted again
                self.bad_nodes.add(node_index)
        return good

    def check_and_repair(self, nodes: Sequence[SimNode], now_ms: int) -> list[Transfer]:
        """One pass of the repair checker over every segment; returns the new pieces placed."""
        r = self.redundancy
        out: list[Transfer] = []
        for stored in self.objects:
            for segment in stored.segments:
                good = self._probe(segment, nodes)
                if len(good) > r.repair:
                    continue
                if len(good) < r.required:
                    self.tally.unrepairable += 1
                    continue
                missing = [i for i in range(r.total) if i not in good][: r.success - len(good)]
                rebuilt = erasure.rebuild_pieces(good, r.required, r.total, segment.length, missing)
                placed = self._place(segment, rebuilt, nodes, now_ms)
                if placed:
                    self.tally.segments_repaired += 1
                    self.tally.pieces_repaired += len(placed)
                out.extend(placed)
        return out

    def read(self, index: int, nodes: Sequence[SimNode]) -> bytes | None:
        """Object `index` as a download would get it now (None: some segment is unreadable)."""
        r = self.redundancy
        stored = self.objects[index]
        parts = []
        for segment in stored.segments:
            pieces = {}
            for number, (node_index, placement) in segment.healthy.items():
                data = nodes[node_index].serve(placement.piece)
                if data is not None and merkle.merkle_root(data) == placement.root:
                    pieces[number] = data
            try:
                parts.append(erasure.decode_segment(pieces, r.required, r.total, segment.length))
            except ValueError:
                return None
        return b"".join(parts)

    def readable(self, nodes: Sequence[SimNode]) -> int:
        """How many stored objects read back byte for byte."""
        return sum(self.read(i, nodes) == o.data for i, o in enumerate(self.objects))


__all__ = [
    "Behaviour",
    "HeldPiece",
    "RepairTally",
    "Segment",
    "SimNode",
    "SimPlacer",
    "StoredObject",
    "Transfer",
]
