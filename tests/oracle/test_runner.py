"""The epoch runner on an embedded chain, with each oracle on its own SQLite or PostgreSQL store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from opendepin.chain.backend import Receipt
from opendepin.chain.clients import DistributorClient
from opendepin.epochdir import EpochFile
from opendepin.errors import StageError
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

from .helpers import epoch_reports

DEVICES = 12


def _feed(net: SimNetwork, nodes: list[OracleNode], epoch: int) -> None:
    """Append one epoch of the population's reports to every oracle's log (ideal ingest)."""
    cfg = net.settings.network
    entries = [LogEntry.of(r, r.timestamp_ms + 500) for r in epoch_reports(net, epoch)]
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
    for name in (EpochFile.REWARDS, EpochFile.MANIFEST, EpochFile.VERDICTS):
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
    network: tuple[SimNetwork, list[OracleNode]], tmp_path: Path
) -> None:
    """A peer's root lands between our `next_epoch` check and our send: ours reverts, and the
    runner must not claim the mined root as its own submission."""
    net, nodes = network
    real = net.deployment.distributor(net.chain)

    class PeerWinsFirst(DistributorClient):
        def submit_root(self, *args: Any, **kwargs: Any) -> Receipt:
            assert nodes[1].runner.advance(0).state is SubmitState.SUBMITTED
            return super().submit_root(*args, **kwargs)  # reverts: stale epoch

    # Oracle 0 again, built (like every oracle) by Oracle.build, with the racing client injected.
    racer = make_oracle(net, 0, tmp_path / "oracle-0-racer", distributor=PeerWinsFirst(real.chain, real.address))
    racing = [racer, nodes[1], nodes[2]]
    try:
        _feed(net, racing, 0)
        for n in racing:
            n.runner.prepare(0)
        _cross_sign(racing, 0)
        status = racer.runner.advance(0)
        assert status.state is SubmitState.SETTLED_BY_PEER
        assert racer.runner.advance(0).state is SubmitState.SETTLED_BY_PEER  # recorded, stable
        events = real.events("RootSubmitted")
        assert len(events) == 1
        assert status.tx_hash == "0x" + events[0].tx_hash.hex()
    finally:
        racer.oracle.close()


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


def test_ledger_records_an_input_digest_for_every_stage(network: tuple[SimNetwork, list[OracleNode]]) -> None:
    import hashlib
    import re

    from opendepin.canonical import canonical_json
    from opendepin.oracle import sync
    from opendepin.oracle.publish import input_entries

    net, nodes = network
    _feed(net, nodes, 0)
    claims = [n.runner.prepare(0) for n in nodes]
    _cross_sign(nodes, 0)
    assert nodes[0].runner.advance(0).state is SubmitState.SUBMITTED
    ledger = nodes[0].store.ledger
    records = {stage: ledger.done(0, stage) for stage in Stage}
    hex64 = re.compile(r"^[0-9a-f]{64}$")
    for stage, rec in records.items():
        assert rec is not None, stage
        assert hex64.fullmatch(rec.input_digest), (stage, rec.input_digest)
    snapshot, agree, seal, compute, sign, submit = (records[s] for s in Stage)
    assert snapshot is not None and agree is not None and seal is not None and compute is not None
    assert sign is not None and submit is not None
    assert snapshot.finished_ms <= agree.finished_ms <= seal.finished_ms <= compute.finished_ms <= sign.finished_ms <= submit.finished_ms
    d = nodes[0].runner.epoch_dir(0)
    expected_compute = hashlib.sha256(canonical_json({e.name: e.sha256 for e in input_entries(d)})).hexdigest()
    assert compute.input_digest == expected_compute
    assert sign.input_digest == hashlib.sha256((d / EpochFile.MANIFEST).read_bytes()).hexdigest()
    assert compute.output_digest == sign.input_digest  # compute wrote the manifest sign read
    assert submit.input_digest == claims[0].root.hex()
    # The seal stage read the snapshot the snapshot stage wrote, and the report log.
    snapshot_sha = hashlib.sha256((d / EpochFile.SNAPSHOT).read_bytes()).hexdigest()
    assert snapshot.output_digest == snapshot_sha
    log = hashlib.sha256()
    for line in sync.epoch_report_lines(nodes[0].store, 0):
        log.update(hashlib.sha256(line).digest())
    expected_seal = canonical_json({"snapshot": snapshot_sha, "agreement": "", "report_log": log.hexdigest()})
    assert seal.input_digest == hashlib.sha256(expected_seal).hexdigest()
    # Every oracle read the same inputs, so their content-derived digests agree.
    for stage in (Stage.SNAPSHOT, Stage.SEAL, Stage.COMPUTE, Stage.SIGN):
        digests = {n.store.ledger.done(0, stage).input_digest for n in nodes}  # type: ignore[union-attr]
        assert len(digests) == 1, stage


def test_stages_are_declared_in_stage_order() -> None:
    from opendepin.oracle.stages import STAGES

    assert [spec.stage for spec in STAGES] == list(Stage)
    assert [s.value for s in Stage] == ["snapshot", "agree", "seal", "compute", "sign", "submit"]
    assert all(spec.reads and spec.writes for spec in STAGES)
