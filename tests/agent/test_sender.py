"""`FanoutSender`: every report reaches every oracle's ingest; a retry after a partial outage
counts `replayed` answers as delivered, and a report every ingest rejects stays rejected."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opendepin.agent import DeviceAgent, ManualClock
from opendepin.agent.backoff import Backoff
from opendepin.agent.config import AgentConfig, load_config, save_config
from opendepin.agent.sender import FanoutSender, IngestSender
from opendepin.identity import DeviceKey

from .conftest import EdgeIngest, client_for


def _fanout_agent(key: DeviceKey, config: AgentConfig, clock: ManualClock, edges: list[EdgeIngest]) -> DeviceAgent:
    senders = [IngestSender(f"http://ingest-{i}.test", client_for(e)) for i, e in enumerate(edges)]
    return DeviceAgent(key, config, sender=FanoutSender(senders), clock=clock, backoff=Backoff(jitter=0.0))


def test_fanout_delivers_each_report_to_every_ingest_through_an_outage(
    key: DeviceKey, config: AgentConfig, clock: ManualClock
) -> None:
    edges = [EdgeIngest(config.network_id, config.chain_id) for _ in range(3)]
    agent = _fanout_agent(key, config, clock, edges)
    agent.beat()
    edges[2].online = False
    first = asyncio.run(agent.flush())
    assert first.failure is not None and "ingest-2" in first.failure and agent.pending == 1
    edges[2].online = True
    agent.beat()
    second = asyncio.run(agent.flush(force=True))
    assert (second.accepted, second.rejected, agent.pending) == (2, (), 0)
    assert [[r.seq for r in e.stored] for e in edges] == [[1, 2]] * 3


def test_fanout_rejects_a_report_every_ingest_has_already(
    key: DeviceKey, config: AgentConfig, clock: ManualClock
) -> None:
    edges = [EdgeIngest(config.network_id, config.chain_id) for _ in range(2)]
    agent = _fanout_agent(key, config, clock, edges)
    report = agent.beat()
    assert asyncio.run(agent.flush()).accepted == 1
    agent.enqueue([report])  # the same signed report again
    again = asyncio.run(agent.flush())
    assert again.accepted == 0 and [r.reason for r in again.rejected] == ["replayed"]


def test_config_round_trips_extra_ingest_urls(tmp_path: Path, config: AgentConfig) -> None:
    cfg = config.with_updates(extra_ingest_urls=("http://b:1", "http://c:1"))
    save_config(cfg, tmp_path)
    loaded = load_config(tmp_path)
    assert loaded == cfg
    assert loaded.all_ingest_urls == (cfg.ingest_url, "http://b:1", "http://c:1")
