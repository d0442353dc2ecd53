"""The placer's metadata on SQLite and PostgreSQL: visibility, replacement, deletes, repair rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from opendepin.chain.accounts import Signer
from opendepin.storage.metadata import Metadata, ObjectState, PieceRow, PieceState, SegmentRow
from opendepin.types import DeviceId


def _node() -> DeviceId:
    return DeviceId(Signer.generate().address)


def _pieces(object_id: int, idx: int, n: int, nodes: list[DeviceId]) -> list[PieceRow]:
    return [
        PieceRow(
            object_id,
            idx,
            i,
            secrets.token_bytes(32),
            nodes[i],
            f"http://n{i}",
            10,
            secrets.token_bytes(32),
            PieceState.HEALTHY,
            1,
            2,
        )
        for i in range(n)
    ]


@pytest.fixture
def meta(database_url: str) -> Iterator[Metadata]:
    m = Metadata(database_url)
    yield m
    m.close()


def test_pending_object_is_invisible_until_committed(meta: Metadata) -> None:
    assert meta.create_bucket("b", 1)
    assert not meta.create_bucket("b", 2)
    oid = meta.begin_object("b", "k", 10, user_metadata={"colour": "blue"})
    nodes = [_node() for _ in range(8)]
    meta.add_segment(SegmentRow(oid, 0, 0, 40, 4, 8), _pieces(oid, 0, 8, nodes))
    assert meta.get_object("b", "k") is None
    assert meta.list_objects("b") == []
    meta.commit_object(oid, 40, "e" * 32, 11)
    row = meta.get_object("b", "k")
    assert row is not None and row.state is ObjectState.COMMITTED
    assert (row.size, row.etag, row.user_metadata) == (40, "e" * 32, {"colour": "blue"})
    assert [p.number for p in meta.pieces(oid, 0)] == list(range(8))
    assert meta.segments(oid) == [SegmentRow(oid, 0, 0, 40, 4, 8)]


def test_commit_replaces_the_old_version_and_queues_its_pieces(meta: Metadata) -> None:
    meta.create_bucket("b", 1)
    nodes = [_node() for _ in range(8)]
    first = meta.begin_object("b", "k", 10)
    old = _pieces(first, 0, 8, nodes)
    meta.add_segment(SegmentRow(first, 0, 0, 40, 4, 8), old)
    meta.commit_object(first, 40, "a", 11)
    second = meta.begin_object("b", "k", 12)
    meta.add_segment(SegmentRow(second, 0, 0, 4, 4, 8), _pieces(second, 0, 8, nodes))
    replaced = meta.commit_object(second, 4, "b", 13)
    assert replaced is not None and replaced.id == first
    current = meta.get_object("b", "k")
    assert current is not None and current.id == second and current.size == 4
    assert {d.piece_id for d in meta.pending_deletes()} == {p.piece_id for p in old}
    assert meta.pieces(first) == []


def test_delete_object_and_delete_queue(meta: Metadata) -> None:
    meta.create_bucket("b", 1)
    nodes = [_node() for _ in range(8)]
    oid = meta.begin_object("b", "k", 10)
    placed = _pieces(oid, 0, 8, nodes)
    placed[7] = PieceRow(
        **{**{f: getattr(placed[7], f) for f in PieceRow.__slots__}, "state": PieceState.UNPLACED}
    )
    meta.add_segment(SegmentRow(oid, 0, 0, 40, 4, 8), placed)
    meta.commit_object(oid, 40, "a", 11)
    with pytest.raises(ValueError, match="not empty"):
        meta.delete_bucket("b")
    assert meta.delete_object("b", "k", 20) is not None
    assert meta.delete_object("b", "k", 21) is None
    pending = meta.pending_deletes()
    assert len(pending) == 7  # the unplaced piece was never on a node
    meta.delete_failed(pending[0].piece_id, "node down")
    meta.delete_done(pending[1].piece_id)
    after = {d.piece_id: d for d in meta.pending_deletes()}
    assert len(after) == 6 and after[pending[0].piece_id].attempts == 1
    assert meta.delete_bucket("b")


def test_list_objects_by_prefix_treats_wildcards_literally(meta: Metadata) -> None:
    meta.create_bucket("b", 1)
    for key in ["a/1", "a/2", "a%x", "b/1", "a_"]:
        oid = meta.begin_object("b", key, 1)
        meta.commit_object(oid, 0, "e", 2)
    assert [o.key for o in meta.list_objects("b", prefix="a/")] == ["a/1", "a/2"]
    assert [o.key for o in meta.list_objects("b", prefix="a%")] == ["a%x"]
    assert [o.key for o in meta.list_objects("b", after="a_")] == ["b/1"]
    assert len(meta.list_objects("b", limit=2)) == 2


def test_replace_pieces_marks_lost_and_adds_repaired(meta: Metadata) -> None:
    meta.create_bucket("b", 1)
    nodes = [_node() for _ in range(10)]
    oid = meta.begin_object("b", "k", 1)
    seg = SegmentRow(oid, 0, 0, 40, 4, 8)
    old = _pieces(oid, 0, 8, nodes)
    meta.add_segment(seg, old)
    meta.commit_object(oid, 40, "e", 2)
    new = [
        PieceRow(
            oid,
            0,
            n,
            secrets.token_bytes(32),
            nodes[8 + i],
            "http://x",
            10,
            b"\x01" * 32,
            PieceState.REPAIRED,
            5,
            6,
        )
        for i, n in enumerate((1, 2))
    ]
    assert meta.replace_pieces(seg, [old[1], old[2]], new, 7)
    rows = meta.pieces(oid, 0)
    live = sorted(p.number for p in rows if p.live)
    assert live == list(range(8))
    assert {p.piece_id for p in rows if p.state is PieceState.LOST} == {
        old[1].piece_id,
        old[2].piece_id,
    }
    assert {d.piece_id for d in meta.pending_deletes()} == {old[1].piece_id, old[2].piece_id}
    meta.delete_object("b", "k", 8)
    assert not meta.replace_pieces(seg, [], [], 9)  # the segment is gone


def test_abandoned_uploads_are_found_and_dropped(meta: Metadata) -> None:
    meta.create_bucket("b", 1)
    nodes = [_node() for _ in range(8)]
    oid = meta.begin_object("b", "k", 100)
    meta.add_segment(SegmentRow(oid, 0, 0, 40, 4, 8), _pieces(oid, 0, 8, nodes))
    assert meta.abandoned_uploads(50) == []
    assert meta.abandoned_uploads(200) == [oid]
    meta.abandon_object(oid, 300)
    assert meta.object_by_id(oid) is None
    assert len(meta.pending_deletes()) == 8


def test_user_metadata_is_bounded(meta: Metadata) -> None:
    meta.create_bucket("b", 1)
    with pytest.raises(ValueError, match="larger"):
        meta.begin_object("b", "k", 1, user_metadata={"x": "y" * 5000})
