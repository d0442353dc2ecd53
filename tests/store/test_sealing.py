"""Sealing: deterministic content-addressed files, the input manifest, and the reader."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import delete

from opendepin.errors import StoreError
from opendepin.identity import DeviceKey, KeyType
from opendepin.reports import codec
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.store import InputManifest, LogEntry, Store, db
from opendepin.store.sealing import INPUT_MANIFEST_NAME

EPOCH = 7


def signed(key: DeviceKey, seq: int, kind: str = "heartbeat", epoch: int = EPOCH) -> Report:
    return new_signed_report(
        key,
        network_id="opendepin-test",
        chain_id=31337,
        kind=kind,
        epoch=epoch,
        seq=seq,
        timestamp_ms=1_767_225_600_000 + seq,
        payload={"lat_e7": 525_200_000 + seq, "lon_e7": 134_050_000, "note": "ü"},
    )


@pytest.fixture
def keys() -> list[DeviceKey]:
    return [DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519), DeviceKey.generate()]


def _fill(store: Store, keys: list[DeviceKey]) -> list[Report]:
    reports = [
        signed(keys[0], 2),
        signed(keys[1], 1, "coverage"),
        signed(keys[2], 5),
        signed(keys[0], 1),
        signed(keys[1], 2),
        signed(keys[2], 1, epoch=EPOCH + 1),
    ]
    store.reports.append([LogEntry.of(r, received_ms=10_000 + i) for i, r in enumerate(reports)])
    return reports


def test_seal_writes_kind_files_named_by_sha256(store: Store, keys: list[DeviceKey]) -> None:
    _fill(store, keys)
    manifest = store.seal_epoch(EPOCH)
    directory = store.inputs_dir(EPOCH)
    assert [f.kind for f in manifest.files] == ["coverage", "heartbeat"]
    assert [f.count for f in manifest.files] == [1, 4]
    for f in manifest.files:
        data = (directory / f.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f.sha256
        assert len(data) == f.bytes
        assert f.name == f"{f.kind}_v1.{f.sha256[:16]}.jsonl"
    on_disk = json.loads((directory / INPUT_MANIFEST_NAME).read_bytes())
    assert on_disk["epoch"] == EPOCH and len(on_disk["files"]) == 2
    assert InputManifest.from_json((directory / INPUT_MANIFEST_NAME).read_bytes()) == manifest


def test_seal_twice_gives_identical_bytes(store: Store, keys: list[DeviceKey]) -> None:
    _fill(store, keys)
    first = store.seal_epoch(EPOCH)
    directory = store.inputs_dir(EPOCH)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    second = store.seal_epoch(EPOCH)
    after = {p.name: p.read_bytes() for p in directory.iterdir()}
    assert first == second
    assert before == after


def test_seal_same_reports_received_at_different_times_gives_same_manifest(
    database_url: str, tmp_path: Path, keys: list[DeviceKey]
) -> None:
    # Two oracles receive the same reports, in another order and at other times by their
    # own clocks: the sealed inputs (and so the signed manifest hash) must not differ.
    reports = [signed(keys[0], s) for s in (3, 1, 2)]
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    digests = []
    for url, sub, order, received_ms in (
        (database_url, "a", list(reversed(reports)), 5),
        (other_url, "b", reports, 987_654_321),
    ):
        with Store(tmp_path / sub, url) as s:
            for r in order:
                s.reports.append([LogEntry.of(r, received_ms=received_ms)])
            digests.append(s.seal_epoch(EPOCH).sha256)
    assert digests[0] == digests[1]


def test_sealed_lines_are_the_device_signed_wire_bytes(store: Store, keys: list[DeviceKey]) -> None:
    reports = _fill(store, keys)
    manifest = store.seal_epoch(EPOCH)
    f = manifest.file_for("coverage")
    assert f is not None
    data = (store.inputs_dir(EPOCH) / f.name).read_bytes()
    assert data == codec.dumps(reports[1]).encode() + b"\n"
    assert b"received_ms" not in data


def test_read_sealed_returns_reports_sorted_by_device_then_seq(
    store: Store, keys: list[DeviceKey]
) -> None:
    reports = _fill(store, keys)
    store.seal_epoch(EPOCH)
    sealed = store.read_sealed(EPOCH)
    heartbeat = sealed["heartbeat"]
    expected = sorted(
        (r for r in reports if r.kind == "heartbeat" and r.epoch == EPOCH),
        key=lambda r: (r.device, r.seq),
    )
    assert [i.report for i in heartbeat] == expected
    assert [i.report for i in sealed["coverage"]] == [reports[1]]
    assert set(store.read_sealed(EPOCH, kinds={"coverage"})) == {"coverage"}


def test_read_sealed_detects_tampered_file(store: Store, keys: list[DeviceKey]) -> None:
    _fill(store, keys)
    manifest = store.seal_epoch(EPOCH)
    target = store.inputs_dir(EPOCH) / manifest.files[1].name
    data = target.read_bytes()
    target.write_bytes(data.replace(b'"seq":1', b'"seq":9', 1))
    with pytest.raises(StoreError, match="does not match the manifest"):
        store.read_sealed(EPOCH)


def test_seal_empty_epoch_writes_empty_manifest(store: Store) -> None:
    manifest = store.seal_epoch(99)
    assert manifest.files == () and manifest.total_reports == 0
    assert store.input_manifest(99) == manifest
    assert store.read_sealed(99) == {}


def test_reports_after_seal_are_refused_and_files_unchanged(
    store: Store, keys: list[DeviceKey]
) -> None:
    _fill(store, keys)
    first = store.seal_epoch(EPOCH)
    late = store.reports.append([LogEntry.of(signed(keys[0], 50), received_ms=1)])
    assert late.sealed == (0,)
    assert store.seal_epoch(EPOCH) == first


def test_seal_detects_log_changed_after_sealing(store: Store, keys: list[DeviceKey]) -> None:
    _fill(store, keys)
    store.seal_epoch(EPOCH)
    with store.engine.begin() as conn:
        conn.execute(delete(db.reports).where(db.reports.c.seq == 5))
    with pytest.raises(StoreError, match="changed after sealing"):
        store.seal_epoch(EPOCH)


def test_read_manifest_of_unsealed_epoch_raises(store: Store) -> None:
    with pytest.raises(StoreError, match="cannot read input manifest"):
        store.input_manifest(1)


def test_seal_reuses_the_callers_read_of_the_log(store: Store, keys: list[DeviceKey]) -> None:
    _fill(store, keys)
    logged = store.reports.epoch_lines(EPOCH)
    sealed = store.seal(EPOCH, logged=logged)
    assert sealed.log is logged  # nothing joined the epoch since: the same read
    assert sealed.manifest == store.seal_epoch(EPOCH)


def test_seal_reads_the_log_again_when_rows_joined_after_the_callers_read(
    database_url: str, tmp_path: Path, keys: list[DeviceKey]
) -> None:
    with Store(tmp_path / "a", database_url) as store, Store(tmp_path / "b") as fresh:
        _fill(store, keys)
        _fill(fresh, keys)
        stale = store.reports.epoch_lines(EPOCH)
        late = signed(keys[0], 9)  # appended after the caller read the log (an import, say)
        for s in (store, fresh):
            s.reports.append([LogEntry.of(late, received_ms=1)])
        heartbeats = sum(1 for line in stale if line.kind == "heartbeat")
        sealed = store.seal(EPOCH, logged=stale)
        assert len(sealed.log) == len(stale) + 1
        assert sealed.log == store.reports.epoch_lines(EPOCH)
        assert sealed.manifest == fresh.seal_epoch(EPOCH)  # as if sealed from a fresh read
        heartbeat = sealed.manifest.file_for("heartbeat")
        assert heartbeat is not None and heartbeat.count == heartbeats + 1
