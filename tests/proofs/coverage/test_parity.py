"""The optimised coverage compute path gives byte-identical outputs to the frozen reference.

`coverage_reference` is the compute path (verifier, trust, corroboration, graph, scorer,
epoch, `CoverageKind.compute`) as it was before it was optimised. Every output of
`KIND.compute` — verdicts with their reasons and details, shares, explanations (their JSON,
in order), next state, notes — and `verify_epoch`'s selection must equal the reference's on

* random epochs built like a real network (a jittered grid of devices, honest radios, some
  devices of one owner, spoofers asserting far-away cells, a ring, a key copying another's
  receptions, a one-sided link), mutated so that every reason code occurs;
* the hostile jobs of `tests/proofs/test_totality.py` (any payload, registry, snapshot).
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import coverage_reference.epoch as ref_epoch
import coverage_reference.kind as ref_kind
import h3.api.basic_int as h3
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.crypto import keccak256
from opendepin.identity.address import to_checksum_address
from opendepin.network.settings import Settings
from opendepin.proofs.coverage import CoverageHistory, CoverageReason, Denylist, verify_epoch
from opendepin.proofs.coverage.denylist import sign_denylist
from opendepin.proofs.coverage.kind import DENYLIST_FILE, KIND, state_to_bytes
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.payload import beacon_data
from opendepin.proofs.kind import KindJob, KindResult
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.types import Address, DeviceId, Epoch, ProofKind

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import test_totality

SETTINGS = Settings()
SECTION = SETTINGS.kind_section("coverage")
PARAMS = CoverageParams(coverage=SECTION, network=SETTINGS.network)
HOUR_MS = 3_600_000
ORIGIN = (38.7223, -9.1393)
FAR = (41.1579, -8.6291)  # Porto: > 100 km from Lisbon
FREQ = 868_100_000


def _addr(rng: random.Random) -> DeviceId:
    return DeviceId(to_checksum_address(rng.randbytes(20)))


def _cell(north_m: float, east_m: float, res: int = 12, at: tuple[float, float] = ORIGIN) -> int:
    lat = at[0] + north_m / 111_320.0
    lng = at[1] + east_m / (111_320.0 * math.cos(math.radians(at[0])))
    return int(h3.latlng_to_cell(lat, lng, res))


def random_epoch(seed: int, n_devices: int = 40) -> KindJob:
    """A realistic epoch (see the module docstring), mutated with every reason code."""
    rng = random.Random(seed)
    epoch = rng.choice((0, 0, 3))
    start = PARAMS.epoch_start_ms(epoch)
    window_ms = SECTION.entropy_window_seconds * 1_000
    windows = PARAMS.epoch_seconds * 1_000 // window_ms
    entropy = keccak256(b"parity" + seed.to_bytes(8, "big"))
    blocks = {
        900 + k: EntropyBlock(900 + k, keccak256(entropy + bytes([k])), (start + k * window_ms) // 1_000)
        for k in range(windows)
    }
    side = max(2, math.isqrt(n_devices))
    spacing = rng.choice((400.0, 700.0, 1_000.0))
    devices: list[DeviceId] = []
    pos: dict[DeviceId, tuple[float, float]] = {}
    records: dict[DeviceId, DeviceRecord] = {}
    owners = [Address(to_checksum_address(rng.randbytes(20))) for _ in range(max(2, n_devices // 2))]
    for i in range(n_devices):
        d = _addr(rng)
        north = (i // side) * spacing + rng.uniform(-120, 120)
        east = (i % side) * spacing + rng.uniform(-120, 120)
        pos[d] = (north, east)
        devices.append(d)
        res = rng.choice((12, 12, 12, 11, 10, 13))
        cell = _cell(north, east, res)
        owner = Address(d) if rng.random() < 0.8 else rng.choice(owners)
        records[d] = DeviceRecord(d, owner, "coverage", cell, True)
    # Spoofers: assert a cell far away (or 2-5 km off), transmit from where they are.
    for d in rng.sample(devices, 3):
        r = records[d]
        far = rng.random() < 0.5
        cell = _cell(0, 0, 12, FAR) if far else _cell(pos[d][0] + rng.uniform(2_000, 5_000), pos[d][1], 12)
        records[d] = DeviceRecord(d, r.owner, r.kind, cell, True)
    # A ring at one spot, witnessing only each other.
    ring = [_addr(rng) for _ in range(rng.choice((0, 4, 5)))]
    for k, d in enumerate(ring):
        pos[d] = (50_000.0 + 1_500 * k, 50_000.0)
        records[d] = DeviceRecord(d, Address(d), "coverage", _cell(50_000 + 1_500 * k, 50_000, 12), True)
    everyone = devices + ring
    # Registry oddities.
    odd = rng.sample(devices, 6)
    records[odd[0]] = DeviceRecord(odd[0], records[odd[0]].owner, "coverage", records[odd[0]].location, False)
    records[odd[1]] = DeviceRecord(odd[1], records[odd[1]].owner, "heartbeat", records[odd[1]].location, True)
    records[odd[2]] = DeviceRecord(odd[2], records[odd[2]].owner, "coverage", 0, True)
    records[odd[3]] = DeviceRecord(odd[3], records[odd[3]].owner, "coverage", records[odd[3]].location ^ 1, True)
    del records[odd[4]]
    # A copier: reports another key's receptions verbatim (shared receiver).
    copier, copied = rng.sample([d for d in devices if d not in odd], 2)

    seq: Counter[DeviceId] = Counter()
    reports: list[IngestedReport] = []

    def report(device: DeviceId, ts: int, payload: dict[str, Any], label: int = epoch) -> IngestedReport:
        seq[device] += 1
        r = Report(
            network_id="opendepin-dev", chain_id=31337, device=device, kind=ProofKind("coverage"),
            epoch=Epoch(label), seq=seq[device], timestamp_ms=ts, payload=canonical_payload(payload),
        )
        return IngestedReport(r)

    def rssi_of(b: DeviceId, w: DeviceId) -> int:
        d_m = max(math.dist(pos[b], pos[w]), 1.0)
        return int(100 * (20 - 31.2 - 30 * math.log10(d_m) + rng.gauss(0, 6)))

    beacons_of: list[tuple[DeviceId, IngestedReport, dict[str, Any]]] = []
    interval_ms = SECTION.beacon_interval_seconds * 1_000
    for d in everyone:
        phase = rng.randrange(0, HOUR_MS * 5)
        for counter in range(rng.choice((1, 2, 3, 4))):
            sent = start + phase + counter * interval_ms
            if sent >= start + PARAMS.epoch_seconds * 1_000:
                break
            k = (sent - start) // window_ms
            block = blocks[900 + k]
            secret = rng.randbytes(16)
            payload: dict[str, Any] = {
                "type": "beacon", "counter": counter,
                "data": "0x" + beacon_data(block.hash, d, counter, secret).hex(),
                "entropy_block": block.number, "frequency_hz": FREQ, "tx_power_cdbm": 1_400,
                "antenna_gain_cdbi": rng.choice((300, 300, 500)), "region": "EU868", "secret": "0x" + secret.hex(),
            }
            roll = rng.random()
            if roll < 0.03:
                payload["entropy_block"] = 12_345
            elif roll < 0.06:
                sent = block.timestamp * 1_000 + window_ms + 5
            elif roll < 0.08:
                sent = start - 10
            elif roll < 0.10:
                payload["data"] = "0x" + rng.randbytes(16).hex()
            elif roll < 0.12:
                payload["region"] = rng.choice(("XX1", "US915"))
            elif roll < 0.14:
                payload["frequency_hz"] = FREQ + 200_000
            elif roll < 0.16:
                payload["tx_power_cdbm"] = 3_000
            elif roll < 0.18 and counter > 0:
                sent -= interval_ms // 2  # irregular interval
            elif roll < 0.20 and counter > 0:
                payload["counter"] = counter - 1  # duplicate counter
            elif roll < 0.26:
                payload["region"], payload["frequency_hz"] = "AU915", 922_000_000
            b = report(d, sent, payload)
            reports.append(b)
            beacons_of.append((d, b, payload))
            if rng.random() < 0.03:
                reports.append(report(d, sent, payload))  # a repeat of the same beacon

    for d, b, bp in beacons_of:
        sent = b.report.timestamp_ms
        if d in ring:
            hearers = [w for w in ring if w != d]
        else:
            near = sorted((w for w in devices if w != d), key=lambda w: math.dist(pos[w], pos[d]))
            hearers = near[: rng.randint(2, 12)]
            if rng.random() < 0.2:
                hearers.append(rng.choice(devices))  # far, faint, or self
        for w in hearers:
            rssi = rssi_of(d, w)
            payload = {
                "type": "witness", "beaconer": d, "data": bp["data"], "rssi_cdbm": rssi,
                "snr_cdb": min(rssi + 11_700, 1_000), "frequency_hz": bp["frequency_hz"],
                "received_ms": sent + rng.randint(50, 400), "antenna_gain_cdbi": rng.choice((300, 300, 800)),
                "region": bp["region"] if bp["region"] in ("EU868", "AU915") else "EU868",
            }
            label = epoch
            roll = rng.random()
            if roll < 0.015:
                payload["received_ms"] = sent + 9_000
            elif roll < 0.03:
                payload["frequency_hz"] = bp["frequency_hz"] + 200_000
            elif roll < 0.04:
                payload["frequency_hz"] = FREQ + 40_000  # on no channel
            elif roll < 0.05:
                payload["rssi_cdbm"] = -2_000
                payload["snr_cdb"] = 1_000
            elif roll < 0.06:
                payload["rssi_cdbm"] = -15_000
            elif roll < 0.07:
                payload["snr_cdb"] = -2_500
            elif roll < 0.08:
                payload["snr_cdb"] = payload["snr_cdb"] + 1_500
            elif roll < 0.09:
                payload["snr_cdb"] = payload["snr_cdb"] - 3_000
            elif roll < 0.10:
                payload["region"] = "AS923-1" if bp["region"] == "AU915" else rng.choice(("XX1", "US915", "AS923"))
            elif roll < 0.11:
                payload["data"] = "0x" + rng.randbytes(16).hex()
            elif roll < 0.12:
                payload["beaconer"] = rng.choice((_addr(rng), rng.choice(devices)))
            elif roll < 0.125:
                label = epoch + 1
            elif roll < 0.13:
                payload["received_ms"] = PARAMS.epoch_end_ms(epoch) + 10_000
            r = report(w, payload["received_ms"], payload, label)
            reports.append(r)
            if rng.random() < 0.02:
                reports.append(report(w, payload["received_ms"], payload, label))  # duplicate witness
            if w == copied and d != copier:
                reports.append(report(copier, payload["received_ms"], {**payload}, label))
        if rng.random() < 0.02:  # a self witness
            p = {"type": "witness", "beaconer": d, "data": bp["data"], "rssi_cdbm": -5_000, "snr_cdb": 1_000,
                 "frequency_hz": FREQ, "received_ms": sent + 10, "antenna_gain_cdbi": 300, "region": "EU868"}
            reports.append(report(d, sent + 10, p))
    # Unregistered devices report too; some reports are not coverage or not decodable.
    stranger = _addr(rng)
    reports.append(report(stranger, start + HOUR_MS, dict(beacons_of[0][2])))
    reports.append(IngestedReport(Report(
        network_id="opendepin-dev", chain_id=31337, device=devices[0], kind=ProofKind("heartbeat"),
        epoch=Epoch(epoch), seq=10_000, timestamp_ms=start, payload=canonical_payload({"x": 1}),
    )))
    reports.append(report(devices[1], start + 5, {"type": "witness", "beaconer": 5}))
    rng.shuffle(reports)

    # History: earlier activity for some devices (interval, reciprocity, density, establishment).
    hist: dict[str, dict[DeviceId, int]] = {k: {} for k in (
        "last_beacon_ms", "last_valid_beacon_ms", "last_valid_witness_ms", "last_active_ms", "first_seen_ms")}
    for d in everyone:
        if rng.random() < 0.5:
            for k in hist:
                if rng.random() < 0.6:
                    hist[k][d] = start - rng.randrange(0, 70 * HOUR_MS)
            hist["first_seen_ms"][d] = PARAMS.epoch_start_ms(max(0, epoch - rng.randrange(0, 4)))
    history = CoverageHistory(**hist)
    inputs: dict[str, bytes] = {}
    section = SECTION
    if rng.random() < 0.5:
        from opendepin.identity import DeviceKey

        signer = DeviceKey.generate()
        section = SECTION.model_copy(update={"denylist_signers": [signer.device_id], "denylist_threshold": 1})
        a, b, c = rng.sample(devices, 3)
        denylist = Denylist.build(rng.randint(1, 9), keys=[a], edges=[(b, c), (c, rng.choice(devices))])
        inputs[DENYLIST_FILE] = json.dumps(sign_denylist(denylist, [signer])).encode()
    snapshot = ChainSnapshot(block_number=77, entropy=entropy, devices=records, entropy_blocks=blocks)
    return KindJob(Epoch(epoch), reports, snapshot, SETTINGS, section, state_to_bytes(history), inputs)


def _dump(result: KindResult) -> list[Any]:
    return [
        [(v.device, v.seq, v.reason, None if v.reason is None else str(v.reason), v.details) for v in result.verdicts],
        json.dumps(sorted(result.shares.items())),
        [json.dumps(e.to_obj()) for e in result.explanations.values()],
        list(result.explanations),
        result.next_state,
        json.dumps(dict(result.notes)),
        result.withheld_shares,
        result.pool_unused,
    ]


def assert_parity(job: KindJob) -> KindResult:
    new, old = KIND.compute(job), ref_kind.compute(job)
    assert _dump(new) == _dump(old)
    return new


def assert_selection_parity(job: KindJob) -> None:
    params = CoverageParams(coverage=job.section, network=job.settings.network)
    new = verify_epoch(job.reports, job.snapshot, params)
    old = ref_epoch.verify_epoch(job.reports, job.snapshot, params)
    assert list(new.selected.items()) == list(old.selected.items())
    assert new.activity == old.activity


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_epochs_match_the_reference(seed: int) -> None:
    job = random_epoch(seed, n_devices=30 + 10 * (seed % 4))
    assert_parity(job)
    assert_selection_parity(job)


def test_random_epochs_reach_every_reason_code() -> None:
    """The generator above is worth its name: every verdict reason and penalty occurs."""
    seen: set[str] = set()
    for seed in SEEDS:
        result = KIND.compute(random_epoch(seed, n_devices=30 + 10 * (seed % 4)))
        seen.update(str(v.reason) for v in result.verdicts if v.reason is not None)
        for e in result.explanations.values():
            seen.update(e.reasons)
    verdict_only = {CoverageReason.MALFORMED_PAYLOAD, CoverageReason.WRONG_REPORT_KIND}
    missing = {r.value for r in CoverageReason} - seen - {r.value for r in verdict_only if r.value in seen}
    assert not missing, missing


@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32), st.integers(8, 60))
def test_any_random_epoch_matches_the_reference(seed: int, n_devices: int) -> None:
    assert_parity(random_epoch(seed, n_devices))


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_hostile_jobs_match_the_reference(data: st.DataObject) -> None:
    job = data.draw(test_totality.jobs("coverage"))
    assert_parity(job)
