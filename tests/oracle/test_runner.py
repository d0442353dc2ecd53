"""The epoch runner on an embedded chain, with each oracle on its own SQLite or PostgreSQL store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from opendepin.chain.backend import Receipt
from opendepin.chain.clients import DistributorClient
from opendepin.errors import StageError
from opendepin.oracle.epoch_files import MANIFEST_FILE, REWARDS_FILE, VERDICTS_FILE
from opendepin.oracle.runner import Stage, SubmitState
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    make_oracle,
    register_devices,
)
from opendepin.store import LogEntry
from opendepin.store.testing import temporary_database_url
from opendepin.types import Epoch

DEVICES = 12


def _feed(net: SimNetwork, nodes: list[OracleNode], epoch: int) -> None:
    """Append one epoch of the population's reports to every oracle's log (ideal ingest)."""
    cfg = net.settings.network
    seen: set[tuple[str, int]] = set()
    entries = []
    for hour in range(24):
        for r in net.models["heartbeat"].population.hour_reports(
            network_id=cfg.network_id, chain_id=cfg.chain_id, epoch=Epoch(epoch), hour=hour,
            epoch_start_unix=net.epoch_start(epoch),
        ):
            if (r.device, r.seq) not in seen:
                seen.add((r.device, r.seq))
                entries.append(LogEntry.of(r, r.timestamp_ms + 500))
    for node in nodes:
        node.store.reports.append(entries)
    net.advance_to(net.epoch_start(epoch + 1) + cfg.report_grace_seconds + 1)
    net.chain.mine()


def _cross_sign(nodes: list[OracleNode], epoch: int) -> None:
    """Hand every oracle's own signature to every other (what the HTTP exchange does)."""
    own = [n.book.collected(epoch)[0] for n in nodes]
    for node in nodes:
        for att in own:
            if att.signer != node.signer.address:
                node.book.accept(att)


@pytest.fixture(params=["sqlite", "postgresql"])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SimNetwork, list[OracleNode]]]:
    net = build_network(seed=7, devices=DEVICES)
    register_devices(net)
    with ExitStack() as stack:
        nodes = []
        for i in range(3):
            url = stack.enter_context(temporary_database_url(request.param, tmp_path))
            node = make_oracle(net, i, tmp_path / f"oracle-{i}", url)
            stack.callback(node.store.close)
            nodes.append(node)
        yield net, nodes


def test_runner_settles_epochs_with_two_of_three(network: tuple[SimNetwork, list[OracleNode]]) -> None:
    net, nodes = network
    distributor = net.deployment.distributor(net.chain)
    for epoch in (0, 1):
        _feed(net, nodes, epoch)
        claims = [n.runner.prepare(epoch) for n in nodes]
        assert len({c.root for c in claims}) == 1
        _cross_sign(nodes, epoch)
        first = nodes[1].runner.advance(epoch)
        assert first.state is SubmitState.SUBMITTED
        assert len(first.signers) == 2
        assert {s.state for s in (n.runner.advance(epoch) for n in (nodes[0], nodes[2]))} == {
            SubmitState.SETTLED_BY_PEER
        }
        assert distributor.roots(epoch) == claims[0].root
        assert distributor.cumulative_total() == claims[0].cumulative_total
    assert distributor.next_epoch() == 2
    # Every oracle published byte-identical files.
    for name in (REWARDS_FILE, MANIFEST_FILE, VERDICTS_FILE):
        contents = {(n.runner.epoch_dir(1) / name).read_bytes() for n in nodes}
        assert len(contents) == 1, name


def test_runner_advance_is_idempotent_after_submission(network: tuple[SimNetwork, list[OracleNode]]) -> None:
    net, nodes = network
    _feed(net, nodes, 0)
    for n in nodes:
        n.runner.prepare(0)
    _cross_sign(nodes, 0)
    first = nodes[0].runner.advance(0)
    again = nodes[0].runner.advance(0)
    assert first.state is again.state is SubmitState.SUBMITTED
    assert first.tx_hash == again.tx_hash is not None
    events = net.deployment.distributor(net.chain).events("RootSubmitted")
    assert len(events) == 1
    assert nodes[0].store.ledger.done(0, Stage.SUBMIT) is not None


def test_runner_waits_below_threshold(network: tuple[SimNetwork, list[OracleNode]]) -> None:
    net, nodes = network
    _feed(net, nodes, 0)
    status = nodes[0].runner.advance(0)
    assert status.state is SubmitState.WAITING
    assert net.deployment.distributor(net.chain).next_epoch() == 0


def test_runner_losing_the_submit_race_reports_settled_by_peer(
    network: tuple[SimNetwork, list[OracleNode]],
) -> None:
    """A peer's root lands between our `next_epoch` check and our send: ours reverts, and the
    runner must not claim the mined root as its own submission."""
    net, nodes = network
    _feed(net, nodes, 0)
    for n in nodes:
        n.runner.prepare(0)
    _cross_sign(nodes, 0)
    real = nodes[0].runner.distributor

    class PeerWinsFirst(DistributorClient):
        def submit_root(self, *args: Any, **kwargs: Any) -> Receipt:
            assert nodes[1].runner.advance(0).state is SubmitState.SUBMITTED
            return super().submit_root(*args, **kwargs)  # reverts: stale epoch

    nodes[0].runner.distributor = PeerWinsFirst(real.chain, real.address)
    status = nodes[0].runner.advance(0)
    assert status.state is SubmitState.SETTLED_BY_PEER
    assert nodes[0].runner.advance(0).state is SubmitState.SETTLED_BY_PEER  # recorded, stable
    events = net.deployment.distributor(net.chain).events("RootSubmitted")
    assert len(events) == 1
    assert status.tx_hash == "0x" + events[0].tx_hash.hex()


def test_runner_refuses_to_seal_before_the_report_grace_passed(
    network: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = network
    runner = nodes[0].runner
    close = runner.ingest_close_unix(0)
    assert close == net.epoch_start(1) + net.settings.network.report_grace_seconds
    net.advance_to(close - 1)  # the epoch has ended on chain, but ingest still accepts it
    net.chain.mine()
    assert not runner.ingest_closed(0)
    with pytest.raises(StageError, match="ingest is still open"):
        runner.prepare(0)
    assert runner.ledger.done(0, Stage.SEAL) is None
    assert not nodes[0].store.reports.is_sealed(0)
    net.advance_to(close)
    net.chain.mine()
    assert runner.ingest_closed(0)
    runner.prepare(0)
    assert nodes[0].store.reports.is_sealed(0)
