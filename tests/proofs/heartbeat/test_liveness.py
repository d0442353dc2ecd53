"""The liveness challenge: rule `verify_liveness`, the challenge hour, and its plumbing
(payload, kind entropy window, simulations)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.heartbeat import (
    HEARTBEAT,
    Behaviour,
    HeartbeatReason,
    explain,
    simulate_device,
)
from opendepin.proofs.heartbeat import score as hb_score
from opendepin.proofs.heartbeat import verify as hb_verify
from opendepin.proofs.heartbeat.kind import PopulationModel
from opendepin.proofs.heartbeat.sim import simulated_entropy_blocks
from opendepin.proofs.heartbeat.simulation import Population
from opendepin.proofs.heartbeat.verifier import challenge_hour
from opendepin.proofs.kind import SimHour, SimSpec
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.types import Epoch, ProofKind

from .conftest import (
    CELL,
    DEVICE_A,
    EPOCH,
    HOUR_MS,
    OWNER,
    centre_payload,
    epoch_start_ms,
    record,
    snapshot,
)

WINDOW_S = 300


@pytest.fixture
def live() -> Settings:
    return load_settings(None, heartbeat={"liveness_window_seconds": WINDOW_S})


def blocks_of(settings: Settings) -> list[EntropyBlock]:
    return simulated_entropy_blocks(settings, EPOCH, seed=5)


def beat(
    settings: Settings,
    at_ms: int,
    challenge: tuple[Any, Any] | None,
    *,
    seq: int = 1,
    extra: dict[str, Any] | None = None,
) -> IngestedReport:
    payload: dict[str, Any] = centre_payload()
    if challenge is not None:
        payload["challenge_block"] = challenge[0]
        payload["challenge_hash"] = challenge[1] if isinstance(challenge[1], str) else "0x" + challenge[1].hex()
    payload.update(extra or {})
    return IngestedReport(
        Report(
            network_id=settings.network.network_id,
            chain_id=settings.network.chain_id,
            device=DEVICE_A,
            kind=ProofKind("heartbeat"),
            epoch=Epoch(EPOCH),
            seq=seq,
            timestamp_ms=at_ms,
            payload=canonical_payload(payload),
        )
    )


def verdict_of(settings: Settings, ingested: IngestedReport, snap: ChainSnapshot) -> tuple[bool, object]:
    [v] = hb_verify([ingested], snap, settings)
    return v.valid, v.reason


def test_liveness_is_on_by_default_with_a_300_s_window(settings: Settings) -> None:
    section = settings.kind_section("heartbeat")
    assert getattr(section, "liveness_window_seconds", None) == WINDOW_S
    assert HEARTBEAT.entropy_window_seconds(section) == 3_600
    start = epoch_start_ms(settings)
    no_challenge = beat(settings, start + 5 * HOUR_MS, None)
    assert verdict_of(settings, no_challenge, snapshot(record())) == (False, HeartbeatReason.BAD_CHALLENGE)


def test_liveness_off_accepts_a_heartbeat_without_a_challenge() -> None:
    off = load_settings(None, heartbeat={"liveness_window_seconds": 0})
    start = epoch_start_ms(off)
    assert verdict_of(off, beat(off, start + 5 * HOUR_MS, None), snapshot(record(), blocks=())) == (True, None)
    assert HEARTBEAT.entropy_window_seconds(off.kind_section("heartbeat")) is None


def test_the_kind_asks_for_one_entropy_block_per_hour_when_liveness_is_on(live: Settings) -> None:
    assert HEARTBEAT.entropy_window_seconds(live.kind_section("heartbeat")) == 3_600


def test_verify_liveness_accepts_the_hours_block_inside_the_window(live: Settings) -> None:
    blocks = blocks_of(live)
    b = blocks[7]
    snap = snapshot(record(), blocks=blocks)
    for offset_ms in (0, 1, WINDOW_S * 1000):
        ok = beat(live, b.timestamp * 1000 + offset_ms, (b.number, b.hash))
        assert verdict_of(live, ok, snap) == (True, None), offset_ms


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda b: None, HeartbeatReason.BAD_CHALLENGE),
        (lambda b: (b.number + 1, b.hash), HeartbeatReason.BAD_CHALLENGE),
        (lambda b: (b.number, bytes(32)), HeartbeatReason.BAD_CHALLENGE),
        (lambda b: (2**63 - 1, b.hash), HeartbeatReason.BAD_CHALLENGE),
    ],
)
def test_verify_liveness_rejects_a_missing_unknown_or_wrong_challenge(
    live: Settings, make: Any, reason: HeartbeatReason
) -> None:
    blocks = blocks_of(live)
    b = blocks[7]
    ingested = beat(live, b.timestamp * 1000 + 10_000, make(b))
    assert verdict_of(live, ingested, snapshot(record(), blocks=blocks)) == (False, reason)


@pytest.mark.parametrize("offset_ms", [-1, WINDOW_S * 1000 + 1, 59 * 60_000])
def test_verify_liveness_rejects_a_heartbeat_signed_outside_the_window(live: Settings, offset_ms: int) -> None:
    blocks = blocks_of(live)
    b = blocks[7]
    ingested = beat(live, b.timestamp * 1000 + offset_ms, (b.number, b.hash))
    assert verdict_of(live, ingested, snapshot(record(), blocks=blocks)) == (False, HeartbeatReason.STALE_CHALLENGE)


def test_an_old_block_cannot_be_reused_for_a_later_hour(live: Settings) -> None:
    """A device online once knows that hour's block only: signing later hours with it is stale."""
    blocks = blocks_of(live)
    b = blocks[3]
    reports = [beat(live, blocks[h].timestamp * 1000 + 60_000, (b.number, b.hash), seq=h) for h in range(3, 24)]
    snap = snapshot(record(), blocks=blocks)
    verdicts = hb_verify(reports, snap, live)
    assert [v.valid for v in verdicts] == [True] + [False] * 20
    assert {v.reason for v in verdicts[1:]} == {HeartbeatReason.STALE_CHALLENGE}
    [e] = explain(reports, verdicts, snap, live).values()
    assert (e.hours, e.share) == (1, 0) and "insufficient_uptime" in e.reasons


def test_the_hour_counted_is_the_blocks_hour_not_the_timestamps(live: Settings) -> None:
    """A block mined just before an hour's start serves that hour; a heartbeat signed right
    after it (still in the previous hour by its timestamp) counts for the block's hour."""
    start = epoch_start_ms(live)
    blocks = [
        EntropyBlock(1_000 + h, bytes([h]) * 32, (start + h * HOUR_MS) // 1000 - (30 if h else 0)) for h in range(24)
    ]
    reports = [beat(live, blocks[h].timestamp * 1000 + 1_000, (blocks[h].number, blocks[h].hash), seq=h) for h in range(24)]
    snap = snapshot(record(), blocks=blocks)
    verdicts = hb_verify(reports, snap, live)
    assert all(v.valid for v in verdicts)
    assert hb_score(reports, verdicts, snap, live) == {DEVICE_A: 96}
    assert challenge_hour(blocks[5], start, HOUR_MS) == 5
    assert challenge_hour(EntropyBlock(1, bytes(32), start // 1000 - 600), start, HOUR_MS) == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"challenge_block": True},
        {"challenge_block": -1},
        {"challenge_block": 2**63},
        {"challenge_block": 10**400},
        {"challenge_hash": "0X" + "ab" * 32},
        {"challenge_hash": "0x" + "AB" * 32},
        {"challenge_hash": "0x" + "ab" * 31},
        {"challenge_hash": "0x" + "ab" * 10_000},
        {"challenge_hash": 7},
        {"challenge_hash": None},
    ],
)
def test_a_hostile_challenge_is_a_malformed_payload_not_an_exception(live: Settings, extra: dict[str, Any]) -> None:
    blocks = blocks_of(live)
    b = blocks[7]
    ingested = beat(live, b.timestamp * 1000 + 1_000, (b.number, b.hash), extra=extra)
    assert verdict_of(live, ingested, snapshot(record(), blocks=blocks)) == (False, HeartbeatReason.MALFORMED_PAYLOAD)


def test_simulated_devices_sign_valid_challenges(live: Settings) -> None:
    rng = random.Random(3)
    blocks = simulated_entropy_blocks(live, EPOCH)
    reports = [
        IngestedReport(
            Report(
                network_id="n", chain_id=1, device=DEVICE_A, kind=ProofKind("heartbeat"), epoch=Epoch(EPOCH),
                seq=seq, timestamp_ms=sim.timestamp_ms, payload=canonical_payload(sim.payload),
            )
        )
        for seq, sim in enumerate(simulate_device(Behaviour.HONEST, CELL, EPOCH, live, rng))
    ]
    snap = snapshot(record(), blocks=blocks)
    verdicts = hb_verify(reports, snap, live)
    assert all(v.valid for v in verdicts)
    assert hb_score(reports, verdicts, snap, live) == {DEVICE_A: 96}


def test_the_population_model_signs_the_sim_hours_block(live: Settings) -> None:
    """`depin demo`'s path: a SimHour's entropy block reaches every payload, and the honest
    devices' heartbeats pass the rule; without liveness the payloads stay as they were."""
    pop = Population(seed=4, devices=8)
    spec = SimSpec(seed=4, count=8, owners=pop.owners, settings=live)
    model = PopulationModel(spec)
    start_s = epoch_start_ms(live) // 1000
    block = EntropyBlock(4_242, b"\x5a" * 32, start_s + 2 * 3_600)
    hour = SimHour(Epoch(EPOCH), 2, start_s + 2 * 3_600, start_s, block.number, block.hash)
    reports = model.hour_reports(hour)
    devices = {
        d.key.device_id: DeviceRecord(d.key.device_id, OWNER, "heartbeat", d.asserted_cell, True)
        for d in model.devices
    }
    snap = ChainSnapshot(block_number=9_999, entropy=bytes(32), devices=devices, entropy_blocks={block.number: block})
    ingested = [IngestedReport(r) for r in reports if r.device in devices]
    verdicts = hb_verify(ingested, snap, live)
    honest = {d.key.device_id for d in model.devices if d.behaviour == "honest"}
    assert honest and all(v.valid for v in verdicts if v.device in honest)
    assert {v.reason for v in verdicts if not v.valid} <= {HeartbeatReason.LOCATION_UNTRUSTED, HeartbeatReason.DUPLICATE}
    off_settings = load_settings(None, heartbeat={"liveness_window_seconds": 0})
    off = PopulationModel(SimSpec(seed=4, count=8, owners=pop.owners, settings=off_settings))
    assert all(b"challenge" not in r.payload for r in off.hour_reports(hour))


def test_liveness_window_may_not_exceed_the_hour() -> None:
    from opendepin.errors import ConfigError

    with pytest.raises(ConfigError, match="liveness_window_seconds"):
        load_settings(None, heartbeat={"liveness_window_seconds": 3_601})


def test_population_hour_reports_with_a_block_sign_it_soon_after_the_hour() -> None:
    """The builder the attack suite drives: given the hour's block (and nothing else), every
    payload carries it and every device signs within the default window."""
    from opendepin.proofs.heartbeat.simulation import CHALLENGE_SEND_WITHIN_SECONDS

    start = 1_700_000_000
    reports = list(
        Population(seed=6, devices=12).hour_reports(
            network_id="n", chain_id=1, epoch=Epoch(0), hour=3, epoch_start_unix=start,
            entropy_block=77, entropy=b"\x01" * 32,
        )
    )
    hour_start_ms = (start + 3 * 3_600) * 1000
    assert reports and all(0 <= r.timestamp_ms - hour_start_ms < CHALLENGE_SEND_WITHIN_SECONDS * 1000 for r in reports)
    assert {r.payload_obj()["challenge_block"] for r in reports} == {77}
    with pytest.raises(ValueError, match="together"):
        next(Population(seed=6, devices=2).hour_reports(
            network_id="n", chain_id=1, epoch=Epoch(0), hour=0, epoch_start_unix=start, entropy_block=1,
        ))
