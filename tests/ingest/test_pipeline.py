"""Signatures verified on worker processes give the sequential path's outcomes, byte for byte.

Each test sends the same requests to two ingest apps over two fresh databases of the same
backend (SQLite and PostgreSQL): one verifying every signature in the request's thread
(`ingest.verify_workers = 0`), one on two worker processes. The batches mix valid reports of
both key types with every way a signature can fail, placed between reports that fail an
earlier or a later check, so any difference in a verdict, in the order of the checks or in
what was stored would show.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendepin.identity import DeviceKey, KeyType
from opendepin.ingest import IngestPipeline, RegistryMirror, create_app
from opendepin.ingest.workers import MIN_PARALLEL_JOBS
from opendepin.records import DeviceRecord
from opendepin.reports.eip712 import report_digest
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import SECP256K1_ORDER
from opendepin.store import Store
from opendepin.store.testing import BACKENDS, temporary_database_url
from opendepin.types import Address

from .support import EPOCH, NOW_MS, make_settings, sign, wire

WORKERS = 2
SEQS_PER_DEVICE = 12


@dataclasses.dataclass
class Fleet:
    secp: list[DeviceKey]
    ed: list[DeviceKey]
    inactive: DeviceKey
    unregistered: DeviceKey
    mirror: RegistryMirror


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    secp = [DeviceKey.generate() for _ in range(6)]
    ed = [DeviceKey.generate(KeyType.ED25519) for _ in range(3)]
    inactive = DeviceKey.generate()
    owner = Address("0x" + "22" * 20)
    records = [DeviceRecord(k.device_id, owner, "heartbeat", 0, True) for k in secp + ed]
    records.append(DeviceRecord(inactive.device_id, owner, "heartbeat", 0, False))
    return Fleet(secp, ed, inactive, DeviceKey.generate(), RegistryMirror(records))


@pytest.fixture(params=BACKENDS)
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two empty stores on the same backend."""
    with (
        temporary_database_url(request.param, tmp_path) as url_a,
        temporary_database_url(request.param, tmp_path) as url_b,
    ):
        a, b = Store(tmp_path / "a", url_a), Store(tmp_path / "b", url_b)
        try:
            yield a, b
        finally:
            a.close()
            b.close()


def _high_s(report: Report) -> Report:
    sig = report.signature
    s = int.from_bytes(sig[32:64], "big")
    v = 27 + (1 - (sig[64] - 27))  # negating s flips the recovery id: valid but malleated
    return dataclasses.replace(
        report, signature=sig[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes((v,))
    )


def _secp_variant(report: Report, i: int, other: DeviceKey) -> Report:
    """The i-th way a secp256k1 report can carry a bad signature (or none: a valid report)."""
    sig = report.signature
    match i % 8:
        case 1:
            return dataclasses.replace(report, signature=sig[:64] + b"\x1d")  # v = 29
        case 2:
            return _high_s(report)
        case 3:  # a valid signature, by another registered device
            return dataclasses.replace(report, signature=other.sign_digest(report_digest(report)))
        case 4:
            return dataclasses.replace(report, signature=sig[:64])  # 64 bytes and no key
        case 5:  # r beyond the group order: nothing can be recovered
            return dataclasses.replace(report, signature=b"\xff" * 32 + sig[32:])
        case 6:  # the right signature over other bytes
            return dataclasses.replace(report, timestamp_ms=report.timestamp_ms - 1)
        case _:
            return report


def _ed_variant(report: Report, i: int, other: DeviceKey) -> Report:
    sig = report.signature
    match i % 5:
        case 1:
            return dataclasses.replace(report, signature=sig[:63] + bytes((sig[63] ^ 1,)))
        case 2:  # signed by another ed25519 device, with that device's key
            forged = dataclasses.replace(report, signer_key=other.public_key)
            return dataclasses.replace(forged, signature=other.sign_digest(report_digest(forged)))
        case 3:
            return dataclasses.replace(report, signer_key=report.signer_key[:31])
        case _:
            return report


def mixed_batch(fleet: Fleet, first_seq: int) -> list[Any]:
    """Every device's next reports, signatures failing every way, among other rejections."""
    items: list[Any] = []
    for n in range(SEQS_PER_DEVICE):
        seq = first_seq + n
        for d, key in enumerate(fleet.secp):
            other = fleet.secp[(d + 1) % len(fleet.secp)]
            items.append(wire(_secp_variant(sign(key, seq), n + d, other)))
        for d, key in enumerate(fleet.ed):
            other = fleet.ed[(d + 1) % len(fleet.ed)]
            items.append(wire(_ed_variant(sign(key, seq), n + d, other)))
        # Earlier checks decide first, later ones only for a good signature:
        items.append(wire(sign(fleet.unregistered, seq)))
        items.append(wire(sign(fleet.inactive, seq)))
        items.append(wire(_high_s(sign(fleet.secp[0], seq, network_id="other-net"))))
        items.append(wire(_high_s(sign(fleet.secp[1], seq, timestamp_ms=NOW_MS - 3 * 3_600_000))))
        items.append(wire(sign(fleet.secp[2], seq, timestamp_ms=NOW_MS - 3 * 3_600_000)))
        items.append(wire(sign(fleet.secp[3], seq, payload={"lat_e7": 1})))
        items.append(wire(sign(fleet.secp[4], seq, epoch=EPOCH - 1)))
        items.append(items[n % 5])  # a copy of an earlier report: replayed, or the same failure
        items.append({"not": "a report"})
    return items


def post(client: TestClient, items: list[Any]) -> bytes:
    resp = client.post("/v1/reports", json={"reports": items})
    assert resp.status_code == 200, resp.text
    return resp.content


def stored(store: Store) -> list[tuple[str, int, bytes]]:
    entries = store.reports.iter_epoch(EPOCH, "heartbeat")
    return sorted((e.device, e.seq, e.wire) for e in entries)


def _apps(
    fleet: Fleet, stores: tuple[Store, Store]
) -> tuple[TestClient, TestClient, IngestPipeline]:
    sequential = create_app(make_settings(verify_workers=0), stores[0], fleet.mirror, clock=lambda: NOW_MS)
    parallel = create_app(
        make_settings(verify_workers=WORKERS), stores[1], fleet.mirror, clock=lambda: NOW_MS
    )
    assert sequential.state.pipeline.workers is None
    assert parallel.state.pipeline.workers.count == WORKERS
    return TestClient(sequential), TestClient(parallel), parallel.state.pipeline


def test_parallel_verdicts_are_the_sequential_ones(
    fleet: Fleet, two_stores: tuple[Store, Store]
) -> None:
    seq_client, par_client, pipeline = _apps(fleet, two_stores)
    assert pipeline.workers is not None
    before = pipeline.workers.jobs_on_workers
    results: list[dict[str, Any]] = []
    for first_seq in (1, 1 + SEQS_PER_DEVICE, 1):  # the last batch: all replays and failures
        batch = mixed_batch(fleet, first_seq)
        expected = post(seq_client, batch)
        assert post(par_client, batch) == expected
        results += json.loads(expected)["results"]
    assert pipeline.workers.jobs_on_workers - before >= MIN_PARALLEL_JOBS  # really offloaded

    reasons = {r["reason"] for r in results}
    assert {
        RejectReason.BAD_SIGNATURE,
        RejectReason.SIGNER_MISMATCH,
        RejectReason.REPLAYED,
        RejectReason.UNKNOWN_DEVICE,
        RejectReason.INACTIVE_DEVICE,
        RejectReason.WRONG_NETWORK,
        RejectReason.STALE,
        RejectReason.MALFORMED_PAYLOAD,
        RejectReason.WRONG_EPOCH,
        RejectReason.MALFORMED,
    } <= reasons
    messages = {r["message"] for r in results if r["reason"] == RejectReason.BAD_SIGNATURE}
    assert len(messages) == 5  # v, high s, shape (a short ed25519 key too), unrecoverable, ed25519
    assert stored(two_stores[1]) == stored(two_stores[0])
    assert two_stores[0].reports.count() > 0
    assert two_stores[1].reports.last_seqs() == two_stores[0].reports.last_seqs()


def test_parallel_verdicts_hold_under_concurrent_requests(
    fleet: Fleet, two_stores: tuple[Store, Store]
) -> None:
    """Several requests in flight share the workers; each still gets its own verdicts."""
    seq_client, par_client, _ = _apps(fleet, two_stores)
    batches = [mixed_batch(fleet, 1 + k * SEQS_PER_DEVICE) for k in range(4)]
    expected = [post(seq_client, b) for b in batches]
    # Concurrent requests carry disjoint devices here, so their order does not matter.
    by_device: list[list[list[Any]]] = [[] for _ in range(4)]
    for batch in batches:
        for j in range(4):
            by_device[j].append([it for it in batch if _owner(it) % 4 == j])
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda j: [post(par_client, b) for b in by_device[j]], range(4)))
    for j in range(4):
        for k in range(4):
            part = json.loads(got[j][k])
            full = [r for r in json.loads(expected[k])["results"] if _owner(batches[k][r["index"]]) % 4 == j]
            assert [_no_index(r) for r in part["results"]] == [_no_index(r) for r in full]
    assert stored(two_stores[1]) == stored(two_stores[0])


def _owner(item: Any) -> int:
    device = item.get("device") if isinstance(item, dict) else None
    return int(device, 16) if isinstance(device, str) else 0


def _no_index(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "index"}


def test_small_batches_are_verified_in_the_request_thread(
    fleet: Fleet, two_stores: tuple[Store, Store]
) -> None:
    seq_client, par_client, pipeline = _apps(fleet, two_stores)
    assert pipeline.workers is not None
    before = pipeline.workers.jobs_on_workers
    batch = mixed_batch(fleet, 1)[: MIN_PARALLEL_JOBS - 1]
    assert post(par_client, batch) == post(seq_client, batch)
    assert pipeline.workers.jobs_on_workers == before
