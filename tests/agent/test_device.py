from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from opendepin.agent import AgentConfig, Backoff, DeviceAgent, ManualClock
from opendepin.agent.sender import SendOutcome
from opendepin.chain.anvil import free_port
from opendepin.errors import ConfigError
from opendepin.identity import DeviceKey, KeyType
from opendepin.proofs.heartbeat import validate_payload
from opendepin.reports.envelope import Report
from opendepin.reports.verify import check_signatures

from .conftest import EdgeIngest, make_agent


def test_build_report_is_signed_numbered_and_in_epoch(
    key: DeviceKey, config: AgentConfig, clock: ManualClock
) -> None:
    agent = make_agent(key, config, clock)
    a = agent.build_report(agent.default_payload(clock.now_ms()))
    b = agent.build_report({"lat_e7": 1, "lon_e7": 2}, clock.now_ms() + 1)
    assert check_signatures([a, b]) == [None, None]
    assert (a.device, a.epoch, a.kind) == (key.device_id, 5, "heartbeat")
    assert b.seq > a.seq
    validate_payload(a.payload_obj())


def test_build_report_signs_with_ed25519(config: AgentConfig, clock: ManualClock) -> None:
    agent = make_agent(DeviceKey.generate(KeyType.ED25519), config, clock)
    assert check_signatures([agent.beat()]) == [None]


def test_beat_without_position_names_the_fix(
    key: DeviceKey, config: AgentConfig, clock: ManualClock
) -> None:
    agent = make_agent(key, dataclasses.replace(config, lat_e7=None), clock)
    with pytest.raises(ConfigError, match="lat_e7"):
        agent.beat()


def test_flush_delivers_in_order_and_empties_spool(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    agent = make_agent(key, config, clock, edge=edge, max_batch=3)
    sent = [agent.beat() for _ in range(7)]
    result = asyncio.run(agent.flush())
    assert (result.accepted, result.pending, result.failure) == (7, 0, None)
    assert edge.stored == sent
    assert edge.requests == 3  # batches of 3, 3, 1


def test_flush_drops_definitive_rejection_and_logs_reason(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    agent = make_agent(key, config, clock, edge=edge)
    good = agent.beat()
    wrong = dataclasses.replace(config, network_id="other-net")
    stray = make_agent(key, wrong, clock).build_report({"lat_e7": 1, "lon_e7": 1}, clock.now_ms())
    agent.enqueue([dataclasses.replace(stray, seq=good.seq + 1)])
    with caplog.at_level(logging.WARNING, logger="opendepin.agent"):
        result = asyncio.run(agent.flush())
    assert result.accepted == 1 and result.pending == 0
    assert [r.reason for r in result.rejected] == ["wrong_network"]
    assert "wrong_network" in caplog.text


def test_flush_keeps_reports_and_backs_off_while_ingest_unavailable(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    agent = make_agent(key, config, clock, edge=edge, backoff=Backoff(jitter=0.0))
    edge.online = False
    agent.beat()
    agent.beat()
    first = asyncio.run(agent.flush())
    assert first.failure is not None and "503" in first.failure and first.pending == 2
    assert agent.retry_at_ms == clock.now_ms() + 1_000
    second = asyncio.run(agent.flush())
    assert second.failure == "backing off" and edge.requests == 1  # did not hammer the ingest
    clock.advance(1)
    asyncio.run(agent.flush())
    assert agent.retry_at_ms == clock.now_ms() + 2_000  # second failure: doubled
    assert [s.attempts for s in agent.spool.peek(10)] == [2, 2]
    edge.online = True
    clock.advance(2)
    done = asyncio.run(agent.flush())
    assert (done.accepted, done.pending, agent.retry_at_ms) == (2, 0, 0)


def test_flush_halves_batch_on_413(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    edge.max_batch = 2
    agent = make_agent(key, config, clock, edge=edge, max_batch=8)
    for _ in range(5):
        agent.beat()
    for _ in range(3):
        asyncio.run(agent.flush(force=True))
    assert agent.max_batch == 2 and agent.pending == 0 and len(edge.stored) == 5


def test_spool_survives_restart_and_offline_ingest(
    tmp_path: Path, key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    state = tmp_path / "agent.db"
    # Nothing listens on this port: a real connection refusal.
    offline = make_agent(key, config, clock, url=f"http://127.0.0.1:{free_port()}", state=state)
    made = []
    for _ in range(3):
        made.append(offline.beat())
        assert asyncio.run(offline.flush(force=True)).failure is not None
        clock.advance(600)
    assert offline.pending == 3
    offline.close()  # the device reboots

    back = make_agent(key, config, clock, edge=edge, state=state)
    assert back.pending == 3
    made.append(back.beat())
    result = asyncio.run(back.flush())
    assert result.accepted == 4 and back.pending == 0
    assert edge.stored == made  # nothing lost, nothing reordered
    assert len({r.seq for r in made}) == 4


def test_replayed_after_lost_response_is_dropped(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    agent = make_agent(key, config, clock, edge=edge)
    report = agent.beat()
    asyncio.run(agent.flush())
    agent.enqueue([report])  # as if the answer had been lost and the report re-queued
    result = asyncio.run(agent.flush())
    assert [r.reason for r in result.rejected] == ["replayed"] and agent.pending == 0
    assert edge.stored == [report]


def test_run_once_sends_one_report(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    agent = make_agent(key, config, clock, edge=edge)
    result = asyncio.run(agent.run(once=True))
    assert result.accepted == 1 and len(edge.stored) == 1


def test_run_on_simulated_clock_reports_hourly_through_an_outage(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    agent = make_agent(key, config, clock, edge=edge)
    start = clock.now_ms()

    async def outage() -> None:
        edge.online = False
        task = asyncio.create_task(agent.run(interval_seconds=3_600, max_reports=24))
        while clock.now_ms() < start + 5 * 3_600_000:
            await asyncio.sleep(0)
        edge.online = True
        await task

    asyncio.run(outage())
    assert len(edge.stored) == 24 and agent.pending == 0
    hours = [(r.timestamp_ms - start) // 3_600_000 for r in edge.stored]
    assert hours == list(range(24))


def test_open_reads_agent_dir(tmp_path: Path, config: AgentConfig) -> None:
    from opendepin.agent.config import KEYSTORE_FILE, load_config, save_config
    from opendepin.identity import save_keystore

    key = DeviceKey.generate()
    save_keystore(key, tmp_path / KEYSTORE_FILE, "pw", scrypt_n=1024)
    save_config(config, tmp_path)
    assert load_config(tmp_path) == config
    agent = DeviceAgent.open(tmp_path, "pw")
    assert agent.device_id == key.device_id and (tmp_path / "agent.db").exists()
    agent.close()


def test_load_config_rejects_unknown_keys(tmp_path: Path, config: AgentConfig) -> None:
    from opendepin.agent.config import AGENT_TOML, load_config, save_config

    save_config(config, tmp_path)
    path = tmp_path / AGENT_TOML
    path.write_text(path.read_text() + 'colour = "red"\n')
    with pytest.raises(ConfigError, match="colour"):
        load_config(tmp_path)


def test_run_gives_up_after_consecutive_failed_sends(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    agent = make_agent(key, config, clock, edge=edge)
    edge.online = False
    result = asyncio.run(agent.run(interval_seconds=3_600, max_reports=5, give_up_after=3))
    assert result.gave_up and edge.requests == 3
    assert result.failure is not None
    assert result.failure.startswith("gave up after 3 failed attempts in a row: unavailable: HTTP 503")
    assert (result.accepted, result.pending, agent.pending) == (0, 1, 1)  # kept for the next run


def test_run_bound_counts_failures_in_a_row_only(
    key: DeviceKey, config: AgentConfig, clock: ManualClock, edge: EdgeIngest
) -> None:
    """The ingest fails two sends of every three: never three in a row, so it never gives up."""
    agent = make_agent(key, config, clock, edge=edge)
    real_send = agent.sender.send
    sends = 0

    async def flaky_send(reports: Sequence[Report]) -> SendOutcome:
        nonlocal sends
        sends += 1
        edge.online = sends % 3 == 0
        return await real_send(reports)

    agent.sender.send = flaky_send  # type: ignore[method-assign]
    result = asyncio.run(agent.run(interval_seconds=3_600, max_reports=4, give_up_after=3))
    assert not result.gave_up and result.failure is None
    assert (result.accepted, agent.pending, len(edge.stored)) == (4, 0, 4)
    assert sends >= 3 * 4 - 2  # the failures really happened in between


def test_run_refuses_a_bound_below_one(key: DeviceKey, config: AgentConfig, clock: ManualClock) -> None:
    agent = make_agent(key, config, clock)
    with pytest.raises(ValueError, match="give_up_after must be at least 1"):
        asyncio.run(agent.run(once=True, give_up_after=0))
