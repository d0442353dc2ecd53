"""The oracle's Prometheus metrics (oracle.metrics), scraped from its /metrics over HTTP.

Three oracles 2-of-3 on the embedded chain, each serving ingest + oracle routes on its own
port, settle one epoch. Oracle 2 missed some reports (it imports them at seal) and oracle 0
also lists a peer URL where nothing listens (its record polls and signature exchanges with it
fail). Every oracle's scrape must then tell that story: each stage timed once, one epoch
sealed and settled, one submitter (oracle 0, which advances first once all have signed), the
imports at oracle 2, the peer errors at oracle 0 only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opendepin.oracle.metrics import OracleMetrics, PeerErrorKind
from opendepin.oracle.runner import SubmitState
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    register_devices,
)
from opendepin.store import LogEntry

from .helpers import prepare_all, served_oracles
from .test_sync import _close, _epoch_reports

DEAD_PEER = "http://127.0.0.1:9"
"""A peer URL where nothing listens (connection refused at once)."""
LEDGER_STAGES = ("snapshot", "agree", "seal", "compute", "sign")
PENDING = (SubmitState.AGREEING, SubmitState.WAITING)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def oracles(tmp_path: Path) -> Iterator[tuple[SimNetwork, list[OracleNode], httpx.Client]]:
    net = build_network(seed=17, devices=6)
    register_devices(net)
    with ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=30.0))
        nodes = served_oracles(stack, net, tmp_path, http, "sqlite")
        nodes[0].oracle.set_peers([DEAD_PEER, *(n.url for n in nodes[1:])])  # first, so every step polls it
        yield net, nodes, http


def _scrape(http: httpx.Client, node: OracleNode) -> tuple[str, Samples]:
    response = http.get(f"{node.url}/metrics")
    assert response.status_code == 200
    return response.text, _parse(response.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _settle(nodes: list[OracleNode], epoch: int) -> dict[int, SubmitState]:
    """`advance` every oracle pass after pass until none is agreeing or waiting."""
    states: dict[int, SubmitState] = {}
    give_up = time.monotonic() + 180.0  # wall time: how many passes fit depends on the machine
    while time.monotonic() < give_up:
        for n in nodes:
            states[n.index] = n.runner.advance(epoch).state
        if not any(s in PENDING for s in states.values()):
            return states
        time.sleep(0.25)  # a round whose records are missing ends at its deadline
    raise AssertionError(f"epoch {epoch}: still {states}")


def test_metrics_of_a_settled_epoch_are_served_per_oracle(
    oracles: tuple[SimNetwork, list[OracleNode], httpx.Client],
) -> None:
    net, nodes, http = oracles
    reports = _epoch_reports(net, 0)
    missed = reports[::3]
    for node in nodes:
        kept = [r for r in reports if node.index != 2 or r not in missed]
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in kept])
    _close(net, nodes, 0)

    claims = prepare_all(nodes, 0)  # every oracle has signed; nobody exchanged yet
    assert claims[0] == claims[1] == claims[2]
    # Oracle 0 advances first: it exchanges (the dead peer too), holds 3 signatures, submits.
    states = _settle(nodes, 0)
    assert states == {0: SubmitState.SUBMITTED, 1: SubmitState.SETTLED_BY_PEER, 2: SubmitState.SETTLED_BY_PEER}
    assert net.deployment.distributor(net.chain).next_epoch() == 1

    scraped = {n.index: _scrape(http, n) for n in nodes}
    submitters = []
    for node in nodes:
        text, samples = scraped[node.index]
        assert "depin_ingest_reports_accepted_total" in text  # ingest's metrics, same scrape
        for stage in LEDGER_STAGES:
            assert _value(samples, "depin_oracle_stage_seconds_count", stage=stage) == 1, stage
            assert _value(samples, "depin_oracle_stage_seconds_sum", stage=stage) >= 0
            assert _value(samples, "depin_oracle_stage_failures_total", stage=stage) == 0
        assert _value(samples, "depin_oracle_epochs_sealed_total") == 1
        assert _value(samples, "depin_oracle_epochs_settled_total") == 1
        assert _value(samples, "depin_oracle_epochs_recovered_total") == 0
        assert _value(samples, "depin_oracle_agreement_seconds_count") == 1
        # N = 3, M = 2: f = 1, so two rounds (0 and 1), each ended once, early or at its deadline.
        ended = sum(_value(samples, "depin_oracle_agreement_rounds_total", ended=e) for e in ("early", "deadline"))
        assert ended == 2
        assert _value(samples, "depin_oracle_agreement_records_fetched_total") >= 2
        assert _value(samples, "depin_oracle_agreement_refused_total") == 0
        submitted = _value(samples, "depin_oracle_roots_submitted_total")
        assert _value(samples, "depin_oracle_stage_seconds_count", stage="submit") == submitted
        if submitted:
            submitters.append(node.index)
            assert _value(samples, "depin_oracle_signatures_held") == 3
        assert _value(samples, "depin_oracle_epoch") == 0

        imported = _value(samples, "depin_oracle_reports_imported_total")
        assert imported == (len(missed) if node.index == 2 else 0)
        peer_errors = {
            kind.value: _value(samples, "depin_oracle_peer_errors_total", kind=kind.value) for kind in PeerErrorKind
        }
        assert set(peer_errors) == {"agreement_record", "agreement_batch", "attestations", "recovery"}
        if node.index == 0:
            assert peer_errors["agreement_record"] >= 1  # every step polled the dead peer
            assert peer_errors["attestations"] == 1  # and its one exchange tried it
            assert peer_errors["agreement_batch"] == peer_errors["recovery"] == 0
        else:
            assert set(peer_errors.values()) == {0}
    assert submitters == [0]

    # Oracle 2's own batch lacked the missed reports: it downloaded the others' batch.
    _, samples2 = scraped[2]
    assert _value(samples2, "depin_oracle_agreement_batches_fetched_total") >= 1
    assert _value(samples2, "depin_oracle_agreement_fetched_bytes_total") > 0

    # Advancing a settled epoch again runs no stage: nothing is observed twice.
    nodes[1].runner.advance(0)
    _, again = _scrape(http, nodes[1])
    assert _value(again, "depin_oracle_stage_seconds_count", stage="seal") == 1
    assert _value(again, "depin_oracle_epochs_settled_total") == 1


def _parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_each_oracle_metrics_has_its_own_registry() -> None:
    a, b = OracleMetrics(), OracleMetrics()  # two in one process: no "duplicated timeseries"
    a.epochs_settled.inc()
    a.peer_error(PeerErrorKind.ATTESTATIONS, 2)
    first, second = _parse(a.render().decode()), _parse(b.render().decode())
    assert _value(first, "depin_oracle_epochs_settled_total") == 1
    assert _value(first, "depin_oracle_peer_errors_total", kind="attestations") == 2
    assert _value(second, "depin_oracle_epochs_settled_total") == 0
    assert _value(second, "depin_oracle_peer_errors_total", kind="attestations") == 0


def test_attestation_outcomes_count_failing_peers_not_peers_behind() -> None:
    m = OracleMetrics()
    m.attestation_outcomes(["ok", "http 404", "not_ready", "unreachable: refused", "http 500", "wrong_claim"])
    assert _value(_parse(m.render().decode()), "depin_oracle_peer_errors_total", kind="attestations") == 3
