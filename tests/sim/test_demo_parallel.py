"""The demo with its oracles in forked processes publishes what the one-process demo does.

The forked run (`run_demo(parallel=True)`, the default) must not change any result: the same
seed gives byte-identical published files (verdicts, explanations, rewards, manifests, sealed
inputs, agreement decisions) and the same summary, including who submitted each root — the
submit transaction's hash feeds the next epochs' entropy, so a different submitter would
show up as different storage challenges one epoch later.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

import opendepin.chain.compiler as compiler
import opendepin.sim.demo as demo
from opendepin.errors import StageError
from opendepin.reports import codec
from opendepin.sim.demo import run_demo
from opendepin.sim.network import (
    REGISTRATION_DEADLINE_SECONDS,
    ForkedIngest,
    SharedClock,
    build_network,
    decision_order,
    fork_available,
    make_oracle,
    prepare_forked,
    register_devices,
    sim_http,
    sim_tls,
)

SEED = 5
KINDS = {"heartbeat": 12, "coverage": 10, "storage": 8}
EPOCHS = 2
WALL_CLOCK_FILES = {"state_v1.json"}
"""Agreement state records when this oracle started the rounds (wall clock): never published."""

needs_fork = pytest.mark.skipif(not fork_available(), reason="forked oracles need Linux fork")


def _published(root: Path) -> dict[str, bytes]:
    """Every file under the oracles' epoch directories, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.glob("oracle-*/epochs/**/*"))
        if p.is_file() and p.name not in WALL_CLOCK_FILES
    }


def _comparable(summary: Any) -> dict[str, Any]:
    out: dict[str, Any] = summary.to_json()
    for key in ("elapsed_seconds", "data_dir", "oracle_urls"):
        out.pop(key)
    return out


def _refuse_to_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way to compile a contract fail (forked children inherit the patches)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the demo's chain must deploy the checked-in artefacts, not compile")

    monkeypatch.setattr(compiler, "_compile_file", refuse)
    monkeypatch.setattr(compiler, "compile_source", refuse)
    import vyper

    monkeypatch.setattr(vyper, "compile_code", refuse)


@pytest.mark.slow
@needs_fork
def test_forked_demo_publishes_the_same_bytes_as_the_one_process_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refuse_to_compile(monkeypatch)  # and neither demo compiles a contract on the way
    one = run_demo(seed=SEED, epochs=EPOCHS, data_dir=tmp_path / "one", kinds=KINDS, parallel=False)
    forked = run_demo(
        seed=SEED, epochs=EPOCHS, data_dir=tmp_path / "forked", kinds=KINDS, parallel=True
    )
    assert [e.root for e in forked.epochs] == [e.root for e in one.epochs]
    assert _comparable(forked) == _comparable(one)  # incl. signers and submitted_by
    files_one, files_forked = _published(tmp_path / "one"), _published(tmp_path / "forked")
    assert any(name.endswith("explanations_v1.json") for name in files_one)
    assert any("/inputs/" in name for name in files_one)
    assert sorted(files_forked) == sorted(files_one)
    differing = [name for name in files_one if files_one[name] != files_forked[name]]
    assert differing == []


def test_decision_order_of_three_oracles_two_of_three() -> None:
    # 0 and 1 wait for the others' round-0 records; 2 hears all and starts round 1 first,
    # then 1 is the first to have heard everyone's round-1 record.
    assert decision_order(3, 1) == [1, 2, 0]
    assert decision_order(1, 0) == [0]


@pytest.mark.parametrize("oracles", range(1, 7))
def test_decision_order_lists_every_oracle_once(oracles: int) -> None:
    for last_round in range(oracles):
        order = decision_order(oracles, last_round)
        assert sorted(order) == list(range(oracles)), (oracles, last_round)


def _read_clock(clock: SharedClock, conn: Any) -> None:
    conn.send(clock.unix())


@needs_fork
def test_shared_clock_is_seen_by_a_forked_child() -> None:
    clock = SharedClock(100)
    clock.set(1_893_456_123)
    assert clock.ms() == 1_893_456_123_000
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_read_clock, args=(clock, theirs))
    child.start()
    assert mine.poll(30)
    assert mine.recv() == 1_893_456_123
    child.join(30)
    assert child.exitcode == 0


def test_building_the_network_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_to_compile(monkeypatch)
    net = build_network(SEED, {"heartbeat": 4}, oracles=3)
    assert net.chain.code(net.deployment.address("RewardDistributor"))


@needs_fork
def test_a_failing_forked_oracle_is_reported(tmp_path: Path) -> None:
    net = build_network(SEED, {"heartbeat": 4}, oracles=3)
    nodes = [make_oracle(net, i, tmp_path / f"oracle-{i}") for i in range(3)]
    try:
        # Epoch 0 has not even begun on chain: every oracle's snapshot/agree/seal refuses.
        with pytest.raises(StageError, match="forked oracle stages failed"):
            prepare_forked(net, nodes, 0)
    finally:
        for node in nodes:
            node.oracle.close()


def _answer(body: bytes) -> dict[str, Any]:
    reports = json.loads(body)["reports"]
    return {"accepted": len(reports), "results": [{"reason": None} for _ in reports]}


def test_delivery_lanes_set_each_oracles_clock_before_each_of_its_hours_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clocks = [SharedClock(0) for _ in range(3)]
    urls = [f"http://oracle-{i}" for i in range(3)]
    seen: dict[str, list[tuple[int, bytes]]] = {url: [] for url in urls}
    lock = threading.Lock()

    def post(http: object, url: str, bodies: list[bytes]) -> list[dict[str, Any]]:
        lane = urls.index(url)
        if lane == 2:
            time.sleep(0.01)  # the slow oracle: the others run ahead of it
        with lock:
            seen[url].extend((clocks[lane].unix(), body) for body in bodies)
        return [_answer(body) for body in bodies]

    monkeypatch.setattr(demo, "_post_reports", post)
    hours = []
    delivered = []
    with ExitStack() as stack:
        lanes = demo.DeliveryLanes(httpx.Client(), urls.__getitem__, clocks, stack)
        for hour in range(6):
            body = json.dumps({"reports": [{"hour": hour}] * (hour + 1)}).encode()
            hours.append((1_000 + hour, body))
            lanes.submit(1_000 + hour, [body], delivered.append)
        tally = demo._Tally()
        lanes.drain(tally)
    assert all(seen[url] == hours for url in urls)  # each oracle: every hour, in order, at its time
    assert delivered == [1] * 6  # one step per hour, once every oracle answered it
    assert tally.accepted == sum(range(1, 7))  # oracle 0's answers


def test_batch_bodies_are_the_compact_json_of_the_reports() -> None:
    net = build_network(SEED, {"heartbeat": 6}, oracles=3)
    reports = net.models["heartbeat"].hour_reports(net.sim_hour(0, 0))
    assert reports
    expected = json.dumps({"reports": [codec.to_json(r) for r in reports]}, separators=(",", ":"))
    assert demo._batch_body(reports) == expected.encode()


def test_batch_bodies_split_reports_in_order_within_the_ingest_limits() -> None:
    net = build_network(SEED, {"heartbeat": 6}, oracles=3)
    reports = net.models["heartbeat"].hour_reports(net.sim_hour(0, 0))
    assert len(reports) >= 4
    assert demo._batch_bodies(reports, 10_000, 1 << 30) == [demo._batch_body(reports)]
    by_count = demo._batch_bodies(reports, 3, 1 << 30)
    assert by_count == [demo._batch_body(reports[i : i + 3]) for i in range(0, len(reports), 3)]
    one = len(demo._batch_body(reports[:1]))
    by_bytes = demo._batch_bodies(reports, 10_000, one)  # room for exactly one report a body
    assert by_bytes == [demo._batch_body([r]) for r in reports]
    assert demo._batch_bodies(reports[:1], 10_000, 1) == [demo._batch_body(reports[:1])]  # too big: alone
    assert demo._batch_bodies([], 10, 100) == []


def test_an_hour_goes_to_the_ingest_as_one_batch_of_every_kind() -> None:
    net = build_network(SEED, {"heartbeat": 6, "coverage": 8}, oracles=3)
    for hour in range(24):  # the first hour in which both kinds report
        (body,) = demo._hour_bodies(net, net.sim_hour(0, hour), None)
        reports = json.loads(body)["reports"]
        if {r["kind"] for r in reports} == {"heartbeat", "coverage"}:
            break
    assert {r["kind"] for r in reports} == {"heartbeat", "coverage"}
    assert [r["kind"] for r in reports] == sorted(
        (r["kind"] for r in reports), key=["heartbeat", "coverage"].index
    )  # each kind's reports together, in the models' order


def test_simulation_clients_share_one_tls_context() -> None:
    assert sim_tls() is sim_tls()
    with sim_http(3.0) as a, sim_http(4.0) as b:
        assert a.timeout.read == 3.0 and b.timeout.read == 4.0


def test_registering_devices_sends_what_the_registry_client_sends() -> None:
    kinds = {"heartbeat": 4, "coverage": 8, "storage": 8}
    fast, reference = build_network(SEED, kinds), build_network(SEED, kinds)
    register_devices(fast)
    registry = reference.deployment.registry(reference.chain)
    deadline = reference.chain.now() + REGISTRATION_DEADLINE_SECONDS
    for kind, model in reference.models.items():
        for dev in model.devices:
            registry.register(dev.key, dev.owner, kind, deadline)
            if dev.asserted_cell:
                registry.assert_location(dev.key.device_id, dev.asserted_cell, sender=dev.owner)
    # Every block hash chains its transaction's hash: the same blocks mean the same transactions.
    assert fast.chain.block_number() == reference.chain.block_number()
    assert fast.chain.block_hash() == reference.chain.block_hash()
    assert fast.registered == fast.device_count


def _fake_ingest(conn: Any) -> None:
    time.sleep(0.05)  # starts serving a little later than the parent asks for its URL
    conn.send("http://127.0.0.1:1")
    assert conn.recv() == "stop"


@needs_fork
def test_forked_ingest_urls_wait_for_their_process_and_stop_lets_it_exit() -> None:
    ctx = multiprocessing.get_context("fork")
    ingest = ForkedIngest([0])
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=_fake_ingest, args=(theirs,), name="fake-ingest")
    child.start()
    theirs.close()
    ingest.add(child, mine)
    assert ingest.url(0) == "http://127.0.0.1:1" == ingest.url(0)  # asked once, then kept
    ingest.stop()
    ingest.stop()  # idempotent: one "stop" only
    assert ingest.close() == []  # exited cleanly
