"""Heartbeat split by device: any partition of the devices, computed shard by shard and
combined, gives exactly what one `compute` over every report gives (the `ShardedKind`
contract the oracle's sharded path relies on), and both equal the scorer's reference path."""

from __future__ import annotations

import h3
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.errors import StageError
from opendepin.identity.address import to_checksum_address
from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.heartbeat import KIND
from opendepin.proofs.heartbeat.scorer import explain
from opendepin.proofs.heartbeat.verifier import assess, assess_all, verify
from opendepin.proofs.kind import KindJob, ShardedKind
from opendepin.records import IngestedReport
from opendepin.types import Address, DeviceId, Epoch

from .conftest import CELL, EPOCH, heartbeat, record, snapshot

NEAR_CELL = h3.str_to_int(h3.latlng_to_cell(47.3771, 8.5419, 12))
FAR_CELL = h3.str_to_int(h3.latlng_to_cell(47.40, 8.60, 12))
OTHER_CELLS = tuple(h3.str_to_int(h3.latlng_to_cell(47.3769 + d, 8.5417, 12)) for d in (0.01, 0.02))
FAULTS = (
    "none", "none", "none", "none", "none", "none", "wrong_kind", "duplicate", "wrong_epoch", "stale", "bad_challenge",
    "far", "malformed", "no_challenge",
)  # fmt: skip


def _settings() -> Settings:
    # small caps and a low uptime minimum, so random epochs hit every device-level reason
    return load_settings(None, heartbeat={"max_devices_per_owner": 2, "min_online_hours": 2})


def _at(cell: int) -> dict[str, int]:
    lat, lon = h3.cell_to_latlng(h3.int_to_str(cell))
    return {"lat_e7": round(lat * 1e7), "lon_e7": round(lon * 1e7)}


def _report(
    settings: Settings, device: DeviceId, hour: int, seq: int, fault: str, cell: int
) -> IngestedReport:
    if fault == "wrong_kind":
        return heartbeat(settings, hour, device=device, seq=seq, kind="coverage")
    if fault == "duplicate":
        return heartbeat(settings, hour, device=device, seq=1)
    if fault == "wrong_epoch":
        return heartbeat(settings, hour + 30, device=device, seq=seq)
    if fault == "stale":
        return heartbeat(settings, hour, device=device, seq=seq, minute=40)
    if fault == "bad_challenge":
        return heartbeat(settings, hour, device=device, seq=seq, payload={
            "lat_e7": 473769000, "lon_e7": 85417000, "challenge_block": 1, "challenge_hash": "0x" + "00" * 32,
        })  # fmt: skip
    if fault == "far":
        return heartbeat(settings, hour, device=device, seq=seq, payload={"lat_e7": 474500000, "lon_e7": 86000000})
    if fault == "malformed":
        return heartbeat(settings, hour, device=device, seq=seq, raw_payload=b'{"lat_e7":"north"}')
    if fault == "no_challenge":
        return heartbeat(settings, hour, device=device, seq=seq, challenge=False)
    return heartbeat(settings, hour, device=device, seq=seq, payload=_at(cell or CELL))


@st.composite
def epochs(draw: st.DrawFn) -> tuple[list[IngestedReport], list[object], dict[DeviceId, int]]:
    """Random devices (shared cells and owners, unregistered and inactive ones) with random
    faulty and honest heartbeats in a random sealed order, and a random shard per device."""
    settings = _settings()
    n = draw(st.integers(1, 9))
    # checksummed ids with letters, so a line's device can be written in another case
    devices = [DeviceId(to_checksum_address(bytes([0xA1 + i]) * 20)) for i in range(n)]
    records = []
    cells: dict[DeviceId, int] = {}
    for i, device in enumerate(devices):
        status = draw(st.sampled_from(("ok", "ok", "ok", "ok", "unregistered", "inactive", "no_location", "other_kind")))
        if status == "unregistered":
            continue
        cell = cells[device] = draw(st.sampled_from((CELL, NEAR_CELL, FAR_CELL, *OTHER_CELLS)))
        records.append(record(
            device, owner=Address("0x" + f"{i % 2 + 1:02x}" * 20), active=status != "inactive",
            location=0 if status == "no_location" else cell,
            kind="coverage" if status == "other_kind" else "heartbeat",
        ))  # fmt: skip
    reports = []
    for device in devices:
        for hour in sorted(draw(st.sets(st.integers(0, 23), max_size=6))):
            fault = draw(st.sampled_from(FAULTS))
            reports.append(_report(settings, device, hour, 10 + hour, fault, cells.get(device, 0)))
    order = draw(st.permutations(range(len(reports)))) if reports else []
    shards = {d: draw(st.integers(0, 3)) for d in devices}
    entropy = draw(st.binary(min_size=32, max_size=32))
    return [reports[i] for i in order], [snapshot(*records, entropy=entropy)], shards


def _job(reports: list[IngestedReport], snap: object, settings: Settings) -> KindJob:
    return KindJob(
        epoch=Epoch(EPOCH), reports=reports, snapshot=snap, settings=settings,  # type: ignore[arg-type]
        section=settings.kind_section("heartbeat"),
    )  # fmt: skip


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(epochs())
def test_any_partition_by_device_combines_to_compute(
    case: tuple[list[IngestedReport], list[object], dict[DeviceId, int]],
) -> None:
    reports, (snap,), shard_of = case
    settings = _settings()
    assert isinstance(KIND, ShardedKind)
    whole = KIND.compute(_job(reports, snap, settings))
    # the straightforward reference: every rule in order per report (`assess`, which
    # `assess_all`'s inline fast path must equal), and the scorer decoding every payload itself
    seen: set[tuple[DeviceId, int]] = set()
    section = settings.kind_section("heartbeat")
    one_by_one = [assess(r, snap, settings, seen, section) for r in reports]  # type: ignore[arg-type]
    assert assess_all(reports, snap, settings) == one_by_one  # type: ignore[arg-type]
    assert list(whole.verdicts) == [a.verdict for a in one_by_one]
    assert list(whole.verdicts) == verify(reports, snap, settings)  # type: ignore[arg-type]
    reference = explain(reports, list(whole.verdicts), snap, settings)  # type: ignore[arg-type]
    assert {d: e.share for d, e in reference.items() if e.share > 0} == whole.shares
    assert {d: e.reasons for d, e in reference.items()} == {d: e.reasons for d, e in whole.explanations.items()}

    verdicts: dict[int, object] = {}
    partials = []
    for k in range(4):
        indices = [i for i, r in enumerate(reports) if shard_of[r.report.device] == k]
        part = KIND.compute_shard(_job([reports[i] for i in indices], snap, settings))
        assert len(part.verdicts) == len(indices)
        verdicts.update(zip(indices, part.verdicts, strict=True))
        partials.append(part.partial)
    combined = KIND.combine(_job([], snap, settings), partials)
    assert [verdicts[i] for i in range(len(reports))] == list(whole.verdicts)
    assert combined.shares == whole.shares
    assert combined.explanations == whole.explanations
    assert (combined.next_state, dict(combined.notes), combined.withheld_shares) == (
        whole.next_state, dict(whole.notes), whole.withheld_shares,
    )  # fmt: skip


def test_the_random_epochs_reach_every_rule() -> None:
    """The property above is only as good as its epochs: check that they produce every
    heartbeat reason (report and device level) at least once over a fixed sample."""
    seen: set[str] = set()
    settings = _settings()

    @hsettings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(epochs())
    def collect(case: tuple[list[IngestedReport], list[object], dict[DeviceId, int]]) -> None:
        reports, (snap,), _ = case
        result = KIND.compute(_job(reports, snap, settings))
        seen.update(str(v.reason) for v in result.verdicts if v.reason is not None)
        for e in result.explanations.values():
            seen.update(e.reasons)

    collect()
    expected = {str(r) for r in KIND.reasons}
    assert expected - seen == set()


def test_combine_refuses_a_device_in_two_shards() -> None:
    settings = _settings()
    snap = snapshot(record())
    reports = [heartbeat(settings, h) for h in range(3)]
    part = KIND.compute_shard(_job(reports, snap, settings))
    with pytest.raises(StageError, match="two shards"):
        KIND.combine(_job([], snap, settings), [part.partial, part.partial])
    with pytest.raises(StageError, match="not tallies"):
        KIND.combine(_job([], snap, settings), [["not", "a", "tally"]])
