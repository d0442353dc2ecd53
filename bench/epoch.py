"""One oracle epoch at scale: 100,000 heartbeat devices × 24 heartbeats, sealed files → root.

    .venv/bin/python bench/epoch.py [DEVICES]

What is measured (one process, one core), stage by stage, with the real code paths:
read (sha256 check + decode of the sealed file), the heartbeat kind's `compute` (rules,
shares and explanations, timed through a wrapper inside `compute_epoch`), rewards (pools, allocation,
owners, cumulative ledger: the rest of `compute_epoch`), publish (verdicts file, reward
file with its Merkle tree, manifest).

Sealed files are generated directly, WITHOUT signing each report (they carry a dummy
65-byte signature): sealed files only ever hold reports ingest already signature-checked,
and the oracle does not re-check signatures (bench/reports.py measures that cost:
~22,500 secp256k1 recoveries/s per core, i.e. ~107 s for 2.4 M reports at ingest time,
spread over the day). Baseline: plain `json.loads` of every sealed line, measured in the
same run, to show what decoding costs on top of parsing.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h3

from opendepin.epochdir import EpochFile
from opendepin.identity.address import to_checksum_address
from opendepin.network.settings import Settings, load_settings
from opendepin.oracle.compute import compute_epoch
from opendepin.oracle.epoch_files import atomic_write, prior_to_bytes, snapshot_to_bytes
from opendepin.oracle.publish import publish_epoch
from opendepin.proofs.heartbeat import HEARTBEAT
from opendepin.proofs.kind import KindJob, KindResult
from opendepin.records import ChainSnapshot, DeviceRecord
from opendepin.store.files import sha256_file
from opendepin.store.sealing import (
    INPUT_MANIFEST_NAME,
    InputManifest,
    SealedFile,
    read_sealed_reports,
)
from opendepin.types import Address, DeviceId, Epoch, ProofKind

DEVICES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
HOURS = 24
DEVICES_PER_OWNER = 4
GENESIS_UNIX = 1_893_456_000
CENTRE = (38.7223, -9.1393)
SPREAD_DEG = 0.5
DUMMY_SIGNATURE_HEX = "0x" + "11" * 64 + "1b"
SEED = 42


class TimedKind:
    """A Kind wrapper that records how long the kind's `compute` (rules, shares, explanations) takes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def compute(self, job: KindJob) -> KindResult:
        t = time.perf_counter()
        out: KindResult = self.inner.compute(job)
        self.seconds["compute"] = time.perf_counter() - t
        return out


def generate(epoch_dir: Path, settings: Settings) -> ChainSnapshot:
    """Write the sealed heartbeat file + inputs.json, snapshot and prior files; return the snapshot."""
    rng = random.Random(SEED)
    devices: dict[DeviceId, DeviceRecord] = {}
    owners = [Address(to_checksum_address(rng.randbytes(20))) for _ in range(max(1, DEVICES // DEVICES_PER_OWNER))]
    positions = []
    for i in range(DEVICES):
        device = DeviceId(to_checksum_address(rng.randbytes(20)))
        lat = CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        lon = CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, 12))
        devices[device] = DeviceRecord(device, owners[i % len(owners)], "heartbeat", cell, True)
        positions.append((device, round(lat * 1e7), round(lon * 1e7)))
    positions.sort()
    inputs = epoch_dir / "inputs"
    inputs.mkdir(parents=True)
    tmp = inputs / "heartbeat.tmp"
    start_ms = GENESIS_UNIX * 1000
    net = settings.network
    with open(tmp, "w") as fh:
        for device, lat_e7, lon_e7 in positions:
            for seq in range(1, HOURS + 1):
                ts = start_ms + (seq - 1) * 3_600_000 + rng.randrange(0, 1_800_000)
                fh.write(
                    f'{{"version":1,"network":"{net.network_id}",'
                    f'"chainId":{net.chain_id},"device":"{device}","kind":"heartbeat","epoch":0,"seq":{seq},'
                    f'"timestampMs":{ts},"signature":"{DUMMY_SIGNATURE_HEX}","signerKey":"0x",'
                    f'"payload":{{"accuracy_m":5,"lat_e7":{lat_e7 + rng.randint(-2000, 2000)},'
                    f'"lon_e7":{lon_e7 + rng.randint(-2000, 2000)}}}}}\n'
                )
    sha, size = sha256_file(tmp)
    name = f"heartbeat_v1.{sha[:16]}.jsonl"
    tmp.rename(inputs / name)
    manifest = InputManifest(
        epoch=Epoch(0), files=(SealedFile(name, ProofKind("heartbeat"), DEVICES * HOURS, sha, size),)
    )
    atomic_write(inputs / INPUT_MANIFEST_NAME, manifest.to_json())
    snapshot = ChainSnapshot(block_number=1_000, entropy=b"\x42" * 32, devices=devices)
    atomic_write(epoch_dir / EpochFile.SNAPSHOT, snapshot_to_bytes(snapshot))
    atomic_write(epoch_dir / EpochFile.PRIOR, prior_to_bytes(0, {}))
    return snapshot


def main() -> None:
    # The generated heartbeats answer no liveness challenge (that needs a chain's hourly
    # entropy blocks), so the challenge is off here: with it on, every device fails
    # `liveness` and the bench would time the rules of an epoch that pays nobody.
    settings = load_settings(
        None,
        network={"genesis_unix": GENESIS_UNIX},
        pools={"bps": {"heartbeat": 10_000}},
        heartbeat={"liveness_window_seconds": 0},
    )
    reports_n = DEVICES * HOURS
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as tmp:
        epoch_dir = Path(tmp) / "epochs" / "0"
        t0 = time.perf_counter()
        snapshot = generate(epoch_dir, settings)
        t_gen = time.perf_counter() - t0

        inputs = epoch_dir / "inputs"
        t0 = time.perf_counter()
        for path in inputs.glob("heartbeat_v1.*.jsonl"):
            with open(path, "rb") as fh:
                for line in fh:
                    json.loads(line)
        t_baseline = time.perf_counter() - t0

        t0 = time.perf_counter()
        sealed = read_sealed_reports(inputs)
        t_read = time.perf_counter() - t0

        module = TimedKind(HEARTBEAT)
        t0 = time.perf_counter()
        computation = compute_epoch(
            Epoch(0), {str(k): v for k, v in sealed.items()}, snapshot, settings, {"heartbeat": module}, {}
        )
        t_compute = time.perf_counter() - t0
        t_kind = module.seconds["compute"]
        t_rewards = t_compute - t_kind

        t0 = time.perf_counter()
        published = publish_epoch(epoch_dir, settings.network.network_id, computation, snapshot, settings)
        t_publish = time.perf_counter() - t0

    total = t_read + t_compute + t_publish
    paid = len(computation.kinds["heartbeat"].amounts)
    if paid == 0:
        raise SystemExit("no device was paid: the bench would not exercise the reward path")
    print(f"epoch of {DEVICES:,} devices x {HOURS} heartbeats = {reports_n:,} reports "
          f"({len(computation.cumulative):,} owners, {paid:,} devices paid)")
    print(f"  generate sealed inputs (setup, unsigned) {t_gen:8.2f} s")
    rows = [
        ("read    (sha256 + decode)", t_read),
        ("kind    (heartbeat rules, hours x trust, explanations)", t_kind),
        ("rewards (pools, allocate, owners)", t_rewards),
        ("publish (verdicts, reward file + tree, manifest)", t_publish),
    ]
    for label, seconds in rows:
        print(f"  {label:<50} {seconds:8.2f} s  {reports_n / seconds:>12,.0f} reports/s")
    print(f"  {'total sealed files -> root':<50} {total:8.2f} s  {reports_n / total:>12,.0f} reports/s")
    print(f"  baseline json.loads of every sealed line          {t_baseline:8.2f} s  "
          f"(read stage = {t_read / t_baseline:.2f}x the bare parse)")
    print(f"  root 0x{published.root.hex()}")


if __name__ == "__main__":
    main()
