"""Report-set reconciliation between oracles before sealing (oracle.sync), over real HTTP.

Every test runs on SQLite and on PostgreSQL (each oracle its own fresh database).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from coincurve._libsecp256k1 import ffi, lib

from opendepin.chain.accounts import Signer
from opendepin.epochdir import EpochFile
from opendepin.http.peerauth import signed_headers
from opendepin.identity.keys import KeyType
from opendepin.oracle.audit import audit_epoch
from opendepin.oracle.epoch_files import read_verdicts
from opendepin.oracle.runner import Stage
from opendepin.oracle.sync import EPOCH_CONFLICTS_PATH, EPOCH_REPORTS_PATH
from opendepin.reports import codec
from opendepin.reports.eip712 import report_digest, sign_report
from opendepin.reports.envelope import Report
from opendepin.reports.verify import check_signatures
from opendepin.rewards.files import EpochManifest, RewardFile
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    register_devices,
)
from opendepin.store import LogEntry, Store, read_equivocations
from opendepin.store.sealing import (
    EQUIVOCATIONS_FILE,
    INPUT_MANIFEST_NAME,
    INPUTS_DIR,
    Equivocation,
    InputManifest,
    equivocations_to_bytes,
)
from opendepin.store.testing import BACKENDS
from opendepin.types import Epoch

from .helpers import epoch_reports, prepare_all, quick_rounds, round_seconds_of, served_oracles

DEVICES = 6


@pytest.fixture(params=BACKENDS)
def oracles(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SimNetwork, list[OracleNode]]]:
    net = build_network(seed=11, devices=DEVICES)
    register_devices(net)
    quick_rounds(net, round_seconds_of(request))
    with ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=30.0))
        yield net, served_oracles(stack, net, tmp_path, http, request.param)


def _epoch_reports(net: SimNetwork, epoch: int) -> list[Report]:
    return epoch_reports(net, epoch)


def _close(net: SimNetwork, nodes: list[OracleNode], epoch: int) -> None:
    net.advance_to(nodes[0].runner.ingest_close_unix(epoch))
    net.chain.mine()


def _sealed_files(node: OracleNode, epoch: int) -> dict[str, bytes]:
    d = node.store.inputs_dir(epoch)
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_reconcile_imports_missed_reports_so_all_seal_the_same_inputs(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    missed = reports[::5]  # oracle 2 was down for a fifth of the reports
    assert missed
    for node in nodes:
        kept = [r for r in reports if node.index != 2 or r not in missed]
        node.store.reports.append([LogEntry.of(r, received_ms=1_000 * node.index) for r in kept])
    assert nodes[2].store.reports.count(epoch=0) == len(reports) - len(missed)
    _close(net, nodes, 0)
    claims = prepare_all(nodes, 0)
    assert claims[0] == claims[1] == claims[2]  # root AND manifest hash
    files = [_sealed_files(n, 0) for n in nodes]
    assert files[0] == files[1] == files[2]
    assert nodes[2].store.reports.count(epoch=0) == len(reports)
    seal = nodes[2].runner.ledger.done(0, "seal")  # type: ignore[arg-type]
    assert seal is not None and seal.details["imported"] == len(missed)
    # The agreed decision is an input of the manifest, so the root's manifest hash covers it.
    decision = (nodes[0].runner.epoch_dir(0) / "agreement" / "agreement_v1.json").read_bytes()
    manifest = EpochManifest.from_bytes((nodes[0].runner.epoch_dir(0) / EpochFile.MANIFEST).read_bytes())
    listed = {f.name: f.sha256 for f in manifest.inputs}
    assert listed["agreement/agreement_v1.json"] == hashlib.sha256(decision).hexdigest()


def test_reconcile_does_not_import_a_forged_report(oracles: tuple[SimNetwork, list[OracleNode]]) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    for node in nodes:
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in reports])
    # Oracle 1's log holds a report with a payload its device never signed (seq unused elsewhere).
    honest = reports[0]
    forged = dataclasses.replace(honest, seq=10_000, payload=honest.payload.replace(b"5", b"6", 1))
    nodes[1].store.reports.append([LogEntry.of(forged, received_ms=0)])
    _close(net, nodes, 0)
    claims = prepare_all(nodes, 0)
    for i in (0, 2):
        assert nodes[i].store.reports.count(epoch=0) == len(reports)
        seal = nodes[i].runner.ledger.done(0, "seal")  # type: ignore[arg-type]
        assert seal is not None and seal.details["imported"] == 0
        assert sum(seal.details["refused"].values()) == 1
    assert claims[0] == claims[2] != claims[1]  # the honest two still agree (M = 2)
    assert _sealed_files(nodes[0], 0) == _sealed_files(nodes[2], 0)


def _signed_get(asker: OracleNode, url: str) -> httpx.Response:
    """GET `url` as the oracle `asker` (report-set routes answer configured oracles only)."""
    return httpx.get(url, headers=signed_headers(asker.signer, "GET", url))


def test_epoch_reports_are_refused_while_the_epoch_is_open(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    url = nodes[0].url + EPOCH_REPORTS_PATH.format(epoch=0)
    net.advance_to(nodes[0].runner.ingest_close_unix(0) - 1)
    net.chain.mine()
    resp = httpx.get(url, headers=signed_headers(nodes[1].signer, "GET", url))
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith("application/problem+json")
    _close(net, nodes, 0)
    assert _signed_get(nodes[1], url).status_code == 200
    unsigned = httpx.get(url)  # anyone else may not pull the report set
    assert unsigned.status_code == 401 and unsigned.json()["type"].endswith(":not_an_oracle")
    stranger = Signer.generate()
    assert httpx.get(url, headers=signed_headers(stranger, "GET", url)).status_code == 401
    stale = signed_headers(nodes[1].signer, "GET", url, now=int(time.time()) - 3_600)
    assert httpx.get(url, headers=stale).status_code == 401
    other_path = signed_headers(nodes[1].signer, "GET", url + "?limit=5")  # signed for another target
    assert httpx.get(url, headers=other_path).status_code == 401


def test_epoch_report_set_pages_cover_the_whole_set_once(oracles: tuple[SimNetwork, list[OracleNode]]) -> None:
    net, nodes = oracles
    _close(net, nodes, 0)
    base = nodes[0].url + EPOCH_REPORTS_PATH.format(epoch=0)
    whole = _signed_get(nodes[1], base).content.split(b"\n")
    pages: list[bytes] = []
    after = ""
    while True:
        url = base + "?limit=7" + (f"&after={after}" if after else "")
        page = [line for line in _signed_get(nodes[1], url).content.split(b"\n") if line]
        pages += page
        if len(page) < 7:
            break
        last = codec.loads(page[-1])
        after = f"{last.kind}/{last.device}/{last.seq}"
    assert pages == [line for line in whole if line]
    assert _signed_get(nodes[1], base + "?after=nonsense").status_code == 422


# -- equivocation: one device, two signed versions of one (device, seq) ----------------------


def _equivocate(net: SimNetwork, reports: list[Report]) -> tuple[Report, Report]:
    """Version a (an honest report) and version b: same device and seq, other signed content."""
    keys = {d.device_id: d.key for d in net.models["heartbeat"].population.devices}
    a = next(r for r in reports if r.device in keys)
    b = sign_report(dataclasses.replace(a, timestamp_ms=a.timestamp_ms + 1), keys[a.device])
    assert b != a and (b.device, b.seq) == (a.device, a.seq)
    return a, b


def _deliver(nodes: list[OracleNode], reports: list[Report], versions: dict[int, Report]) -> None:
    """Every report to every oracle, except that oracle i gets `versions[i]` of the equivocated key."""
    a = next(iter(versions.values()))
    for node in nodes:
        kept = [r for r in reports if (r.device, r.seq) != (a.device, a.seq)]
        if node.index in versions:
            kept.append(versions[node.index])
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in kept])


def _sealed_devices(node: OracleNode, epoch: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for rs in node.store.read_sealed(epoch).values():
        for r in rs:
            out[r.report.device] = out.get(r.report.device, 0) + 1
    return out


def test_reconcile_excludes_an_equivocating_device_so_all_seal_the_same_inputs(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    a, b = _equivocate(net, reports)
    _deliver(nodes, reports, {0: a, 1: b, 2: b})
    _close(net, nodes, 0)
    claims = prepare_all(nodes, 0)
    assert claims[0] == claims[1] == claims[2]  # root AND manifest hash
    files = [_sealed_files(n, 0) for n in nodes]
    assert files[0] == files[1] == files[2]
    assert EQUIVOCATIONS_FILE in files[0]
    evidence = read_equivocations(nodes[0].store.inputs_dir(0))
    assert [(e.device, e.seq) for e in evidence] == [(a.device, a.seq)]
    assert set(evidence[0].versions) == {codec.dumps(a).encode(), codec.dumps(b).encode()}
    # The device is out entirely; every other device's reports are all sealed.
    expected: dict[str, int] = {}
    for r in reports:
        if r.device != a.device:
            expected[r.device] = expected.get(r.device, 0) + 1
    assert _sealed_devices(nodes[0], 0) == expected
    for node in nodes:
        seal = node.runner.ledger.done(0, Stage.SEAL)
        assert seal is not None and seal.details["excluded_devices"] == [a.device]
        assert node.store.conflicts.count(0) == 1  # one other version each, the first kept
    # The operator sees why, and the manifest names the evidence.
    d = nodes[0].runner.epoch_dir(0)
    kinds = read_verdicts(d / EpochFile.VERDICTS)["kinds"]
    rows = [row for k in kinds.values() for row in k["invalid"] if row["reason"] == "equivocated"]
    assert [(row["device"], row["seq"]) for row in rows] == [(a.device, a.seq)]
    assert kinds[a.kind]["counts"]["equivocated"] == 1
    manifest = EpochManifest.from_bytes((d / EpochFile.MANIFEST).read_bytes())
    assert f"inputs/{EQUIVOCATIONS_FILE}" in {i.name for i in manifest.inputs}
    paid = {dv.device for o in RewardFile.from_bytes((d / EpochFile.REWARDS).read_bytes()).owners for dv in o.devices}
    assert a.device not in paid
    result = audit_epoch(d)
    assert result.ok, result.problems


@pytest.mark.round_seconds(5)
def test_reconcile_learns_a_version_through_a_peers_conflicts(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    """C (oracle 2) holds version a and cannot reach B (oracle 1, version b); A (oracle 0, a)
    reconciled first and serves b from /conflicts, so C still excludes the device."""
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    a, b = _equivocate(net, reports)
    _deliver(nodes, reports, {0: a, 1: b, 2: a})
    nodes[2].oracle.set_peers([nodes[0].url])
    _close(net, nodes, 0)
    claims = prepare_all(nodes, 0)
    assert claims[0] == claims[1] == claims[2]
    assert _sealed_files(nodes[0], 0) == _sealed_files(nodes[1], 0) == _sealed_files(nodes[2], 0)
    conflicts = _signed_get(nodes[1], nodes[0].url + EPOCH_CONFLICTS_PATH.format(epoch=0))
    assert conflicts.status_code == 200
    assert conflicts.content == codec.dumps(b).encode() + b"\n"


def test_reconcile_refuses_a_conflicting_version_with_a_bad_signature(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    a, _ = _equivocate(net, reports)
    forged = dataclasses.replace(a, timestamp_ms=a.timestamp_ms + 1)  # a's signature, other content
    _deliver(nodes, reports, {0: a, 1: forged, 2: a})
    _close(net, nodes, 0)
    claims = prepare_all(nodes, 0)
    assert claims[0] == claims[2] != claims[1]  # the honest two still agree (M = 2)
    for i in (0, 2):
        assert nodes[i].store.conflicts.count(0) == 0
        assert EQUIVOCATIONS_FILE not in _sealed_files(nodes[i], 0)
        assert a.device in _sealed_devices(nodes[i], 0)
        seal = nodes[i].runner.ledger.done(0, Stage.SEAL)
        assert seal is not None and seal.details["refused"] == {"signer_mismatch": 1}  # recovers to another key


def test_reconcile_ignores_a_resigned_copy_of_the_same_report(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    """Same signed digest, other (valid) signature bytes: the same statement, not evidence —
    the device stays in, and every oracle seals the smallest encoding whichever it logged."""
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    a, _ = _equivocate(net, reports)
    key = {d.device_id: d.key for d in net.models["heartbeat"].population.devices}[a.device]
    assert key.type is KeyType.SECP256K1
    extra_entropy = ffi.new("unsigned char[32]", bytes(range(32)))
    raw = key._signer.sign_recoverable(  # RFC 6979 with extra entropy: another valid nonce
        report_digest(a), hasher=None, custom_nonce=(lib.secp256k1_nonce_function_rfc6979, extra_entropy)
    )
    twin = dataclasses.replace(a, signature=bytes(raw[:64]) + bytes((raw[64] + 27,)))
    assert twin.signature != a.signature and check_signatures([twin]) == [None]
    _deliver(nodes, reports, {0: a, 1: twin, 2: a})
    _close(net, nodes, 0)
    claims = prepare_all(nodes, 0)
    assert claims[0] == claims[1] == claims[2]
    assert _sealed_files(nodes[0], 0) == _sealed_files(nodes[1], 0) == _sealed_files(nodes[2], 0)
    assert EQUIVOCATIONS_FILE not in _sealed_files(nodes[0], 0)
    smallest = min(codec.dumps(a).encode(), codec.dumps(twin).encode())
    sealed_lines = b"".join(_sealed_files(nodes[1], 0).values()).split(b"\n")
    assert smallest in sealed_lines
    for node in nodes:
        assert node.store.conflicts.count(0) == 1
        assert a.device in _sealed_devices(node, 0)
        seal = node.runner.ledger.done(0, Stage.SEAL)
        assert seal is not None and seal.details["refused"] == {}


def test_audit_flags_made_up_equivocation_evidence(oracles: tuple[SimNetwork, list[OracleNode]]) -> None:
    """An oracle that records a 'conflict' nobody signed excludes the device, and audit says so."""
    net, nodes = oracles
    reports = _epoch_reports(net, 0)
    a, _ = _equivocate(net, reports)
    _deliver(nodes, reports, {0: a, 1: a, 2: a})
    fake = dataclasses.replace(a, timestamp_ms=a.timestamp_ms + 1)  # not signed by the device
    nodes[0].store.conflicts.add([LogEntry.of(fake, received_ms=0)])
    nodes[0].oracle.set_peers([])
    _close(net, nodes, 0)
    nodes[0].runner.prepare(0)
    assert a.device not in _sealed_devices(nodes[0], 0)
    result = audit_epoch(nodes[0].runner.epoch_dir(0))
    assert not result.ok
    assert any("signature does not verify" in p for p in result.problems), result.problems


# -- cross-epoch equivocation: one seq signed for epoch 0 AND for epoch 1 ----------------------


def _next_epoch_version(net: SimNetwork, a: Report) -> Report:
    """The device signs `a`'s seq again, for the next epoch (same offset into it)."""
    key = {d.device_id: d.key for d in net.models["heartbeat"].population.devices}[a.device]
    shift_ms = net.settings.network.epoch_seconds * 1_000
    b = sign_report(dataclasses.replace(a, epoch=Epoch(a.epoch + 1), timestamp_ms=a.timestamp_ms + shift_ms), key)
    assert (b.device, b.seq) == (a.device, a.seq) and report_digest(b) != report_digest(a)
    return b


def _split_across_epochs(
    net: SimNetwork, nodes: list[OracleNode], *, late: bool, order: tuple[int, ...]
) -> tuple[Report, Report, list[Report]]:
    """Version a (epoch 0) to oracle 0 only, version b (epoch 1, same seq) to oracles 1 and 2 —
    before anyone seals epoch 0, or (`late`) while they agree on it. Prepares epoch 0 in `order`."""
    reports0, reports1 = _epoch_reports(net, 0), _epoch_reports(net, 1)
    a, _ = _equivocate(net, reports0)
    b = _next_epoch_version(net, a)
    _deliver(nodes, reports0, {0: a})
    if not late:
        for node in nodes[1:]:
            node.store.reports.append([LogEntry.of(b, received_ms=0)])
    _close(net, nodes, 0)

    def deliver_late() -> None:
        for node in nodes[1:]:  # still open for epoch 1, and they do not hold the seq yet
            assert node.store.reports.get(a.device, a.seq) is None
            node.store.reports.append([LogEntry.of(b, received_ms=0)])

    # `late`: b arrives while the agreement on epoch 0 runs (every batch already frozen).
    claims0 = prepare_all(nodes, 0, order, deliver_late if late else None)
    assert claims0[0] == claims0[1] == claims0[2]  # root AND manifest hash
    return a, b, reports1


@pytest.mark.parametrize(("late", "order"), [(False, (0, 1, 2)), (False, (2, 1, 0)), (True, (0, 1, 2))])
def test_reconcile_cross_epoch_equivocation_excludes_the_device_from_the_later_epoch_only(
    oracles: tuple[SimNetwork, list[OracleNode]], late: bool, order: tuple[int, ...]
) -> None:
    net, nodes = oracles
    a, b, reports1 = _split_across_epochs(net, nodes, late=late, order=order)
    files0 = [_sealed_files(n, 0) for n in nodes]
    assert files0[0] == files0[1] == files0[2]
    assert EQUIVOCATIONS_FILE not in files0[0]  # epoch 0 keeps version a, on every oracle
    assert codec.dumps(a).encode() in b"".join(files0[1].values()).split(b"\n")
    assert all(n.store.reports.get(a.device, a.seq) is not None for n in nodes)
    # Oracles 1 and 2 serve a for epoch 0 (they hold the seq for epoch 1).
    served = _signed_get(nodes[0], nodes[1].url + EPOCH_CONFLICTS_PATH.format(epoch=0))
    assert served.content == codec.dumps(a).encode() + b"\n"
    # Epoch 1: everyone knows both versions, so the device is out of epoch 1 everywhere.
    for node in nodes:
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in reports1])
    _close(net, nodes, 1)
    claims1 = prepare_all(nodes, 1, order)
    assert claims1[0] == claims1[1] == claims1[2]
    files1 = [_sealed_files(n, 1) for n in nodes]
    assert files1[0] == files1[1] == files1[2]
    evidence = read_equivocations(nodes[0].store.inputs_dir(1))
    assert [(e.device, e.seq) for e in evidence] == [(a.device, a.seq)]
    assert set(evidence[0].versions) == {codec.dumps(a).encode(), codec.dumps(b).encode()}
    assert a.device not in _sealed_devices(nodes[0], 1)
    assert a.device in _sealed_devices(nodes[0], 0)
    for node in nodes:
        seal = node.runner.ledger.done(1, Stage.SEAL)
        assert seal is not None and seal.details["excluded_devices"] == [a.device]
        for epoch in (0, 1):
            result = audit_epoch(node.runner.epoch_dir(epoch))
            assert result.ok, result.problems


def test_reconcile_refuses_a_cross_epoch_version_with_a_bad_signature(
    oracles: tuple[SimNetwork, list[OracleNode]],
) -> None:
    net, nodes = oracles
    reports0, reports1 = _epoch_reports(net, 0), _epoch_reports(net, 1)
    a, _ = _equivocate(net, reports0)
    shift_ms = net.settings.network.epoch_seconds * 1_000
    forged = dataclasses.replace(a, epoch=Epoch(1), timestamp_ms=a.timestamp_ms + shift_ms)  # a's signature
    _deliver(nodes, reports0, {0: a, 2: a})
    nodes[1].store.reports.append([LogEntry.of(forged, received_ms=0)])
    _close(net, nodes, 0)
    claims0 = prepare_all(nodes, 0)
    assert claims0[0] == claims0[1] == claims0[2]  # epoch 0 holds a everywhere
    for node in nodes:
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in reports1])
    _close(net, nodes, 1)
    claims1 = prepare_all(nodes, 1)
    assert claims1[0] == claims1[2] != claims1[1]  # the honest two still agree (M = 2)
    for i in (0, 2):
        assert nodes[i].store.conflicts.count(1) == 0
        assert EQUIVOCATIONS_FILE not in _sealed_files(nodes[i], 1)
        assert a.device in _sealed_devices(nodes[i], 1)
        seal = nodes[i].runner.ledger.done(1, Stage.SEAL)
        # Oracle 1 serves a as an earlier version of its key; without a valid epoch-1 version
        # it is no evidence for epoch 1.
        assert seal is not None and seal.details["refused"] == {"other_epoch": 1, "signer_mismatch": 1}
        result = audit_epoch(nodes[i].runner.epoch_dir(1))
        assert result.ok, result.problems
    # Oracle 1 logged the forgery itself: its evidence does not prove anything, and audit says so.
    result = audit_epoch(nodes[1].runner.epoch_dir(1))
    assert not result.ok
    assert any("signature does not verify" in p for p in result.problems), result.problems


def test_audit_flags_evidence_without_a_version_of_the_epoch(oracles: tuple[SimNetwork, list[OracleNode]]) -> None:
    """Evidence that the device double-signed, but only for epoch 0, cannot exclude it from epoch 1."""
    net, nodes = oracles
    a, _, reports1 = _split_across_epochs(net, nodes, late=False, order=(0, 1, 2))
    for node in nodes:
        node.store.reports.append([LogEntry.of(r, received_ms=0) for r in reports1])
    _close(net, nodes, 1)
    prepare_all(nodes, 1)
    d = nodes[0].runner.epoch_dir(1)
    assert audit_epoch(d).ok
    key = {dv.device_id: dv.key for dv in net.models["heartbeat"].population.devices}[a.device]
    c = sign_report(dataclasses.replace(a, timestamp_ms=a.timestamp_ms + 1), key)  # another epoch-0 version
    versions = tuple(sorted([codec.dumps(a).encode(), codec.dumps(c).encode()]))
    evidence = equivocations_to_bytes(1, [Equivocation(a.device, a.seq, versions)])
    # Rewrite the evidence and every digest that names it, so only the evidence check can object.
    inputs = d / INPUTS_DIR
    (inputs / EQUIVOCATIONS_FILE).write_bytes(evidence)
    sealed = InputManifest.from_json((inputs / INPUT_MANIFEST_NAME).read_bytes())
    assert sealed.equivocations is not None
    sealed = dataclasses.replace(
        sealed,
        equivocations=dataclasses.replace(
            sealed.equivocations, sha256=hashlib.sha256(evidence).hexdigest(), bytes=len(evidence)
        ),
    )
    (inputs / INPUT_MANIFEST_NAME).write_bytes(sealed.to_json())
    manifest = EpochManifest.from_bytes((d / EpochFile.MANIFEST).read_bytes())
    rewritten = tuple(
        dataclasses.replace(f, sha256=hashlib.sha256((d / f.name).read_bytes()).hexdigest(), size=len((d / f.name).read_bytes()))
        for f in manifest.inputs
    )
    (d / EpochFile.MANIFEST).write_bytes(dataclasses.replace(manifest, inputs=rewritten).to_bytes())
    result = audit_epoch(d)
    assert not result.ok
    assert any("needs a version of epoch 1" in p for p in result.problems), result.problems


@pytest.mark.parametrize(
    "body", [b"x" * (3 << 20), b"garbage\n{not json}\n[1,2]\n", b"\n" * 1000 + b'{"version": 1e400}\n']
)
def test_reconcile_survives_a_hostile_peer(tmp_path: Path, body: bytes) -> None:
    """An endless line, garbage, absurd numbers: the peer is skipped or its lines refused,
    never an exception, and nothing is imported."""
    from fastapi import FastAPI, Response
    from fastapi.testclient import TestClient

    from opendepin.network.settings import Settings
    from opendepin.oracle.sync import reconcile
    from opendepin.proofs.registry import kinds_for

    hostile = FastAPI()

    @hostile.get("/v1/epochs/{epoch}/reports")
    def reports(epoch: int) -> Response:
        return Response(body, media_type="application/x-ndjson")

    settings = Settings()
    with Store(tmp_path / "data") as store, TestClient(hostile) as client:
        result = reconcile(
            epoch=0, store=store, settings=settings, peers=["http://hostile"], http=client,
            devices=dict, modules=kinds_for(settings),
        )
    assert result.imported == 0
    assert result.skipped_peers == ("http://hostile",) or sum(result.refused.values()) >= 1


def test_epoch_export_is_rate_limited_per_caller(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from opendepin.oracle.sync import EPOCH_CONFLICTS_PATH, EXPORT_BURST, reports_router

    with Store(tmp_path / "data") as store:
        app = FastAPI()
        app.include_router(reports_router(store, lambda e: True, lambda e: 0))
        with TestClient(app) as first, TestClient(app, client=("10.0.0.2", 5000)) as second:
            paths = [EPOCH_REPORTS_PATH.format(epoch=0), EPOCH_CONFLICTS_PATH.format(epoch=0)]
            answers = [first.get(paths[i % 2]) for i in range(EXPORT_BURST)]
            assert {a.status_code for a in answers} == {200}
            refused = first.get(paths[0])
            assert refused.status_code == 429
            assert refused.json()["type"].endswith(":busy")
            assert int(refused.headers["Retry-After"]) >= 1
            assert second.get(paths[1]).status_code == 200  # another caller has its own bucket
