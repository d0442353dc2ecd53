from __future__ import annotations

from pathlib import Path

from opendepin.agent.state import FIRST_SEQ, SequenceStore, Spool, open_db
from opendepin.identity import DeviceKey
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report


def signed(key: DeviceKey, seq: int) -> Report:
    return new_signed_report(
        key, network_id="n", chain_id=1, kind="heartbeat", epoch=0, seq=seq,
        timestamp_ms=1_000 + seq, payload={"lat_e7": 1, "lon_e7": 2},
    )  # fmt: skip


def test_sequence_store_never_reuses_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    conn = open_db(db)
    store = SequenceStore(conn, block=4)
    first = [store.next() for _ in range(6)]
    assert first == list(range(FIRST_SEQ, FIRST_SEQ + 6))
    conn.close()  # "crash": numbers 7 and 8 of the reserved block were never used
    again = SequenceStore(open_db(db), block=4)
    nxt = again.next()
    assert nxt > max(first)
    assert nxt == FIRST_SEQ + 8  # resumes at the reserved high-water mark


def test_sequence_store_reserves_one_commit_per_block(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "agent.db")
    store = SequenceStore(conn, block=10)
    store.next()
    assert store.high_water == FIRST_SEQ + 10
    for _ in range(9):
        store.next()
    assert store.high_water == FIRST_SEQ + 10
    store.next()
    assert store.high_water == FIRST_SEQ + 20


def test_sequence_store_starts_above_spooled_reports(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "agent.db")
    Spool(conn).add([signed(DeviceKey.generate(), 500)], now_ms=0)
    assert SequenceStore(conn).next() == 501


def test_spool_survives_restart_in_seq_order(tmp_path: Path) -> None:
    key = DeviceKey.generate()
    db = tmp_path / "agent.db"
    spool = Spool(open_db(db))
    spool.add([signed(key, 3), signed(key, 1)], now_ms=10)
    spool.add([signed(key, 2)], now_ms=20)
    spool.count_attempt([1])
    reopened = Spool(open_db(db))
    items = reopened.peek(10)
    assert [s.report.seq for s in items] == [1, 2, 3]
    assert items[0].report == signed(key, 1)  # byte-identical after the round trip
    assert [s.attempts for s in items] == [1, 0, 0]
    reopened.remove([1, 3])
    assert len(Spool(open_db(db))) == 1


def test_in_memory_state_is_private() -> None:
    a, b = Spool(open_db(None)), Spool(open_db(None))
    a.add([signed(DeviceKey.generate(), 1)], now_ms=0)
    assert (len(a), len(b)) == (1, 0)
