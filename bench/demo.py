"""`depin demo` wall time and where it goes: chain, HTTP, signing, oracle — in one run.

    .venv/bin/python bench/demo.py                 # the default demo (200 + 48 + 12, 3 epochs)
    .venv/bin/python bench/demo.py --small         # 20 heartbeat + 12 coverage + 10 storage, 2 epochs
    .venv/bin/python bench/demo.py --devices 50 --coverage-devices 0 --storage-nodes 0 --epochs 1
    .venv/bin/python bench/demo.py --sequential    # run_demo(parallel=False): all in one process

What is measured, with the real code paths of `opendepin.sim.demo.run_demo` (nothing is
simulated or skipped; the timers wrap functions, they change no argument or result):

- start-up: importing the package (titanoboa / py-evm / Vyper's modules load when the
  embedded chain starts, in `deploy`);
- phases (wall clock of the demo's main thread): deploy, registration, per epoch the report
  delivery (24 hours of signing + POSTs) and the settlement (the oracles' stages, the
  exchange and the submission), then the claims;
- the split, as exclusive thread-seconds per category (a timed call nested in another is
  charged to the inner one, so with one busy thread the categories add up to the wall time):
  `chain` (every `EmbeddedChain` call — deploy, registration, transactions, mining, reads —
  by phase), `signing` (the devices' `hour_reports`: payloads and EIP-712 signatures),
  `http` (client side: the wait for the answer, which includes the server's work, by
  route), `ingest` (server side: `IngestPipeline.process` in the ingest threads — inside
  `http: report delivery` of the caller), `oracle` (each ledgered stage, and `advance`'s
  own exchange/submit bookkeeping).

When the demo runs the oracles in forked processes (the default where `fork` is available:
each oracle's ingest, fed by its own delivery thread, and each epoch's stages up to the
signature), each child's timers are collected and added in, so the thread-seconds exceed the
wall time by what ran in parallel; `oracle: parent waits for forked stages` is the parent's
wait while the children work, and `other` includes the parent's waits for the delivery
threads. The CPU line adds this process's and every child's user + system seconds: on a
shared machine compare those, and wall times only as ratios of runs in the same load (the
load average is printed before and after), e.g. `--sequential` against the default.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()
import opendepin.sim.demo as demo  # noqa: E402  (the import is what start-up measures)
import opendepin.sim.network as network  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _T0


class Split:
    """Exclusive time per category and thread: entering a timed call charges the time since the
    last mark to the category on top of this thread's stack, then pushes the new one."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.phase = "start-up"
        self._local = threading.local()
        self._lock = threading.Lock()

    def _state(self) -> tuple[list[str], list[float]]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
            self._local.mark = [time.perf_counter()]
        return self._local.stack, self._local.mark

    def _charge(self, stack: list[str], mark: list[float]) -> None:
        now = time.perf_counter()
        if stack:
            with self._lock:
                self.seconds[stack[-1]] += now - mark[0]
        mark[0] = now

    def enter(self, category: str) -> None:
        stack, mark = self._state()
        self._charge(stack, mark)
        stack.append(category)
        with self._lock:
            self.calls[category] += 1

    def leave(self) -> None:
        stack, mark = self._state()
        self._charge(stack, mark)
        stack.pop()

    def wrap(self, owner: Any, name: str, category: str | Callable[..., str]) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(category(*args, **kwargs) if callable(category) else category)
            try:
                return original(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, name, timed)

    def reset(self) -> None:
        """Forget everything (a forked child starts counting from zero)."""
        self.seconds.clear()
        self.calls.clear()
        self._local = threading.local()

    def dump(self) -> dict[str, Any]:
        return {"seconds": dict(self.seconds), "calls": dict(self.calls)}

    def add(self, other: dict[str, Any]) -> None:
        for k, v in other["seconds"].items():
            self.seconds[k] += v
        for k, n in other["calls"].items():
            self.calls[k] += n


SPLIT = Split()
PHASES: list[tuple[str, float, float]] = []
"""(label, start since the run began, seconds)."""
CHILD_DIR = Path(tempfile.mkdtemp(prefix="bench-demo-split-"))


def _phase(name: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        label = name(*args, **kwargs)
        previous, SPLIT.phase = SPLIT.phase, label.split(" ")[0]
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES.append((label, started - _T0, time.perf_counter() - started))
            SPLIT.phase = previous

    return timed


def _http_route(client: Any, request: Any, *args: Any, **kwargs: Any) -> str:
    path = request.url.path
    if path == "/v1/reports":
        return "http: report delivery"
    if path.startswith("/v1/rewards"):
        return "http: claims"
    return "http: exchange (attestations, agreement, report sets)"


def _child_done() -> None:
    """Called by the demo in a child process before it exits: hand its timers to the parent."""
    (CHILD_DIR / f"{os.getpid()}.json").write_text(json.dumps(SPLIT.dump()))


def _children_cpu() -> float:
    """User + system CPU seconds of this process's reaped child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def install() -> None:
    import httpx

    from opendepin.chain.embedded import EmbeddedChain
    from opendepin.ingest.pipeline import IngestPipeline
    from opendepin.oracle.runner import EpochRunner

    for method in (
        "deploy",
        "call",
        "transact",
        "mine",
        "get_logs",
        "time_travel",
        "block_hash",
        "timestamp",
    ):
        SPLIT.wrap(EmbeddedChain, method, lambda *a, **k: f"chain ({SPLIT.phase})")
    SPLIT.wrap(httpx.Client, "send", _http_route)
    SPLIT.wrap(IngestPipeline, "process", "ingest (server side)")
    SPLIT.wrap(
        EpochRunner, "_run_stage", lambda runner, epoch, stage, *a, **k: f"oracle: {stage.value}"
    )
    SPLIT.wrap(EpochRunner, "advance", "oracle: advance (exchange, submit)")

    build = network.build_network

    def build_network(*args: Any, **kwargs: Any) -> Any:
        net = build(*args, **kwargs)
        for model in net.models.values():  # each device model signs its hour's reports
            SPLIT.wrap(model, "hour_reports", "signing (device reports)")
        return net

    phases: dict[str, Callable[..., str]] = {
        "build_network": lambda *a, **k: "deploy",
        "register_devices": lambda *a, **k: "registration",
        "_deliver_epoch": lambda net, nodes, http, epoch, *a, **k: f"deliver epoch {epoch}",
        "_settle": lambda net, nodes, epoch, *a, **k: f"settle epoch {epoch}",
        "_claim_all": lambda *a, **k: "claims",
    }
    vars(demo)["build_network"] = build_network
    for name, label in phases.items():  # the demo's module globals: run_demo calls these
        setattr(demo, name, _phase(label, getattr(demo, name)))
    if hasattr(demo, "prepare_forked"):  # the demo runs oracle work in forked processes
        SPLIT.wrap(demo, "prepare_forked", "oracle: parent waits for forked stages")
        network.CHILD_EXIT_HOOKS.append(_child_done)
        os.register_at_fork(after_in_child=SPLIT.reset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--coverage-devices", type=int, default=demo.DEFAULT_COVERAGE_DEVICES)
    parser.add_argument("--storage-nodes", type=int, default=demo.DEFAULT_STORAGE_NODES)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="20 + 12 + 10 devices, 2 epochs")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="run_demo(parallel=False): one process, one oracle after another",
    )
    args = parser.parse_args()
    if args.small:
        args.devices, args.coverage_devices, args.storage_nodes, args.epochs = 20, 12, 10, 2
    install()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        SPLIT.enter("other (demo's own code)")
        children_before = _children_cpu()
        started = time.perf_counter()
        cpu_started = time.process_time()
        summary = demo.run_demo(
            seed=args.seed,
            devices=args.devices,
            coverage_devices=args.coverage_devices,
            storage_nodes=args.storage_nodes,
            epochs=args.epochs,
            data_dir=Path(tmp),
            parallel=not args.sequential,
        )
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        children_cpu = _children_cpu() - children_before  # every child is reaped by now
        SPLIT.leave()
    children = sorted(CHILD_DIR.glob("*.json"))
    for path in children:
        SPLIT.add(json.loads(path.read_text()))
        path.unlink()
    CHILD_DIR.rmdir()
    print(
        f"demo: {summary.kind_devices} devices, {args.epochs} epochs, seed {args.seed}, "
        f"{'sequential' if args.sequential else 'parallel'}, {os.cpu_count()} cores, "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"roots: {' '.join(e.root[:18] for e in summary.epochs)}")
    print(
        f"start-up (import opendepin.sim.demo; titanoboa/py-evm load in deploy): {IMPORT_SECONDS:6.2f} s"
    )
    print(
        f"run_demo wall: {wall:6.2f} s   (this process's CPU: {cpu:.2f} s; child processes: {len(children)})"
    )
    print(
        f"CPU (user + sys): this process {cpu:.2f} s + child processes {children_cpu:.2f} s = "
        f"{cpu + children_cpu:.2f} s, {(cpu + children_cpu) / wall:.2f} cores busy on average"
    )
    print(f"total wall incl. start-up: {wall + IMPORT_SECONDS:6.2f} s")
    print("\nphases (wall, main thread):")
    for label, start, seconds in sorted(PHASES, key=lambda p: p[1]):
        print(f"  {label:<28} {seconds:7.2f} s   (from {start:6.2f} s)")
    print(
        "\nsplit (exclusive thread-seconds; 'ingest' runs inside 'http: report delivery' of the caller):"
    )
    groups: defaultdict[str, float] = defaultdict(float)
    for category, seconds in SPLIT.seconds.items():
        groups[category.split(" ")[0].rstrip(":")] += seconds
    for category, seconds in sorted(SPLIT.seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {category:<56} {seconds:7.2f} s  {SPLIT.calls[category]:>7} calls")
    print(
        "\nby group: "
        + ", ".join(f"{g} {s:.2f} s" for g, s in sorted(groups.items(), key=lambda kv: -kv[1]))
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
