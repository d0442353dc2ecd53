"""Input agreement at scale: time from ingest close to `RootSubmitted`, and bytes per oracle.

    .venv/bin/python bench/agreement.py [REPORTS] [DEVICES]

For N = 3, 4 and 7 oracles (threshold M = N − ⌊(N−1)/2⌋, so f = N − M = 1, 1, 3) with 0 and
with f faulty oracles, one epoch of REPORTS signed heartbeat reports (default 100,000 from
500 devices) sits in the honest oracles' report logs when ingest closes, each oracle missing
a different 1 % of them (so every batch differs and must be fetched; the union is sealed). Then the honest
oracles run the real pipeline over real HTTP on loopback — snapshot → agree → seal → compute
→ sign → exchange → submit — until `RootSubmitted` is mined on the embedded chain. A faulty
oracle withholds everything (404): the rounds it is missing from end at their deadlines
(`network.agreement_round_seconds`, set to ROUND_SECONDS here), the worst case for time.

Printed per configuration: wall time close → RootSubmitted; the part spent in agreement
(until every honest oracle decided); bytes each honest oracle downloaded (batches + round
records); rounds. Baseline measured in the same run: ONE oracle without peers sealing and
settling the same epoch (no agreement at all) — the ratio is what agreement and N oracles
cost on top. All oracles run in this one process, one after another on one core, so wall
time is the SUM of their work; on separate machines the honest oracles work in parallel
(the per-oracle column divides the non-waiting part by the honest count as an estimate).
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from opendepin.geo import cell_centre
from opendepin.ingest.server import IngestServer
from opendepin.network.settings import Settings
from opendepin.oracle.agreement.messages import Domain
from opendepin.oracle.agreement.service import agreement_dir
from opendepin.oracle.runner import Stage, SubmitState
from opendepin.proofs.heartbeat.payload import make_payload
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.sim.byzantine import Byzantine, create_app
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    make_oracle,
    register_devices,
    sim_settings,
)
from opendepin.store import LogEntry

REPORTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
DEVICES = int(sys.argv[2]) if len(sys.argv) > 2 else 500
ROUND_SECONDS = 30
SEED = 21
CONFIGS = ((3, 1), (4, 1), (7, 3))
"""(N, f): M = N − f."""
HOURS = 24
LIVENESS_SPREAD_MS = 240_000
"""Each hour's heartbeats are signed within this long after its block (inside the 300 s window)."""


def _settings(threshold: int) -> Settings:
    base = sim_settings(oracle_threshold=threshold, kinds=["heartbeat"])
    network = base.network.model_copy(update={"agreement_round_seconds": ROUND_SECONDS})
    return base.model_copy(update={"network": network})


def _reports(net: SimNetwork) -> list[Report]:
    """REPORTS signed heartbeats of epoch 0 from the population's devices, spread over the
    epoch's hours; each names its hour's entropy block, mined on this network's chain
    (`SimNetwork.sim_hour`), and is signed within the liveness window after it — so they are
    signed again for every network (each chain has its own blocks)."""
    cfg = net.settings.network
    devices = net.models["heartbeat"].population.devices
    per_device = -(-REPORTS // len(devices))
    hours = [net.sim_hour(0, h) for h in range(HOURS)]
    per_hour = -(-per_device // HOURS)
    step_ms = LIVENESS_SPREAD_MS // (per_hour + 1)
    out = []
    for d in devices:
        lat, lon = cell_centre(d.cell) or (0.0, 0.0)
        for s in range(per_device):
            if len(out) == REPORTS:
                return out
            hour = hours[s % HOURS]
            at_ms = hour.hour_start_unix * 1000 + (s // HOURS + 1) * step_ms
            out.append(new_signed_report(d.key, network_id=cfg.network_id, chain_id=cfg.chain_id, kind="heartbeat",
                                         epoch=0, seq=s + 1, timestamp_ms=at_ms,
                                         payload=make_payload(lat, lon, 5, (hour.entropy_block, hour.entropy))))
    return out


def _downloaded(node: OracleNode, nodes: list[OracleNode]) -> tuple[int, int]:
    """(bytes this oracle downloaded: batch bytes as its metrics counted them — by difference
    where it could — plus peers' round records; the size of the peer batches it now holds,
    which a whole-batch download would have moved)."""
    adir = agreement_dir(node.runner.epoch_dir(0))
    own = (adir / "round_0.json").read_bytes().decode()
    held = sum(p.stat().st_size for p in (adir / "batches").glob("*.jsonl") if p.stem not in own)
    records = sum(
        p.stat().st_size
        for other in nodes if other is not node
        for p in agreement_dir(other.runner.epoch_dir(0)).glob("round_*.json")
    )
    fetched = node.runner.metrics.registry.get_sample_value("depin_oracle_agreement_fetched_bytes_total") or 0.0
    return int(fetched) + records, held


def run(n: int, faulty: int, threshold: int, root: Path) -> tuple[dict[str, float], list[Report]]:
    net = build_network(seed=SEED, devices=DEVICES, oracles=n, settings=_settings(threshold))
    register_devices(net)
    reports = _reports(net)
    honest = n - faulty
    with ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=60.0))
        nodes = []
        for i in range(honest):
            node = make_oracle(net, i, root / f"n{n}-f{faulty}-oracle-{i}", http=http)
            stack.callback(node.oracle.close)
            stack.enter_context(node.oracle.serve())
            nodes.append(node)
        urls = [nd.url for nd in nodes]
        for i in range(honest, n):
            evil = Byzantine(net.oracle_signers[i], Domain(net.settings.network.network_id, net.settings.network.chain_id),
                             net.deployment.distributor(net.chain).address, [s.address for s in net.oracle_signers],
                             "withhold", "withhold", [b"", b""])
            urls.append(stack.enter_context(IngestServer(create_app(evil))).url)
        if n > 1:
            for node in nodes:
                node.oracle.set_peers(urls)
        entries = [LogEntry.of(r, received_ms=0) for r in reports]
        for node in nodes:  # each oracle missed a different 1 % (so batches differ, as in life)
            node.store.reports.append([e for j, e in enumerate(entries) if n == 1 or j % 100 != node.index])
        net.advance_to(nodes[0].runner.ingest_close_unix(0))
        net.chain.mine()
        start = time.perf_counter()
        agreed_at: float | None = None
        submitted = False
        while not submitted:
            states = [nd.runner.advance(0).state for nd in nodes]
            if agreed_at is None and all(nd.runner.ledger.done(0, Stage.AGREE) is not None for nd in nodes):
                agreed_at = time.perf_counter()
            submitted = SubmitState.SUBMITTED in states
            if SubmitState.AGREEING in states:
                time.sleep(0.05)
        total = time.perf_counter() - start
        while not all(nd.runner.ledger.done(0, Stage.SUBMIT) is not None for nd in nodes):  # the rest catch up
            for nd in nodes:
                nd.runner.advance(0)
            if agreed_at is None and all(nd.runner.ledger.done(0, Stage.AGREE) is not None for nd in nodes):
                agreed_at = time.perf_counter()
            time.sleep(0.05)
        agree = (agreed_at or start) - start
        down = [_downloaded(nd, nodes) for nd in nodes] if n > 1 else [(0, 0)]
        rounds = faulty_tolerated = n - threshold
        return {
            "total_s": total,
            "agree_s": agree,
            "down_mb": max(d[0] for d in down) / 1e6,
            "whole_mb": max(d[1] for d in down) / 1e6,
            "rounds": float(rounds + 1),
            "waited_s": float(ROUND_SECONDS * (faulty_tolerated + 1) if faulty else 0),
            "honest": float(honest),
            "sealed": float(nodes[0].store.input_manifest(0).total_reports),
        }, reports


def main() -> None:
    print(f"input agreement: {REPORTS:,} heartbeat reports from {DEVICES} devices in epoch 0; "
          f"faulty oracles withhold (rounds end at {ROUND_SECONDS} s deadlines, the default)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        base, reports = run(1, 0, 1, root)
        print(f"(signed {len(reports):,} reports and built the baseline in {time.perf_counter() - t0:.1f} s)")
        print(f"baseline: 1 oracle, no peers: close → RootSubmitted {base['total_s']:.2f} s "
              f"({base['sealed']:,.0f} reports sealed)")
        header = (f"{'N':>2} {'M':>2} {'faulty':>6} {'rounds':>6} {'close→root s':>13} {'agreement s':>12} "
                  f"{'of which deadline waits s':>26} {'per-oracle est. s':>18} {'× baseline':>11} {'MB down/oracle':>15} {'(whole batches MB)':>19}")
        print(header)
        for n, f in CONFIGS:
            for faulty in (0, f):
                r, _ = run(n, faulty, n - f, root)
                busy = r["total_s"] - r["waited_s"]
                per_oracle = busy / r["honest"] + r["waited_s"]
                print(f"{n:>2} {n - f:>2} {faulty:>6} {r['rounds']:>6.0f} {r['total_s']:>13.2f} {r['agree_s']:>12.2f} "
                      f"{r['waited_s']:>26.0f} {per_oracle:>18.2f} {per_oracle / base['total_s']:>11.2f} "
                      f"{r['down_mb']:>15.1f} {r['whole_mb']:>19.1f}")
                assert r["sealed"] == base["sealed"], "honest oracles sealed another set than the baseline"


if __name__ == "__main__":
    main()
