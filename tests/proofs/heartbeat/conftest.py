"""Helpers for heartbeat tests: a registry snapshot and reports built without signing.

The verifier runs on sealed reports whose signatures ingest already checked, so these tests
build `Report`s directly; the agent tests exercise the signing path.

The liveness challenge is on by default (300 s), so `heartbeat` signs its hour's block of
`hour_blocks` (one simulated entropy block per hour, stamped at the hour's start) and
`snapshot` holds those blocks unless given others: a heartbeat `minute` ≤ 5 into its hour
passes the rule, a later one is `stale_challenge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h3
import pytest

from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.heartbeat.sim import simulated_entropy_blocks
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.types import Address, DeviceId, Epoch, ProofKind

CELL = h3.str_to_int(h3.latlng_to_cell(47.3769, 8.5417, 12))
"""An asserted res-12 cell in Zürich."""
DEVICE_A = DeviceId("0x" + "a1" * 20)
DEVICE_B = DeviceId("0x" + "b2" * 20)
OWNER = Address("0x" + "0c" * 20)
EPOCH = 3
HOUR_MS = 3_600_000


@pytest.fixture
def settings() -> Settings:
    return load_settings(None)


def hour_blocks(settings: Settings | None = None, epoch: int = EPOCH) -> list[EntropyBlock]:
    """The epoch's entropy blocks `heartbeat` signs: one per hour, at the hour's start."""
    return simulated_entropy_blocks(settings or load_settings(None), epoch)


def snapshot(
    *records: DeviceRecord, entropy: bytes = b"\x00" * 32, blocks: Sequence[EntropyBlock] | None = None
) -> ChainSnapshot:
    """A snapshot of `records` with `blocks` as its entropy blocks (default `hour_blocks()`)."""
    if blocks is None:
        blocks = hour_blocks()
    return ChainSnapshot(
        block_number=100,
        entropy=entropy,
        devices={r.device: r for r in records},
        entropy_blocks={b.number: b for b in blocks},
    )


def record(device: DeviceId = DEVICE_A, **kw: Any) -> DeviceRecord:
    fields: dict[str, Any] = {
        "device": device,
        "owner": OWNER,
        "kind": "heartbeat",
        "location": CELL,
        "active": True,
    }
    fields.update(kw)
    return DeviceRecord(**fields)


def epoch_start_ms(settings: Settings, epoch: int = EPOCH) -> int:
    n = settings.network
    return (n.genesis_unix + epoch * n.epoch_seconds) * 1000


def centre_payload() -> dict[str, int]:
    lat, lon = h3.cell_to_latlng(h3.int_to_str(CELL))
    return {"lat_e7": round(lat * 1e7), "lon_e7": round(lon * 1e7)}


def heartbeat(
    settings: Settings,
    hour: int,
    *,
    device: DeviceId = DEVICE_A,
    seq: int | None = None,
    payload: dict[str, Any] | None = None,
    raw_payload: bytes | None = None,
    kind: str = "heartbeat",
    minute: int = 5,
    epoch: int = EPOCH,
    challenge: bool = True,
) -> IngestedReport:
    """A heartbeat `minute` minutes into `hour` of `epoch`; unless `challenge` is False (or the
    payload is raw) it names the hour's block of `hour_blocks(settings, epoch)`."""
    ts = epoch_start_ms(settings, epoch) + hour * HOUR_MS + minute * 60_000
    obj = dict(payload or centre_payload())
    blocks = hour_blocks(settings, epoch)
    if challenge and hour < len(blocks):
        obj.setdefault("challenge_block", blocks[hour].number)
        obj.setdefault("challenge_hash", "0x" + blocks[hour].hash.hex())
    body = raw_payload if raw_payload is not None else canonical_payload(obj)
    report = Report(
        network_id=settings.network.network_id,
        chain_id=settings.network.chain_id,
        device=device,
        kind=ProofKind(kind),
        epoch=Epoch(epoch),
        seq=seq if seq is not None else hour * 100 + minute,
        timestamp_ms=ts,
        payload=body,
    )
    return IngestedReport(report=report)
