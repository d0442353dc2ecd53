"""Simulated storage nodes for `depin demo`: honest ones, three kinds of cheat, audits and repair.

`StorageSimulation(spec)` is the storage kind's `SimModel`. From `spec.seed` it derives N
node keys, one placer key (`placer_signer`) and a few objects of real bytes; it then plays
the storage protocol hour by hour on the demo's clock, one audit window per simulated hour:

```
hour 0 of epoch 0   placer: 8 objects (20–200 KiB) → 16 KiB segments → zfec 4-of-8, keep 6
                    (long-tail cancelled) → signed Placements → every node files a placement report
every hour          every node answers each challenged piece of the window (challenge.is_challenged
                    / challenged_leaf with the hour's entropy; merkle.build_proof over what it
                    holds; the proof names the hour's entropy block), then the placer's repair
                    checker probes every piece and rebuilds segments at the repair threshold
                    onto other nodes, whose placement reports follow in the next hour
```

| behaviour  | what it does                                                  | what the oracles should see            |
|------------|---------------------------------------------------------------|----------------------------------------|
| honest     | keeps every piece, proves every challenge on time             | passes, paid                           |
| deleter    | from hour 6 drops half its pieces, never answers their audits | `missing` after containment → DQ       |
| roots_only | keeps only roots; answers with garbage leaves and paths       | `wrong_root` on every audit → DQ       |
| offline    | silent for hours 4–11 of epoch 1, then answers the missed     | contained passes: keeps its reputation,|
|            | windows' challenges late (within containment)                 | but those windows earn nothing         |

Cheats appear with `MIN_NODES_FOR_CHEATS` or more nodes. Nodes register for kind "storage"
and assert no location (a disk's whereabouts are not what the kind proves). The audit window must be the sim
hour (3600 s): the model refuses other settings. Proofs are signed `PROOF_OFFSET_SECONDS`
(plus a per-node stagger) after the hour's start, so after its entropy block and well within
`proof_grace_seconds` of the window's end. Keys use `opendepin.sim.keys.sim_secret` — never
for real keys.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey, KeyType
from opendepin.proofs.kind import SimDevice, SimHour, SimSpec
from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged
from opendepin.proofs.storage.payload import placement_payload, proof_payload
from opendepin.proofs.storage.settings import storage_section
from opendepin.proofs.storage.simnodes import Behaviour, SimNode, SimPlacer
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.sim.keys import sim_secret
from opendepin.storage import merkle
from opendepin.types import DeviceId, ProofKind

STORAGE: Final = ProofKind("storage")
SIM_WINDOW_SECONDS: Final = 3_600
"""The simulation's audit window: one simulated hour (`SimHour`)."""
OBJECTS: Final = 8
MIN_OBJECT_BYTES: Final = 20 * 1024
MAX_OBJECT_BYTES: Final = 200 * 1024
SIM_SEGMENT_BYTES: Final = 16 * 1024
"""Small segments (pieces of 4 KiB, 4 leaves), so a few objects give every node enough
pieces for its audits to decide its reputation within the demo's three epochs."""
TERM_SECONDS: Final = 30 * 86_400
"""Every placement's term: 30 days from its hour, longer than any demo."""
MIN_NODES_FOR_CHEATS: Final = 10
"""Below this many nodes every node is honest."""
DELETE_FROM_HOUR: Final = 6
"""Hours since genesis after which the deleter has dropped half its pieces (hour 6 of epoch 0)."""
OFFLINE_FROM_HOUR: Final = 24 + 4
OFFLINE_HOURS: Final = 8
"""The offline node is silent for hours 4..11 of epoch 1 (hours since genesis 28..35)."""
PLACEMENT_OFFSET_SECONDS: Final = 30
PROOF_OFFSET_SECONDS: Final = 120
NODE_STAGGER_SECONDS: Final = 7
"""Node i signs its hour's proofs at hour start + PROOF_OFFSET + i * NODE_STAGGER seconds (mod
`MAX_STAGGER_SECONDS`), all before the demo delivers them half an hour into the hour."""
MAX_STAGGER_SECONDS: Final = 900
SEED_SALT: Final = 0x5704


def placer_signer(seed: int) -> Signer:
    """The simulated placer's account (its address goes into `[storage] placers`)."""
    return Signer.from_private_bytes(sim_secret(seed, "storage-placer", 0))


def node_key(seed: int, index: int) -> DeviceKey:
    """Storage node `index`'s device key."""
    return DeviceKey.from_private_bytes(KeyType.SECP256K1, sim_secret(seed, "storage-node", index))


def behaviour_plan(count: int) -> list[Behaviour]:
    """Behaviours of `count` nodes: one of each cheat, spread out, when there are enough nodes."""
    plan = [Behaviour.HONEST] * count
    if count >= MIN_NODES_FOR_CHEATS:
        for i, cheat in enumerate((Behaviour.DELETER, Behaviour.ROOTS_ONLY, Behaviour.OFFLINE)):
            plan[(i + 1) * count // 4] = cheat
    return plan


@dataclass(frozen=True, slots=True)
class StorageFacts:
    """What the placer's side saw (the demo's storage summary)."""

    objects: int
    object_bytes: int
    segments: int
    pieces_placed: int
    """Pieces placed at upload."""
    pieces_repaired: int
    """Pieces rebuilt and placed again by the repair checker."""
    segments_repaired: int
    readable: int
    """Objects that read back byte for byte now."""
    failed_probes: int
    proofs_sent: int

    def to_obj(self) -> dict[str, int]:
        return asdict(self)


class StorageSimulation:
    """The storage kind's simulation model (see the module docstring)."""

    def __init__(self, spec: SimSpec) -> None:
        section = storage_section(spec.settings)
        if section.audit_window_seconds != SIM_WINDOW_SECONDS:
            raise ValueError(
                f"the storage simulation needs storage.audit_window_seconds = {SIM_WINDOW_SECONDS}"
            )
        redundancy = section.redundancy_scheme
        if spec.count and spec.count < redundancy.total:
            raise ValueError(
                f"the storage simulation needs at least {redundancy.total} nodes ({redundancy})"
            )
        net = spec.settings.network
        self.network_id = net.network_id
        self.chain_id = net.chain_id
        self.genesis_unix = net.genesis_unix
        self.probability_ppm = section.audit_probability_ppm
        rng = random.Random(spec.seed ^ SEED_SALT)
        self.nodes = [
            SimNode(
                i, node_key(spec.seed, i), spec.owners[rng.randrange(len(spec.owners))], behaviour
            )
            for i, behaviour in enumerate(behaviour_plan(spec.count))
        ]
        self._devices = [
            SimDevice(n.key, n.owner, 0, f"storage_{n.behaviour.value}") for n in self.nodes
        ]
        self.placer = SimPlacer(
            placer_signer(spec.seed),
            seed=spec.seed,
            network_id=self.network_id,
            chain_id=self.chain_id,
            redundancy=redundancy,
            segment_size=SIM_SEGMENT_BYTES,
            term_seconds=TERM_SECONDS,
        )
        self.blobs = [
            rng.randbytes(rng.randint(MIN_OBJECT_BYTES, MAX_OBJECT_BYTES)) for _ in range(OBJECTS)
        ]
        self._uploaded = 0
        self._rng = random.Random(spec.seed ^ SEED_SALT ^ 1)
        self._hours: dict[int, SimHour] = {}
        """Hours since genesis -> the hours seen (a late answer needs its window's entropy)."""
        self._missed: dict[int, list[int]] = {}
        """Node index -> windows it was offline in and has not answered yet."""
        self._deleted = False
        self.proofs_sent = 0

    @property
    def devices(self) -> Sequence[SimDevice]:
        return self._devices

    def behaviours(self) -> dict[DeviceId, str]:
        """Device -> its behaviour label (as in `devices`)."""
        return {d.key.device_id: d.behaviour for d in self._devices}

    def facts(self) -> StorageFacts:
        """The placer's view now, including how many objects read back intact."""
        tally = self.placer.tally
        return StorageFacts(
            objects=len(self.placer.objects),
            object_bytes=sum(len(o.data) for o in self.placer.objects),
            segments=sum(len(o.segments) for o in self.placer.objects),
            pieces_placed=self._uploaded,
            pieces_repaired=tally.pieces_repaired,
            segments_repaired=tally.segments_repaired,
            readable=self.placer.readable(self.nodes),
            failed_probes=tally.failed_probes,
            proofs_sent=self.proofs_sent,
        )

    def hour_reports(self, hour: SimHour) -> list[Report]:
        """Placement reports and proofs every node signs this hour; then the repair checker runs."""
        if not self.nodes:
            return []
        index = (hour.hour_start_unix - self.genesis_unix) // SIM_WINDOW_SECONDS
        self._hours[index] = hour
        start_ms = hour.hour_start_unix * 1_000
        if not self.placer.objects:
            self._uploaded = len(self.placer.upload(self.blobs, self.nodes, start_ms))
        if index >= DELETE_FROM_HOUR and not self._deleted:
            self._deleted = True
            for node in self.nodes:
                if node.behaviour is Behaviour.DELETER:
                    node.delete_half(self._rng)
        reports: list[Report] = []
        for node in self.nodes:
            was_offline = not node.online
            node.online = not (
                node.behaviour is Behaviour.OFFLINE
                and OFFLINE_FROM_HOUR <= index < OFFLINE_FROM_HOUR + OFFLINE_HOURS
            )
            if not node.online:
                self._missed.setdefault(node.index, []).append(index)
                continue
            reports.extend(self._placement_reports(node, hour))
            windows = self._missed.pop(node.index, []) if was_offline else []
            reports.extend(self._proofs(node, hour, [*windows, index]))
        self.placer.check_and_repair(self.nodes, start_ms + PROOF_OFFSET_SECONDS * 1_000)
        return reports

    def _sign(
        self, node: SimNode, hour: SimHour, timestamp_ms: int, payload: dict[str, Any]
    ) -> Report:
        report = Report(
            network_id=self.network_id,
            chain_id=self.chain_id,
            device=node.device_id,
            kind=STORAGE,
            epoch=hour.epoch,
            seq=node.next_seq,
            timestamp_ms=timestamp_ms,
            payload=canonical_payload(payload),
        )
        node.next_seq += 1
        return sign_report(report, node.key)

    def _placement_reports(self, node: SimNode, hour: SimHour) -> list[Report]:
        """Reports of the pieces the node received and has not reported yet."""
        out = []
        ts_ms = (hour.hour_start_unix + PLACEMENT_OFFSET_SECONDS) * 1_000
        for held in node.pieces.values():
            if held.reported_ms is None:
                out.append(self._sign(node, hour, ts_ms, placement_payload(held.placement)))
                held.reported_ms = ts_ms
                ts_ms += 1
        return out

    def _proofs(self, node: SimNode, hour: SimHour, windows: Sequence[int]) -> list[Report]:
        """The node's answers to the challenges of `windows` (hours since genesis), signed now."""
        out = []
        stagger_s = (node.index * NODE_STAGGER_SECONDS) % MAX_STAGGER_SECONDS
        ts_ms = (hour.hour_start_unix + PROOF_OFFSET_SECONDS + stagger_s) * 1_000
        for window in windows:
            seen = self._hours.get(window)
            if seen is None:
                continue
            for payload in self._answers(node, seen):
                out.append(self._sign(node, hour, ts_ms, payload))
                ts_ms += 1
        self.proofs_sent += len(out)
        return out

    def _answers(self, node: SimNode, window: SimHour) -> list[dict[str, Any]]:
        """Proof payloads for the node's challenged pieces of `window`, as its behaviour allows."""
        window_ms = window.hour_start_unix * 1_000
        out = []
        for piece, held in node.pieces.items():
            p = held.placement
            if held.reported_ms is None or held.reported_ms > window_ms:
                continue  # not auditable in this window: its placement came later
            if not p.term_start_ms <= window_ms < p.term_end_ms:
                continue
            if not is_challenged(window.entropy, piece, self.probability_ppm):
                continue
            leaf_index = challenged_leaf(window.entropy, piece, merkle.leaf_count(p.size))
            if held.data is not None:
                leaf, path = merkle.build_proof(held.data, leaf_index)
            elif node.behaviour is Behaviour.ROOTS_ONLY:
                leaf, path = self._garbage(p.size, leaf_index)
            else:
                continue  # deleted: the deleter stays silent
            out.append(proof_payload(window.entropy_block, piece, leaf_index, leaf, path))
        return out

    def _garbage(self, size: int, leaf_index: int) -> tuple[bytes, list[bytes]]:
        """A leaf and path of the right shapes with made-up bytes (a node that kept only roots)."""
        leaf_len = min(merkle.LEAF_SIZE, size - leaf_index * merkle.LEAF_SIZE)
        depth = merkle.path_length(merkle.leaf_count(size), leaf_index)
        return self._rng.randbytes(leaf_len), [
            self._rng.randbytes(merkle.HASH_BYTES) for _ in range(depth)
        ]


__all__ = [
    "OBJECTS",
    "SIM_WINDOW_SECONDS",
    "StorageFacts",
    "StorageSimulation",
    "behaviour_plan",
    "node_key",
    "placer_signer",
]
