"""The demo with its oracles in forked processes publishes what the one-process demo does.

The forked run (`run_demo(parallel=True)`, the default) must not change any result: the same
seed gives byte-identical published files (verdicts, explanations, rewards, manifests, sealed
inputs, agreement decisions) and the same summary, including who submitted each root — the
submit transaction's hash feeds the next epochs' entropy, so a different submitter would
show up as different storage challenges one epoch later.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

import opendepin.chain.compiler as compiler
from opendepin.errors import StageError
from opendepin.sim.demo import run_demo
from opendepin.sim.network import (
    SharedClock,
    build_network,
    decision_order,
    fork_available,
    make_oracle,
    prepare_forked,
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


@pytest.mark.slow
@needs_fork
def test_forked_demo_publishes_the_same_bytes_as_the_one_process_demo(tmp_path: Path) -> None:
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
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the demo's chain must deploy the checked-in artefacts, not compile")

    monkeypatch.setattr(compiler, "_compile_file", refuse)
    monkeypatch.setattr(compiler, "compile_source", refuse)
    import vyper

    monkeypatch.setattr(vyper, "compile_code", refuse)
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
