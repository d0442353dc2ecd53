"""A small coverage world for rule tests: devices placed by metres around Lisbon.

(A plain module, not conftest.py, so test modules can import it unambiguously.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import h3.api.basic_int as h3

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.proofs.coverage import (
    CoverageHistory,
    CoverageParams,
    CoverageResult,
    Denylist,
    beacon_data,
    verify_epoch,
)
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.types import Address, DeviceId, Epoch, ProofKind

ORIGIN = (38.7223, -9.1393)
HOUR_MS = 3_600_000
FIRST_ENTROPY_BLOCK = 500
"""Number of the epoch's first entropy block in the test world (window k is block 500 + k)."""


def test_secret(device: DeviceId, counter: int) -> bytes:
    """A deterministic beacon secret for rule tests (real agents draw theirs at random)."""
    return keccak256(b"test secret" + bytes.fromhex(device[2:]) + counter.to_bytes(8, "big"))[:16]


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    lat = ORIGIN[0] + north_m / 111_320.0
    lng = ORIGIN[1] + east_m / (111_320.0 * math.cos(math.radians(ORIGIN[0])))
    return lat, lng


@dataclass
class World:
    """Devices, a snapshot and report builders; reports are unsigned (ingest checks those)."""

    params: CoverageParams = field(default_factory=CoverageParams)
    entropy: bytes = keccak256(b"test entropy")
    records: dict[DeviceId, DeviceRecord] = field(default_factory=dict)
    seqs: dict[DeviceId, int] = field(default_factory=dict)
    epoch: int = 0

    def device(
        self,
        north_m: float = 0.0,
        east_m: float = 0.0,
        *,
        active: bool = True,
        kind: str = "coverage",
        asserted: bool = True,
        registered: bool = True,
    ) -> DeviceId:
        device = DeviceId(DeviceKey.generate().device_id)
        cell = h3.latlng_to_cell(*offset(north_m, east_m), 12) if asserted else 0
        if registered:
            self.records[device] = DeviceRecord(device, Address(device), kind, cell, active)
        return device

    def start_ms(self) -> int:
        return self.params.epoch_start_ms(self.epoch)

    def window_ms(self) -> int:
        return self.params.coverage.entropy_window_seconds * 1_000

    def entropy_block(self, window: int) -> EntropyBlock:
        """The epoch's entropy block of `window`, stamped at the window's start."""
        return EntropyBlock(
            FIRST_ENTROPY_BLOCK + window,
            keccak256(self.entropy + window.to_bytes(8, "big", signed=True)),
            (self.start_ms() + window * self.window_ms()) // 1_000,
        )

    def entropy_blocks(self) -> dict[int, EntropyBlock]:
        windows = -(-self.params.epoch_seconds * 1_000 // self.window_ms())
        return {b.number: b for b in map(self.entropy_block, range(windows))}

    def _report(
        self, device: DeviceId, timestamp_ms: int, payload: dict[str, Any], epoch: int | None = None
    ) -> Report:
        seq = self.seqs.get(device, 0) + 1
        self.seqs[device] = seq
        return Report(
            network_id="opendepin-dev",
            chain_id=31337,
            device=device,
            kind=ProofKind("coverage"),
            epoch=Epoch(self.epoch if epoch is None else epoch),
            seq=seq,
            timestamp_ms=timestamp_ms,
            payload=canonical_payload(payload),
        )

    def beacon(
        self,
        device: DeviceId,
        *,
        at_ms: int | None = None,
        counter: int = 0,
        data: bytes | None = None,
        frequency_hz: int = 868_100_000,
        region: str = "EU868",
        window: int | None = None,
        secret: bytes | None = None,
        tx_power_cdbm: int = 1_400,
        antenna_gain_cdbi: int = 300,
    ) -> IngestedReport:
        """A beacon sent at `at_ms` with the entropy block of `window` (default: at_ms's).

        Its secret defaults to one derived from (device, counter), so building the same beacon
        twice gives the same data; `data` overrides the data it transmits.
        """
        at = self.start_ms() + HOUR_MS if at_ms is None else at_ms
        block = self.entropy_block(
            (at - self.start_ms()) // self.window_ms() if window is None else window
        )
        if secret is None:
            secret = test_secret(device, counter)
        payload = {
            "type": "beacon",
            "counter": counter,
            "data": "0x" + (data or beacon_data(block.hash, device, counter, secret)).hex(),
            "entropy_block": block.number,
            "frequency_hz": frequency_hz,
            "tx_power_cdbm": tx_power_cdbm,
            "antenna_gain_cdbi": antenna_gain_cdbi,
            "region": region,
            "secret": "0x" + secret.hex(),
        }
        return IngestedReport(self._report(device, at, payload))

    def witness(
        self,
        device: DeviceId,
        beacon: IngestedReport,
        *,
        rssi_cdbm: int = -11_000,
        delay_ms: int = 200,
        frequency_hz: int | None = None,
        region: str = "EU868",
        data: bytes | None = None,
        epoch: int | None = None,
        snr_cdb: int | None = None,
    ) -> IngestedReport:
        """A witness heard `delay_ms` after `beacon`, labelled with the beacon's epoch (or `epoch`).

        The SNR defaults to what a real receiver reports for `rssi_cdbm`: RSSI over a −117 dBm
        noise floor, saturating at +10 dB.
        """
        b = beacon.report.payload_obj()
        heard = beacon.report.timestamp_ms + delay_ms
        payload = {
            "type": "witness",
            "beaconer": beacon.report.device,
            "data": "0x" + data.hex() if data is not None else b["data"],
            "rssi_cdbm": rssi_cdbm,
            "snr_cdb": min(rssi_cdbm + 11_700, 1_000) if snr_cdb is None else snr_cdb,
            "frequency_hz": b["frequency_hz"] if frequency_hz is None else frequency_hz,
            "received_ms": heard,
            "antenna_gain_cdbi": 300,
            "region": region,
        }
        label = beacon.report.epoch if epoch is None else epoch
        return IngestedReport(self._report(device, heard, payload, label))

    def snapshot(self) -> ChainSnapshot:
        return ChainSnapshot(
            block_number=1,
            entropy=self.entropy,
            devices=dict(self.records),
            entropy_blocks=self.entropy_blocks(),
        )

    def run(
        self,
        reports: list[IngestedReport],
        history: CoverageHistory | None = None,
        denylist: Denylist | None = None,
    ) -> CoverageResult:
        return verify_epoch(reports, self.snapshot(), self.params, history, denylist)


@dataclass
class Triangle:
    """Three devices 1–2 km apart, each beaconing once and witnessing the other two."""

    world: World
    a: DeviceId
    b: DeviceId
    c: DeviceId
    beacons: dict[DeviceId, IngestedReport]
    reports: list[IngestedReport]

    def witness_of(self, witness: DeviceId, beaconer: DeviceId) -> IngestedReport:
        for r in self.reports:
            p = r.report.payload_obj()
            if r.report.device == witness and p.get("beaconer") == beaconer:
                return r
        raise LookupError((witness, beaconer))

    def replace(self, old: IngestedReport, new: IngestedReport) -> list[IngestedReport]:
        return [new if r is old else r for r in self.reports]


def reason_of(result: CoverageResult, report: IngestedReport) -> str | None:
    """The verdict reason of one report (by device and seq)."""
    for v in result.verdicts:
        if v.device == report.report.device and v.seq == report.report.seq:
            return None if v.reason is None else str(v.reason)
    raise LookupError(report.report.seq)
