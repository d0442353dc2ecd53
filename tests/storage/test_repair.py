"""Checker and repair worker against real nodes: lost, corrupt and unreachable pieces rebuilt."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendepin.storage.erasure import Redundancy
from opendepin.storage.metadata import PieceState
from opendepin.storage.placer import Placer
from opendepin.storage.repair import Checker, RepairWorker, run_repair

from .cluster import Cluster

SEG = 32 * 1024
SCHEME = Redundancy(4, 6, 7, 8)
"""Repair at 6 healthy: losing two of eight pieces triggers it."""


@pytest.fixture
def big_cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "nodes", count=10)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def placer(big_cluster: Cluster, database_url: str) -> Iterator[Placer]:
    p = big_cluster.placer(database_url, redundancy=SCHEME, segment_size=SEG)
    p.metadata.create_bucket("b", p.now_ms())
    yield p
    p.close()
    p.metadata.close()


def _remove_pieces_of(cluster: Cluster, placer: Placer, object_id: int, nodes: list[str]) -> None:
    for piece in placer.metadata.pieces(object_id):
        if piece.live and piece.node in nodes:
            path = cluster.by_node(piece.node).piece_path(piece.piece_id)
            path.unlink()
            path.with_name(path.name + ".json").unlink()


def test_lost_pieces_are_rebuilt_on_new_nodes(big_cluster: Cluster, placer: Placer) -> None:
    data = os.urandom(3 * SEG + 11)
    row = placer.put_object("b", "k", io.BytesIO(data))
    old_ids = {p.piece_id for p in placer.metadata.pieces(row.id)}
    victims: dict[int, set[str]] = {}
    for piece in placer.metadata.pieces(row.id):
        if piece.live and piece.number in (1, 6):  # two pieces (two nodes) of every segment
            path = big_cluster.by_node(piece.node).piece_path(piece.piece_id)
            path.unlink()
            victims.setdefault(piece.segment_idx, set()).add(piece.node)

    checker = Checker(placer)
    health = checker.check()
    assert len(health) == 4
    for h in health:
        assert len(h.healthy) == 6 and h.below_threshold
        assert {p.number for p, _ in h.unhealthy} == {1, 6}
        # the node's index may still list the file it lost: gone or unreadable, never served
        assert {reason for _, reason in h.unhealthy} <= {"no_such_piece", "corrupt_piece"}

    report = run_repair(placer)
    assert len(report.results) == 4 and all(r.error is None for r in report.results)
    assert all(r.rebuilt == (1, 6) and r.healthy_after == 8 for r in report.results)
    for seg in placer.metadata.segments(row.id):
        rows = placer.metadata.pieces(row.id, seg.idx)
        live = [p for p in rows if p.live]
        assert sorted(p.number for p in live) == list(range(8))
        assert len({p.node for p in live}) == 8 and not victims[seg.idx] & {p.node for p in live}
        repaired = [p for p in live if p.state is PieceState.REPAIRED]
        assert len(repaired) == 2 and all(p.piece_id not in old_ids for p in repaired)
        assert {p.node for p in rows if p.state is PieceState.LOST} == victims[seg.idx]
    after = Checker(placer).check()
    assert all(len(h.healthy) == 8 and not h.unhealthy for h in after)
    assert run_repair(placer).results == []  # idempotent: nothing left to do
    assert placer.read_object("b", "k") == data
    originals = {p.node for p in placer.metadata.pieces(row.id, 0) if p.state is PieceState.HEALTHY}
    for node in sorted(originals)[:4]:  # half the original holders down: repaired pieces are needed
        big_cluster.by_node(node).stop()
    placer.directory.refresh()
    assert placer.read_object("b", "k") == data


def test_corrupt_and_unreachable_pieces_are_unhealthy(big_cluster: Cluster, placer: Placer) -> None:
    data = os.urandom(SEG)
    row = placer.put_object("b", "k", io.BytesIO(data))
    live = sorted((p for p in placer.metadata.pieces(row.id, 0) if p.live), key=lambda p: p.number)
    path = big_cluster.by_node(live[0].node).piece_path(live[0].piece_id)
    raw = bytearray(path.read_bytes())
    raw[0] ^= 1
    path.write_bytes(bytes(raw))
    big_cluster.by_node(live[1].node).stop()
    checker = Checker(placer)
    [health] = checker.check()
    reasons = {p.number: why for p, why in health.unhealthy}
    assert reasons == {0: "corrupt_piece", 1: "unreachable"}
    assert checker.probed == len(live) - 1  # the unreachable node is not probed
    result = RepairWorker(placer).repair(health)
    assert result.error is None and set(result.rebuilt) == {0, 1} and result.healthy_after == 8
    assert placer.read_object("b", "k") == data
    lost = [p for p in placer.metadata.pieces(row.id, 0) if p.state is PieceState.LOST]
    assert {p.piece_id for p in lost} == {live[0].piece_id, live[1].piece_id}
    assert {d.piece_id for d in placer.metadata.pending_deletes()} == {
        live[1].piece_id
    }  # node down


def test_disqualified_nodes_pieces_are_replaced(big_cluster: Cluster, placer: Placer) -> None:
    row = placer.put_object("b", "k", io.BytesIO(os.urandom(SEG)))
    nodes = sorted({p.node for p in placer.metadata.pieces(row.id) if p.live})
    report = run_repair(placer, disqualified=nodes[:2])
    assert [r.rebuilt for r in report.results] and len(report.results[0].rebuilt) == 2
    live = {p.node for p in placer.metadata.pieces(row.id) if p.live}
    assert len(live) == 8 and not live & set(nodes[:2])


def test_unrecoverable_segment_is_reported(big_cluster: Cluster, placer: Placer) -> None:
    row = placer.put_object("b", "k", io.BytesIO(os.urandom(SEG)))
    holders = sorted({p.node for p in placer.metadata.pieces(row.id) if p.live})
    _remove_pieces_of(big_cluster, placer, row.id, holders[:5])
    report = run_repair(placer)
    assert len(report.results) == 1 and (report.results[0].error or "").startswith("unrecoverable")


def test_sampled_probe_skips_pieces(big_cluster: Cluster, placer: Placer) -> None:
    placer.put_object("b", "k", io.BytesIO(os.urandom(SEG)))
    checker = Checker(placer, probe_ppm=0)
    [health] = checker.check()
    assert checker.probed == 0 and len(health.healthy) == 8
