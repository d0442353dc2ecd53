"""Coverage through real `depin oracle serve` processes: accepted, verified and paid.

The network pays only coverage (`[pools] bps = {coverage = 10000}`). Three `depin oracle
serve` processes (2-of-3) run on anvil exactly as in the README recipe. The coverage devices
are simulated radios (`CoverageFleet`: a seeded city grid, one `SimulatedRadio`) — a coverage
device needs a radio, which `depin agent run` does not drive — registered on chain through
the registry client and beaconing with the epoch's real entropy block read from anvil. Their
signed beacons and witnesses go to every oracle's `POST /v1/reports`; the oracles seal,
verify (every rule), score and settle epoch 0 among themselves; every honest radio's owner
is paid and `depin audit` agrees with each oracle's published files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import tomli_w

from cli.test_multiprocess_network import (
    _DEVICE_ID,
    ORACLE_POLL_SECONDS,
    SCRYPT_N,
    _get,
    _wait_for,
    cluster,
    wait_for_mirrors,
)
from opendepin.chain.anvil import AnvilProcess, free_port
from opendepin.chain.blocks import last_block_at_or_before
from opendepin.chain.deploy import Deployment
from opendepin.chain.rpc import RpcChain
from opendepin.proofs.coverage.simulation import CoverageFleet
from opendepin.reports import codec
from opendepin.sim.keys import sim_owners

EPOCH_SECONDS = 3_600
REPORT_GRACE_SECONDS = 600
GENESIS_BEFORE_START_SECONDS = 60
"""Epoch 0 starts this long before anvil's first block: that block is the epoch's entropy block."""
RADIOS = 6
SEED = 5
NETWORK_ID = "anvil-coverage"


def _network_toml(path: Path, rpc_url: str, genesis_unix: int) -> None:
    path.write_text(
        tomli_w.dumps(
            {
                "network": {"network_id": NETWORK_ID, "genesis_unix": genesis_unix, "epoch_seconds": EPOCH_SECONDS},
                "chain": {"backend": "rpc", "rpc_url": rpc_url, "oracle_threshold": 2, "onboarding_fee": 0,
                          "location_fee": 0, "location_cooldown_seconds": 0},
                "pools": {"bps": {"coverage": 10_000}},
                "kinds": {"coverage": {"beacon_interval_seconds": 3_600, "entropy_window_seconds": 3_600}},
            }
        )
    )


@pytest.mark.anvil
@pytest.mark.slow
def test_oracle_serve_processes_accept_verify_and_pay_coverage(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=31337) as anvil, cluster(tmp_path) as c:
        chain = RpcChain(anvil.url)
        genesis = chain.timestamp(0) - GENESIS_BEFORE_START_SECONDS
        _network_toml(tmp_path / "network.toml", anvil.url, genesis)
        scrypt = ["--scrypt-n", str(SCRYPT_N)]
        names = ["gov", "oracle-0", "oracle-1", "oracle-2"]
        envs = ["GOV_PASS", "ORACLE_PASS", "ORACLE_PASS", "ORACLE_PASS"]
        outputs = c.run_all([["keys", "new", "--out", f"{n}.json", "--passphrase-env", e, *scrypt]
                             for n, e in zip(names, envs, strict=True)])
        address = {n: _DEVICE_ID.search(out).group(1) for n, out in zip(names, outputs, strict=True)}  # type: ignore[union-attr]
        oracles = [address[f"oracle-{i}"] for i in range(3)]
        owners = sim_owners(SEED, RADIOS)  # many owners: an owner's own radios cannot vouch for each other
        c.run("chain", "fund", *address.values(), *(o.address for o in owners))
        c.run("chain", "deploy", "--dir", "net", "--keystore", "gov.json", "--passphrase-env", "GOV_PASS",
              *(arg for o in oracles for arg in ("--oracle", o)))
        deployment = Deployment.load(tmp_path / "net")

        ports = [free_port() for _ in range(3)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        peers = [arg for u in urls for arg in ("--peer", u)]
        servers = [
            c.start(["oracle", "serve", "--netdir", "net", "--keystore", f"oracle-{i}.json", "--passphrase-env",
                     "ORACLE_PASS", "--port", str(port), *peers, "--poll-seconds", ORACLE_POLL_SECONDS],
                    f"oracle-{i}.log", {"DEPIN_STORE__DATA_DIR": f"oracle-{i}"})
            for i, port in enumerate(ports)
        ]

        # Honest radios on a city grid, registered for kind "coverage" (device signs, owner pays).
        fleet = CoverageFleet(SEED, RADIOS, owners, network_id=NETWORK_ID, chain_id=31337,
                              beacon_interval_seconds=3_600)
        registry = deployment.registry(chain)
        deadline = chain.timestamp() + 3_600
        for d in fleet.devices:
            registry.register(d.layout.key, d.owner, "coverage", deadline)
            registry.assert_location(d.device, d.layout.asserted_cell, sender=d.owner)
        registered_at = chain.block_number()

        wait_for_mirrors(urls, RADIOS, registered_at, servers, c)

        # Every radio beacons once with epoch 0's entropy block; the others witness it.
        block = last_block_at_or_before(chain, genesis, chain.block_number())
        entropy = chain.block_hash(block)
        now_ms = int(time.time() * 1000)
        reports = []
        for i, agent in enumerate(fleet.agents):
            agent.schedule.next_at_ms = now_ms + i * 50  # due now, not at a random time this hour
            beacon = agent.beacon(now_ms + i * 50, 0, entropy, block)
            assert beacon is not None
            reports.append(beacon)
        reports += [w for agent in fleet.agents for w in agent.witnesses(0)]
        body = {"reports": [codec.to_json(r) for r in reports]}
        for u in urls:
            answer = httpx.post(f"{u}/v1/reports", json=body, timeout=30.0).json()
            assert answer["rejected"] == 0, [r for r in answer["results"] if r["reason"]]
            assert answer["accepted"] == len(reports)

        c.run("chain", "mine", "--advance-seconds", str(EPOCH_SECONDS + REPORT_GRACE_SECONDS))
        distributor = deployment.distributor(chain)

        def settled_everywhere() -> bool:
            answers = [_get(f"{u}/v1/rewards/{owners[0].address}") for u in urls]
            return all(a is not None and a.status_code == 200 for a in answers)

        _wait_for("all three oracles to settle epoch 0", settled_everywhere, servers, c)
        assert distributor.next_epoch() == 1
        for i in range(3):
            d = tmp_path / f"oracle-{i}" / "epochs" / "0"
            verdicts = json.loads((d / "verdicts_v1.json").read_bytes())
            counts = verdicts["kinds"]["coverage"]["counts"]
            # Two radios the fleet gave one owner witness each other in vain (same_owner_witness).
            assert set(counts) <= {"valid", "same_owner_witness"} and sum(counts.values()) == len(reports)
            rewards = json.loads((d / "rewards_v1.json").read_bytes())
            paid = {dev["device"] for o in rewards["owners"] for dev in o["devices"] if dev["kind"] == "coverage"}
            assert paid == {str(dv.device) for dv in fleet.devices}
            assert (d / "kinds" / "coverage" / "next_state_v1.json").is_file()
            audit = c.run("audit", str(d))
            assert "OK" in audit, audit
        owners_paid = {o["account"]: int(o["cumulative"]) for o in rewards["owners"]}
        assert set(owners_paid) <= {o.address for o in owners} and sum(owners_paid.values()) > 0
        for o in owners:
            proof = _get(f"{urls[0]}/v1/rewards/{o.address}")
            assert proof is not None
            if o.address in owners_paid:
                assert int(proof.json()["cumulative_amount"]) == owners_paid[o.address]
