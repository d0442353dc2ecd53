"""The node's reporter against the real ingest app and the embedded chain (no stubs).

Placements are filed and marked accepted; every audit window's challenged pieces get proofs
that `merkle.verify_proof` accepts, for exactly the pieces and leaves `challenge.py` names;
a restart answers the windows it missed (within containment), never one twice.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from opendepin.agent import IngestSender, ManualClock
from opendepin.agent.device import entropy_window_start_unix
from opendepin.chain.blocks import last_block_at_or_before
from opendepin.chain.embedded import EmbeddedChain
from opendepin.identity import DeviceKey
from opendepin.ingest import RegistryMirror, create_app
from opendepin.ingest.pipeline import payload_registry
from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.registry import get_kind
from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged
from opendepin.records import DeviceRecord
from opendepin.reports.envelope import Report
from opendepin.storage import merkle
from opendepin.storage.node.config import AuditParams, NodeConfig
from opendepin.storage.node.reporter import NodeReporter, window_starts
from opendepin.storage.node.store import PieceRecord, PieceStore
from opendepin.store import Store
from opendepin.types import Address, DeviceId

from .conftest import DAY_MS, Placer

HOUR = 3_600
WINDOW = 4 * HOUR  # audit window of these tests (6 per epoch)


class World:
    """A node key, its piece store, a placer, an ingest that knows the node, a chain, a clock."""

    def __init__(self, tmp: Path, settings: Settings, *, ppm: int, registered: bool = True) -> None:
        self.settings = settings
        n = settings.network
        self.genesis = n.genesis_unix
        self.t0 = (
            self.genesis + 3 * n.epoch_seconds + WINDOW + 600
        )  # 10 min into window 1 of epoch 3
        self.clock = ManualClock(self.t0 * 1000)
        self.chain = EmbeddedChain(n.chain_id, genesis_timestamp=self.t0 - 7 * 86_400)
        self.key = DeviceKey.generate()
        self.placer = Placer(settings, DeviceId(self.key.device_id))
        self.config = NodeConfig(
            directory=tmp / "node",
            network_id=n.network_id,
            chain_id=n.chain_id,
            genesis_unix=self.genesis,
            epoch_seconds=n.epoch_seconds,
            placers=frozenset({DeviceId(self.placer.address)}),
            audit=AuditParams(
                audit_window_seconds=WINDOW, audit_probability_ppm=ppm, containment_windows=3
            ),
        )
        self.store = PieceStore(self.config.directory, 1 << 30)
        self.store.recover()
        records = [DeviceRecord(self.key.device_id, Address("0x" + "11" * 20), "storage", 0, True)]
        self.ingest_store = Store(tmp / "ingest")
        app = create_app(
            settings,
            self.ingest_store,
            RegistryMirror(records if registered else []),
            clock=self.clock.now_ms,
            payload_registry=payload_registry({"storage": get_kind("storage")}),
        )
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        self.state = tmp / "node.db"

    def reporter(self) -> NodeReporter:
        return NodeReporter(
            self.config,
            self.key,
            self.store,
            sender=IngestSender("http://ingest", self.client),
            chain=self.chain,
            clock=self.clock,
            state_path=self.state,
        )

    def piece(self, i: int, size: int) -> PieceRecord:
        """Store a piece (deterministic id and bytes) placed for a term around now."""
        data = hashlib.shake_256(b"data%d" % i).digest(size)
        piece = hashlib.blake2b(b"piece%d" % i, digest_size=32).digest()
        start = self.clock.now_ms() - 1000
        placement = self.placer.placement(
            piece, data, term_start_ms=start, term_end_ms=start + 30 * DAY_MS
        )
        upload = self.store.begin(placement, self.key.sign_digest(placement.digest()))
        upload.write(data)
        return upload.commit(self.clock.now_ms())

    def mine_at(self, unix: int) -> int:
        """Mine a block stamped `unix` (the chain's clock only moves forward)."""
        self.chain.time_travel(unix - self.chain.now())
        return self.chain.mine()

    def at(self, unix: int) -> None:
        self.clock.advance(unix - self.clock.now_ms() / 1000)

    def close(self) -> None:
        asyncio.run(self.client.aclose())
        self.ingest_store.close()


@pytest.fixture
def settings() -> Settings:
    return load_settings(None)


def body(report: Report) -> dict[str, Any]:
    obj = json.loads(report.payload)
    assert isinstance(obj, dict)
    return obj


def check_proof(world: World, report: Report, window_start: int) -> None:
    """The proof names the window's entropy block, the challenged leaf, and verifies."""
    p = body(report)
    number = last_block_at_or_before(world.chain, window_start, world.chain.block_number())
    entropy = world.chain.block_hash(number)
    piece = bytes.fromhex(p["piece"])
    record = world.store.get(piece)
    assert record is not None and p["type"] == "proof" and p["block"] == number
    assert is_challenged(entropy, piece, world.config.audit.audit_probability_ppm)
    assert p["leaf_index"] == challenged_leaf(entropy, piece, merkle.leaf_count(record.size))
    leaf, path = base64.b64decode(p["leaf"]), [bytes.fromhex(h) for h in p["path"]]
    assert merkle.verify_proof(record.root, record.size, p["leaf_index"], leaf, path)


def test_placements_accepted_then_every_challenge_proven(
    tmp_path: Path, settings: Settings
) -> None:
    w = World(tmp_path, settings, ppm=250_000)
    sizes = [0, 1, 1024, 1025, 3000, 70_000] + [2048 + i for i in range(58)]
    records = [w.piece(i, size) for i, size in enumerate(sizes)]
    rep = w.reporter()
    for record in records:
        rep.placed(record)
    asyncio.run(rep.flush())
    assert all(w.store.get(r.piece).accepted_report_ms == w.clock.now_ms() for r in records)  # type: ignore[union-attr]
    # window 1 started before the placements: nothing is auditable in it
    w.mine_at(w.t0 + 60)
    assert asyncio.run(rep.audit()) == []
    # window 2: its entropy block is the last one at or before its start
    start2 = w.t0 - 600 + WINDOW
    w.mine_at(start2 - 30)
    w.mine_at(start2 + 5)
    w.at(start2 + 20)
    proofs = asyncio.run(rep.audit())
    entropy = w.chain.block_hash(last_block_at_or_before(w.chain, start2, w.chain.block_number()))
    challenged = {r.piece for r in records if is_challenged(entropy, r.piece, 250_000)}
    assert 0 < len(challenged) < len(records)
    assert {bytes.fromhex(body(r)["piece"]) for r in proofs} == challenged
    for report in proofs:
        check_proof(w, report, start2)
    assert asyncio.run(rep.audit()) == []  # each challenge is answered once
    before = rep.agent.pending
    asyncio.run(rep.flush())
    assert before == len(proofs) and rep.agent.pending == 0  # the ingest took every proof
    rep.close()
    w.close()


def test_restart_answers_missed_windows_within_containment(
    tmp_path: Path, settings: Settings
) -> None:
    w = World(tmp_path, settings, ppm=1_000_000)
    records = [w.piece(i, 5000 + i) for i in range(3)]
    rep = w.reporter()
    for record in records:
        rep.placed(record)
    asyncio.run(rep.flush())
    start2 = w.t0 - 600 + WINDOW
    w.mine_at(start2 - 30)
    w.at(start2 + 20)
    first = asyncio.run(rep.audit())
    assert len(first) == 3
    rep.close()  # the node is down for five windows; a block is mined in each
    for k in range(1, 6):
        w.mine_at(start2 + k * WINDOW - 30)
    now = start2 + 5 * WINDOW + 20
    w.at(now)
    rep = w.reporter()
    assert rep.resume() == 0  # every placement was filed before the restart
    again = asyncio.run(rep.audit())
    starts = window_starts(w.config, now * 1000)
    assert len(starts) == 4 and start2 not in starts  # containment: the current window and 3 before
    by_window: dict[int, set[bytes]] = {}
    for report in again:
        block = body(report)["block"]
        start = next(
            s
            for s in starts
            if last_block_at_or_before(w.chain, s, w.chain.block_number()) == block
        )
        check_proof(w, report, start)
        by_window.setdefault(start, set()).add(bytes.fromhex(body(report)["piece"]))
    assert by_window == {s: {r.piece for r in records} for s in starts}
    assert asyncio.run(rep.audit()) == []
    rep.close()
    w.close()


def test_rejected_placement_is_not_audited(tmp_path: Path, settings: Settings) -> None:
    w = World(tmp_path, settings, ppm=1_000_000, registered=False)
    record = w.piece(0, 4096)
    rep = w.reporter()
    rep.placed(record)
    asyncio.run(rep.flush())
    stored = w.store.get(record.piece)
    assert stored is not None and stored.report is not None
    assert (stored.report.state, stored.report.reason) == ("rejected", "unknown_device")
    start2 = w.t0 - 600 + WINDOW
    w.mine_at(start2 - 30)
    w.at(start2 + 20)
    assert asyncio.run(rep.audit()) == []
    rep.close()
    w.close()


def test_resume_files_a_placement_lost_in_a_crash(tmp_path: Path, settings: Settings) -> None:
    w = World(tmp_path, settings, ppm=1_000_000)
    record = w.piece(0, 4096)  # committed, but the node died before filing its report
    reopened = PieceStore(w.config.directory, 1 << 30)
    reopened.recover()
    w.store = reopened
    rep = w.reporter()
    assert rep.resume() == 1
    asyncio.run(rep.flush())
    stored = w.store.get(record.piece)
    assert stored is not None and stored.accepted_report_ms is not None
    rep.close()
    w.close()


def test_corrupted_leaf_gives_a_failing_proof(tmp_path: Path, settings: Settings) -> None:
    w = World(tmp_path, settings, ppm=1_000_000)
    record = w.piece(0, 10 * 1024 + 100)
    leaves = merkle.leaf_count(record.size)
    for index in range(leaves):
        leaf, proof = w.store.proof(record.piece, index)
        assert merkle.verify_proof(record.root, record.size, index, leaf, proof)
    path = w.store.piece_path(record.piece)
    raw = bytearray(path.read_bytes())
    raw[3 * 1024 + 7] ^= 1
    path.write_bytes(bytes(raw))
    leaf, proof = w.store.proof(record.piece, 3)
    assert leaf == bytes(raw[3 * 1024 : 4 * 1024])  # the bytes as they are on disk
    assert not merkle.verify_proof(record.root, record.size, 3, leaf, proof)
    # the paths are recomputed from the disk too, so no leaf proves any more
    assert not any(
        merkle.verify_proof(record.root, record.size, i, *w.store.proof(record.piece, i))
        for i in range(leaves)
    )
    w.close()


def test_window_starts_follow_epoch_boundaries() -> None:
    genesis, epoch = 1_767_225_600, 86_400
    cfg = NodeConfig(
        directory=Path("/nonexistent"),
        network_id="n",
        chain_id=1,
        genesis_unix=genesis,
        epoch_seconds=epoch,
        audit=AuditParams(audit_window_seconds=5 * HOUR, containment_windows=3),
    )
    now = genesis + epoch + 5 * HOUR + 20  # 20 s into the second window of epoch 1
    assert window_starts(cfg, now * 1000) == [
        genesis + 54_000,
        genesis + 72_000,  # epoch 0's last window is cut short at the epoch's end
        genesis + epoch,
        genesis + epoch + 5 * HOUR,
    ]
    assert (
        entropy_window_start_unix(now * 1000, genesis, epoch, 5 * HOUR)
        == genesis + epoch + 5 * HOUR
    )
    # too early into the current window: its block may not have reached the node yet
    assert window_starts(cfg, (genesis + epoch + 5 * HOUR + 1) * 1000)[-1] == genesis + epoch
    assert window_starts(replace(cfg, genesis_unix=now + 1), now * 1000) == []


def test_reports_the_node_files_pass_the_kinds_validators(tmp_path: Path, settings: Settings) -> None:
    """The placement and proof reports a node builds are what the storage kind accepts
    (the node calls the kind's own payload builders; the validator is the ingest's)."""
    from opendepin.proofs.storage import payload as kind_payload

    w = World(tmp_path, settings, ppm=1_000_000)
    record = w.piece(0, 2000)
    rep = w.reporter()
    rep.placed(record)
    asyncio.run(rep.flush())  # the ingest, validating with the kind's payload validator, took it
    stored = w.store.get(record.piece)
    assert stored is not None and stored.accepted_report_ms is not None
    start2 = w.t0 - 600 + WINDOW
    w.mine_at(start2 - 30)
    w.at(start2 + 20)
    proofs = asyncio.run(rep.audit())
    assert len(proofs) == 1
    for report in proofs:
        kind_payload.validate_payload(body(report))
        check_proof(w, report, start2)
    rep.close()
    w.close()
