"""Metering on SQLite and PostgreSQL: account byte-time integrals, node pieces and egress."""

from __future__ import annotations

import secrets

from opendepin.storage.gateway.hooks import UsageEvent
from opendepin.storage.metadata import Metadata, PieceRow, PieceState, SegmentRow
from opendepin.storage.metering import Metering, Usage
from opendepin.types import DeviceId

NODE_A = DeviceId("0x" + "aa" * 20)
NODE_B = DeviceId("0x" + "bb" * 20)


def event(account: str, t: int, *, delta: int = 0, out: int = 0) -> UsageEvent:
    return UsageEvent(account, "PutObject", "b", "k", 0, out, delta, t, secrets.token_hex(8))


def test_account_byte_time_is_the_exact_integral(database_url: str) -> None:
    with Metadata(database_url) as md:
        meter = Metering(md.engine)
        meter.record(event("alice", 500, delta=10))  # before the interval: base 10
        meter.record(event("alice", 1_500, delta=5, out=7))  # 15 from 1500
        meter.record(event("alice", 1_800, delta=-15, out=3))  # 0 from 1800
        meter.record(event("alice", 2_000, out=99))  # at the end: outside
        meter.record(event("bob", 1_999, delta=1))
        usage = meter.account_usage(1_000, 2_000)
        assert usage["alice"] == Usage(10 * 500 + 15 * 300, 10)
        assert usage["bob"] == Usage(1, 0)
        assert meter.account_usage(1_000, 2_000, "bob") == {"bob": Usage(1, 0)}
        assert meter.account_usage(2_000, 3_000) == {"alice": Usage(0, 99), "bob": Usage(1000, 0)}
        assert meter.account_usage(0, 400) == {}


def _piece(object_id: int, number: int, node: DeviceId, size: int, placed: int) -> PieceRow:
    return PieceRow(
        object_id, 0, number, secrets.token_bytes(32), node, "http://n", size,
        bytes(32), PieceState.HEALTHY, placed, placed + 10**9,
    )  # fmt: skip


def test_node_byte_time_follows_placed_and_removed_pieces(database_url: str) -> None:
    with Metadata(database_url) as md:
        meter = Metering(md.engine)
        md.create_bucket("bkt", 0, owner="alice")
        oid = md.begin_object("bkt", "k", 0)
        md.add_segment(
            SegmentRow(oid, 0, 0, 100, 1, 2),
            [_piece(oid, 0, NODE_A, 50, 1_000), _piece(oid, 1, NODE_B, 50, 1_000)],
        )
        md.commit_object(oid, 100, "etag", 1_000)
        meter.sync_pieces(1_000)
        assert md.delete_object("bkt", "k", 3_000) is not None
        meter.sync_pieces(3_000)
        meter.sync_pieces(4_000)  # idempotent: the removal keeps its first stamp
        usage = meter.node_usage(0, 10_000)
        assert usage == {NODE_A: Usage(50 * 2_000, 0), NODE_B: Usage(50 * 2_000, 0)}
        assert meter.node_usage(2_000, 2_500)[NODE_A] == Usage(50 * 500, 0)
        assert meter.node_usage(3_000, 9_000) == {}


def test_node_egress_counts_each_order_serial_once(database_url: str) -> None:
    with Metadata(database_url) as md:
        meter = Metering(md.engine)
        serial = secrets.token_bytes(16)
        meter.record_fetch(NODE_A, serial, 300, 1_000)
        meter.record_fetch(NODE_A, serial, 300, 1_000)  # a retried recording
        meter.record_fetch(NODE_A, secrets.token_bytes(16), 200, 1_500)
        meter.record_fetch(NODE_B, secrets.token_bytes(16), 9, 5_000)
        assert meter.node_usage(1_000, 2_000) == {NODE_A: Usage(0, 500)}
        assert meter.node_usage(0, 10_000)[NODE_B] == Usage(0, 9)
