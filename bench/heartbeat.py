"""Heartbeat verify + score throughput, and device-agent report building.

Run: .venv/bin/python bench/heartbeat.py [devices]

Simulates a population (80 % honest, 10 % dishonest, 10 % flaky; seeded; every heartbeat
answers its hour's liveness challenge), then times
- verify + score over every heartbeat of one epoch (reports/s), against a baseline of just
  decoding each payload (json.loads) measured in the same run;
- DeviceAgent.build_report + enqueue (sign + SQLite insert) for secp256k1 and ed25519,
  against signing alone.
"""

from __future__ import annotations

import random
import sys
import time

import h3

from opendepin.agent import AgentConfig, DeviceAgent, ManualClock
from opendepin.identity import DeviceKey, KeyType
from opendepin.network.settings import load_settings
from opendepin.proofs.heartbeat import Behaviour, score, simulate_device, verify
from opendepin.proofs.heartbeat.sim import simulated_entropy_blocks
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.reports.eip712 import report_digest
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.types import Address, DeviceId, Epoch, ProofKind


def main() -> None:
    n_devices = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    settings = load_settings(None)
    rng = random.Random(42)
    records, reports = {}, []
    for i in range(n_devices):
        device = DeviceId(f"0x{i:040x}")
        lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
        cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, 12))
        owner = Address(f"0x{i // 4 + 1:040x}")  # four devices per owner: under the owner cap
        records[device] = DeviceRecord(device, owner, "heartbeat", cell, True)
        behaviour = rng.choices(list(Behaviour), weights=[8, 1, 1])[0]
        for seq, sim in enumerate(simulate_device(behaviour, cell, 3, settings, rng)):
            r = Report(settings.network.network_id, settings.network.chain_id, device,
                       ProofKind("heartbeat"), Epoch(3), seq, sim.timestamp_ms,
                       canonical_payload(sim.payload))  # fmt: skip
            reports.append(IngestedReport(r))
    blocks = simulated_entropy_blocks(settings, 3)  # the hours' blocks the devices signed
    snap = ChainSnapshot(1, b"\x00" * 32, records, {b.number: b for b in blocks})

    t0 = time.perf_counter()
    for r in reports:
        r.report.payload_obj()
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    verdicts = verify(reports, snap, settings)
    t1 = time.perf_counter()
    shares = score(reports, verdicts, snap, settings)
    t2 = time.perf_counter()
    n = len(reports)
    print(f"heartbeats: {n:,} from {n_devices:,} devices; {len(shares):,} devices paid")
    print(f"payload decode only (baseline): {n / base:>12,.0f} reports/s")
    print(
        f"verify:                         {n / (t1 - t0):>12,.0f} reports/s "
        f"({base / (t1 - t0):.2f}x baseline)"
    )
    print(f"score:                          {n / (t2 - t1):>12,.0f} reports/s")
    print(f"verify + score:                 {n / (t2 - t0):>12,.0f} reports/s")

    cfg = AgentConfig.from_settings(settings, kind="heartbeat", key_type="secp256k1")
    clock = ManualClock((cfg.genesis_unix + 10) * 1000)
    payload = {"lat_e7": 473_769_000, "lon_e7": 85_417_000}
    for key_type in (KeyType.SECP256K1, KeyType.ED25519):
        key = DeviceKey.generate(key_type)
        agent = DeviceAgent(key, cfg, clock=clock, seq_block=256)
        m = 3_000
        probe = agent.build_report(payload, clock.now_ms())
        digest = report_digest(probe)
        t0 = time.perf_counter()
        for _ in range(m):
            key.sign_digest(digest)
        sign = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(m):
            agent.beat(payload)
        beat = time.perf_counter() - t0
        print(
            f"agent {key_type.value:9s}: sign only {m / sign:>9,.0f}/s; build+sign+enqueue "
            f"{m / beat:>9,.0f}/s ({beat / sign:.2f}x the cost of signing)"
        )
        agent.close()


if __name__ == "__main__":
    main()
