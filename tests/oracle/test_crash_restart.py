"""Kill the oracle process (SIGKILL) after every stage, restart it: same root, one submission.

The chain must outlive the oracle, so this runs against a real anvil node over JSON-RPC and
the oracle as a separate process (`python -m opendepin oracle run-epoch`), which kills itself
with SIGKILL right after the stage named in DEPIN_ORACLE_CRASH_AFTER.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import tomli_w

from opendepin.chain.accounts import Signer
from opendepin.chain.anvil import AnvilProcess
from opendepin.chain.deploy import Deployment, deploy_network
from opendepin.chain.rpc import RpcChain
from opendepin.identity import DeviceKey, save_keystore
from opendepin.network.settings import Settings, load_settings
from opendepin.oracle.node import Oracle
from opendepin.oracle.runner import CRASH_ENV, Stage
from opendepin.proofs.heartbeat.simulation import HEARTBEAT, Population
from opendepin.store import LogEntry, Store
from opendepin.types import Address, Epoch

FUNDING_WEI = 10**20
EPOCH_SECONDS = 86_400
SECONDS_PER_HOUR = 3_600
CRASH_POINTS = ["seal", "snapshot", "compute", "sign", "sent"]
PASSPHRASE_ENV = "DEPIN_TEST_ORACLE_PASSPHRASE"


def _rpc(url: str, method: str, params: list[object]) -> None:
    httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).raise_for_status()


def _mine_hour_blocks(url: str, chain: RpcChain, genesis: int) -> list[tuple[int, bytes]]:
    """Mine a block at the start of each hour of epoch 0: (number, hash) of each hour's entropy
    block, the liveness challenge its heartbeats sign."""
    out = []
    for hour in range(EPOCH_SECONDS // SECONDS_PER_HOUR):
        _rpc(url, "evm_setNextBlockTimestamp", [genesis + hour * SECONDS_PER_HOUR])
        _rpc(url, "evm_mine", [])
        number = chain.block_number()
        out.append((number, chain.block_hash(number)))
    return out


def _fill_store(
    data_dir: Path, pop: Population, network_id: str, chain_id: int, genesis: int, blocks: list[tuple[int, bytes]]
) -> None:
    with Store(data_dir) as store:
        seen: set[tuple[str, int]] = set()
        entries = []
        for hour, (number, digest) in enumerate(blocks):
            for r in pop.hour_reports(
                network_id=network_id, chain_id=chain_id, epoch=Epoch(0), hour=hour, epoch_start_unix=genesis,
                entropy_block=number, entropy=digest,
            ):
                if (r.device, r.seq) not in seen:
                    seen.add((r.device, r.seq))
                    entries.append(LogEntry.of(r, r.timestamp_ms + 500))
        store.reports.append(entries)


@dataclass
class AnvilNetwork:
    """A deployed threshold-1 network on anvil whose epoch 0 has ended, and one oracle's files."""

    url: str
    chain: RpcChain
    deployment: Deployment
    settings: Settings
    config: Path
    netdir: Path
    keystore: Path
    env: dict[str, str]
    population: Population
    hour_blocks: list[tuple[int, bytes]]
    """Epoch 0's entropy blocks, one per hour (`_mine_hour_blocks`)."""
    oracle_addresses: list[Address]
    other: Signer


def anvil_network(anvil: AnvilProcess, tmp_path: Path) -> AnvilNetwork:
    chain = RpcChain(anvil.url)
    genesis = chain.timestamp() + 600
    netdir = tmp_path / "net"
    config = tmp_path / "network.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "network": {"network_id": "crash-test", "genesis_unix": genesis, "epoch_seconds": EPOCH_SECONDS},
                "chain": {"oracle_threshold": 1, "onboarding_fee": 0, "location_fee": 0,
                          "location_cooldown_seconds": 0, "rpc_url": anvil.url},
                "pools": {"bps": {"heartbeat": 10_000}},
                "store": {"data_dir": str(tmp_path / "oracle")},
            }
        )
    )
    settings = load_settings(config)
    oracle_key = DeviceKey.generate()
    others = [Signer.generate() for _ in range(2)]
    governance = Signer.generate()
    pop = Population(seed=21, devices=8)
    for account in [governance, *pop.owners]:
        chain.fund(account.address, FUNDING_WEI)
    oracle_addresses = [Signer.from_key(oracle_key).address, *(o.address for o in others)]
    deployment = deploy_network(chain, settings, governance, oracle_addresses, guardian=governance.address)
    deployment.save(netdir)
    chain.fund(Signer.from_key(oracle_key).address, FUNDING_WEI)
    registry = deployment.registry(chain)
    for dev in pop.devices:
        registry.register(dev.key, dev.owner, HEARTBEAT, genesis + EPOCH_SECONDS)
        registry.assert_location(dev.device_id, dev.cell, sender=dev.owner)
    blocks = _mine_hour_blocks(anvil.url, chain, genesis)
    # Past epoch 0's end and its report grace: the oracle seals only then.
    closes = genesis + EPOCH_SECONDS + settings.network.report_grace_seconds
    _rpc(anvil.url, "evm_increaseTime", [closes + 60 - chain.timestamp()])
    _rpc(anvil.url, "evm_mine", [])
    _fill_store(tmp_path / "oracle", pop, settings.network.network_id, settings.network.chain_id, genesis, blocks)
    keystore = tmp_path / "oracle.json"
    save_keystore(oracle_key, keystore, "test-passphrase-only", scrypt_n=2**10)
    env = {**os.environ, PASSPHRASE_ENV: "test-passphrase-only"}
    env.pop(CRASH_ENV, None)
    return AnvilNetwork(
        anvil.url, chain, deployment, settings, config, netdir, keystore, env, pop, blocks, oracle_addresses, others[0]
    )


@pytest.mark.anvil
@pytest.mark.slow
def test_oracle_killed_after_each_stage_restarts_to_same_root_and_submits_once(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=31337) as anvil:
        net = anvil_network(anvil, tmp_path)
        chain, deployment, settings = net.chain, net.deployment, net.settings
        registry = deployment.registry(chain)
        distributor = deployment.distributor(chain)
        nid, cid = settings.network.network_id, settings.network.chain_id
        _fill_store(tmp_path / "reference", net.population, nid, cid, settings.network.genesis_unix, net.hour_blocks)
        reference_oracle = Oracle.build(
            settings, chain=chain, registry=registry, distributor=distributor, signer=net.other,
            oracles=net.oracle_addresses, registry_from_block=deployment.first_block,
            data_dir=tmp_path / "reference",
        )
        try:
            reference = reference_oracle.runner.prepare(0)
        finally:
            reference_oracle.close()

        cmd = [sys.executable, "-m", "opendepin", "oracle", "run-epoch", "0", "--netdir", str(net.netdir),
               "--keystore", str(net.keystore), "--passphrase-env", PASSPHRASE_ENV, "--config", str(net.config)]
        for point in CRASH_POINTS:
            proc = subprocess.run(cmd, env={**net.env, CRASH_ENV: point}, capture_output=True, timeout=120)
            assert proc.returncode == -signal.SIGKILL, (point, proc.stderr.decode()[-2000:])
        assert distributor.next_epoch() == 1  # the root went out just before the last kill
        for _ in range(2):  # restart: recognises its own mined tx; again: nothing new
            proc = subprocess.run(cmd, env=net.env, capture_output=True, timeout=120)
            assert proc.returncode == 0, proc.stderr.decode()[-2000:]
            assert "submitted" in proc.stdout.decode()
        events = distributor.events("RootSubmitted", deployment.first_block)
        assert len(events) == 1
        assert distributor.roots(0) == reference.root
        with Store(tmp_path / "oracle") as store:
            record = store.ledger.done(0, Stage.SUBMIT)
            assert record is not None
            assert record.details["tx"] == "0x" + events[0].tx_hash.hex()
            assert record.output_digest == events[0].tx_hash.hex()
