"""The example kind `examples/airquality` (distribution opendepin-airquality), installed as a
plugin, runs through every part of opendepin with zero edits to opendepin itself:

(a) it is discovered through its entry point and its settings load from network.toml;
(b) each verification rule names its reason, scoring counts valid hours, and the payload
    check raises nothing but ValueError, whatever it is given (hypothesis);
(c) `depin demo --kind airquality=…` simulates it: honest stations are paid, the cheats show
    up in the summary's `unrewarded` with their reasons, and `depin audit` passes;
(d) ingest accepts its reports, and on anvil three `depin oracle serve` processes verify and
    pay a device run by `depin agent` (`init --kind airquality`, `register`, `run`).
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import depin_airquality
import h3
import httpx
import pytest
import tomli_w
from depin_airquality import KIND, AirQualityReason, AirQualitySection, validate_payload
from depin_airquality.payload import KEYS
from depin_airquality.simulation import Behaviour, behaviour_plan
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cli.test_multiprocess_network import (
    _DEVICE_ID,
    REPORT_GRACE_SECONDS,
    SCRYPT_N,
    Cluster,
    _depin,
    _get,
    _wait_for,
    cluster,
    wait_for_mirrors,
)
from opendepin.agent.config import AgentConfig
from opendepin.chain.anvil import AnvilProcess, free_port
from opendepin.chain.deploy import Deployment
from opendepin.chain.rpc import RpcChain
from opendepin.errors import ConfigError
from opendepin.geo import EARTH_RADIUS_M, cell_centre
from opendepin.identity import DeviceKey, KeyType
from opendepin.ingest import RegistryMirror, create_app
from opendepin.network.settings import PoolsSection, Settings, load_settings
from opendepin.oracle.epoch_files import read_format_file, read_verdicts
from opendepin.proofs import (
    ENTRY_POINT_GROUP,
    Kind,
    KindJob,
    KindResult,
    SimHour,
    SimSpec,
    installed_kinds,
)
from opendepin.reasons import SharedReason, all_reason_enums, check_vocabulary
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.reports import codec
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.rewards.files import RewardFile
from opendepin.sim.keys import sim_owners, sim_secret
from opendepin.store import Store
from opendepin.types import Address, DeviceId, Epoch, ProofKind

REPO = Path(__file__).resolve().parents[2]
NAME = "airquality"
CELL = h3.str_to_int(h3.latlng_to_cell(52.52, 13.405, 12))
"""The asserted res-12 cell of the test station, in Berlin."""
DEVICE = DeviceId("0x" + "a1" * 20)
OTHER = DeviceId("0x" + "b2" * 20)
OWNER = Address("0x" + "0c" * 20)
EPOCH = 3
HOUR_MS = 3_600_000
E7 = 10_000_000


# -- helpers: crafted sealed reports and pure compute ---------------------------------------


def network_settings() -> Settings:
    return Settings(pools=PoolsSection(bps={NAME: 10_000}))


def record(device: DeviceId = DEVICE, **kw: Any) -> DeviceRecord:
    fields: dict[str, Any] = {"device": device, "owner": OWNER, "kind": NAME, "location": CELL, "active": True}
    fields.update(kw)
    return DeviceRecord(**fields)


def snapshot(*records: DeviceRecord) -> ChainSnapshot:
    return ChainSnapshot(block_number=100, entropy=b"\x00" * 32, devices={r.device: r for r in records})


def at_distance(metres: float, pm25: int = 123) -> dict[str, int]:
    """A payload `metres` due north of the cell's centre."""
    centre = cell_centre(CELL)
    assert centre is not None
    lat = centre[0] + math.degrees(metres / EARTH_RADIUS_M)
    return {"pm25_dugm3": pm25, "lat_e7": round(lat * E7), "lon_e7": round(centre[1] * E7)}


def reading(
    hour: int,
    *,
    minute: int = 5,
    seq: int | None = None,
    payload: dict[str, Any] | None = None,
    raw: bytes | None = None,
    kind: str = NAME,
    device: DeviceId = DEVICE,
    epoch: int = EPOCH,
) -> IngestedReport:
    network = network_settings().network
    ts = network.epoch_start_unix(epoch) * 1000 + hour * HOUR_MS + minute * 60_000
    body = raw if raw is not None else canonical_payload(payload if payload is not None else at_distance(3))
    return IngestedReport(
        Report(
            network_id=network.network_id,
            chain_id=network.chain_id,
            device=device,
            kind=ProofKind(kind),
            epoch=Epoch(epoch),
            seq=seq if seq is not None else hour * 100 + minute,
            timestamp_ms=ts,
            payload=body,
        )
    )


def compute(
    reports: list[IngestedReport],
    snap: ChainSnapshot | None = None,
    section: AirQualitySection | None = None,
) -> KindResult:
    return KIND.compute(
        KindJob(
            epoch=Epoch(EPOCH),
            reports=reports,
            snapshot=snap or snapshot(record()),
            settings=network_settings(),
            section=section or AirQualitySection(),
        )
    )


def reasons_of(result: KindResult) -> list[str | None]:
    return [None if v.reason is None else str(v.reason) for v in result.verdicts]


# -- (a) discovery and settings --------------------------------------------------------------


def test_plugin_is_discovered_through_its_entry_point() -> None:
    kinds = installed_kinds()
    assert kinds[NAME] is KIND and isinstance(KIND, Kind)
    [ep] = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == NAME]
    assert ep.value == "depin_airquality:KIND"
    assert ep.dist is not None and ep.dist.name == "opendepin-airquality"
    # It is the example package outside src/, not something opendepin ships.
    package = Path(depin_airquality.__file__).resolve()
    assert package.is_relative_to(REPO / "examples" / "airquality" / "src")
    assert not package.is_relative_to(REPO / "src")


@pytest.mark.parametrize("table", ["kinds_table", "top_level_table"])
def test_settings_load_from_network_toml(tmp_path: Path, table: str) -> None:
    values = {"max_pm25_dugm3": 4_000, "max_distance_m": 150, "hour_seconds": 60, "min_hours": 3}
    doc: dict[str, Any] = {"pools": {"bps": {"heartbeat": 5_000, NAME: 5_000}}}
    doc.update({"kinds": {NAME: values}} if table == "kinds_table" else {NAME: values})
    path = tmp_path / "network.toml"
    path.write_text(tomli_w.dumps(doc))
    s = load_settings(path)
    assert s.kind_section(NAME) == AirQualitySection(**values)
    assert s.parameters()["kinds"][NAME] == values  # published in every epoch's manifest


def test_settings_defaults_and_errors(tmp_path: Path) -> None:
    assert load_settings(None).kind_section(NAME) == AirQualitySection()
    path = tmp_path / "network.toml"
    path.write_text(tomli_w.dumps({"kinds": {NAME: {"max_distance": 5}}}))
    with pytest.raises(ConfigError, match="max_distance"):
        load_settings(path)
    path.write_text(tomli_w.dumps({"kinds": {NAME: {"min_hours": 0}}}))
    with pytest.raises(ConfigError, match="min_hours"):
        load_settings(path)


def test_reason_codes_reuse_shared_values_and_collide_with_nothing() -> None:
    shared = {r.value for r in SharedReason}
    own = {r.value for r in AirQualityReason} - shared
    assert own == {"airquality_out_of_range", "airquality_too_far", "airquality_insufficient_hours"}
    others = [e for e in all_reason_enums() if e is not AirQualityReason]
    assert AirQualityReason in all_reason_enums()
    assert not own & {m.value for e in others for m in e}
    assert check_vocabulary(all_reason_enums()) == []


# -- (b) rules, one crafted report per reason ------------------------------------------------

RULE_CASES: list[tuple[str, dict[str, Any], ChainSnapshot | None]] = [
    ("wrong_report_kind", {"kind": "heartbeat"}, None),
    ("unknown_device", {"device": OTHER}, None),
    ("inactive_device", {}, snapshot(record(active=False))),
    ("wrong_device_kind", {}, snapshot(record(kind="heartbeat"))),
    ("location_not_asserted", {}, snapshot(record(location=0))),
    ("location_not_asserted", {}, snapshot(record(location=12_345))),
    ("malformed_payload", {"raw": b"not json"}, None),
    ("malformed_payload", {"raw": b"[1,2]"}, None),
    ("malformed_payload", {"payload": {"pm25_dugm3": True, "lat_e7": 1, "lon_e7": 1}}, None),
    ("malformed_payload", {"payload": {**at_distance(3), "humidity": 40}}, None),
    ("wrong_epoch", {"hour": 24}, None),
    ("airquality_out_of_range", {"payload": at_distance(3, pm25=5_001)}, None),
    ("airquality_too_far", {"payload": at_distance(250)}, None),
]


@pytest.mark.parametrize(("reason", "craft", "snap"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_each_rule_names_its_reason(reason: str, craft: dict[str, Any], snap: ChainSnapshot | None) -> None:
    hour = craft.pop("hour", 1)
    result = compute([reading(hour, **craft)], snap)
    [verdict] = result.verdicts
    assert verdict.reason == AirQualityReason(reason) and verdict.details
    assert result.shares == {}
    explanation = next(iter(result.explanations.values()))
    assert explanation.invalid == {reason: 1}
    assert set(explanation.reasons) == {reason, "airquality_insufficient_hours"}


def test_duplicate_seq_keeps_the_first() -> None:
    result = compute([reading(1, seq=7), reading(2, seq=7)])
    assert reasons_of(result) == [None, "duplicate"]


def test_valid_reading_and_thresholds_are_inclusive() -> None:
    result = compute([reading(0, payload=at_distance(199.5, pm25=5_000))])
    assert reasons_of(result) == [None]
    assert result.shares == {DEVICE: 1}
    tight = AirQualitySection(max_pm25_dugm3=100, max_distance_m=50)
    result = compute([reading(0, payload=at_distance(60, pm25=90)), reading(1, payload=at_distance(3, pm25=101))],
                     section=tight)
    assert reasons_of(result) == ["airquality_too_far", "airquality_out_of_range"]


def test_rule_order_first_failure_wins() -> None:
    # Inactive *and* malformed *and* outside the epoch: the earliest rule names the reason.
    result = compute([reading(30, raw=b"{}")], snapshot(record(active=False)))
    assert reasons_of(result) == ["inactive_device"]
    # Out of range *and* too far: the range rule comes first.
    assert reasons_of(compute([reading(0, payload=at_distance(900, pm25=9_999))])) == ["airquality_out_of_range"]


def test_shares_are_distinct_valid_hours_with_explanations() -> None:
    reports = [
        reading(0, minute=5), reading(0, minute=40),  # two readings, one hour
        reading(1), reading(5),
        reading(6, payload=at_distance(5_000)),  # invalid: does not count as an hour
    ]
    result = compute(reports)
    assert result.shares == {DEVICE: 3}
    e = result.explanations[DEVICE]
    assert e.shares == 3 and e.details == {"hours": 3, "readings": 4}
    assert e.invalid == {"airquality_too_far": 1} and e.reasons == ("airquality_too_far",)
    assert e.to_obj()["hours"] == 3 and e.main_reason == "airquality_too_far"
    assert len(result.verdicts) == len(reports)


def test_min_hours_and_hour_seconds() -> None:
    reports = [reading(0), reading(1)]
    short = compute(reports, section=AirQualitySection(min_hours=3))
    assert short.shares == {}
    e = short.explanations[DEVICE]
    assert (e.shares, e.reasons, e.details["hours"]) == (0, ("airquality_insufficient_hours",), 2)
    # Two-hour buckets: readings at hours 0 and 1 share one bucket.
    assert compute(reports, section=AirQualitySection(hour_seconds=7_200)).shares == {DEVICE: 1}


def test_compute_is_pure_and_stateless() -> None:
    two = snapshot(record(), record(OTHER))
    reports = [reading(h, device=d) for h in range(4) for d in (DEVICE, OTHER)]
    first, again = compute(reports, two), compute(reports, two)
    assert first == again and first.next_state is None
    assert first.shares == {DEVICE: 4, OTHER: 4}
    section = AirQualitySection()
    assert (KIND.initial_state(section), KIND.entropy_window_seconds(section), KIND.external_inputs(section)) == (
        None, None, {},
    )


# -- (b) the payload check: only ValueError, for anything ---------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)
NEAR_PAYLOADS = st.fixed_dictionaries(
    {k: JSON | st.integers() | st.integers(-10, 10_001) for k in sorted(KEYS)},
    optional={"extra": JSON},
)
ANY_PAYLOAD = JSON | NEAR_PAYLOADS | st.dictionaries(st.sampled_from([*sorted(KEYS), "x"]), JSON)


@hypothesis_settings(max_examples=400, deadline=None)
@given(ANY_PAYLOAD)
def test_validate_payload_raises_only_value_error(payload: Any) -> None:
    try:
        validate_payload(payload)
    except ValueError:
        return
    # Accepted: exactly the three keys, all genuine ints in range.
    assert isinstance(payload, dict) and set(payload) == KEYS
    assert all(type(v) is int for v in payload.values())
    assert 0 <= payload["pm25_dugm3"] <= 10_000
    KIND.validate_payload(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"pm25_dugm3": 1.5, "lat_e7": 1, "lon_e7": 1},
        {"pm25_dugm3": 1, "lat_e7": False, "lon_e7": 1},
        {"pm25_dugm3": 10_001, "lat_e7": 1, "lon_e7": 1},
        {"pm25_dugm3": -1, "lat_e7": 1, "lon_e7": 1},
        {"pm25_dugm3": 1, "lat_e7": 900_000_001, "lon_e7": 1},
        {"pm25_dugm3": 1, "lat_e7": 1},
        {"pm25_dugm3": 1, "lat_e7": 1, "lon_e7": 1, "x": 1},
        [],
        "pm25",
    ],
)
def test_validate_payload_rejects(payload: Any) -> None:
    with pytest.raises(ValueError):
        validate_payload(payload)


# -- device side and simulation model --------------------------------------------------------


def agent_config(**kw: Any) -> AgentConfig:
    return AgentConfig.from_settings(network_settings(), kind=NAME, key_type="secp256k1").with_updates(**kw)


def test_device_sends_configured_position_and_a_deterministic_reading() -> None:
    cfg = agent_config(lat_e7=525_200_000, lon_e7=134_050_000)
    behaviour = installed_kinds()[NAME].device(cfg)
    ts = 1_893_456_000_000
    [payload] = behaviour.payloads(ts)
    validate_payload(payload)
    assert (payload["lat_e7"], payload["lon_e7"]) == (525_200_000, 134_050_000)
    assert behaviour.payloads(ts) == [payload] == KIND.device(cfg).payloads(ts)
    with pytest.raises(ConfigError, match="lat_e7"):
        KIND.device(agent_config())


def test_simulation_model_devices_and_hour_reports() -> None:
    s = network_settings()
    model = KIND.simulation(SimSpec(seed=5, count=10, owners=sim_owners(5, 3), settings=s))
    assert [d.behaviour for d in model.devices] == [b.value for b in behaviour_plan(10)]
    assert {Behaviour.SPOOFER.value, Behaviour.STUCK.value} <= {d.behaviour for d in model.devices}
    assert all(cell_centre(d.asserted_cell) is not None for d in model.devices)
    start = s.network.epoch_start_unix(0)
    hour = SimHour(epoch=Epoch(0), hour=2, hour_start_unix=start + 7_200, epoch_start_unix=start,
                   entropy_block=1, entropy=b"\x01" * 32)
    reports = model.hour_reports(hour)
    assert len(reports) == 10 and {r.device for r in reports} == {d.key.device_id for d in model.devices}
    for r in reports:
        assert (start + 7_200) * 1000 <= r.timestamp_ms < (start + 7_200 + 1_800) * 1000
        assert r.signature and r.kind == NAME
        validate_payload(r.payload_obj())
    snap = snapshot(*(DeviceRecord(d.key.device_id, OWNER, NAME, d.asserted_cell, True) for d in model.devices))
    result = KIND.compute(KindJob(Epoch(0), [IngestedReport(r) for r in reports], snap, s, AirQualitySection()))
    expected = {"airquality_honest": None, "airquality_spoofer": "airquality_too_far",
                "airquality_stuck": "airquality_out_of_range"}
    assert reasons_of(result) == [expected[d.behaviour] for d in model.devices]


# -- (d, in process) ingest accepts the kind's reports ----------------------------------------


def test_ingest_accepts_airquality_reports_and_rejects_malformed_ones(store: Store) -> None:
    s = network_settings()
    key = DeviceKey.generate()
    mirror = RegistryMirror([DeviceRecord(key.device_id, OWNER, NAME, CELL, True)])
    now_ms = (s.network.epoch_start_unix(2) + 3_600) * 1000

    def sign(seq: int, payload: dict[str, Any]) -> dict[str, Any]:
        return codec.to_json(new_signed_report(
            key, network_id=s.network.network_id, chain_id=s.network.chain_id, kind=NAME,
            epoch=2, seq=seq, timestamp_ms=now_ms - 60_000, payload=payload,
        ))

    with TestClient(create_app(s, store, mirror, clock=lambda: now_ms)) as client:
        good = client.post("/v1/reports", json=sign(1, at_distance(3)))
        bad = client.post("/v1/reports", json=sign(2, {"pm25_dugm3": True, "lat_e7": 1, "lon_e7": 1}))
    assert good.status_code == bad.status_code == 200
    assert good.json()["accepted"] == 1
    assert bad.json()["results"][0]["reason"] == "malformed_payload"
    assert store.reports.count(epoch=2, kind=NAME) == 1


# -- (c) `depin demo` simulates it ------------------------------------------------------------

DEMO_SEED = 3
DEMO_HEARTBEAT = 8
DEMO_AIRQUALITY = 6


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_depin(), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("airquality-demo")
    out = _run("demo", "--kind", f"heartbeat={DEMO_HEARTBEAT}", "--kind", f"{NAME}={DEMO_AIRQUALITY}",
               "--epochs", "1", "--seed", str(DEMO_SEED), "--dir", "d", "--json", "s.json", cwd=tmp)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp / "d", json.loads((tmp / "s.json").read_text())


@pytest.mark.slow
def test_demo_pays_honest_stations_and_names_the_cheats(demo: tuple[Path, dict[str, Any]]) -> None:
    data_dir, summary = demo
    assert summary["kind_devices"] == {"heartbeat": DEMO_HEARTBEAT, NAME: DEMO_AIRQUALITY}
    plan = behaviour_plan(DEMO_AIRQUALITY)
    spoofers, stuck = plan.count(Behaviour.SPOOFER), plan.count(Behaviour.STUCK)
    assert spoofers >= 1 and stuck >= 1
    assert summary["unrewarded"]["airquality_spoofer"] == {"airquality_too_far": spoofers}
    assert summary["unrewarded"]["airquality_stuck"] == {"airquality_out_of_range": stuck}
    assert "airquality_honest" not in summary["unrewarded"]
    [epoch] = summary["epochs"]
    assert epoch["rejected_by_reason"]["airquality_too_far"] == 24 * spoofers
    assert epoch["rejected_by_reason"]["airquality_out_of_range"] == 24 * stuck
    assert summary["supply"] == summary["claims_total"]

    # Every honest station earned 24 shares (one per hour) of the airquality pool; no cheat earned.
    ids = {DeviceKey.from_private_bytes(KeyType.SECP256K1, sim_secret(DEMO_SEED, NAME, i)).device_id: b
           for i, b in enumerate(plan)}
    epoch_dir = data_dir / "oracle-0" / "epochs" / "0"
    paid = {d.device: d for o in RewardFile.from_bytes((epoch_dir / "rewards_v1.json").read_bytes()).owners
            for d in o.devices if d.kind == NAME}
    honest = {d for d, b in ids.items() if b is Behaviour.HONEST}
    assert set(paid) == honest and all(paid[d].amount > 0 and paid[d].shares == 24 for d in honest)
    explained = {e["device"]: e for e in read_format_file(epoch_dir / "explanations_v1.json",
                                                            "explanations_v1")["kinds"][NAME]}
    assert set(explained) == set(ids)
    assert all(explained[d]["hours"] == 24 and explained[d]["readings"] == 24 for d in honest)


@pytest.mark.slow
def test_demo_epoch_passes_depin_audit(demo: tuple[Path, dict[str, Any]]) -> None:
    data_dir, _ = demo
    for oracle in ("oracle-0", "oracle-2"):
        out = _run("audit", str(data_dir / oracle / "epochs" / "0"), cwd=data_dir)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "OK" in out.stdout


# -- (d) ingest, `depin oracle serve` and `depin agent` on anvil ------------------------------

EPOCH_SECONDS = 3_600
HOUR_SECONDS = 1
"""Scoring bucket shortened so one `agent run --interval 1 --count 3` spans 3 'hours'."""
MIN_HOURS = 2
REPORTS = 3
MOVED_E7 = 450_000
"""The mover is carried ~5 km north after asserting its cell (and keeps reporting)."""
STATIONS = (("station", "owner-a", 52.5200, 13.4050), ("mover", "owner-b", 48.8566, 2.3522))


def _network_toml(path: Path, rpc_url: str) -> None:
    path.write_text(tomli_w.dumps({
        "network": {"network_id": "anvil-airquality", "genesis_unix": int(time.time()), "epoch_seconds": EPOCH_SECONDS},
        "chain": {"backend": "rpc", "rpc_url": rpc_url, "oracle_threshold": 2, "onboarding_fee": 0,
                  "location_fee": 0, "location_cooldown_seconds": 0},
        "pools": {"bps": {NAME: 10_000}},
        "kinds": {NAME: {"hour_seconds": HOUR_SECONDS, "min_hours": MIN_HOURS}},
    }))


def _move(agent_dir: Path) -> None:
    """Edit the mover's agent.toml: it now reports a position ~5 km from its asserted cell."""
    path = agent_dir / "agent.toml"
    cfg = tomllib.loads(path.read_text())
    cfg["lat_e7"] += MOVED_E7
    path.write_text(tomli_w.dumps(cfg))


def _start_oracles(c: Cluster, urls_ports: list[tuple[str, int]]) -> list[subprocess.Popen[bytes]]:
    peers = [arg for u, _ in urls_ports for arg in ("--peer", u)]
    return [
        c.start(["oracle", "serve", "--netdir", "net", "--keystore", f"oracle-{i}.json", "--passphrase-env",
                 "ORACLE_PASS", "--port", str(port), *peers, "--poll-seconds", "0.5"],
                f"oracle-{i}.log", {"DEPIN_STORE__DATA_DIR": f"oracle-{i}"})
        for i, (_, port) in enumerate(urls_ports)
    ]


@pytest.mark.anvil
@pytest.mark.slow
def test_agent_reports_are_ingested_verified_and_paid_by_oracle_processes(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=31337) as anvil, cluster(tmp_path) as c:
        chain = RpcChain(anvil.url)
        _network_toml(tmp_path / "network.toml", anvil.url)
        scrypt = ["--scrypt-n", str(SCRYPT_N)]
        names = [("gov", "GOV_PASS"), *((f"oracle-{i}", "ORACLE_PASS") for i in range(3)),
                 *((owner, "OWNER_PASS") for _, owner, _, _ in STATIONS)]
        outputs = c.run_all([["keys", "new", "--out", f"{n}.json", "--passphrase-env", env, *scrypt] for n, env in names])
        address = {n: m.group(1) for (n, _), out in zip(names, outputs, strict=True) if (m := _DEVICE_ID.search(out))}
        oracles = [address[f"oracle-{i}"] for i in range(3)]
        c.run("chain", "fund", *address.values())
        c.run("chain", "deploy", "--dir", "net", "--keystore", "gov.json", "--passphrase-env", "GOV_PASS",
              *(arg for o in oracles for arg in ("--oracle", o)))
        deployment = Deployment.load(tmp_path / "net")

        ports = [free_port() for _ in range(3)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        servers = _start_oracles(c, list(zip(urls, ports, strict=True)))

        ingest = [arg for u in urls for arg in ("--ingest-url", u)]
        inits = c.run_all([
            ["agent", "init", "--dir", d, "--kind", NAME, "--netdir", "net", "--lat", str(lat), "--lon", str(lon),
             *ingest, "--oracle-url", urls[0], "--passphrase-env", "DEVICE_PASS", *scrypt]
            for d, _, lat, lon in STATIONS
        ])
        assert all(f"kind {NAME}" in out for out in inits), inits
        assert all(tomllib.loads((tmp_path / d / "agent.toml").read_text())["kind"] == NAME for d, *_ in STATIONS)
        c.run_all([
            ["agent", "register", "--dir", d, "--owner-keystore", f"{owner}.json", "--owner-passphrase-env",
             "OWNER_PASS", "--passphrase-env", "DEVICE_PASS"]
            for d, owner, _, _ in STATIONS
        ])
        _move(tmp_path / "mover")
        registered_at = chain.block_number()

        wait_for_mirrors(urls, len(STATIONS), registered_at, servers, c)
        runs = c.run_all([
            ["agent", "run", "--dir", d, "--passphrase-env", "DEVICE_PASS", "--interval", "1", "--count", str(REPORTS)]
            for d, _, _, _ in STATIONS
        ])
        for out in runs:  # ingest accepts both: being 5 km away is the oracle's verdict, not ingest's
            assert f"accepted {REPORTS}, rejected 0, queued 0" in out, out

        c.run("chain", "mine", "--advance-seconds", str(EPOCH_SECONDS + REPORT_GRACE_SECONDS))
        owner_a = address["owner-a"]

        def settled_everywhere() -> bool:
            answers = [_get(f"{u}/v1/rewards/{owner_a}") for u in urls]
            return all(a is not None and a.status_code == 200 for a in answers)

        _wait_for("all three oracles to settle epoch 0", settled_everywhere, servers, c)
        claims = [{k: v for k, v in httpx.get(f"{u}/v1/attestations/0").json().items() if k != "attestations"}
                  for u in urls]
        assert all(claim == claims[0] for claim in claims), claims
        distributor = deployment.distributor(chain)
        assert distributor.next_epoch() == 1
        assert claims[0]["root"] == "0x" + distributor.roots(0).hex()

        # The verdicts: the station's readings are valid, the mover's are too far.
        epoch_dir = tmp_path / "oracle-0" / "epochs" / "0"
        counts = read_verdicts(epoch_dir / "verdicts_v1.json")["kinds"][NAME]["counts"]
        assert counts == {"valid": REPORTS, "airquality_too_far": REPORTS}, counts
        explained = read_format_file(epoch_dir / "explanations_v1.json", "explanations_v1")["kinds"][NAME]
        mover, station = sorted(explained, key=lambda e: e["shares"])
        assert (mover["shares"], mover["reasons"]) == (0, ["airquality_insufficient_hours", "airquality_too_far"])
        # One share per distinct one-second bucket (the agent's clock decides: 2 or 3 of them).
        assert MIN_HOURS <= station["shares"] == station["hours"] <= REPORTS and station["reasons"] == []

        # The station's owner is paid (and claims); the mover's owner is not.
        paid = json.loads(c.run("agent", "rewards", "--dir", "station", "--json"))
        assert paid["account"] == owner_a and paid["epoch"] == 0 and int(paid["cumulative_amount"]) > 0
        unpaid = json.loads(c.run("agent", "rewards", "--dir", "mover", "--json"))
        assert int(unpaid["cumulative_amount"]) == 0
        c.run("agent", "claim", "--dir", "station", "--sender-keystore", "owner-a.json",
              "--sender-passphrase-env", "OWNER_PASS")
        assert deployment.token(chain).balance_of(Address(owner_a)) == int(paid["cumulative_amount"])

        # Anyone holding one oracle's epoch directory can recompute it.
        audit = c.run("audit", str(epoch_dir))
        assert "OK" in audit, audit

