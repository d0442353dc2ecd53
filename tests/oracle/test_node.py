"""`Oracle.build`: one composition root — ingest accepts exactly the kinds the runner pays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendepin.identity import DeviceKey
from opendepin.network.settings import PoolsSection
from opendepin.oracle.node import Oracle
from opendepin.proofs import get_kind
from opendepin.proofs.coverage.payload import BEACON_DATA_BYTES, BEACON_SECRET_BYTES
from opendepin.reports import codec
from opendepin.reports.eip712 import new_signed_report
from opendepin.sim.network import SimNetwork, build_network, make_oracle, register_devices

ORACLE_ROUTES = ("/v1/attestations/{epoch}", "/v1/rewards/{account}", "/v1/epochs/{epoch}/reports")

BEACON: dict[str, Any] = {
    "type": "beacon",
    "counter": 0,
    "data": "0x" + "ab" * BEACON_DATA_BYTES,
    "entropy_block": 1,
    "frequency_hz": 868_100_000,
    "tx_power_cdbm": 1_400,
    "antenna_gain_cdbi": 300,
    "region": "EU868",
    "secret": "0x" + "cd" * BEACON_SECRET_BYTES,
}
HEARTBEAT: dict[str, Any] = {"lat_e7": 473_769_000, "lon_e7": 85_417_000}


@pytest.fixture(scope="module")
def net() -> SimNetwork:
    """A network paying heartbeat and coverage, its devices registered, clock in epoch 0."""
    network = build_network(seed=5, devices={"heartbeat": 4, "coverage": 4})
    assert network.settings.pools.bps.keys() == {"heartbeat", "coverage"}
    register_devices(network)
    network.advance_to(network.epoch_start(0) + 600)
    network.chain.mine()
    return network


@pytest.fixture()
def both(net: SimNetwork, tmp_path: Path) -> Iterator[Oracle]:
    oracle = make_oracle(net, 0, tmp_path / "both").oracle
    yield oracle
    oracle.close()


@pytest.fixture()
def heartbeat_only(net: SimNetwork, tmp_path: Path) -> Iterator[Oracle]:
    settings = net.settings.model_copy(update={"pools": PoolsSection(bps={"heartbeat": 10_000})})
    oracle = Oracle.build(
        settings,
        chain=net.chain,
        registry=net.deployment.registry(net.chain),
        distributor=net.deployment.distributor(net.chain),
        signer=net.oracle_signers[1],
        oracles=[o.address for o in net.oracle_signers],
        registry_from_block=net.deployment.first_block,
        ingest_clock=lambda: net.chain.now() * 1000,
        data_dir=tmp_path / "heartbeat-only",
    )
    yield oracle
    oracle.close()


def _report(net: SimNetwork, key: DeviceKey, kind: str, payload: dict[str, Any], seq: int = 1) -> dict[str, Any]:
    cfg = net.settings.network
    report = new_signed_report(
        key,
        network_id=cfg.network_id,
        chain_id=cfg.chain_id,
        kind=kind,
        epoch=0,
        seq=seq,
        timestamp_ms=net.chain.now() * 1000 - 1_000,
        payload=payload,
    )
    return codec.to_json(report)


def _reasons(oracle: Oracle, items: list[dict[str, Any]]) -> list[str | None]:
    with TestClient(oracle.app) as client:
        resp = client.post("/v1/reports", json={"reports": items})
    assert resp.status_code == 200, resp.text
    return [r["reason"] for r in resp.json()["results"]]


def _key(net: SimNetwork, kind: str, i: int = 0) -> DeviceKey:
    return net.models[kind].devices[i].key


def test_payloads_used_here_are_what_the_kinds_consider_well_formed() -> None:
    get_kind("coverage").validate_payload(dict(BEACON))
    get_kind("heartbeat").validate_payload(dict(HEARTBEAT))


def test_ingest_and_runner_use_the_paid_kinds(both: Oracle, heartbeat_only: Oracle) -> None:
    assert sorted(both.kinds) == ["coverage", "heartbeat"]
    assert sorted(both.runner.modules) == ["coverage", "heartbeat"]
    assert both.kinds["coverage"] is get_kind("coverage")
    assert sorted(heartbeat_only.kinds) == ["heartbeat"]
    assert sorted(heartbeat_only.runner.modules) == ["heartbeat"]


def test_oracle_paying_both_kinds_validates_each_kinds_payload(net: SimNetwork, both: Oracle) -> None:
    cov, hb = _key(net, "coverage", 0), _key(net, "heartbeat", 0)
    malformed = {**BEACON, "data": "0x00"}  # wrong length
    assert _reasons(
        both,
        [
            _report(net, cov, "coverage", malformed, seq=1),
            _report(net, _key(net, "coverage", 1), "coverage", dict(BEACON), seq=1),
            _report(net, hb, "heartbeat", dict(HEARTBEAT), seq=1),
            _report(net, _key(net, "heartbeat", 1), "heartbeat", {"lat_e7": "north"}, seq=1),
            _report(net, _key(net, "heartbeat", 2), "nosuch", {"x": 1}, seq=1),
        ],
    ) == ["malformed_payload", None, None, "malformed_payload", "unknown_kind"]


def test_oracle_paying_heartbeat_only_does_not_accept_coverage(net: SimNetwork, heartbeat_only: Oracle) -> None:
    assert _reasons(
        heartbeat_only,
        [
            _report(net, _key(net, "coverage", 2), "coverage", dict(BEACON), seq=1),
            _report(net, _key(net, "heartbeat", 3), "heartbeat", dict(HEARTBEAT), seq=1),
        ],
    ) == ["unknown_kind", None]


def test_oracle_app_has_the_oracle_routes(net: SimNetwork, both: Oracle) -> None:
    paths = set(both.app.openapi()["paths"])
    for route in ORACLE_ROUTES:
        assert route in paths, route
    assert "/v1/reports" in paths
    # Each route is served by the oracle (its own answer before epoch 0 settled), not a 404
    # for a path the app does not know.
    with TestClient(both.app) as client:
        unknown = client.get("/v1/no-such-route").json()["type"]
        for url in ("/v1/attestations/0", f"/v1/rewards/{net.owners[0].address}", "/v1/epochs/0/reports"):
            answer = client.get(url).json()
            assert answer["type"] != unknown, (url, answer)


def test_set_peers_drops_the_oracles_own_url(both: Oracle) -> None:
    other = "http://127.0.0.1:1"
    both.set_peers([other, "http://127.0.0.1:2/"])
    before = list(both.runner.peers)
    assert before == [other, "http://127.0.0.1:2/"]  # no own URL before serving
    with both.serve() as server:
        assert both.url == server.url
        both.set_peers([server.url, server.url + "/", other])
        assert list(both.runner.peers) == [other]
