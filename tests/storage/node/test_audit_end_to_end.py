"""From the node's disk to the oracles' verdicts: placements and proofs a real node reporter
files through the real ingest are sealed and judged by the storage kind — an intact piece
passes its audits, a piece corrupted on disk fails them with `wrong_root`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opendepin.network.settings import Settings
from opendepin.proofs.kind import KindJob
from opendepin.proofs.registry import get_kind
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock
from opendepin.types import Address, Epoch

from .test_reporter import WINDOW, World

EPOCH = 3


def storage_settings(base: Settings, placer: str) -> Settings:
    """The network's settings with the test's audit window, every piece audited, and the
    test's placer authorised (what the node's AuditParams mirror)."""
    return Settings.model_validate(
        {
            **base.model_dump(exclude={"kinds"}),
            "pools": {"bps": {"storage": 10_000}},
            "storage": {
                "audit_window_seconds": WINDOW,
                "audit_probability_ppm": 1_000_000,
                "containment_windows": 3,
                "placers": [placer],
            },
        }
    )


def test_intact_piece_passes_and_corrupted_piece_fails_with_wrong_root(tmp_path: Path) -> None:
    from opendepin.network.settings import load_settings

    w = World(tmp_path, load_settings(None), ppm=1_000_000)
    settings = storage_settings(w.settings, w.placer.address)
    intact, corrupt = w.piece(0, 5_000), w.piece(1, 5_000)
    rep = w.reporter()
    for record in (intact, corrupt):
        rep.placed(record)
    asyncio.run(rep.flush())
    path = w.store.piece_path(corrupt.piece)
    raw = bytearray(path.read_bytes())
    for i in range(0, len(raw), 1024):  # one flipped byte in every leaf: any challenge fails
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    start2 = w.t0 - 600 + WINDOW
    w.mine_at(start2 - 30)
    w.at(start2 + 20)
    proofs = asyncio.run(rep.audit())
    assert len(proofs) == 2
    asyncio.run(rep.flush())
    rep.close()

    sealed = w.ingest_store.seal_epoch(EPOCH)
    assert sealed is not None
    reports = w.ingest_store.read_sealed(EPOCH)["storage"]
    assert len(reports) == 4  # two placements, two proofs
    chain = w.chain
    blocks = {
        n: EntropyBlock(n, chain.block_hash(n), chain.timestamp(n)) for n in range(chain.block_number() + 1)
    }
    device = w.key.device_id
    snapshot = ChainSnapshot(
        block_number=chain.block_number(),
        entropy=chain.block_hash(chain.block_number()),
        devices={device: DeviceRecord(device, Address("0x" + "11" * 20), "storage", 0, True)},
        entropy_blocks=blocks,
    )
    kind = get_kind("storage")
    section = settings.kind_section("storage")
    result = kind.compute(
        KindJob(Epoch(EPOCH), reports, snapshot, settings, section, kind.initial_state(section))
    )
    by_piece: dict[str, str | None] = {}
    for ingested, verdict in zip(reports, result.verdicts, strict=True):
        payload = ingested.report.payload_obj()
        if payload["type"] == "proof":
            by_piece[payload["piece"]] = None if verdict.reason is None else str(verdict.reason)
        else:
            assert verdict.reason is None, verdict  # both placements are valid
    assert by_piece == {intact.piece.hex(): None, corrupt.piece.hex(): "wrong_root"}
    audits = result.explanations[device].details["audits"]
    assert audits["pass"] == 1 and audits["fail"] == 1
    w.close()
