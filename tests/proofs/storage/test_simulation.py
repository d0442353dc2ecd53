"""The storage simulation: real pieces and proofs, three cheats, repair, and what the kind makes of it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from opendepin.identity.signatures import recover_address
from opendepin.network.settings import NetworkSection, PoolsSection, Settings
from opendepin.proofs.kind import KindJob, KindResult, SimHour, SimSpec
from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged
from opendepin.proofs.storage.kind import KIND
from opendepin.proofs.storage.payload import validate_payload
from opendepin.proofs.storage.settings import StorageSection
from opendepin.proofs.storage.simnodes import Behaviour
from opendepin.proofs.storage.simulation import (
    DELETE_FROM_HOUR,
    OBJECTS,
    OFFLINE_FROM_HOUR,
    OFFLINE_HOURS,
    StorageSimulation,
    behaviour_plan,
    placer_signer,
)
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.eip712 import report_digest
from opendepin.reports.envelope import Report
from opendepin.sim.keys import sim_owners
from opendepin.storage import merkle
from opendepin.storage.orders import parse_placement
from opendepin.types import DeviceId, Epoch

SEED = 3
NODES = 12
EPOCHS = 3
HOURS = 24
GENESIS = 1_893_456_000
BLOCK_BASE = 1_000


def _settings(placers: tuple[str, ...]) -> Settings:
    return Settings(
        network=NetworkSection(network_id="opendepin-sim-test", genesis_unix=GENESIS),
        pools=PoolsSection(bps={"storage": 10_000}),
        kinds={"storage": StorageSection(placers=placers)},
    )


def _hour(epoch: int, hour: int) -> SimHour:
    index = epoch * HOURS + hour
    entropy = hashlib.blake2b(f"test-block:{index}".encode(), digest_size=32).digest()
    start = GENESIS + epoch * 86_400
    return SimHour(Epoch(epoch), hour, start + hour * 3_600, start, BLOCK_BASE + index, entropy)


@dataclass
class Run:
    model: StorageSimulation
    settings: Settings
    hours: list[SimHour]
    reports: list[list[Report]]
    """Per hour since genesis, what the model sent."""
    behaviour: dict[str, Behaviour]
    """Device (lower-case) -> behaviour."""


def _run(seed: int = SEED, nodes: int = NODES, epochs: int = EPOCHS) -> Run:
    settings = _settings((placer_signer(seed).address,))
    model = StorageSimulation(SimSpec(seed, nodes, sim_owners(seed, 3), settings))
    hours = [_hour(e, h) for e in range(epochs) for h in range(HOURS)]
    reports = [model.hour_reports(h) for h in hours]
    behaviour = {n.device_id.lower(): n.behaviour for n in model.nodes}
    return Run(model, settings, hours, reports, behaviour)


@pytest.fixture(scope="module")
def run() -> Run:
    return _run()


def _payload(report: Report) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(report.payload)
    return payload


def _placements(run: Run) -> dict[bytes, tuple[int, Report]]:
    """Piece -> (hour index, placement report)."""
    out = {}
    for index, batch in enumerate(run.reports):
        for r in batch:
            p = _payload(r)
            if p["type"] == "placement":
                out[bytes.fromhex(p["placement"]["piece"])] = (index, r)
    return out


def test_behaviour_plan_has_one_of_each_cheat_with_enough_nodes() -> None:
    plan = behaviour_plan(NODES)
    assert Counter(plan) == {
        Behaviour.HONEST: NODES - 3,
        Behaviour.DELETER: 1,
        Behaviour.ROOTS_ONLY: 1,
        Behaviour.OFFLINE: 1,
    }
    assert set(behaviour_plan(9)) == {Behaviour.HONEST}


def test_model_refuses_too_few_nodes_and_other_windows() -> None:
    settings = _settings(())
    with pytest.raises(ValueError, match="at least 8"):
        StorageSimulation(SimSpec(1, 5, sim_owners(1, 1), settings))
    other = Settings(
        network=NetworkSection(genesis_unix=GENESIS),
        kinds={"storage": StorageSection(audit_window_seconds=1_800)},
    )
    with pytest.raises(ValueError, match="audit_window_seconds"):
        StorageSimulation(SimSpec(1, 8, sim_owners(1, 1), other))


def test_same_seed_signs_same_bytes_and_another_seed_does_not() -> None:
    settings = _settings((placer_signer(SEED).address,))
    a = StorageSimulation(SimSpec(SEED, NODES, sim_owners(SEED, 3), settings))
    b = StorageSimulation(SimSpec(SEED, NODES, sim_owners(SEED, 3), settings))
    c = StorageSimulation(SimSpec(SEED + 1, NODES, sim_owners(SEED + 1, 3), settings))
    for hour in (_hour(0, 0), _hour(0, 1)):
        ra, rb, rc = a.hour_reports(hour), b.hour_reports(hour), c.hour_reports(hour)
        assert [r.signature for r in ra] == [r.signature for r in rb]
        assert {r.payload for r in ra}.isdisjoint({r.payload for r in rc})


def test_placements_are_signed_by_the_placer_and_filed_by_their_node(run: Run) -> None:
    placer = DeviceId(placer_signer(SEED).address)
    placements = _placements(run)
    first_hour = [p for p, (i, _) in placements.items() if i == 0]
    # 8 objects of 16 KiB segments, 6 of 8 pieces kept per segment, all reported in hour 0
    assert len(first_hour) == run.model.facts().pieces_placed
    assert len(first_hour) % 6 == 0 and len(first_hour) >= OBJECTS * 6
    for piece, (_, report) in placements.items():
        payload = _payload(report)
        validate_payload(payload)
        placement = parse_placement(payload["placement"])
        assert placement.signer() == placer
        assert placement.node == report.device
        assert recover_address(report_digest(report), report.signature) == report.device
        assert placement.term_start_ms <= report.timestamp_ms < placement.term_end_ms
        assert placement.piece == piece


def test_every_piece_held_matches_its_placement_root(run: Run) -> None:
    for node in run.model.nodes:
        for held in node.pieces.values():
            if held.data is not None:
                assert merkle.merkle_root(held.data) == held.placement.root
            else:
                assert node.behaviour in (Behaviour.ROOTS_ONLY, Behaviour.DELETER)


def _check_proof(
    run: Run, hour_index: int, report: Report, placements: dict[bytes, tuple[int, Report]]
) -> bool:
    """Is the proof report well-formed for a challenged, auditable piece, and does it verify?"""
    p = _payload(report)
    validate_payload(p)
    window = next(h for h in run.hours if h.entropy_block == p["block"])
    window_index = run.hours.index(window)
    assert window_index <= hour_index
    piece = bytes.fromhex(p["piece"])
    _, placed_report = placements[piece]
    assert placed_report.device == report.device  # a node proves only its own pieces
    assert placed_report.timestamp_ms <= window.hour_start_unix * 1_000 < report.timestamp_ms
    assert (
        report.timestamp_ms < (window.hour_start_unix + 3_600) * 1_000 or window_index < hour_index
    )
    assert is_challenged(window.entropy, piece, 125_000)
    placement = parse_placement(_payload(placed_report)["placement"])
    leaves = merkle.leaf_count(placement.size)
    assert p["leaf_index"] == challenged_leaf(window.entropy, piece, leaves)
    leaf = base64.b64decode(p["leaf"])
    path = [bytes.fromhex(h) for h in p["path"]]
    assert len(path) == merkle.path_length(
        leaves, p["leaf_index"]
    )  # the right shape, even from a cheat
    return merkle.verify_proof(placement.root, placement.size, p["leaf_index"], leaf, path)


def test_proofs_answer_challenged_pieces_and_only_cheats_fail(run: Run) -> None:
    placements = _placements(run)
    verified: Counter[tuple[Behaviour, bool]] = Counter()
    for index, batch in enumerate(run.reports):
        for r in batch:
            if _payload(r)["type"] == "proof":
                verified[
                    run.behaviour[r.device.lower()], _check_proof(run, index, r, placements)
                ] += 1
    assert verified[Behaviour.HONEST, True] > 1_000
    assert verified[Behaviour.HONEST, False] == 0
    assert verified[Behaviour.ROOTS_ONLY, False] > 0 and verified[Behaviour.ROOTS_ONLY, True] == 0
    assert verified[Behaviour.DELETER, True] > 0 and verified[Behaviour.DELETER, False] == 0
    assert verified[Behaviour.OFFLINE, True] > 0 and verified[Behaviour.OFFLINE, False] == 0


def _challenges(
    run: Run, placements: dict[bytes, tuple[int, Report]], node: str, window: int
) -> set[bytes]:
    """Pieces of the node challenged and auditable in `window` (what the oracles expect)."""
    start_ms = run.hours[window].hour_start_unix * 1_000
    return {
        piece
        for piece, (_, report) in placements.items()
        if report.device.lower() == node
        and report.timestamp_ms <= start_ms
        and is_challenged(run.hours[window].entropy, piece, 125_000)
    }


def _proved_by_window(run: Run) -> dict[tuple[str, int], set[bytes]]:
    """(node, block) -> pieces it sent proofs for."""
    out: dict[tuple[str, int], set[bytes]] = {}
    for batch in run.reports:
        for r in batch:
            p = _payload(r)
            if p["type"] == "proof":
                out.setdefault((r.device.lower(), p["block"]), set()).add(bytes.fromhex(p["piece"]))
    return out


def test_honest_nodes_answer_every_challenge_and_the_deleter_half_goes_silent(run: Run) -> None:
    missed: Counter[Behaviour] = Counter()
    asked: Counter[Behaviour] = Counter()
    placements = _placements(run)
    proofs = _proved_by_window(run)
    for device, behaviour in run.behaviour.items():
        for window in range(1, len(run.hours)):
            expected = _challenges(run, placements, device, window)
            proved = proofs.get((device, run.hours[window].entropy_block), set())
            assert proved <= expected  # nobody proves a piece that was not challenged
            asked[behaviour] += len(expected)
            missed[behaviour] += len(expected - proved)
            if behaviour is Behaviour.DELETER and window < DELETE_FROM_HOUR:
                assert proved == expected
    assert asked[Behaviour.HONEST] > 0 and missed[Behaviour.HONEST] == 0
    assert missed[Behaviour.ROOTS_ONLY] == 0  # it answers everything, with garbage
    assert missed[Behaviour.OFFLINE] == 0  # late, but every challenge answered
    assert (
        0.25 * asked[Behaviour.DELETER]
        < missed[Behaviour.DELETER]
        < 0.75 * asked[Behaviour.DELETER]
    )


def test_offline_node_is_silent_then_answers_the_missed_windows(run: Run) -> None:
    offline = next(d for d, b in run.behaviour.items() if b is Behaviour.OFFLINE)
    for index in range(OFFLINE_FROM_HOUR, OFFLINE_FROM_HOUR + OFFLINE_HOURS):
        assert not [r for r in run.reports[index] if r.device.lower() == offline]
    back = OFFLINE_FROM_HOUR + OFFLINE_HOURS
    late_blocks = {
        _payload(r)["block"]
        for r in run.reports[back]
        if r.device.lower() == offline and _payload(r)["type"] == "proof"
    }
    missed = {run.hours[i].entropy_block for i in range(OFFLINE_FROM_HOUR, back)}
    assert late_blocks & missed, "the missed windows' challenges are answered on return"
    assert run.hours[back].entropy_block in late_blocks


def test_repair_rebuilds_lost_pieces_elsewhere_and_every_object_reads_back(run: Run) -> None:
    facts = run.model.facts()
    assert facts.objects == OBJECTS
    assert facts.readable == OBJECTS
    assert facts.pieces_repaired > 0 and facts.segments_repaired > 0
    for stored in run.model.placer.objects:
        for segment in stored.segments:
            holders = [node for node, _ in segment.healthy.values()]
            assert len(holders) == len(set(holders)) == 6  # back to `success`, on distinct nodes
            for node, placement in segment.healthy.values():
                assert run.model.nodes[node].behaviour is not Behaviour.ROOTS_ONLY
                assert run.model.nodes[node].pieces[placement.piece].data is not None
    placed_after_upload = [p for p, (i, _) in _placements(run).items() if i > 0]
    assert len(placed_after_upload) == facts.pieces_repaired  # each repaired piece is reported once


def test_readable_counts_an_object_whose_pieces_are_gone_as_lost() -> None:
    run = _run(epochs=1)
    placer = run.model.placer
    segment = placer.objects[0].segments[0]
    for node, placement in list(segment.healthy.values())[:3]:
        run.model.nodes[node].pieces[placement.piece].data = None
    assert placer.read(0, run.model.nodes) is None
    assert run.model.facts().readable == OBJECTS - 1


# -- what the storage kind makes of it --------------------------------------------------------------


def _compute(run: Run) -> list[KindResult]:
    """Every epoch through `KIND.compute`, state carried from one epoch to the next."""
    section = run.settings.kind_section("storage")
    devices = {
        DeviceId(n.device_id): DeviceRecord(
            DeviceId(n.device_id), n.owner.address, "storage", 0, True
        )
        for n in run.model.nodes
    }
    state = KIND.initial_state(section)
    results = []
    epochs = len(run.hours) // HOURS
    for epoch in range(epochs):
        hours = run.hours[epoch * HOURS : (epoch + 1) * HOURS]
        blocks = {
            h.entropy_block: EntropyBlock(h.entropy_block, h.entropy, h.hour_start_unix)
            for h in hours
        }
        reports = [
            IngestedReport(r)
            for batch in run.reports[epoch * HOURS : (epoch + 1) * HOURS]
            for r in batch
        ]
        snapshot = ChainSnapshot(
            block_number=BLOCK_BASE + (epoch + 1) * HOURS,
            entropy=bytes(32),
            devices=devices,
            entropy_blocks=blocks,
        )
        job = KindJob(Epoch(epoch), reports, snapshot, run.settings, section, state)
        result = KIND.compute(job)
        results.append(result)
        state = result.next_state
    return results


@pytest.fixture(scope="module")
def computed(run: Run) -> list[KindResult]:
    return _compute(run)


def _by_behaviour(run: Run, result: KindResult) -> dict[Behaviour, list[dict[str, Any]]]:
    out: dict[Behaviour, list[dict[str, Any]]] = {}
    for device, explanation in result.explanations.items():
        out.setdefault(run.behaviour[device.lower()], []).append(explanation.to_obj())
    return out


def _score(explanation: dict[str, Any]) -> int:
    rep = explanation.get("reputation")
    value = rep["score_ppm"] if isinstance(rep, dict) else explanation["score_ppm"]
    assert isinstance(value, int)
    return value


def _disqualified(explanation: dict[str, Any]) -> bool:
    return (
        explanation.get("disqualified") not in (None, False)
        or "disqualified" in explanation["reasons"]
    )


def test_kind_disqualifies_the_deleter_and_roots_only_by_the_third_epoch(
    run: Run, computed: list[KindResult]
) -> None:
    last = _by_behaviour(run, computed[-1])
    for cheat in (Behaviour.DELETER, Behaviour.ROOTS_ONLY):
        assert all(_disqualified(e) for e in last[cheat]), (cheat, last[cheat])
        assert all(e["shares"] == 0 for e in last[cheat])
    for keeper in (Behaviour.HONEST, Behaviour.OFFLINE):
        assert not any(_disqualified(e) for e in last[keeper]), keeper
        assert all(_score(e) > 960_000 for e in last[keeper]), keeper
    roots_only = computed[0].verdicts
    reasons = Counter(str(v.reason) for v in roots_only if v.reason is not None)
    assert reasons["wrong_root"] > 0, reasons


def test_kind_pays_honest_nodes_and_the_offline_node_less_in_its_offline_epoch(
    run: Run, computed: list[KindResult]
) -> None:
    for result in computed:
        honest = {d for d, b in run.behaviour.items() if b is Behaviour.HONEST}
        paid = {d.lower() for d, s in result.shares.items() if s > 0}
        assert honest <= paid
    before, during = ({d.lower(): s for d, s in r.shares.items()} for r in computed[:2])
    offline = next(d for d, b in run.behaviour.items() if b is Behaviour.OFFLINE)
    honest_ratios = [
        during[d] / before[d] for d, b in run.behaviour.items() if b is Behaviour.HONEST
    ]
    # the windows it missed (answered only in containment) earn nothing, the rest still pays
    assert 0 < during[offline] / before[offline] < 0.9 * min(honest_ratios)


def test_kind_accepts_every_honest_report(run: Run, computed: list[KindResult]) -> None:
    for result in computed:
        bad = [
            v
            for v in result.verdicts
            if v.reason is not None and run.behaviour[v.device.lower()] is Behaviour.HONEST
        ]
        assert not bad, bad[:5]
