"""Report-set reconciliation between oracles before sealing (oracle.sync), over real HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from opendepin.ingest import IngestServer, RegistryMirror, create_app
from opendepin.oracle.sync import EPOCH_REPORTS_PATH, reports_router
from opendepin.reports.envelope import Report
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    make_oracle,
    register_devices,
)
from opendepin.store import LogEntry
from opendepin.types import Epoch

DEVICES = 6


@pytest.fixture
def oracles(tmp_path: Path) -> Iterator[tuple[SimNetwork, list[OracleNode]]]:
    net = build_network(seed=11, devices=DEVICES)
    register_devices(net)
    registry = net.deployment.registry(net.chain)
    with ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=30.0))
        nodes = []
        for i in range(3):
            node = make_oracle(net, i, tmp_path / f"oracle-{i}")
            stack.callback(node.store.close)
            mirror = RegistryMirror()
            mirror.sync(registry, net.chain.block_number())
            app = create_app(net.settings, node.store, mirror, clock=lambda: net.chain.now() * 1000,
                             routers=[reports_router(node.runner)])
            node.url = stack.enter_context(IngestServer(app)).url
            node.runner.http = http
            nodes.append(node)
        for node in nodes:
            node.runner.peers = tuple(n.url for n in nodes if n is not node)
        yield net, nodes


def _epoch_reports(net: SimNetwork, epoch: int) -> list[Report]:
    cfg = net.settings.network
    out: dict[tuple[str, int], Report] = {}
    for hour in range(24):
        for r in net.population.hour_reports(
            network_id=cfg.network_id, chain_id=cfg.chain_id, epoch=Epoch(epoch), hour=hour,
            epoch_start_unix=net.epoch_start(epoch),
        ):
            out.setdefault((r.device, r.seq), r)
    return list(out.values())


def _close(net: SimNetwork, nodes: list[OracleNode], epoch: int) -> None:
    net.advance_to(nodes[0].runner.ingest_close_unix(epoch))
    net.chain.mine()


def _sealed_files(node: OracleNode, epoch: int) -> dict[str, bytes]:
    d = node.store.inputs_dir(epoch)
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_reconcile_imports_missed_reports_so_all_seal_the_same_inputs(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    missed = reports[::5]  # oracle 2 was down for a fifth of the reports
    assert missed
    for node in nodes:
        kept = [r for r in reports if node.index != 2 or r not in missed]
        node.store.reports.append([LogEntry.of(r, received_ms=1_000 * node.index) for r in kept])
    assert nodes[2].store.reports.count(epoch=0) == len(reports) - len(missed)
    _close(net, nodes, 0)
    claims = [n.runner.prepare(0) for n in nodes]
    assert claims[0] == claims[1] == claims[2]  # root AND manifest hash
    files = [_sealed_files(n, 0) for n in nodes]
    assert files[0] == files[1] == files[2]
    assert nodes[2].store.reports.count(epoch=0) == len(reports)
    seal = nodes[2].runner.ledger.done(0, "seal")  # type: ignore[arg-type]
    assert seal is not None and seal.details["imported"] == len(missed)


def test_reconcile_does_not_import_a_forged_report(oracles: tuple[SimNetwork, list[OracleNode]]) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    for node in nodes:
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in reports])
    # Oracle 1's log holds a report with a payload its device never signed (seq unused elsewhere).
    honest = reports[0]
    forged = dataclasses.replace(honest, seq=10_000, payload=honest.payload.replace(b"5", b"6", 1))
    nodes[1].store.reports.append([LogEntry.of(forged, received_ms=0)])
    _close(net, nodes, 0)
    claims = [n.runner.prepare(0) for n in nodes]
    for i in (0, 2):
        assert nodes[i].store.reports.count(epoch=0) == len(reports)
        seal = nodes[i].runner.ledger.done(0, "seal")  # type: ignore[arg-type]
        assert seal is not None and seal.details["imported"] == 0
        assert sum(seal.details["refused"].values()) == 1
    assert claims[0] == claims[2] != claims[1]  # the honest two still agree (M = 2)
    assert _sealed_files(nodes[0], 0) == _sealed_files(nodes[2], 0)


def test_epoch_reports_are_refused_while_the_epoch_is_open(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    url = nodes[0].url + EPOCH_REPORTS_PATH.format(epoch=0)
    net.advance_to(nodes[0].runner.ingest_close_unix(0) - 1)
    net.chain.mine()
    resp = httpx.get(url)
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith("application/problem+json")
    _close(net, nodes, 0)
    assert httpx.get(url).status_code == 200
