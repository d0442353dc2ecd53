"""An oracle cut off during agreement seals a losing set, then recovers (oracle.recovery).

Three oracles over real HTTP on the embedded chain. Oracle 2 cannot reach its peers while
the rounds run (its peers point nowhere), so after the deadlines it decides on its own batch,
which lacks reports the others hold; oracles 0 and 1 (which can reach 2) agree on the union
and settle 2-of-3. Oracle 2's root now differs from the chain's. Once it can reach them again
it re-seals their agreed set and lands on the chain's root — and a peer serving a made-up
decision never makes it adopt a set that does not reproduce the root.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from opendepin.chain.accounts import Signer
from opendepin.errors import StageError
from opendepin.ingest.server import IngestServer
from opendepin.oracle.agreement.messages import Domain
from opendepin.oracle.runner import Stage, SubmitState
from opendepin.sim.byzantine import Byzantine, create_app
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    register_devices,
)
from opendepin.store import LogEntry
from opendepin.store.testing import BACKENDS

from .helpers import prepare_all, quick_rounds, round_seconds_of, served_oracles
from .test_sync import _close, _epoch_reports, _sealed_files


@pytest.fixture(params=BACKENDS)
def oracles(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SimNetwork, list[OracleNode]]]:
    net = build_network(seed=13, devices=6)
    register_devices(net)
    quick_rounds(net, round_seconds_of(request))
    with ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=30.0))
        yield net, served_oracles(stack, net, tmp_path, http, request.param)


def _drive(nodes: list[OracleNode], epoch: int, until: set[int], within_seconds: float = 180.0) -> dict[int, SubmitState]:
    """`advance` the nodes pass after pass until those in `until` are past agreeing/waiting."""
    import time

    states: dict[int, SubmitState] = {}
    give_up = time.monotonic() + within_seconds
    while time.monotonic() < give_up:
        for n in nodes:
            states[n.index] = n.runner.advance(epoch).state
        if all(states[i] not in (SubmitState.AGREEING, SubmitState.WAITING) for i in until):
            return states
        time.sleep(0.25)
    raise AssertionError(f"epoch {epoch}: still {states}")


@pytest.mark.round_seconds(5)
def test_an_oracle_that_sealed_a_losing_set_recovers_from_a_peers_agreed_set(
    oracles: tuple[SimNetwork, list[OracleNode]], tmp_path: Path
) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    missed = set(reports[::4])
    for node in nodes:
        kept = [r for r in reports if node.index != 2 or r not in missed]
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in kept])
    nodes[2].oracle.set_peers(["http://127.0.0.1:9"])  # cut off: it reaches nobody
    _close(net, nodes, 0)
    # Oracle 2 decides alone at its deadlines; 0 and 1 fetch its records and agree on the union.
    prepare_all(nodes, 0)
    claims = [n.book.claim(0) for n in nodes]
    assert claims[0] == claims[1] != claims[2]
    assert nodes[2].store.reports.count(epoch=0) == len(reports) - len(missed)
    _drive(nodes[:2], 0, {0, 1})
    distributor = net.deployment.distributor(net.chain)
    assert distributor.next_epoch() == 1 and claims[0] is not None and distributor.roots(0) == claims[0].root

    # Still cut off: no peer answers, so it cannot recover and says why.
    with pytest.raises(StageError, match="no peer's agreed set reproduces it"):
        nodes[2].runner.advance(0)

    # A peer that serves a made-up decision is not believed.
    liar_signer = Signer.generate()
    liar = Byzantine(liar_signer, Domain(net.settings.network.network_id, net.settings.network.chain_id),
                     "0x" + "00" * 20, [], "malformed", "malformed", [b"", b""])
    with IngestServer(create_app(liar)) as server:
        nodes[2].oracle.set_peers([server.url])
        with pytest.raises(StageError, match="no peer's agreed set reproduces it"):
            nodes[2].runner.advance(0)

    # Reachable again: it re-seals the set its peers agreed on and lands on the chain's root.
    nodes[2].oracle.set_peers([nodes[0].url, nodes[1].url])
    status = nodes[2].runner.advance(0)
    assert status.state is SubmitState.SETTLED_BY_PEER
    assert status.claim is not None and status.claim.root == distributor.roots(0)
    assert _sealed_files(nodes[2], 0) == _sealed_files(nodes[0], 0)
    assert nodes[2].store.reports.count(epoch=0) == len(reports)
    adir = nodes[2].runner.epoch_dir(0) / "agreement"
    assert (adir / "agreement_v1.json").read_bytes() == (nodes[0].runner.epoch_dir(0) / "agreement" / "agreement_v1.json").read_bytes()
    assert json.loads((adir / "agreement_v1.replaced.json").read_bytes())["batches"] != json.loads((adir / "agreement_v1.json").read_bytes())["batches"]
    assert nodes[2].runner.ledger.get("recovered:0") is not None
    assert nodes[2].runner.ledger.done(0, Stage.SUBMIT) is not None
    assert nodes[2].runner.advance(0).state is SubmitState.SETTLED_BY_PEER  # recorded, stable
