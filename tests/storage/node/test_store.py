"""The piece store, the order ledger and the Range parser, in process."""

from __future__ import annotations

import contextlib
import json
import os
import random
from pathlib import Path

import pytest

from opendepin.identity import DeviceKey
from opendepin.network.settings import Settings
from opendepin.storage import merkle
from opendepin.storage.node.ledger import OrderLedger
from opendepin.storage.node.server import _RangeError, parse_range
from opendepin.storage.node.store import READ_CHUNK_BYTES, PieceRecord, PieceStore, parse_record
from opendepin.storage.orders import Action, OrderReason, StorageError, new_piece_id
from opendepin.types import DeviceId

from .conftest import Placer


@pytest.fixture
def key() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture
def pl(settings: Settings, key: DeviceKey) -> Placer:
    return Placer(settings, DeviceId(key.device_id))


def stored(store: PieceStore, pl: Placer, data: bytes) -> PieceRecord:
    placement = pl.placement(new_piece_id(), data)
    upload = store.begin(placement, b"\x00" * 65)
    upload.write(data)
    return upload.commit(1)


def test_recovery_removes_everything_half_done(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 1 << 30)
    store.recover()
    good = stored(store, pl, os.urandom(5000))
    orphan_piece = stored(store, pl, os.urandom(100))
    store.meta_path(orphan_piece.piece).unlink()  # crashed after the rename, before the metadata
    orphan_meta = stored(store, pl, os.urandom(100))
    store.piece_path(orphan_meta.piece).unlink()
    bad = stored(store, pl, os.urandom(100))
    store.meta_path(bad.piece).write_bytes(b'{"version": 1, "placement": 3}')
    (tmp_path / "tmp" / "upload-in-progress").write_bytes(b"half a piece")
    (tmp_path / "pieces" / good.piece.hex()[:2] / "stray.txt").write_bytes(b"?")
    store.begin(pl.placement(new_piece_id(), b"x" * 10), b"")  # an upload never finished

    fresh = PieceStore(tmp_path, 1 << 30)
    removed = fresh.recover()
    assert removed == {
        "tmp": 2,
        "orphan_pieces": 1,
        "orphan_metadata": 1,
        "bad_metadata": 1,
        "other": 1,
    }
    assert [r.piece for r in fresh.records()] == [good.piece]
    assert fresh.used_bytes == 5000 and fresh.piece_count == 1
    assert list((tmp_path / "tmp").iterdir()) == []
    assert fresh.verify(good.piece) == good
    assert b"".join(fresh.stream(good, 0, good.size)) == store.piece_path(good.piece).read_bytes()


def test_capacity_counts_uploads_in_progress(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 10_000)
    first = store.begin(pl.placement(new_piece_id(), b"a" * 6000), b"")
    with pytest.raises(StorageError) as exc:
        store.begin(pl.placement(new_piece_id(), b"b" * 6000), b"")
    assert exc.value.reason is OrderReason.NO_SPACE
    first.abort()
    second = store.begin(pl.placement(new_piece_id(), b"b" * 6000), b"")
    second.write(b"b" * 6000)
    second.commit(1)
    assert store.used_bytes == 6000
    with pytest.raises(StorageError) as exc:
        store.begin(second.placement, b"")
    assert exc.value.reason is OrderReason.PIECE_EXISTS


def test_upload_refuses_extra_bytes_and_a_wrong_root(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 1 << 20)
    upload = store.begin(pl.placement(new_piece_id(), b"abc"), b"")
    with pytest.raises(StorageError) as exc:
        upload.write(b"abcd")
    assert exc.value.reason is OrderReason.SIZE_MISMATCH
    upload.write(b"abd")
    with pytest.raises(StorageError) as exc:
        upload.commit(1)
    assert exc.value.reason is OrderReason.ROOT_MISMATCH
    assert store.piece_count == 0 and list((tmp_path / "tmp").iterdir()) == []
    assert store.used_bytes == 0 and store.begin(upload.placement, b"") is not None  # released


def test_stream_holds_back_the_last_chunk_of_a_piece_that_rots(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 1 << 30)
    data = os.urandom(3 * READ_CHUNK_BYTES + 10)
    record = stored(store, pl, data)
    store.verify(record.piece)
    with store.piece_path(record.piece).open("r+b") as fh:  # rots after the check
        fh.seek(10)
        fh.write(b"\x00" * 4)
    out: list[bytes] = []
    with pytest.raises(StorageError) as exc:
        for chunk in store.stream(record, 0, record.size):
            out.append(chunk)
    assert exc.value.reason is OrderReason.CORRUPT_PIECE
    assert sum(map(len, out)) < record.size  # never the whole piece
    with pytest.raises(StorageError):
        store.verify(record.piece)


def test_proofs_of_every_leaf_verify(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 1 << 30)
    for size in (0, 1, 1024, 1025, READ_CHUNK_BYTES + 1500):
        record = stored(store, pl, os.urandom(size))
        leaves = merkle.leaf_count(size)
        for index in {0, leaves // 2, leaves - 1}:
            leaf, path = store.proof(record.piece, index)
            assert merkle.verify_proof(record.root, size, index, leaf, path)
        with pytest.raises(StorageError):
            store.proof(record.piece, leaves)


def test_delete_removes_metadata_then_piece(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 1 << 30)
    record = stored(store, pl, b"hello")
    store.delete(record.piece)
    assert (
        not store.meta_path(record.piece).exists() and not store.piece_path(record.piece).exists()
    )
    with pytest.raises(StorageError) as exc:
        store.delete(record.piece)
    assert exc.value.reason is OrderReason.NO_SUCH_PIECE


def test_parse_record_is_total(tmp_path: Path, pl: Placer) -> None:
    store = PieceStore(tmp_path, 1 << 30)
    record = stored(store, pl, b"hello")
    raw = store.meta_path(record.piece).read_bytes()
    assert parse_record(raw) == record
    rng = random.Random(5)
    for _ in range(300):
        mutated = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        with contextlib.suppress(ValueError):  # UnicodeDecodeError and json errors are ValueErrors
            parse_record(bytes(mutated))
    obj = json.loads(raw)
    for key in sorted(set(obj) - {"report"}):  # a record without a report is valid
        broken = {**obj, key: None}
        with pytest.raises(ValueError):
            parse_record(json.dumps(broken).encode())


def test_ledger_replay_survives_restart_and_torn_tail(tmp_path: Path, pl: Placer) -> None:
    path = tmp_path / "orders.jsonl"
    ledger = OrderLedger(path)
    orders = [pl.order(new_piece_id(), Action.GET) for _ in range(5)]
    for i, order in enumerate(orders):
        assert ledger.record(order, i, 100 + i).cursor == i + 1
    ledger.close()
    with path.open("ab") as fh:
        fh.write(b'{"cursor": 6, "serial": "ab')  # a crash in the middle of an append
    ledger = OrderLedger(path)
    assert len(ledger) == 5
    with pytest.raises(StorageError) as exc:
        ledger.record(orders[2], 0, 0)
    assert exc.value.reason is OrderReason.REPLAYED
    fresh = pl.order(new_piece_id(), Action.PUT)
    assert ledger.record(fresh, 9, 200).cursor == 6
    page, cursor = ledger.read(0, 4)
    assert [e["serial"] for e in page] == [o.serial.hex() for o in orders[:4]] and cursor == 4
    page, cursor = ledger.read(cursor, 100)
    assert [e["cursor"] for e in page] == [5, 6] and cursor == 6
    assert page[-1]["order"] == fresh.to_obj() and page[-1]["bytes"] == 9
    assert ledger.read(6, 10) == ([], 6)
    ledger.close()


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-0", (0, 1)),
        ("bytes=10-19", (10, 20)),
        ("bytes=90-", (90, 100)),
        ("bytes=95-500", (95, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=-500", (0, 100)),
    ],
)
def test_parse_range(header: str | None, span: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == span


@pytest.mark.parametrize(
    "header",
    [
        "bytes=100-",
        "bytes=20-10",
        "bytes=-0",
        "bytes=-",
        "items=1-2",
        "bytes=1-2,4-5",
        "bytes=" + "9" * 30,
    ],
)
def test_parse_range_refuses(header: str) -> None:
    with pytest.raises(_RangeError):
        parse_range(header, 100)
