"""`depin status` against a real anvil node, with a live oracle peer and a dead one.

The network is deployed to anvil (3 oracles, 2-of-3, a 600 s timelock) with a network.toml
whose genesis lies 1.5 epochs before now, one governance change is proposed through the CLI,
and one oracle of the set serves ingest + oracle routes over the same node. The table and the
`--json` object must then say what the chain and the peer say. Without anvil the unreachable
node case still runs: one `error:` line, exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from opendepin.chain import AnvilProcess, Deployment, RpcChain, Signer, deploy_network
from opendepin.chain.governance import load_proposals
from opendepin.cli.app import app, run
from opendepin.errors import ConfigError
from opendepin.identity import DeviceKey, save_keystore
from opendepin.network.settings import load_settings
from opendepin.oracle.node import Oracle

LOW_SCRYPT_N = 2**10
"""Keystore work factor for tests only (fast; never use outside tests)."""
PASSPHRASE_ENV = "STATUS_TEST_PASS"
DELAY_S = 600
EPOCH_S = 3_600
GRACE_S = 600
FUNDING_WEI = 10**21
DEAD_PEER = "http://127.0.0.1:9"
WIDE = {"COLUMNS": "250"}
"""Wide enough that rich does not fold addresses and ids in the tables."""


@pytest.fixture
def anvil_node() -> Iterator[AnvilProcess]:
    with AnvilProcess(chain_id=31337) as node:
        yield node


def _config(path: Path, rpc_url: str, genesis: int) -> Path:
    path.write_text(
        f'[network]\ngenesis_unix = {genesis}\nepoch_seconds = {EPOCH_S}\nreport_grace_seconds = {GRACE_S}\n'
        f'[chain]\nrpc_url = "{rpc_url}"\ntimelock_delay_seconds = {DELAY_S}\noracle_threshold = 2\n'
    )
    return path


@pytest.mark.anvil
def test_status_shows_chain_contracts_epochs_peers_and_governance(
    anvil_node: AnvilProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = RpcChain(anvil_node.url)
    genesis = chain.timestamp() - EPOCH_S - EPOCH_S // 2  # the chain's clock is 1.5 epochs in
    config = _config(tmp_path / "network.toml", anvil_node.url, genesis)
    settings = load_settings(config)
    key = DeviceKey.generate()
    keystore = tmp_path / "gov.json"
    save_keystore(key, keystore, "test passphrase", scrypt_n=LOW_SCRYPT_N)
    monkeypatch.setenv(PASSPHRASE_ENV, "test passphrase")
    gov = Signer.from_key(key)
    chain.fund(gov.address, FUNDING_WEI)
    oracle_signers = [Signer.generate() for _ in range(3)]
    netdir = tmp_path / "net"
    deploy_network(chain, settings, gov, [s.address for s in oracle_signers], gov.address).save(netdir)
    deployment = Deployment.load(netdir)
    distributor = deployment.distributor(chain)
    runner = CliRunner()
    common = ["--netdir", str(netdir), "--config", str(config)]
    proposed = runner.invoke(
        app,
        ["chain", "gov", "propose", "set-price", "42", "--dir", str(netdir), "--config", str(config),
         "--keystore", str(keystore), "--passphrase-env", PASSPHRASE_ENV],
    )
    assert proposed.exit_code == 0, proposed.output
    (record,) = load_proposals(netdir)

    peer = Oracle.build(
        settings, chain=chain, registry=deployment.registry(chain), distributor=distributor,
        signer=oracle_signers[0], data_dir=tmp_path / "oracle", database_url=f"sqlite:///{tmp_path / 'o.db'}",
        registry_from_block=deployment.first_block,
    )
    try:
        with peer.serve():
            junk = httpx.post(f"{peer.url}/v1/reports", json={"not": "a report"})
            assert junk.status_code == 200
            (rejection,) = junk.json()["results"]
            peers = ["--peer", peer.url, "--peer", DEAD_PEER]
            table = runner.invoke(app, ["status", *common, "--rpc", anvil_node.url, *peers], env=WIDE)
            as_json = runner.invoke(app, ["status", *common, "--json", *peers])  # rpc from network.toml
    finally:
        peer.close()
    assert table.exit_code == 0, table.output
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)

    # The chain, as the node says.
    assert doc["format"] == "status_v1" and doc["network_id"] == deployment.network_id
    c = doc["chain"]
    assert c["rpc_url"] == anvil_node.url and c["chain_id"] == chain.chain_id == 31337
    assert 0 < c["block"] <= chain.block_number()
    assert c["block_time_unix"] == chain.timestamp(c["block"])
    assert [(k["name"], k["address"]) for k in doc["contracts"]] == sorted(deployment.addresses.items())
    assert all(k["code_matches"] for k in doc["contracts"])
    assert doc["oracle_set"] == {"oracles": distributor.oracles(), "threshold": 2, "paused": False}

    # Epochs by the chain's clock: 1.5 epochs past genesis, nothing settled yet.
    e = doc["epochs"]
    now = c["block_time_unix"]
    assert e["genesis_unix"] == genesis and e["epoch_seconds"] == EPOCH_S and e["clock_matches_settings"]
    assert e["current_epoch"] == (now - genesis) // EPOCH_S == 1
    assert e["current_ingest_closes_unix"] == genesis + 2 * EPOCH_S + GRACE_S
    assert e["seconds_until_current_ingest_closes"] == genesis + 2 * EPOCH_S + GRACE_S - now
    assert e["next_to_settle"] == distributor.next_epoch() == 0
    assert e["next_ingest_closes_unix"] == genesis + EPOCH_S + GRACE_S
    assert e["next_ingest_closed"] is (now >= genesis + EPOCH_S + GRACE_S)
    assert e["unsettled_ended_epochs"] == 1

    # The live oracle answers for this network; its metrics carry ingest's and the oracle's.
    live, dead = doc["peers"]
    assert live["url"] == peer.url and live["healthy"] and live["error"] is None
    assert live["network_id"] == deployment.network_id and live["devices"] == 0
    assert live["synced_block"] is not None and live["synced_block"] <= c["block"]
    assert live["metrics_error"] is None
    m = live["metrics"]
    assert m["reports_accepted"] == 0 and m["reports_rejected"] == {rejection["reason"]: 1}
    assert m["oracle_epoch"] == 0 and m["epochs_settled"] == 0 and m["signatures_held"] == 0
    assert m["peer_errors"] == {"agreement_record": 0, "agreement_batch": 0, "attestations": 0, "recovery": 0}
    assert dead["url"] == DEAD_PEER and not dead["healthy"] and dead["error"].startswith("unreachable")
    assert dead["metrics"] is None

    # The proposal, in its state on the Timelock.
    (prop,) = doc["proposals"]
    assert prop["id"] == "0x" + record.id.hex() and prop["change"] == "set-price"
    assert prop["state"] == "waiting" and prop["ready_at_unix"] == record.ready_at
    assert 0 < prop["seconds_until_ready"] <= DELAY_S

    # The table says the same.
    out = table.output
    for text in (
        "31337", anvil_node.url, *deployment.addresses.values(), *distributor.oracles(), "2 of 3",
        "next epoch to settle", peer.url, DEAD_PEER, "unreachable", "0x" + record.id.hex(), "waiting",
        "Credits.set_price(42)",
    ):
        assert text in out, (text, out)
    assert f"{rejection['reason']} 1" in out


@pytest.mark.anvil
def test_status_flags_changed_code_and_refuses_another_chain(anvil_node: AnvilProcess, tmp_path: Path) -> None:
    chain = RpcChain(anvil_node.url)
    config = _config(tmp_path / "network.toml", anvil_node.url, chain.timestamp() + EPOCH_S)
    gov = Signer.generate()
    chain.fund(gov.address, FUNDING_WEI)
    netdir = tmp_path / "net"
    deploy_network(chain, load_settings(config), gov, [Signer.generate().address for _ in range(2)], gov.address).save(
        netdir
    )
    doc = json.loads((netdir / "deployment.json").read_text())
    doc["code_hashes"]["Credits"] = "0x" + "00" * 32
    (netdir / "deployment.json").write_text(json.dumps(doc))
    runner = CliRunner()
    result = runner.invoke(app, ["status", "--netdir", str(netdir), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    matches = {k["name"]: k["code_matches"] for k in status["contracts"]}
    assert matches.pop("Credits") is False and all(matches.values())
    assert status["epochs"]["current_epoch"] is None  # genesis is an epoch ahead of the chain
    assert status["epochs"]["unsettled_ended_epochs"] == 0
    assert status["peers"] == [] and status["proposals"] == []

    doc["chain_id"] = 1
    (netdir / "deployment.json").write_text(json.dumps(doc))
    other = runner.invoke(app, ["status", "--netdir", str(netdir), "--config", str(config)])
    assert isinstance(other.exception, ConfigError)
    assert "is for chain 1" in str(other.exception)


def test_status_with_an_unreachable_node_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    netdir = tmp_path / "net"
    Deployment(chain_id=31337, network_id="opendepin-dev").save(netdir)
    with pytest.raises(SystemExit) as exit_info:
        run(["status", "--netdir", str(netdir), "--rpc", DEAD_PEER])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"cannot reach the JSON-RPC node at {DEAD_PEER}" in lines[0]
    assert "Traceback" not in captured.err
