"""The README's "Multi-process network on anvil" recipe, run end to end with the real CLI.

Every step is a separate `depin …` process, exactly as an operator types it (only ports and
paths differ): anvil → generated keystores → `depin chain fund` / `deploy` → three
`depin oracle serve` processes (2-of-3; two on SQLite, one on PostgreSQL in its own
schema) exchanging signatures over HTTP → three devices `agent init` / `register` (device
signs, owner pays) / `run` (each report to every oracle's ingest) → `depin chain mine
--advance-seconds` ends epoch 0 and its report grace on chain → all three oracles sign the
same claim (root and manifest hash) → one `RootSubmitted`, exactly one submitter →
`agent rewards` / `agent claim` (token balance == cumulative amount).

Waits poll for a state (a process's exit, an HTTP answer, an event) under a generous
deadline; nothing asserts on how long anything took. Every process is started in its own
process group and killed in `finally`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import tomli_w
from hexbytes import HexBytes

from opendepin.chain.anvil import AnvilProcess, free_port
from opendepin.chain.deploy import Deployment
from opendepin.chain.rpc import RpcChain
from opendepin.store.testing import temporary_database_url
from opendepin.types import Address

EPOCH_SECONDS = 3_600
"""Epoch length of the test network; epoch 0 is ended by moving anvil's clock, not waited for."""
MIN_ONLINE_HOURS = 1
"""One online hour earns: each device beats once, in the epoch's only hour."""
REPORTS_PER_DEVICE = 1
"""`depin agent run --count 1`: the agent answers the hour's liveness challenge (the last anvil
block at or before genesis) within `liveness_window_seconds` (300 s) of that block; a second
heartbeat would wait for the next hour's start."""
REPORT_GRACE_SECONDS = 600
"""`network.report_grace_seconds` (the default): oracles seal an epoch only this long after its end."""
SCRYPT_N = 2**14
"""Cheap keystores for a throw-away network (the CLI default, 2**18, costs ~1 s per unlock)."""
COMMAND_TIMEOUT_SECONDS = 120.0
SETTLE_DEADLINE_SECONDS = 120.0
POLL_SECONDS = 0.2
ORACLE_POLL_SECONDS = "0.5"
DEVICES = (("dev-1", "owner-a", 47.3769, 8.5417), ("dev-2", "owner-b", 47.3780, 8.5400), ("dev-3", "owner-c", 46.9480, 7.4474))
PASSPHRASES = {
    "GOV_PASS": "gov-test-passphrase",
    "ORACLE_PASS": "oracle-test-passphrase",
    "OWNER_PASS": "owner-test-passphrase",
    "DEVICE_PASS": "device-test-passphrase",
}
_DEVICE_ID = re.compile(r"device id:\s+(0x[0-9a-fA-F]{40})")


def _depin() -> list[str]:
    """The installed `depin` script beside this interpreter, else `python -m opendepin`."""
    script = Path(sys.executable).with_name("depin")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "opendepin"]


@dataclass
class Cluster:
    """Runs `depin` commands in one directory and owns every process it starts."""

    cwd: Path
    env: dict[str, str]
    background: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, args: Sequence[str], log: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `depin ARGS` in its own process group, stdout+stderr to cwd/LOG."""
        out = (self.cwd / log).open("wb")
        proc = subprocess.Popen(
            [*_depin(), *args], cwd=self.cwd, env={**self.env, **(extra_env or {})},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        out.close()
        self.background.append((proc, self.cwd / log))
        return proc

    def finish(self, proc: subprocess.Popen[bytes]) -> str:
        """Wait for a started command; its output; fail with the output if it failed."""
        log = next(path for p, path in self.background if p is proc)
        proc.wait(timeout=COMMAND_TIMEOUT_SECONDS)
        text = log.read_text(errors="replace")
        assert proc.returncode == 0, f"{proc.args!r} exited {proc.returncode}:\n{text[-3000:]}"
        return text

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        """Run `depin ARGS` to completion; its output."""
        return self.finish(self.start(args, f"cmd-{len(self.background)}.log", extra_env))

    def run_all(self, commands: Sequence[Sequence[str]]) -> list[str]:
        """Run independent commands concurrently; their outputs in order."""
        procs = [self.start(c, f"cmd-{len(self.background)}.log") for c in commands]
        return [self.finish(p) for p in procs]

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        return next(path for p, path in self.background if p is proc).read_text(errors="replace")

    def stop_all(self) -> None:
        for proc, _ in self.background:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in self.background:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def cluster(cwd: Path) -> Iterator[Cluster]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPIN_") or k == "DEPIN_ANVIL"}
    env.update(PASSPHRASES)
    c = Cluster(cwd, env)
    try:
        yield c
    finally:
        c.stop_all()


def _wait_for(
    what: str,
    check: Callable[[], bool],
    procs: Sequence[subprocess.Popen[bytes]],
    c: Cluster,
) -> None:
    """Poll `check()` until true; fail if a watched process died or the deadline passed."""
    deadline = time.monotonic() + SETTLE_DEADLINE_SECONDS
    while not check():
        for proc in procs:
            assert proc.poll() is None, f"{proc.args!r} died while waiting for {what}:\n{c.log_of(proc)[-3000:]}"
        if time.monotonic() > deadline:
            tails = "\n".join(c.log_of(p)[-800:] for p in procs)
            pytest.fail(f"gave up waiting for {what}:\n{tails}")
        time.sleep(POLL_SECONDS)


def wait_for_mirrors(
    urls: Sequence[str], devices: int, from_block: int, procs: Sequence[subprocess.Popen[bytes]], c: Cluster
) -> None:
    """Wait until every oracle's registry mirror has synced past `from_block` and holds `devices`."""

    def synced() -> bool:
        answers = [_get(f"{u}/healthz") for u in urls]
        return all(a is not None and a.status_code == 200 and a.json()["synced_block"] >= from_block
                   and a.json()["devices"] == devices for a in answers)

    _wait_for(f"every oracle's registry mirror to see {devices} devices", synced, procs, c)


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5.0)
    except httpx.HTTPError:
        return None


def _write_network_toml(path: Path, rpc_url: str, genesis_unix: int) -> None:
    """The network.toml of the README recipe (with this test's anvil URL)."""
    path.write_text(
        tomli_w.dumps(
            {
                "network": {"network_id": "anvil-net", "genesis_unix": genesis_unix, "epoch_seconds": EPOCH_SECONDS},
                "chain": {"backend": "rpc", "rpc_url": rpc_url, "oracle_threshold": 2, "onboarding_fee": 0,
                          "location_fee": 0, "location_cooldown_seconds": 0},
                "pools": {"bps": {"heartbeat": 10_000}},
                "heartbeat": {"min_online_hours": MIN_ONLINE_HOURS},
            }
        )
    )


@pytest.mark.anvil
@pytest.mark.slow
def test_readme_recipe_settles_epoch_with_three_oracle_processes_and_devices_claim(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=31337) as anvil, cluster(tmp_path) as c, temporary_database_url(
        "postgresql", tmp_path
    ) as pg_url:
        chain = RpcChain(anvil.url)
        _write_network_toml(tmp_path / "network.toml", anvil.url, genesis_unix=int(time.time()))
        scrypt = ["--scrypt-n", str(SCRYPT_N)]

        # Keys: governance, three oracles, one owner per device.
        names = [("gov", "GOV_PASS"), *((f"oracle-{i}", "ORACLE_PASS") for i in range(3)),
                 *((owner, "OWNER_PASS") for _, owner, _, _ in DEVICES)]
        outputs = c.run_all([["keys", "new", "--out", f"{n}.json", "--passphrase-env", env, *scrypt] for n, env in names])
        address = {n: _DEVICE_ID.search(out).group(1) for (n, _), out in zip(names, outputs, strict=True)}  # type: ignore[union-attr]
        oracles = [address[f"oracle-{i}"] for i in range(3)]

        c.run("chain", "fund", *address.values())
        c.run("chain", "deploy", "--dir", "net", "--keystore", "gov.json", "--passphrase-env", "GOV_PASS",
              *(arg for o in oracles for arg in ("--oracle", o)))
        deployment = Deployment.load(tmp_path / "net")

        # Three oracle processes; oracle-2 keeps its index and ledger in PostgreSQL; oracle-1
        # computes heartbeat in shards of one report on worker processes (`--executor
        # processes`), so its root agreeing with the others' is the sharded path's check here.
        ports = [free_port() for _ in range(3)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        peers = [arg for u in urls for arg in ("--peer", u)]
        servers = []
        for i, port in enumerate(ports):
            env = {"DEPIN_STORE__DATA_DIR": f"oracle-{i}"}
            if i == 2:
                env["DEPIN_STORE__DATABASE_URL"] = pg_url
            sharded = ["--executor", "processes"] if i == 1 else []
            if i == 1:
                env["DEPIN_COMPUTE__SHARD_REPORTS"] = "1"
            servers.append(c.start(
                ["oracle", "serve", "--netdir", "net", "--keystore", f"oracle-{i}.json", "--passphrase-env",
                 "ORACLE_PASS", "--port", str(port), *peers, "--poll-seconds", ORACLE_POLL_SECONDS, *sharded],
                f"oracle-{i}.log", env,
            ))

        # Devices: init, register (device signs the permit, its owner sends and pays).
        ingest = [arg for u in urls for arg in ("--ingest-url", u)]
        c.run_all([
            ["agent", "init", "--dir", d, "--netdir", "net", "--lat", str(lat), "--lon", str(lon), *ingest,
             "--oracle-url", urls[0], "--passphrase-env", "DEVICE_PASS", *scrypt]
            for d, _, lat, lon in DEVICES
        ])
        c.run_all([
            ["agent", "register", "--dir", d, "--owner-keystore", f"{owner}.json", "--owner-passphrase-env",
             "OWNER_PASS", "--passphrase-env", "DEVICE_PASS"]
            for d, owner, _, _ in DEVICES
        ])
        registered_at = chain.block_number()

        wait_for_mirrors(urls, len(DEVICES), registered_at, servers, c)

        runs = c.run_all([
            ["agent", "run", "--dir", d, "--passphrase-env", "DEVICE_PASS", "--count", str(REPORTS_PER_DEVICE)]
            for d, _, _, _ in DEVICES
        ])
        for out in runs:
            assert f"accepted {REPORTS_PER_DEVICE}, rejected 0, queued 0" in out, out

        # End epoch 0 on chain and let its report grace pass; the oracles settle it among themselves.
        distributor = deployment.distributor(chain)
        c.run("chain", "mine", "--advance-seconds", str(EPOCH_SECONDS + REPORT_GRACE_SECONDS))

        def settled_everywhere() -> bool:
            owner = address[DEVICES[0][1]]
            answers = [_get(f"{u}/v1/rewards/{owner}") for u in urls]
            return all(a is not None and a.status_code == 200 for a in answers)

        def claims() -> list[dict[str, str]] | None:
            answers = [_get(f"{u}/v1/attestations/0") for u in urls]
            if not all(a is not None and a.status_code == 200 for a in answers):
                return None
            return [{k: v for k, v in a.json().items() if k != "attestations"} for a in answers if a is not None]

        _wait_for("every oracle to compute and sign epoch 0", lambda: claims() is not None, servers, c)
        computed = claims()
        assert computed is not None
        # Independent oracles sign the same claim: same root AND same manifest hash (the
        # sealed inputs hold only device-signed bytes, never an oracle's receive time).
        assert all(claim == computed[0] for claim in computed), computed
        _wait_for("all three oracles to settle epoch 0", settled_everywhere, servers, c)
        for i in range(3):  # every agent's heartbeat answered the hour's liveness challenge
            verdicts = json.loads((tmp_path / f"oracle-{i}" / "epochs" / "0" / "verdicts_v1.json").read_bytes())
            assert verdicts["kinds"]["heartbeat"]["counts"] == {"valid": len(DEVICES) * REPORTS_PER_DEVICE}
        events = distributor.events("RootSubmitted", deployment.first_block)
        assert [int(e.args["epoch"]) for e in events] == [0]
        assert distributor.next_epoch() == 1
        roots = {httpx.get(f"{u}/v1/attestations/0").json()["root"] for u in urls}
        assert roots == {"0x" + distributor.roots(0).hex()}
        submitter = chain.w3.eth.get_transaction(HexBytes(events[0].tx_hash))["from"]
        assert submitter in oracles
        # One submitter, by the chain's account. (The oracles' own logs are not used: when two
        # race, runner.advance records the loser as "submitted" too — reported, not ours to fix.)
        assert sum(1 for e in events if int(e.args["epoch"]) == 0) == 1

        # Rewards and claims through the agent CLI.
        token = deployment.token(chain)
        for d, owner, _, _ in DEVICES:
            before = json.loads(c.run("agent", "rewards", "--dir", d, "--json"))
            cumulative = int(before["cumulative_amount"])
            assert before["epoch"] == 0 and cumulative > 0 and before["claimed"] == "0"
            assert before["account"] == address[owner]
            c.run("agent", "claim", "--dir", d, "--sender-keystore", f"{owner}.json",
                  "--sender-passphrase-env", "OWNER_PASS")
            after = json.loads(c.run("agent", "rewards", "--dir", d, "--json"))
            assert (after["claimed"], after["claimable"]) == (str(cumulative), "0")
            assert token.balance_of(Address(address[owner])) == cumulative
