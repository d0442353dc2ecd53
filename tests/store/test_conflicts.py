"""Conflicting versions (store.conflicts) and how sealing excludes equivocating devices."""

from __future__ import annotations

import dataclasses

from opendepin.identity import DeviceKey, KeyType
from opendepin.reports import codec
from opendepin.reports.eip712 import new_signed_report, report_digest, sign_report
from opendepin.reports.envelope import Report
from opendepin.store import LogEntry, Store, read_equivocations
from opendepin.store.sealing import EQUIVOCATIONS_FILE, INPUT_MANIFEST_NAME

EPOCH = 7


def signed(key: DeviceKey, seq: int) -> Report:
    return new_signed_report(
        key,
        network_id="opendepin-test",
        chain_id=31337,
        kind="heartbeat",
        epoch=EPOCH,
        seq=seq,
        timestamp_ms=1_767_225_600_000 + seq,
        payload={"lat_e7": 525_200_000 + seq, "lon_e7": 134_050_000},
    )


def _versions(key: DeviceKey, seq: int) -> tuple[Report, Report]:
    a = signed(key, seq)
    return a, sign_report(dataclasses.replace(a, timestamp_ms=a.timestamp_ms + 1), key)


def test_seal_excludes_an_equivocating_device_and_writes_the_evidence(store: Store) -> None:
    liar, honest = DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519)
    a, b = _versions(liar, 3)
    store.reports.append(
        [LogEntry.of(r, 0) for r in (a, signed(liar, 4), signed(honest, 1), signed(honest, 2))]
    )
    assert store.conflicts.add([LogEntry.of(b, 0)]).inserted == 1
    assert store.conflicts.add([LogEntry.of(b, 0)]).inserted == 0  # recorded once
    manifest = store.seal_epoch(EPOCH)
    sealed = store.read_sealed(EPOCH)
    assert {r.report.device for rs in sealed.values() for r in rs} == {honest.device_id}
    assert manifest.total_reports == 2
    assert manifest.equivocations is not None and manifest.equivocations.count == 1
    evidence = read_equivocations(store.inputs_dir(EPOCH))
    assert len(evidence) == 1
    assert (evidence[0].device, evidence[0].seq) == (liar.device_id, 3)
    assert evidence[0].versions == tuple(sorted([codec.dumps(a).encode(), codec.dumps(b).encode()]))
    before = (store.inputs_dir(EPOCH) / EQUIVOCATIONS_FILE).read_bytes()
    again = store.seal_epoch(EPOCH)  # idempotent: same bytes
    assert again == manifest
    assert (store.inputs_dir(EPOCH) / EQUIVOCATIONS_FILE).read_bytes() == before


def test_seal_evidence_does_not_depend_on_which_version_was_logged(store: Store) -> None:
    """One store logged b and learned a, another (SQLite) the other way round: same evidence."""
    key = DeviceKey.generate()
    a, b = _versions(key, 1)
    bystander = signed(DeviceKey.generate(), 1)
    store.reports.append([LogEntry.of(b, 0), LogEntry.of(bystander, 0)])
    store.conflicts.add([LogEntry.of(a, 5)])
    other = Store(store.data_dir.parent / "other", None)
    try:
        other.reports.append([LogEntry.of(a, 9), LogEntry.of(bystander, 3)])
        other.conflicts.add([LogEntry.of(b, 7)])
        store.seal_epoch(EPOCH)
        other.seal_epoch(EPOCH)
        ours = store.inputs_dir(EPOCH) / EQUIVOCATIONS_FILE
        theirs = other.inputs_dir(EPOCH) / EQUIVOCATIONS_FILE
        assert ours.read_bytes() == theirs.read_bytes()
        assert store.input_manifest(EPOCH) == other.input_manifest(EPOCH)
    finally:
        other.close()


def test_conflicts_for_a_sealed_epoch_are_refused(store: Store) -> None:
    key = DeviceKey.generate()
    a, b = _versions(key, 1)
    store.reports.append([LogEntry.of(a, 0)])
    store.seal_epoch(EPOCH)
    result = store.conflicts.add([LogEntry.of(b, 0)])
    assert (result.inserted, result.sealed) == (0, 1)
    assert store.conflicts.count(EPOCH) == 0
    assert b'"equivocations"' not in (store.inputs_dir(EPOCH) / INPUT_MANIFEST_NAME).read_bytes()


def test_seal_without_conflicts_writes_no_evidence(store: Store) -> None:
    store.reports.append([LogEntry.of(signed(DeviceKey.generate(), 1), 0)])
    manifest = store.seal_epoch(EPOCH)
    assert manifest.equivocations is None
    assert not (store.inputs_dir(EPOCH) / EQUIVOCATIONS_FILE).exists()
    assert read_equivocations(store.inputs_dir(EPOCH)) == ()


def test_seal_picks_the_smallest_encoding_of_one_statement(store: Store) -> None:
    """Two encodings of one signed digest are not evidence: seal the smallest line, keep the device."""
    key = DeviceKey.generate()
    a = signed(key, 1)
    other = dataclasses.replace(a, signature=a.signature[:-1] + bytes((a.signature[-1] ^ 1,)))
    assert report_digest(other) == report_digest(a)  # same statement (signature bytes are not signed)
    big, small = sorted([codec.dumps(a).encode(), codec.dumps(other).encode()], reverse=True)
    store.reports.append([LogEntry.of(codec.loads(big), 0)])
    store.conflicts.add([LogEntry.of(codec.loads(small), 0)])
    manifest = store.seal_epoch(EPOCH)
    assert manifest.equivocations is None
    (f,) = manifest.files
    assert (store.inputs_dir(EPOCH) / f.name).read_bytes() == small + b"\n"


def _next_epoch(key: DeviceKey, a: Report) -> Report:
    """`a`'s seq signed again for the next epoch."""
    return sign_report(dataclasses.replace(a, epoch=a.epoch + 1, timestamp_ms=a.timestamp_ms + 86_400_000), key)


def _sealed_lines(store: Store, epoch: int) -> list[bytes]:
    manifest = store.input_manifest(epoch)
    return [
        line
        for f in manifest.files
        for line in (store.inputs_dir(epoch) / f.name).read_bytes().split(b"\n")
        if line
    ]


def test_seal_cross_epoch_versions_exclude_the_device_from_the_later_epoch_only(store: Store) -> None:
    """One store logged a (epoch 7) and learned b (epoch 8), another logged b and learned a:
    both seal a in epoch 7 and exclude the device from epoch 8 with the same evidence."""
    key, bystander = DeviceKey.generate(), DeviceKey.generate()
    a = signed(key, 1)
    b = _next_epoch(key, a)
    other = Store(store.data_dir.parent / "other", None)
    try:
        store.reports.append([LogEntry.of(a, 0), LogEntry.of(signed(bystander, 1), 0)])
        other.reports.append([LogEntry.of(b, 0), LogEntry.of(signed(bystander, 1), 0)])
        other.conflicts.add([LogEntry.of(a, 0)])  # learned while reconciling epoch 7
        for s in (store, other):
            s.seal_epoch(EPOCH)
        store.conflicts.add([LogEntry.of(b, 0)])  # learned while reconciling epoch 8
        assert store.input_manifest(EPOCH) == other.input_manifest(EPOCH)
        assert _sealed_lines(other, EPOCH) == sorted([codec.dumps(a).encode(), codec.dumps(signed(bystander, 1)).encode()])
        assert store.input_manifest(EPOCH).equivocations is None
        for s in (store, other):
            manifest = s.seal_epoch(EPOCH + 1)
            assert manifest.equivocations is not None and manifest.total_reports == 0
            assert s.seal_epoch(EPOCH) == s.input_manifest(EPOCH)  # epoch 7 re-seals unchanged
        ours = (store.inputs_dir(EPOCH + 1) / EQUIVOCATIONS_FILE).read_bytes()
        assert ours == (other.inputs_dir(EPOCH + 1) / EQUIVOCATIONS_FILE).read_bytes()
        (evidence,) = read_equivocations(store.inputs_dir(EPOCH + 1))
        assert evidence.versions == tuple(sorted([codec.dumps(a).encode(), codec.dumps(b).encode()]))
        # `other` filed a under epoch 8 too (it knew it from epoch 7's round): served for both.
        assert [e.wire for e in other.conflicts.relevant(EPOCH + 1)] == [codec.dumps(a).encode()]
        assert [e.wire for e in other.conflicts.iter_epoch(EPOCH + 1)] == [codec.dumps(a).encode()]
        assert other.conflicts.count(EPOCH) == 1
    finally:
        other.close()


def test_conflicts_learned_after_a_seal_count_only_for_the_later_epoch(store: Store) -> None:
    """The store sealed epoch 7 with a, then learns b (epoch 8): epoch 7 stays as sealed."""
    key = DeviceKey.generate()
    a = signed(key, 1)
    b = _next_epoch(key, a)
    store.reports.append([LogEntry.of(a, 0)])
    first = store.seal_epoch(EPOCH)
    assert store.conflicts.add([LogEntry.of(b, 0)]).inserted == 1  # filed under epoch 8
    assert store.conflicts.add([dataclasses.replace(LogEntry.of(b, 0), epoch=EPOCH)]).sealed == 1
    assert store.seal_epoch(EPOCH) == first
    assert store.seal_epoch(EPOCH + 1).equivocations is not None
