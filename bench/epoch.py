"""One oracle epoch at scale: 100,000 heartbeat devices × 24 heartbeats, sealed files → root.

    .venv/bin/python bench/epoch.py [DEVICES] [--executor=processes|inline|one-process|local-dask|tcp://…] [--check]

Default: the oracle's path (`recompute_epoch`: the sealed file streamed and split by device,
shards verified and scored on every core by the processes executor, combined, rewards), then
publish; peak memory of the oracle process and of its largest worker (any descendant process:
the fork server's workers and a local Dask cluster's included). `--executor=one-process`
times the reference path instead (every report in one list, `Kind.compute` in this process),
stage by stage:
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
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import h3

from opendepin.epochdir import EpochFile
from opendepin.identity.address import to_checksum_address
from opendepin.network.settings import Settings, load_settings
from opendepin.oracle.compute import compute_epoch
from opendepin.oracle.epoch_files import atomic_write, prior_to_bytes, snapshot_to_bytes
from opendepin.oracle.executors import Executor, ProcessExecutor, executor_for
from opendepin.oracle.publish import publish_epoch
from opendepin.oracle.recompute import recompute_epoch
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

MAIN_IMPORTS = frozenset(name for name in sys.modules if name.split(".")[0] in {"opendepin", "h3"})
"""The modules this script's imports loaded (the fork server preloads them: see `main`)."""
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
FLAGS = dict(a[2:].partition("=")[::2] for a in sys.argv[1:] if a.startswith("--"))
DEVICES = int(ARGS[0]) if ARGS else 100_000
EXECUTOR = FLAGS.get("executor", "processes")
"""processes (default), inline, one-process (the reference path), local-dask (a 2-worker
Dask cluster started here) or a Dask scheduler address."""
CHECK = "check" in FLAGS
"""--check: also run the one-process reference path and compare roots; --check=inline: the
sharded path in this one process instead (for epochs too large to hold in one list)."""
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


def one_process(epoch_dir: Path, snapshot: ChainSnapshot, settings: Settings) -> tuple[Any, bytes, dict[str, float]]:
    """The reference path: every report decoded into one list, `Kind.compute` in this process."""
    inputs = epoch_dir / "inputs"
    t0 = time.perf_counter()
    sealed = read_sealed_reports(inputs)
    t_read = time.perf_counter() - t0
    module = TimedKind(HEARTBEAT)
    t0 = time.perf_counter()
    computation = compute_epoch(
        Epoch(0), {str(k): v for k, v in sealed.items()}, snapshot, settings, {"heartbeat": module}, {}
    )
    t_compute = time.perf_counter() - t0
    del sealed
    t0 = time.perf_counter()
    published = publish_epoch(epoch_dir, settings.network.network_id, computation, snapshot, settings)
    t_publish = time.perf_counter() - t0
    return computation, published.root, {
        "read    (sha256 + decode)": t_read,
        "kind    (heartbeat rules, hours x trust, explanations)": module.seconds["compute"],
        "rewards (pools, allocate, owners)": t_compute - module.seconds["compute"],
        "publish (verdicts, reward file + tree, manifest)": t_publish,
    }


def sharded(epoch_dir: Path, settings: Settings, executor: Executor) -> tuple[Any, bytes, dict[str, float]]:
    """The oracle's path: the sealed file split by device, shards on `executor`, combined."""
    t0 = time.perf_counter()
    again = recompute_epoch(epoch_dir, settings, {"heartbeat": HEARTBEAT}, executor)
    t_compute = time.perf_counter() - t0
    t0 = time.perf_counter()
    published = publish_epoch(
        epoch_dir, settings.network.network_id, again.computation, again.snapshot, settings
    )
    t_publish = time.perf_counter() - t0
    return again.computation, published.root, {
        f"split + shards + combine + rewards ({executor.workers} workers)": t_compute,
        "publish (verdicts, reward file + tree, manifest)": t_publish,
    }


class PeakMemory(threading.Thread):
    """Peak resident memory of this process and of its largest descendant (the worker
    processes, which a fork server forks: they are not this process's children, so
    `RUSAGE_CHILDREN` misses them): every descendant's `VmHWM` from /proc, sampled."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.largest_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.sample()

    def sample(self) -> None:
        for pid in _descendants(os.getpid()):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.largest_kb = max(self.largest_kb, int(line.split()[1]))

    def stop(self) -> tuple[float, float]:
        """(this process, largest descendant) peak MB."""
        self.done.set()
        self.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return own, max(child, self.largest_kb / 1024)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


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

        memory = PeakMemory()
        memory.start()
        cluster = None
        t_fork_server: float | None = None
        if EXECUTOR == "local-dask":
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
            executor: Executor = executor_for(cluster.scheduler_address)
        else:
            # Every worker re-runs this file's top level before its first shard (multiprocessing
            # imports the main script in each child), as it re-runs the `depin` script's, which
            # imports only the CLI's lazy entry point. This file imports more, so the fork
            # server imports the same modules once and each worker finds them loaded.
            executor = executor_for(
                "inline" if EXECUTOR == "one-process" else EXECUTOR, preload=sorted(MAIN_IMPORTS)
            )
        if isinstance(executor, ProcessExecutor):
            # Once per oracle process (`ProcessExecutor.start`): timed apart from the epoch.
            t0 = time.perf_counter()
            executor.start()
            t_fork_server = time.perf_counter() - t0
        try:
            if EXECUTOR == "one-process":
                computation, root, rows = one_process(epoch_dir, snapshot, settings)
            else:
                computation, root, rows = sharded(epoch_dir, settings, executor)
        finally:
            executor.close()
            if cluster is not None:
                cluster.close()
        own_mb, child_mb = memory.stop()
        reference_root = None
        if CHECK and FLAGS["check"] == "inline":
            t0 = time.perf_counter()
            _, reference_root, _ = sharded(epoch_dir, settings, executor_for("inline"))
            print(f"  (inline reference took {time.perf_counter() - t0:.1f} s)")
        elif CHECK and EXECUTOR != "one-process":
            _, reference_root, _ = one_process(epoch_dir, snapshot, settings)

    total = sum(rows.values())
    paid = len(computation.kinds["heartbeat"].amounts)
    if paid == 0:
        raise SystemExit("no device was paid: the bench would not exercise the reward path")
    print(f"epoch of {DEVICES:,} devices x {HOURS} heartbeats = {reports_n:,} reports "
          f"({len(computation.cumulative):,} owners, {paid:,} devices paid), executor {EXECUTOR}")
    print(f"  generate sealed inputs (setup, unsigned) {t_gen:8.2f} s")
    if t_fork_server is not None:
        print(f"  fork server start (once per oracle process, not per epoch: not in the total) {t_fork_server:6.2f} s")
    for label, seconds in rows.items():
        print(f"  {label:<55} {seconds:8.2f} s  {reports_n / seconds:>12,.0f} reports/s")
    print(f"  {'total sealed files -> root':<55} {total:8.2f} s  {reports_n / total:>12,.0f} reports/s")
    print(f"  baseline json.loads of every sealed line (1 core)       {t_baseline:8.2f} s  "
          f"(total = {total / t_baseline:.2f}x the bare parse; target <= 1.5x)")
    print(f"  peak memory: this process {own_mb:,.0f} MB, largest worker process {child_mb:,.0f} MB "
          f"(target <= 1,000 MB each)")
    print(f"  root 0x{root.hex()}")
    if reference_root is not None:
        same = "EQUAL" if reference_root == root else "DIFFERENT"
        what = "one-process (inline executor)" if FLAGS["check"] == "inline" else "one-process reference"
        print(f"  {what} root 0x{reference_root.hex()}: {same}")
        if reference_root != root:
            raise SystemExit("the sharded root differs from the one-process root")


if __name__ == "__main__":
    main()
