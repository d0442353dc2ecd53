"""No input can stop compute: every rule of every installed proof kind is total.

Whatever a signed report (any envelope value the wire codec accepts, any payload), a registry
entry (an invalid H3 cell, location 0, max uint64, a negative number, any `kind`, inactive),
a chain snapshot (entropy blocks with arbitrary numbers, hashes and timestamps) or a kind's
state carries, `kind.compute(job)` ends in a verdict with a reason for every report — never an
exception. A state or frozen input file that is *malformed* is a different matter: the oracle
wrote and froze it (`kinds/<name>/…` of the epoch directory), so a malformed one means a
corrupted or tampered directory that no verdict could describe; it is refused as a whole with
`InputError` (a denylist whose signatures do not verify: `InvalidProof`, as `parse_denylist`
documents), which `depin audit` and the oracle report as such.

The properties, for EVERY kind `installed_kinds()` lists (the airquality example plugin too):

- `compute` returns a `KindResult`, no exception and no numpy warning (a warning there means
  an undefined float→int cast, which two machines may compute differently);
- exactly one verdict per report, in order, naming the report's (device, seq);
- every invalid verdict's reason is a member of `kind.reasons`, with non-empty details;
- shares are non-negative ints; every reporting (or earning) device has an explanation whose
  shares agree with `shares`, whose reasons are the kind's codes, and which is plain JSON;
- `compute` is pure: a second call gives an equal result (and a stateful kind's next state
  is accepted by the next epoch).

Jobs come from "honest worlds" built with each kind's own payload helpers (so reports get
deep into the rules), mutated: one payload field replaced by an extreme or wrong-typed value
or dropped, whole payloads replaced by arbitrary JSON, envelope fields set anywhere in the
codec's int64 ranges, devices swapped, kinds renamed, reports duplicated, registry records
rewritten (location 0, 1, 2**64-1, negative, random, valid cells of any resolution and
pentagons; any kind string; inactive) or removed, entropy blocks added, changed or removed,
and arbitrary reports added. Every report passes through `codec.from_json`, so only what the
wire accepts reaches compute.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h3
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.crypto import keccak256
from opendepin.errors import InputError, InvalidProof, InvalidReport
from opendepin.geo import E7, cell_centre, cell_of, offset_point
from opendepin.identity import DeviceKey
from opendepin.identity.address import to_checksum_address
from opendepin.network.settings import Settings
from opendepin.proofs import (
    ChainSnapshot,
    DeviceRecord,
    EntropyBlock,
    IngestedReport,
    Kind,
    KindJob,
    KindResult,
    installed_kinds,
)
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.types import Address, DeviceId, Epoch

KINDS: Mapping[str, Kind] = installed_kinds()
SETTINGS = Settings()
NETWORK = SETTINGS.network
OWNER = Address(to_checksum_address(bytes.fromhex("00" * 19 + "0e")))
POOL: tuple[DeviceId, ...] = tuple(to_checksum_address(keccak256(bytes([i]))[12:]) for i in range(6))
"""Devices reports may name; a world registers some of them, never all."""
INT64 = 2**63
HOUR_MS = 3_600_000

HYPOTHESIS = hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------------------------
# Values

EXTREME_INTS = (
    0, 1, -1, 2, 255, 2**31, INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64 - 1, 2**64, -(2**64),
    10**18, 10**30, -(10**30), 10**308, 10**309, -(10**400), 10**1000, -(10**1000),
)  # fmt: skip
"""Integers a JSON payload can carry (Python's json reads up to 4300 digits)."""
WRONG_TYPES: tuple[Any, ...] = (
    True, False, None, "", "0x", "x" * 17, "0x" + "00" * 16, "0x" + "ab" * 20, [], [1], {}, {"a": 1},
)  # fmt: skip
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(EXTREME_INTS), TEXT, st.sampled_from(WRONG_TYPES)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
JSON_OBJECTS = st.dictionaries(TEXT, JSON_VALUES, max_size=6)
ODD_VALUES = st.one_of(st.sampled_from(EXTREME_INTS), st.sampled_from(WRONG_TYPES), st.integers(), JSON_VALUES)
"""What replaces one field of an almost valid payload."""
WIRE_INTS = st.one_of(
    st.sampled_from((0, 1, INT64 - 1, INT64 - 2, 2**53, 2**32)), st.integers(0, INT64 - 1)
)
"""Envelope integers the codec accepts (epoch, seq, timestampMs are in [0, 2**63))."""
PENTAGONS = tuple(int(h3.str_to_int(p)) for res in (0, 7, 11, 15) for p in h3.get_pentagons(res))
LATS = st.floats(-89.9, 89.9, allow_nan=False)
LONS = st.floats(-179.9, 179.9, allow_nan=False)
VALID_CELLS = st.one_of(
    st.builds(lambda lat, lon, res: int(h3.str_to_int(h3.latlng_to_cell(lat, lon, res))), LATS, LONS, st.integers(0, 15)),
    st.sampled_from(PENTAGONS),
)
LOCATIONS = st.one_of(
    st.sampled_from((0, 1, 2**64 - 1, 2**64, -1, -(2**63), 2**63)),
    st.integers(),
    st.integers(0, 2**64 - 1),
    VALID_CELLS,
    VALID_CELLS.map(lambda c: c ^ 1),
)
"""Registry locations: none, invalid, out of uint64, and valid cells (pentagons included)."""
MS_VALUES = st.one_of(st.integers(), st.sampled_from((0, -1, INT64 - 1, INT64, -INT64, 10**100, -(10**100))))


def kind_names(name: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(name), st.sampled_from(sorted(KINDS)), NAMES)


# --------------------------------------------------------------------------------------------
# Worlds: honest reports of a kind, then mutated


@dataclass
class Draft:
    """A report before the wire codec decides whether it could exist."""

    device: str
    kind: str
    epoch: int
    seq: int
    timestamp_ms: int
    payload: Any

    def wire(self) -> Report | None:
        obj = {
            "version": 1,
            "network": NETWORK.network_id,
            "chainId": NETWORK.chain_id,
            "device": self.device,
            "kind": self.kind,
            "epoch": self.epoch,
            "seq": self.seq,
            "timestampMs": self.timestamp_ms,
            "payload": self.payload,
            "signature": "0x",
            "signerKey": "0x",
        }
        try:
            return codec.from_json(json.loads(json.dumps(obj)))  # as a peer would send it
        except (InvalidReport, ValueError):  # ValueError: an int json cannot print
            return None


@dataclass
class World:
    epoch: int
    devices: dict[DeviceId, DeviceRecord]
    drafts: list[Draft]
    entropy_blocks: dict[int, EntropyBlock] = field(default_factory=dict)
    state: bytes | None = None


def record(device: DeviceId, kind: str, cell: int) -> DeviceRecord:
    return DeviceRecord(device=device, owner=OWNER, kind=kind, location=cell, active=True)


BASE_EPOCHS = st.sampled_from((0, 1, 7, 20_000))


@st.composite
def placed_devices(draw: st.DrawFn, kind: str, spacing_m: float) -> list[tuple[DeviceId, int, float, float]]:
    """Registered devices around a random point: (device, asserted cell, lat, lon)."""
    count = draw(st.integers(1, 4))
    lat, lon = draw(LATS), draw(LONS)
    res = draw(st.integers(0, 15))
    out = []
    for i, device in enumerate(POOL[:count]):
        plat, plon = offset_point(lat, lon, spacing_m if i else 0.0, 360.0 * i / count)
        cell = cell_of(round(plat * E7), round(plon * E7), res)
        out.append((device, cell, plat, plon))
    return out


def _centre(cell: int) -> tuple[float, float]:
    centre = cell_centre(cell)
    assert centre is not None
    return centre


@st.composite
def heartbeat_world(draw: st.DrawFn, name: str) -> World:
    from opendepin.proofs.heartbeat import make_payload

    epoch = draw(BASE_EPOCHS)
    start_ms, _ = NETWORK.epoch_window_ms(epoch)
    devices = draw(placed_devices(name, 3_000.0))
    drafts: list[Draft] = []
    for device, cell, _lat, _lon in devices:
        clat, clon = _centre(cell)
        away_m = draw(st.sampled_from((0.0, 250.0, 350.0, 450.0)))
        plat, plon = offset_point(clat, clon, away_m, draw(st.floats(0, 360)))
        accuracy = draw(st.none() | st.integers(0, 100_000))
        for hour in draw(st.lists(st.integers(0, 23), min_size=1, max_size=14, unique=True)):
            drafts.append(
                Draft(device, name, epoch, len(drafts), start_ms + hour * HOUR_MS + 60_000, make_payload(plat, plon, accuracy))
            )
    return World(epoch, {d: record(d, name, c) for d, c, _, _ in devices}, drafts)


@st.composite
def airquality_world(draw: st.DrawFn, name: str) -> World:
    from depin_airquality import AirQualityPayload

    epoch = draw(BASE_EPOCHS)
    start_ms, _ = NETWORK.epoch_window_ms(epoch)
    devices = draw(placed_devices(name, 3_000.0))
    drafts: list[Draft] = []
    for device, cell, _lat, _lon in devices:
        clat, clon = _centre(cell)
        plat, plon = offset_point(clat, clon, draw(st.sampled_from((0.0, 150.0, 250.0))), draw(st.floats(0, 360)))
        for hour in draw(st.lists(st.integers(0, 23), min_size=1, max_size=6, unique=True)):
            reading = AirQualityPayload(draw(st.integers(0, 10_000)), round(plat * E7), round(plon * E7))
            drafts.append(Draft(device, name, epoch, len(drafts), start_ms + hour * HOUR_MS + 1, reading.to_dict()))
    return World(epoch, {d: record(d, name, c) for d, c, _, _ in devices}, drafts)


HISTORY_KEYS = st.one_of(st.sampled_from(POOL), TEXT)


@st.composite
def histories(draw: st.DrawFn) -> Any:
    from opendepin.proofs.coverage import CoverageHistory

    def times() -> st.SearchStrategy[dict[str, int]]:
        return st.dictionaries(HISTORY_KEYS, MS_VALUES, max_size=4)

    return CoverageHistory(draw(times()), draw(times()), draw(times()), draw(times()))


@st.composite
def coverage_world(draw: st.DrawFn, name: str) -> World:
    from opendepin.proofs.coverage import BeaconPayload, CoverageSection, WitnessPayload, beacon_data
    from opendepin.proofs.coverage.kind import state_to_bytes

    section = CoverageSection()
    epoch = draw(BASE_EPOCHS)
    start_ms, _ = NETWORK.epoch_window_ms(epoch)
    window_ms = section.entropy_window_seconds * 1_000
    windows = NETWORK.epoch_seconds * 1_000 // window_ms
    first = draw(st.integers(0, 10**9))
    seed = draw(st.binary(max_size=4))
    blocks = {
        first + w: EntropyBlock(first + w, keccak256(seed + w.to_bytes(4, "big")), (start_ms + w * window_ms) // 1_000)
        for w in range(windows)
    }
    spacing = draw(st.sampled_from((0.0, 40.0, 1_500.0, 5_000.0, 150_000.0)))
    devices = draw(placed_devices(name, spacing))
    hours = draw(st.lists(st.integers(0, windows - 1), min_size=len(devices), max_size=len(devices), unique=True))
    freq = 868_100_000
    drafts: list[Draft] = []
    for (device, _cell, _lat, _lon), w in zip(devices, hours, strict=True):
        block = blocks[first + w]
        sent = start_ms + w * window_ms + draw(st.integers(0, window_ms - 1))
        counter = draw(st.integers(0, 5) | st.just(2**64 - 1))
        data = beacon_data(block.hash, device, counter)
        beacon = BeaconPayload(counter, data, block.number, freq, 2_700, 300, "EU868")
        drafts.append(Draft(device, name, epoch, len(drafts), sent, beacon.to_obj()))
        for other, _c, _la, _lo in devices:
            if other == device:
                continue
            heard = sent + draw(st.integers(0, 4_000))
            rssi = draw(st.integers(-15_000, -5_000))
            witness = WitnessPayload(device, data, rssi, draw(st.integers(-2_000, 2_000)), freq, heard, 300, "EU868")
            drafts.append(Draft(other, name, epoch, len(drafts), heard, witness.to_obj()))
    state = state_to_bytes(draw(histories())) if draw(st.booleans()) else None
    return World(epoch, {d: record(d, name, c) for d, c, _, _ in devices}, drafts, blocks, state)


def schema_value(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """A value valid for the small JSON Schema subset kinds publish (other kinds' payloads)."""
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "string":
        if schema.get("pattern") == "^0x[0-9a-f]*$":
            return st.binary(max_size=24).map(lambda b: "0x" + b.hex())
        return st.text(st.characters(codec="utf-8"), min_size=1, max_size=schema.get("maxLength", 12))
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: schema_value(v) for k, v in props.items() if k in required},
            optional={k: schema_value(v) for k, v in props.items() if k not in required},
        )
    return JSON_VALUES


@st.composite
def schema_world(draw: st.DrawFn, name: str) -> World:
    """Any kind: devices at valid cells sending payloads generated from its schemas."""
    schemas = list(KINDS[name].payload_schemas.values())
    epoch = draw(BASE_EPOCHS)
    start_ms, end_ms = NETWORK.epoch_window_ms(epoch)
    devices = draw(placed_devices(name, 1_000.0))
    drafts: list[Draft] = []
    for device, _cell, _lat, _lon in devices:
        for _ in range(draw(st.integers(0, 3))):
            payload = draw(st.sampled_from(schemas).flatmap(schema_value)) if schemas else draw(JSON_OBJECTS)
            drafts.append(Draft(device, name, epoch, len(drafts), draw(st.integers(start_ms, end_ms - 1)), payload))
    return World(epoch, {d: record(d, name, c) for d, c, _, _ in devices}, drafts)


WORLDS: Mapping[str, Callable[[str], st.SearchStrategy[World]]] = {
    "heartbeat": heartbeat_world,
    "airquality": airquality_world,
    "coverage": coverage_world,
}


def world_of(name: str) -> st.SearchStrategy[World]:
    builder = WORLDS.get(name)
    return schema_world(name) if builder is None else st.one_of(builder(name), schema_world(name))


@st.composite
def arbitrary_draft(draw: st.DrawFn, name: str, epoch: int) -> Draft:
    start_ms, end_ms = NETWORK.epoch_window_ms(epoch)
    schemas = list(KINDS[name].payload_schemas.values())
    payloads = JSON_OBJECTS if not schemas else st.one_of(JSON_OBJECTS, st.sampled_from(schemas).flatmap(schema_value))
    return Draft(
        device=draw(st.sampled_from(POOL)),
        kind=draw(kind_names(name)),
        epoch=draw(st.just(epoch) | WIRE_INTS),
        seq=draw(WIRE_INTS),
        timestamp_ms=draw(st.integers(start_ms - 1, end_ms) | WIRE_INTS),
        payload=draw(payloads),
    )


def records_for(name: str, device: DeviceId) -> st.SearchStrategy[DeviceRecord]:
    return st.builds(
        DeviceRecord,
        device=st.just(device),
        owner=st.just(OWNER),
        kind=kind_names(name),
        location=LOCATIONS,
        active=st.booleans(),
    )


ENTROPY_BLOCK_NUMBERS = st.one_of(st.integers(), st.sampled_from((0, -1, 2**64, INT64)))


def entropy_blocks() -> st.SearchStrategy[EntropyBlock]:
    return st.builds(
        EntropyBlock,
        number=ENTROPY_BLOCK_NUMBERS,
        hash=st.binary(max_size=40),
        timestamp=st.one_of(st.integers(), st.sampled_from((0, -1, INT64, 10**30))),
    )


def mutate(draw: st.DrawFn, world: World, name: str) -> None:
    """One change a device, an owner or the chain could make to an honest world."""
    drafts = world.drafts
    choice = draw(st.integers(0, 11))
    if drafts and choice <= 4:
        d = draw(st.sampled_from(drafts))
        if choice == 0 and isinstance(d.payload, dict):  # one field replaced
            keys = sorted(d.payload)
            key = draw(st.sampled_from(keys) | TEXT) if keys else draw(TEXT)
            d.payload = {**d.payload, key: draw(ODD_VALUES)}
        elif choice == 1 and isinstance(d.payload, dict) and d.payload:  # one field dropped
            key = draw(st.sampled_from(sorted(d.payload)))
            d.payload = {k: v for k, v in d.payload.items() if k != key}
        elif choice == 2:
            d.payload = draw(JSON_OBJECTS)
        elif choice == 3:  # an envelope field anywhere in the wire range
            setattr(d, draw(st.sampled_from(("epoch", "seq", "timestamp_ms"))), draw(WIRE_INTS))
        else:
            d.device = draw(st.sampled_from(POOL))
            d.kind = draw(kind_names(name))
    elif drafts and choice == 5:  # sent twice (same device and seq)
        d = draw(st.sampled_from(drafts))
        drafts.append(Draft(d.device, d.kind, d.epoch, d.seq, d.timestamp_ms, d.payload))
    elif choice <= 7:  # the registry says something else about a device
        device = draw(st.sampled_from(POOL))
        if draw(st.integers(0, 4)) == 0:
            world.devices.pop(device, None)
        else:
            world.devices[device] = draw(records_for(name, device))
    elif choice == 8:  # an entropy block added or changed
        block = draw(entropy_blocks())
        key = draw(st.sampled_from(sorted(world.entropy_blocks)) | ENTROPY_BLOCK_NUMBERS) if world.entropy_blocks else block.number
        world.entropy_blocks[key] = block
    elif choice == 9 and world.entropy_blocks:
        world.entropy_blocks.pop(draw(st.sampled_from(sorted(world.entropy_blocks))))
    else:
        drafts.append(draw(arbitrary_draft(name, world.epoch)))


def job_of(world: World, kind: Kind, snapshot_entropy: bytes, block_number: int) -> KindJob:
    section = SETTINGS.kind_section(kind.name)
    reports = [IngestedReport(r) for d in world.drafts if (r := d.wire()) is not None]
    snapshot = ChainSnapshot(block_number, snapshot_entropy, dict(world.devices), dict(world.entropy_blocks))
    state = world.state if world.state is not None else kind.initial_state(section)
    return KindJob(Epoch(world.epoch), reports, snapshot, SETTINGS, section, state)


@st.composite
def jobs(draw: st.DrawFn, name: str) -> KindJob:
    world = draw(world_of(name))
    for _ in range(draw(st.integers(0, 4))):
        mutate(draw, world, name)
    entropy = draw(st.binary(min_size=32, max_size=32) | st.binary(max_size=40))
    return job_of(world, KINDS[name], entropy, draw(st.integers(0, 2**64)))


@st.composite
def chaos_jobs(draw: st.DrawFn, name: str) -> KindJob:
    """No honest world at all: arbitrary reports against an arbitrary registry and chain."""
    epoch = draw(WIRE_INTS | BASE_EPOCHS)
    drafts = draw(st.lists(arbitrary_draft(name, epoch), max_size=8))
    devices = {d: draw(records_for(name, d)) for d in draw(st.lists(st.sampled_from(POOL), unique=True))}
    blocks = {b.number: b for b in draw(st.lists(entropy_blocks(), max_size=4))}
    world = World(epoch, devices, drafts, blocks)
    return job_of(world, KINDS[name], draw(st.binary(max_size=40)), draw(st.integers(0, 2**64)))


# --------------------------------------------------------------------------------------------
# The properties


def run(kind: Kind, job: KindJob) -> KindResult:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an undefined float→int cast must fail here, loudly
        return kind.compute(job)


def check_total(kind: Kind, job: KindJob) -> KindResult:
    result = run(kind, job)
    assert isinstance(result, KindResult)
    codes = {str(r.value) for r in kind.reasons}
    assert len(result.verdicts) == len(job.reports)
    for verdict, ingested in zip(result.verdicts, job.reports, strict=True):
        assert (verdict.device, verdict.seq) == (ingested.report.device, ingested.report.seq)
        if verdict.reason is not None:
            assert isinstance(verdict.reason, kind.reasons), verdict
            assert isinstance(verdict.details, str) and verdict.details.strip(), verdict
    for device, shares in result.shares.items():
        assert type(shares) is int and shares >= 0, (device, shares)
    reporting = {r.report.device for r in job.reports}
    assert reporting | set(result.shares) <= set(result.explanations)
    for device, e in result.explanations.items():
        assert e.device == device
        assert type(e.shares) is int and e.shares >= 0
        assert e.shares == result.shares.get(device, 0)
        assert set(e.reasons) <= codes and set(e.invalid) <= codes, e
        assert all(type(n) is int and n > 0 for n in e.invalid.values())
        json.dumps(e.to_obj())
    json.dumps(dict(result.notes))
    assert result.next_state is None or isinstance(result.next_state, bytes)
    assert run(kind, job) == result, "compute is not a function of its job"
    return result


def check_next_epoch(kind: Kind, job: KindJob, result: KindResult) -> None:
    """A stateful kind's next state is a valid state for the next epoch."""
    if result.next_state is None:
        return
    after = KindJob(Epoch(job.epoch + 1), job.reports, job.snapshot, job.settings, job.section, result.next_state)
    check_total(kind, after)


NAMES_INSTALLED = sorted(KINDS)


def test_every_known_kind_is_installed() -> None:
    # The worlds above are written for these; a kind added later is covered by schema_world.
    assert {"heartbeat", "coverage", "airquality"} <= set(KINDS)


@pytest.mark.parametrize("name", NAMES_INSTALLED)
@HYPOTHESIS
@given(data=st.data())
def test_compute_is_total_on_almost_valid_jobs(name: str, data: st.DataObject) -> None:
    kind = KINDS[name]
    job = data.draw(jobs(name), label="job")
    check_next_epoch(kind, job, check_total(kind, job))


@pytest.mark.parametrize("name", NAMES_INSTALLED)
@HYPOTHESIS
@given(data=st.data())
def test_compute_is_total_on_arbitrary_jobs(name: str, data: st.DataObject) -> None:
    kind = KINDS[name]
    check_total(kind, data.draw(chaos_jobs(name), label="job"))


def test_honest_worlds_reach_valid_verdicts() -> None:
    """The worlds are honest enough to exercise every rule down to scoring (sanity check)."""
    for name, builder in WORLDS.items():
        kind = KINDS[name]
        seen_valid = False

        @HYPOTHESIS
        @given(world=builder(name))
        def probe(world: World) -> None:
            nonlocal seen_valid
            result = check_total(kind, job_of(world, kind, bytes(32), 1))  # noqa: B023
            seen_valid = seen_valid or any(v.valid for v in result.verdicts) and bool(result.shares)

        probe()
        assert seen_valid, f"{name}: no honest world earned anything"
