"""The stage ledger: exactly-once stages on both databases, and the key/value table."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, func, select
from sqlalchemy.exc import IntegrityError

from opendepin.store import StageOutput, Store, atomic_write

# A stand-in for an oracle stage's own output table.
_outputs_md = MetaData()
verdicts = Table(
    "test_verdicts",
    _outputs_md,
    Column("epoch", Integer, nullable=False),
    Column("device", String(64), nullable=False),
)


def _verdict_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(verdicts)).scalar_one())


def test_run_once_skips_stage_already_recorded(store: Store) -> None:
    _outputs_md.create_all(store.engine)
    calls: list[int] = []

    def stage(conn: Connection) -> StageOutput:
        calls.append(1)
        conn.execute(verdicts.insert(), [{"epoch": 1, "device": "a"}, {"epoch": 1, "device": "b"}])
        return StageOutput("in-digest", "out-digest", {"rows": 2})

    first = store.ledger.run_once(1, "verify", stage)
    second = store.ledger.run_once(1, "verify", stage)
    assert calls == [1]
    assert first == second
    assert second.output_digest == "out-digest" and second.details == {"rows": 2}
    assert _verdict_count(store) == 2


def test_run_once_failure_writes_neither_outputs_nor_record(store: Store) -> None:
    _outputs_md.create_all(store.engine)

    def crashing(conn: Connection) -> StageOutput:
        conn.execute(verdicts.insert(), [{"epoch": 2, "device": "a"}])
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        store.ledger.run_once(2, "verify", crashing)
    assert store.ledger.done(2, "verify") is None
    assert _verdict_count(store) == 0

    rec = store.ledger.run_once(2, "verify", lambda conn: StageOutput("i", "o"))
    assert rec.output_digest == "o"


def test_run_once_loser_of_race_rolls_back_and_returns_winner(store: Store) -> None:
    _outputs_md.create_all(store.engine)

    def racing(conn: Connection) -> StageOutput:
        conn.execute(verdicts.insert(), [{"epoch": 5, "device": "loser"}])
        # Another process records the stage while this one is still running.
        store.ledger.record(5, "reward", "i", "winner-digest")
        return StageOutput("i", "loser-digest")

    if store.engine.dialect.name == "sqlite":
        # SQLite has one writer: the "other process" would wait for this transaction, so the
        # race cannot interleave this way; record first, then run.
        store.ledger.record(5, "reward", "i", "winner-digest")
        rec = store.ledger.run_once(5, "reward", racing)
    else:
        rec = store.ledger.run_once(5, "reward", racing)
    assert rec.output_digest == "winner-digest"
    assert _verdict_count(store) == 0


def test_record_twice_raises_integrity_error(store: Store) -> None:
    store.ledger.record(1, "seal", "a", "b", {"files": 2})
    with pytest.raises(IntegrityError):
        store.ledger.record(1, "seal", "a", "c")


def test_done_survives_reopen(database_url: str, tmp_path: Path) -> None:
    with Store(tmp_path / "d", database_url) as first:
        out = tmp_path / "d" / "epochs" / "1" / "rewards.json"
        digest = atomic_write(out, b'{"total":5}\n')
        first.ledger.record(1, "publish", "in", digest, {"file": out.name})
    with Store(tmp_path / "d", database_url) as second:
        rec = second.ledger.done(1, "publish")
        assert rec is not None and rec.output_digest == digest
        assert rec.details == {"file": "rewards.json"}
        assert [r.stage for r in second.ledger.stages(1)] == ["publish"]
        assert second.ledger.done(2, "publish") is None


def test_put_overwrites_and_get_defaults(store: Store) -> None:
    assert store.ledger.get("submit/1") is None
    assert store.ledger.get("submit/1", "none") == "none"
    store.ledger.put("submit/1", "0xaa")
    store.ledger.put("submit/1", "0xbb")
    assert store.ledger.get("submit/1") == "0xbb"


def test_put_in_stage_transaction_commits_with_record(store: Store) -> None:
    def submit(conn: Connection) -> StageOutput:
        store.ledger.put("tx/3", "0xfeed", conn=conn)
        return StageOutput("root", "0xfeed")

    store.ledger.run_once(3, "submit", submit)
    assert store.ledger.get("tx/3") == "0xfeed"
