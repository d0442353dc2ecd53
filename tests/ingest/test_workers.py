"""Signature worker processes: the same results as in-process, whatever happens to a worker."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import ValidationError

from opendepin.identity import DeviceKey, KeyType
from opendepin.ingest import IngestPipeline, RegistryMirror
from opendepin.ingest.pipeline import signature_workers
from opendepin.ingest.workers import (
    MIN_PARALLEL_JOBS,
    SignatureWorkers,
    default_worker_count,
    shared_workers,
)
from opendepin.network.settings import IngestSection
from opendepin.reports.eip712 import report_digest
from opendepin.reports.verify import (
    SIGNATURE_FAILURES,
    SignatureJob,
    check_signatures,
    verify_signature_jobs,
)
from opendepin.store import Store

from .support import make_settings, sign

N_JOBS = 4 * MIN_PARALLEL_JOBS


def _jobs(n: int) -> list[SignatureJob]:
    """Valid jobs of both key types, and failing ones of every kind, interleaved."""
    keys = [DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519)]
    jobs: list[SignatureJob] = []
    for i in range(n):
        report = sign(keys[i % 2], i + 1)
        sig, key, digest = report.signature, report.signer_key, report_digest(report)
        match i % 6:
            case 1:
                sig = sig[:-1] + bytes((sig[-1] ^ 1,))  # v = 28 ↔ 27, or a flipped ed25519 bit
            case 2:
                sig = sig[:10]
            case 3:
                digest = bytes(32)  # a valid signature over other bytes
            case 4:
                sig = b"\xff" * len(sig)
        jobs.append((sig, key, digest))
    return jobs


@pytest.fixture(scope="module")
def jobs() -> list[SignatureJob]:
    return _jobs(N_JOBS)


@pytest.fixture(scope="module")
def workers() -> Iterator[SignatureWorkers]:
    """One private set for the module (every test leaves it working)."""
    w = SignatureWorkers(2)
    yield w
    w.close()


def test_workers_give_the_in_process_results(workers: SignatureWorkers, jobs: list[SignatureJob]) -> None:
    expected = verify_signature_jobs(jobs)
    assert {type(r) for r in expected} == {bytes, int}
    assert len({r for r in expected if isinstance(r, int)}) >= 3
    before = workers.jobs_on_workers
    assert workers.run(jobs) == expected
    assert workers.jobs_on_workers - before == len(jobs)
    assert len(workers.pids()) == 2


def test_small_batches_never_start_the_workers(jobs: list[SignatureJob]) -> None:
    unstarted = SignatureWorkers(2)
    few = jobs[: MIN_PARALLEL_JOBS - 1]
    assert unstarted.run(few) == verify_signature_jobs(few)
    assert unstarted.pids() == [] and unstarted.jobs_on_workers == 0


def test_a_killed_worker_is_replaced_and_its_chunk_verified_here(
    workers: SignatureWorkers, jobs: list[SignatureJob]
) -> None:
    workers.start(wait=True)
    victim = workers._workers[0]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait()
    assert workers.run(jobs) == verify_signature_jobs(jobs)
    pids = workers.pids()
    assert len(pids) == 2 and victim.process.pid not in pids
    assert workers.run(jobs) == verify_signature_jobs(jobs)  # the replacement works


def test_a_job_that_raises_raises_in_the_caller(
    workers: SignatureWorkers, jobs: list[SignatureJob]
) -> None:
    bad: list[Any] = [*jobs, (None, b"", bytes(32))]
    with pytest.raises(TypeError):
        verify_signature_jobs(bad)
    workers.start(wait=True)
    pids = workers.pids()
    with pytest.raises(TypeError):
        workers.run(bad)
    assert workers.pids() == pids  # the worker said so; it was not replaced
    assert workers.run(jobs) == verify_signature_jobs(jobs)


def test_jobs_that_cannot_be_pickled_are_verified_here(
    workers: SignatureWorkers, jobs: list[SignatureJob]
) -> None:
    workers.start(wait=True)
    pids = workers.pids()
    odd: list[Any] = [(memoryview(sig), key, digest) for sig, key, digest in jobs[:2]] + jobs
    assert workers.run(odd) == verify_signature_jobs(odd)
    assert workers.pids() == pids


def test_concurrent_callers_each_get_their_results(workers: SignatureWorkers) -> None:
    batches = [_jobs(MIN_PARALLEL_JOBS + 7 * k) for k in range(6)]
    expected = [verify_signature_jobs(b) for b in batches]
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda b: [workers.run(b) for _ in range(3)], batches))
    assert got == [[e] * 3 for e in expected]


def test_close_stops_the_workers_and_a_later_run_starts_new_ones(
    workers: SignatureWorkers, jobs: list[SignatureJob]
) -> None:
    workers.start(wait=True)
    old = list(workers._workers)
    workers.close()
    assert workers.pids() == []
    assert all(w.process.returncode is not None for w in old)
    assert workers.run(jobs) == verify_signature_jobs(jobs)
    assert len(workers.pids()) == 2


def test_check_signatures_on_workers_gives_the_same_verdicts(workers: SignatureWorkers) -> None:
    keys = [DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519), DeviceKey.generate()]
    reports = [sign(keys[i % 3], i + 1) for i in range(N_JOBS)]
    forged = [
        dataclasses.replace(r, signature=keys[2].sign_digest(report_digest(r))) if i % 4 == 0 else r
        for i, r in enumerate(reports)
    ]
    expected = check_signatures(forged)
    assert any(e is not None for e in expected) and any(e is None for e in expected)
    assert check_signatures(forged, workers.run) == expected


def test_a_worker_set_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        SignatureWorkers(0)


def test_failure_indices_name_bad_signature_rejections() -> None:
    assert all(r.reason == "bad_signature" for r in SIGNATURE_FAILURES)


def test_pipelines_share_one_worker_set_per_size(store: Store) -> None:
    mirror = RegistryMirror()
    a = IngestPipeline(make_settings(verify_workers=2), store, mirror)
    b = IngestPipeline(make_settings(verify_workers=2), store, mirror)
    assert a.workers is b.workers is shared_workers(2)
    assert IngestPipeline(make_settings(verify_workers=0), store, mirror).workers is None
    default = signature_workers(make_settings())
    if default_worker_count() == 0:
        assert default is None
    else:
        assert default is not None and default.count == default_worker_count()


def test_a_forked_child_starts_its_own_workers(
    workers: SignatureWorkers, jobs: list[SignatureJob]
) -> None:
    workers.start(wait=True)
    parent_pids = workers.pids()
    expected = verify_signature_jobs(jobs)
    pid = os.fork()
    if pid == 0:  # the child: the parent's workers are not its own
        code = 1
        try:
            mine = workers.run(jobs) == expected and not set(workers.pids()) & set(parent_pids)
            workers.close()
            code = 0 if mine else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert workers.pids() == parent_pids
    assert workers.run(jobs) == expected


def test_verify_workers_cannot_be_negative() -> None:
    with pytest.raises(ValidationError, match="verify_workers"):
        IngestSection(verify_workers=-1)
    assert IngestSection().verify_workers is None


def _wire_items(n: int) -> list[Any]:
    """Wire items of both key types, some failing to decode or to verify."""
    from opendepin.reports import codec

    keys = [DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519)]
    items: list[Any] = []
    for i in range(n):
        report = sign(keys[i % 2], i + 1)
        if i % 5 == 1:
            report = dataclasses.replace(report, signature=b"\xff" * len(report.signature))
        item: Any = codec.to_json(report)
        if i % 7 == 3:
            item = {**item, "seq": "x"}
        items.append(item)
    return items


def _prepare_here(items: list[Any], payloads: Any) -> list[Any]:
    from opendepin.ingest.workers import prepare_reports

    net = make_settings().network
    return prepare_reports(items, net.network_id, net.chain_id, [True] * len(items), payloads)


def test_prepare_on_workers_gives_the_in_process_results(workers: SignatureWorkers) -> None:
    from opendepin.ingest.pipeline import default_payload_registry

    items = _wire_items(N_JOBS)
    payloads = default_payload_registry(make_settings())
    net = make_settings().network
    expected = _prepare_here(items, payloads)
    assert {type(p) for p in expected} == {tuple, type(SIGNATURE_FAILURES[0])}
    assert all(p[7] is not False for p in expected if isinstance(p, tuple) and p[6] is True)
    before = workers.jobs_on_workers
    got = workers.prepare(items, net.network_id, net.chain_id, [True] * len(items), payloads)
    assert got == expected
    assert workers.jobs_on_workers - before == len(items)


def test_prepare_leaves_payloads_a_worker_cannot_load_to_the_caller(workers: SignatureWorkers) -> None:
    from opendepin.reports.verify import PayloadRegistry

    items = _wire_items(N_JOBS)
    payloads = PayloadRegistry()
    payloads.register("heartbeat", lambda payload: None)  # a closure: cannot be pickled
    net = make_settings().network
    got = workers.prepare(items, net.network_id, net.chain_id, [True] * len(items), payloads)
    assert got == _prepare_here(items, None)
    assert _prepare_here(items, payloads) != got  # here, the payloads are checked


def test_a_killed_worker_during_prepare_is_replaced_and_its_chunk_prepared_here(
    workers: SignatureWorkers,
) -> None:
    items = _wire_items(N_JOBS)
    net = make_settings().network
    workers.start(wait=True)
    victim = workers._workers[1]
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait()
    flags = [True] * len(items)
    assert workers.prepare(items, net.network_id, net.chain_id, flags, None) == _prepare_here(items, None)
    assert victim.process.pid not in workers.pids() and len(workers.pids()) == 2
    assert workers.prepare(items, net.network_id, net.chain_id, flags, None) == _prepare_here(items, None)


def test_start_with_payloads_loads_them_on_every_worker() -> None:
    from opendepin.ingest.pipeline import default_payload_registry

    fresh = SignatureWorkers(2)
    try:
        fresh.start(wait=True, payloads=default_payload_registry(make_settings()))
        pids = fresh.pids()
        assert len(pids) == 2
        fresh.start(wait=False, payloads=default_payload_registry(make_settings()))  # in a thread
        items = _wire_items(N_JOBS)
        net = make_settings().network
        payloads = default_payload_registry(make_settings())
        got = fresh.prepare(items, net.network_id, net.chain_id, [True] * len(items), payloads)
        assert got == _prepare_here(items, payloads)
        assert fresh.pids() == pids
    finally:
        fresh.close()
