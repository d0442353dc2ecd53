"""The report log: batch append, replay protection across restarts, sealed epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.store import LogEntry, Store, reportlog
from opendepin.types import DeviceId, Epoch, ProofKind

DEV_A = DeviceId("0x" + "aa" * 20)
DEV_B = DeviceId("0x" + "Bb" * 20)


def entry(device: DeviceId, seq: int, epoch: int = 3, kind: str = "heartbeat") -> LogEntry:
    wire = b'{"device":"%s","seq":%d}' % (device.encode(), seq)
    return LogEntry(
        device=device,
        seq=seq,
        epoch=Epoch(epoch),
        kind=ProofKind(kind),
        received_ms=1_000 + seq,
        wire=wire,
    )


def test_append_batch_inserts_all_new_entries(store: Store) -> None:
    entries = [entry(DEV_A, s) for s in range(1, 51)] + [entry(DEV_B, 7)]
    result = store.reports.append(entries)
    assert result.inserted == tuple(range(51))
    assert result.replayed == () and result.sealed == ()
    assert store.reports.count() == 51
    assert store.reports.count(epoch=3, kind="heartbeat") == 51
    assert store.reports.count(epoch=4) == 0


def test_append_existing_key_is_replayed_and_not_written(store: Store) -> None:
    store.reports.append([entry(DEV_A, 1)])
    result = store.reports.append([entry(DEV_A, 1), entry(DEV_A, 2)])
    assert result.inserted == (1,)
    assert result.replayed == (0,)
    assert store.reports.count() == 2


def test_append_duplicate_within_batch_keeps_first(store: Store) -> None:
    result = store.reports.append([entry(DEV_A, 5), entry(DEV_A, 5)])
    assert result.inserted == (0,)
    assert result.replayed == (1,)


def test_last_seqs_recovered_after_reopen(database_url: str, tmp_path: Path) -> None:
    with Store(tmp_path / "d", database_url) as first:
        first.reports.append([entry(DEV_A, 3), entry(DEV_A, 9), entry(DEV_B, 4)])
    with Store(tmp_path / "d", database_url) as second:
        assert second.reports.last_seqs() == {DEV_A: 9, DEV_B: 4}
        again = second.reports.append([entry(DEV_A, 9)])
        assert again.replayed == (0,)


def test_append_to_sealed_epoch_is_refused(store: Store) -> None:
    store.reports.append([entry(DEV_A, 1, epoch=3)])
    store.seal_epoch(3)
    result = store.reports.append([entry(DEV_A, 2, epoch=3), entry(DEV_A, 3, epoch=4)])
    assert result.sealed == (0,)
    assert result.sealed_epochs == frozenset({3})
    assert result.inserted == (1,)
    assert store.reports.count(epoch=3) == 1
    assert store.reports.is_sealed(3) and not store.reports.is_sealed(4)
    assert store.reports.sealed_epochs() == {3}


def test_iter_epoch_orders_by_code_point_then_seq(store: Store) -> None:
    lower = DeviceId("0x" + "ab" * 20)
    upper = DeviceId("0x" + "AB" * 20)
    store.reports.append([entry(lower, 2), entry(upper, 5), entry(lower, 1), entry(upper, 4)])
    order = [(e.device, e.seq) for e in store.reports.iter_epoch(3, "heartbeat")]
    assert order == [(upper, 4), (upper, 5), (lower, 1), (lower, 2)]


def test_kinds_lists_sorted_kinds_of_epoch(store: Store) -> None:
    store.reports.append([entry(DEV_A, 1, kind="coverage"), entry(DEV_A, 2), entry(DEV_B, 1, epoch=9)])
    assert store.reports.kinds(3) == ["coverage", "heartbeat"]
    assert store.reports.kinds(9) == ["heartbeat"]


def test_append_stores_wire_bytes_exactly(store: Store) -> None:
    wires = [b"", b"\x00\xff,\n\\x41", "é😀,".encode(), bytes(range(256))]
    entries = [
        LogEntry(DEV_A, seq, Epoch(3), ProofKind("heartbeat"), 2**62 + seq, wire)
        for seq, wire in enumerate(wires, start=1)
    ]
    assert store.reports.append(entries).inserted == (0, 1, 2, 3)
    stored = list(store.reports.iter_epoch(3, "heartbeat"))
    assert stored == entries


def test_append_single_entry_with_empty_wire(store: Store) -> None:
    only = LogEntry(DEV_B, 1, Epoch(3), ProofKind("heartbeat"), 5, b"")
    assert store.reports.append([only]).inserted == (0,)
    assert list(store.reports.iter_epoch(3, "heartbeat")) == [only]


def test_append_more_rows_than_one_sqlite_statement_holds(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reportlog, "SQLITE_ROWS_PER_INSERT", 7)
    store.reports.append([entry(DEV_A, s) for s in (3, 10)])
    result = store.reports.append([entry(DEV_A, s) for s in range(1, 21)])
    assert result.replayed == (2, 9)
    assert result.inserted == tuple(i for i in range(20) if i not in (2, 9))
    assert store.reports.count() == 20


def test_epoch_lines_reads_every_kind_in_sealing_order(store: Store) -> None:
    store.reports.append(
        [
            entry(DEV_B, 2, kind="storage"),
            entry(DEV_A, 9),
            entry(DEV_B, 1),
            entry(DEV_A, 3, kind="coverage"),
            entry(DEV_A, 4, epoch=4),
        ]
    )
    lines = store.reports.epoch_lines(3)
    expected = [
        (kind, e.device, e.seq, e.wire)
        for kind in store.reports.kinds(3)
        for e in store.reports.iter_epoch(3, kind)
    ]
    assert [tuple(line) for line in lines] == expected
    assert [line.kind for line in lines] == ["coverage", "heartbeat", "heartbeat", "storage"]
    assert store.reports.epoch_lines(5) == []


def test_iter_epoch_wire_pages_like_iter_epoch(store: Store) -> None:
    store.reports.append([entry(DEV_A, s) for s in range(1, 6)] + [entry(DEV_B, 1), entry(DEV_B, 2)])
    full = [e.wire for e in store.reports.iter_epoch(3, "heartbeat")]
    assert list(store.reports.iter_epoch_wire(3, "heartbeat")) == full
    page = list(store.reports.iter_epoch_wire(3, "heartbeat", after=(DEV_A, 2), limit=3))
    assert page == [e.wire for e in store.reports.iter_epoch(3, "heartbeat", after=(DEV_A, 2), limit=3)]
    assert page == full[4:7]  # DEV_B sorts first (code point "B" < "a"); after A/2 come A/3..5
