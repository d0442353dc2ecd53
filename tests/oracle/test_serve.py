"""`depin oracle serve` as a real process on anvil: settles an ended epoch, serves proofs that claim."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from opendepin.chain.anvil import AnvilProcess, free_port

from .test_crash_restart import PASSPHRASE_ENV, anvil_network

STARTUP_DEADLINE_SECONDS = 60.0
POLL_SECONDS = 0.25


@pytest.mark.anvil
@pytest.mark.slow
def test_oracle_serve_settles_epoch_and_serves_claimable_proofs(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=31337) as anvil:
        net = anvil_network(anvil, tmp_path)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "opendepin", "oracle", "serve", "--netdir", str(net.netdir),
             "--keystore", str(net.keystore), "--passphrase-env", PASSPHRASE_ENV, "--config", str(net.config),
             "--port", str(port), "--poll-seconds", "0.2"],
            env=net.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            owner = net.population.devices[0].owner
            deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
            body = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                try:
                    resp = httpx.get(f"{url}/v1/rewards/{owner.address}")
                except httpx.HTTPError:
                    resp = None
                if resp is not None and resp.status_code == 200:
                    body = resp.json()
                    break
                time.sleep(POLL_SECONDS)
            assert body is not None, "the served oracle never settled epoch 0"
            assert httpx.get(f"{url}/healthz").status_code == 200
            attestations = httpx.get(f"{url}/v1/attestations/0").json()
            assert attestations["root"] == body["root"]
            distributor = net.deployment.distributor(net.chain)
            assert "0x" + distributor.roots(0).hex() == body["root"]
            distributor.claim(
                owner.address, int(body["cumulative_amount"]), [bytes.fromhex(p[2:]) for p in body["proof"]],
                sender=owner,
            )
            assert distributor.claimed(owner.address) == int(body["cumulative_amount"]) > 0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
