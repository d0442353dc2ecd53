"""`IngestPipeline.process` (stateless checks prepared on workers, the rest fused in one loop)
gives exactly the outcomes and the stored rows of `process_reference` (the checks one by one).

Both run the same batches on their own stores, on arbitrary sequences drawn from a pool that
fails every check in every way (and passes them all), mixed with arbitrary JSON and with wire
objects carrying an arbitrary value in one field; between batches the ingest clock may move
past the epoch's close, the epoch may be sealed, and a second pipeline on the same store (its
replay table not knowing the first's reports) may take the next batch.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opendepin.identity import DeviceKey, KeyType
from opendepin.ingest import IngestPipeline, IngestReason, RegistryMirror
from opendepin.ingest.pipeline import default_payload_registry
from opendepin.ingest.workers import MIN_PARALLEL_JOBS, prepare_reports
from opendepin.records import DeviceRecord
from opendepin.reports.codec import WIRE_FIELDS
from opendepin.reports.eip712 import report_digest
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import SECP256K1_ORDER, PayloadRegistry
from opendepin.store import Store
from opendepin.store.testing import BACKENDS, temporary_database_url
from opendepin.types import Address

from .support import EPOCH, EPOCH_SECONDS, GENESIS_UNIX, NOW_MS, make_settings, sign, wire

END_MS = (GENESIS_UNIX + (EPOCH + 1) * EPOCH_SECONDS) * 1_000
CLOSED_MS = END_MS + make_settings().network.report_grace_seconds * 1_000
"""An ingest clock at which epoch `EPOCH` is closed for reports."""
LAST_SECOND_MS = END_MS - 1_000
"""Stamped in the epoch's last second: FUTURE at NOW_MS, EPOCH_CLOSED at CLOSED_MS."""

_secp = [DeviceKey.generate() for _ in range(3)]
_ed = DeviceKey.generate(KeyType.ED25519)
_inactive = DeviceKey.generate()
_unregistered = DeviceKey.generate()
_owner = Address("0x" + "33" * 20)
RECORDS = [DeviceRecord(k.device_id, _owner, "heartbeat", 0, True) for k in [*_secp, _ed]]
RECORDS.append(DeviceRecord(_inactive.device_id, _owner, "heartbeat", 0, False))


def _high_s(sig: bytes) -> bytes:
    s = int.from_bytes(sig[32:64], "big")
    return sig[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes((27 + 28 - sig[64],))


def _bad_checksum(device: str) -> str:
    """`device` with the case of its first letter flipped: mixed case, wrong EIP-55 checksum."""
    at = next(i for i, c in enumerate(device) if i >= 2 and c.isalpha())
    return device[:at] + device[at].swapcase() + device[at + 1 :]


def _pool() -> list[Any]:
    """Items that pass every check, and items that fail each one in each way."""
    items: list[Any] = []
    for seq in range(1, 5):
        for key in [*_secp, _ed]:
            items.append(wire(sign(key, seq)))
    a, b = _secp[0], _secp[1]
    good = sign(a, 7)
    items += [
        wire(sign(_unregistered, 2)),
        wire(sign(_inactive, 2)),
        wire(sign(a, 8, network_id="other-net")),
        wire(sign(a, 9, chain_id=1)),
        wire(dataclasses.replace(good, signature=good.signature[:64] + b"\x1d")),  # v = 29
        wire(dataclasses.replace(good, signature=_high_s(good.signature))),
        wire(dataclasses.replace(good, signature=good.signature[:64])),  # 64 bytes, no key
        wire(dataclasses.replace(good, signature=b"\xff" * 32 + good.signature[32:])),
        wire(dataclasses.replace(good, signature=b.sign_digest(report_digest(good)))),  # mismatch
        wire(dataclasses.replace(good, timestamp_ms=good.timestamp_ms - 1)),  # other bytes
        wire(sign(b, 10, timestamp_ms=NOW_MS - 3 * 3_600_000)),  # stale
        wire(sign(b, 11, timestamp_ms=NOW_MS + 3_600_000)),  # future
        wire(sign(b, 12, epoch=EPOCH - 1)),  # wrong epoch
        wire(sign(b, 13, timestamp_ms=LAST_SECOND_MS)),  # future now, epoch_closed later
        wire(sign(_secp[2], 14, payload={"lat_e7": 1})),  # malformed payload
        wire(sign(_secp[2], 15, kind="nosuchkind")),  # unknown kind
        wire(sign(_secp[2], 16, kind="coverage", payload={"x": 1})),  # another kind's schema
        "not a report",
        {"not": "a report"},
        None,
        [wire(good)],
    ]
    ed = sign(_ed, 7)
    other_ed = DeviceKey.generate(KeyType.ED25519)
    forged = dataclasses.replace(ed, signer_key=other_ed.public_key)
    items += [
        wire(dataclasses.replace(ed, signature=ed.signature[:63] + bytes((ed.signature[63] ^ 1,)))),
        wire(dataclasses.replace(forged, signature=other_ed.sign_digest(report_digest(forged)))),
        wire(dataclasses.replace(ed, signer_key=ed.signer_key[:31])),
    ]
    broken = wire(sign(a, 20))
    items += [
        {k: v for k, v in broken.items() if k != "signature"},
        {**broken, "seq": "20"},
        {**broken, "seq": True},
        {**broken, "payload": {"lat_e7": 1.5, "lon_e7": 0}},
        {**broken, "payload": {"lat_e7": 2**70, "lon_e7": 0}},
        {**broken, "device": _bad_checksum(broken["device"])},
        {**broken, "device": broken["device"].lower()},  # no checksum: valid, same device
        {**broken, "signature": "0x" + "zz" * 65},
        {**broken, "signature": "0x 1" + broken["signature"][4:]},
        {**broken, "extra": 1},
    ]
    return items


POOL = _pool()
LATE = [wire(sign(key, 30)) for key in _secp]
"""Valid reports with seqs above the pool's, for a batch after the pool's."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
"""Arbitrary JSON values (what a hostile client can send)."""


@st.composite
def one_field_off(draw: st.DrawFn) -> Any:
    """A pool wire object with one field given an arbitrary value, or dropped."""
    base = draw(st.sampled_from([it for it in POOL if isinstance(it, dict) and it.keys() == WIRE_FIELDS]))
    name = draw(st.sampled_from(sorted(WIRE_FIELDS)))
    if draw(st.booleans()):
        return {k: v for k, v in base.items() if k != name}
    return {**base, name: draw(json_values)}


items = st.one_of(st.sampled_from(POOL + LATE), st.sampled_from(POOL), one_field_off(), json_values)


@dataclasses.dataclass
class Step:
    """One batch and the state it meets."""

    items: list[Any]
    closed: bool
    """The ingest clock is past the epoch's close."""
    seal: bool
    """Seal the epoch first."""
    second: bool
    """The batch goes to the store's second pipeline."""


steps = st.builds(
    Step,
    items=st.builds(
        lambda batch, copies: batch * copies,  # copies: long enough for the workers
        st.lists(items, max_size=MIN_PARALLEL_JOBS),
        st.sampled_from([1, 1, 4]),
    ),
    closed=st.booleans(),
    seal=st.integers(0, 9).map(lambda n: n == 0),
    second=st.booleans(),
)


def _closure_payloads() -> PayloadRegistry:
    """The default validators behind closures: nothing a worker can unpickle, so `process`
    checks the payloads in the caller."""
    inner = default_payload_registry(make_settings())
    registry = PayloadRegistry()
    for kind in inner.kinds():
        registry.register(kind, lambda payload, kind=kind: inner._validators[kind](payload))
    return registry


class Side:
    """A store and two pipelines on it, all run by `process` or all by `process_reference`."""

    def __init__(self, store: Store, clock: Callable[[], int], workers: int, payloads: PayloadRegistry | None, reference: bool) -> None:
        self.store = store
        self.pipelines = [
            IngestPipeline(make_settings(verify_workers=workers), store, RegistryMirror(RECORDS), clock, payloads)
            for _ in range(2)
        ]
        self.reference = reference

    def run(self, step: Step) -> list[Any]:
        if step.seal:
            self.store.seal_epoch(EPOCH)
        pipeline = self.pipelines[step.second]
        return (pipeline.process_reference if self.reference else pipeline.process)(step.items)

    def rows(self) -> list[tuple[Any, ...]]:
        return sorted(
            (e.device, e.seq, e.epoch, e.kind, e.received_ms, e.wire)
            for kind in self.store.reports.kinds(EPOCH)
            for e in self.store.reports.iter_epoch(EPOCH, kind)
        )


def _agree(fast: Side, ref: Side, now: list[int], batches: list[Step]) -> list[Any]:
    seen: list[Any] = []
    for step in batches:
        now[0] = CLOSED_MS if step.closed else NOW_MS
        expected = ref.run(step)
        assert fast.run(step) == expected
        seen += expected
    assert fast.rows() == ref.rows()
    for a, b in zip(fast.pipelines, ref.pipelines, strict=True):
        assert a.sequences.snapshot() == b.sequences.snapshot()
    return seen


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@pytest.mark.parametrize(("workers", "closures"), [(0, False), (2, False), (2, True)])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(steps, min_size=1, max_size=4))
def test_process_agrees_with_the_reference(scratch: Path, workers: int, closures: bool, batches: list[Step]) -> None:
    now = [NOW_MS]
    payloads = _closure_payloads() if closures else None
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        fast_store, ref_store = Store(Path(tmp) / "f"), Store(Path(tmp) / "r")
        try:
            fast = Side(fast_store, lambda: now[0], workers, payloads, reference=False)
            ref = Side(ref_store, lambda: now[0], 0, payloads, reference=True)
            _agree(fast, ref, now, batches)
        finally:
            fast_store.close()
            ref_store.close()


@pytest.mark.parametrize("closures", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_reason_agrees_on_both_databases(tmp_path: Path, backend: Any, closures: bool) -> None:
    """A fixed run meeting every rejection reason, the worker path taken, on both databases
    (with validators the workers can load, and with closures the caller must run)."""
    now = [NOW_MS]
    payloads = _closure_payloads() if closures else None
    with temporary_database_url(backend, tmp_path) as url_f, temporary_database_url(backend, tmp_path) as url_r:
        fast_store, ref_store = Store(tmp_path / "f", url_f), Store(tmp_path / "r", url_r)
        try:
            fast = Side(fast_store, lambda: now[0], 2, payloads, reference=False)
            ref = Side(ref_store, lambda: now[0], 0, payloads, reference=True)
            workers = fast.pipelines[0].workers
            assert workers is not None
            before = workers.jobs_on_workers
            batches = [
                Step(POOL + POOL[:8], closed=False, seal=False, second=False),  # copies: replays
                Step(POOL[:16], closed=False, seal=False, second=True),  # in the log already
                Step(POOL, closed=True, seal=False, second=False),
                Step(POOL + LATE, closed=False, seal=True, second=False),
            ]
            seen = _agree(fast, ref, now, batches)
            assert workers.jobs_on_workers - before >= len(POOL)
        finally:
            fast_store.close()
            ref_store.close()
    reasons = {o.reason for o in seen}
    assert reasons == {None, *RejectReason, *IngestReason}
    messages = {o.message for o in seen if o.reason == RejectReason.REPLAYED}
    assert any("earlier in this batch" in m for m in messages)
    assert any("already in the report log" in m for m in messages)
    assert any("last accepted seq" in m for m in messages)


class FlippingMirror(RegistryMirror):
    """A mirror that knows no device when `process` guesses which signatures are worth
    checking on a worker, and every device when it checks the registry: as if the registry
    had changed in between, for every report."""

    def get(self, device: str) -> DeviceRecord | None:
        if sys._getframe(1).f_code.co_name == "_worth_verifying":
            return None
        return super().get(device)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_signature_not_checked_on_a_worker_is_checked_here(tmp_path: Path, workers: int) -> None:
    batch = POOL * 2
    with Store(tmp_path / "f") as fast_store, Store(tmp_path / "r") as ref_store:
        fast = IngestPipeline(make_settings(verify_workers=workers), fast_store, FlippingMirror(RECORDS), lambda: NOW_MS)
        ref = IngestPipeline(make_settings(verify_workers=0), ref_store, RegistryMirror(RECORDS), lambda: NOW_MS)
        got = fast.process(batch)
        assert got == ref.process_reference(batch)
        assert {RejectReason.BAD_SIGNATURE, RejectReason.SIGNER_MISMATCH, None} <= {o.reason for o in got}
        assert sorted(e.wire for e in fast_store.reports.iter_epoch(EPOCH, "heartbeat")) == sorted(
            e.wire for e in ref_store.reports.iter_epoch(EPOCH, "heartbeat")
        )


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(items, max_size=12), verify=st.lists(st.booleans(), min_size=12, max_size=12))
def test_prepare_reports_is_total_and_the_same_with_or_without_payloads(batch: list[Any], verify: list[bool]) -> None:
    """Any JSON gets one answer per item; checking payloads changes no other field."""
    net = make_settings().network
    flags = verify[: len(batch)]
    with_payloads = prepare_reports(batch, net.network_id, net.chain_id, flags, default_payload_registry(make_settings()))
    without = prepare_reports(batch, net.network_id, net.chain_id, flags, None)
    assert len(with_payloads) == len(without) == len(batch)
    for a, b, flag in zip(with_payloads, without, flags, strict=True):
        if isinstance(a, tuple):
            assert isinstance(b, tuple)
            assert a[:7] + a[8:] == b[:7] + b[8:] and b[7] is False
            assert (a[6] is False) == (not flag or a[5] is not None)
            assert (a[8] is None) == (a[6] is not True)
        else:
            assert a == b and a.reason == RejectReason.MALFORMED
