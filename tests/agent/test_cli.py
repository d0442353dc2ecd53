"""`depin agent …` end to end: a real uvicorn ingest edge, and a real anvil node for register."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from opendepin.agent.config import KEYSTORE_FILE, load_config
from opendepin.agent.device import DeviceAgent
from opendepin.chain.anvil import free_port
from opendepin.cli.app import app
from opendepin.errors import ConfigError, DeliveryError
from opendepin.identity import DeviceKey, load_keystore, save_keystore
from opendepin.network.settings import load_settings

from .conftest import EdgeIngest

runner = CliRunner()
ENV = {"DEV_PW": "device-pass", "OWNER_PW": "owner-pass"}
INIT = ["--passphrase-env", "DEV_PW", "--scrypt-n", "1024", "--lat", "47.3769", "--lon", "8.5417"]


def init(agent_dir: Path, *extra: str) -> None:
    result = runner.invoke(app, ["agent", "init", "--dir", str(agent_dir), *INIT, *extra], env=ENV)
    assert result.exit_code == 0, result.output


@pytest.fixture
def server() -> Iterator[tuple[EdgeIngest, str]]:
    s = load_settings(None)
    edge = EdgeIngest(s.network.network_id, s.network.chain_id)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(edge.app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:  # readiness wait, not a timed assertion
        time.sleep(0.01)
    yield edge, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join()


def test_agent_init_writes_keystore_and_config(tmp_path: Path) -> None:
    init(tmp_path, "--type", "ed25519", "--ingest-url", "http://ingest:1")
    cfg = load_config(tmp_path)
    key = load_keystore(tmp_path / KEYSTORE_FILE, ENV["DEV_PW"])
    assert (cfg.key_type, cfg.kind, cfg.ingest_url) == ("ed25519", "heartbeat", "http://ingest:1")
    assert (cfg.lat_e7, cfg.lon_e7) == (473_769_000, 85_417_000)
    assert key.type.value == "ed25519"


def test_agent_init_refuses_existing_device(tmp_path: Path) -> None:
    init(tmp_path)
    result = runner.invoke(app, ["agent", "init", "--dir", str(tmp_path), *INIT], env=ENV)
    assert result.exit_code != 0 and "already holds a device" in str(result.exception)


def test_agent_init_missing_passphrase_env_is_a_config_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["agent", "init", "--dir", str(tmp_path), "--passphrase-env", "NOPE"]
    )
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "NOPE" in str(result.exception)


def test_agent_run_once_queues_offline_then_delivers(
    tmp_path: Path, server: tuple[EdgeIngest, str]
) -> None:
    edge, url = server
    init(tmp_path, "--ingest-url", url)
    edge.online = False
    args = ["agent", "run", "--dir", str(tmp_path), "--once", "--passphrase-env", "DEV_PW"]
    offline = runner.invoke(app, args, env=ENV)
    assert offline.exit_code != 0 and "queued 1" in offline.output  # nothing accepted: exit 1
    assert isinstance(offline.exception, DeliveryError)
    assert str(offline.exception).startswith(f"no report accepted by ingest {url}: unavailable: HTTP 503")
    edge.online = True
    online = runner.invoke(app, args, env=ENV)
    assert online.exit_code == 0 and "accepted 2" in online.output and "queued 0" in online.output
    assert [r.seq for r in edge.stored] == sorted({r.seq for r in edge.stored})
    assert len(edge.stored) == 2


@pytest.mark.anvil
@pytest.mark.slow
def test_agent_register_against_anvil(tmp_path: Path) -> None:
    from opendepin.chain import AnvilProcess, RpcChain
    from opendepin.chain.accounts import Signer
    from opendepin.chain.clients import RegistryClient
    from opendepin.chain.deploy import deploy_network
    from opendepin.proofs.heartbeat.geo import cell_centre

    settings = load_settings(None, chain={"onboarding_fee": 0, "location_fee": 0})
    with AnvilProcess(chain_id=settings.network.chain_id) as node:
        chain = RpcChain(node.url)
        gov, owner_key = Signer.generate(), DeviceKey.generate()
        owner = Signer.from_key(owner_key)
        for account in (gov.address, owner.address):
            chain.fund(account, 10**21)
        oracles = [Signer.generate().address for _ in range(2)]
        deployment = deploy_network(chain, settings, gov, oracles, gov.address)
        registry = deployment.address("DeviceRegistry")
        save_keystore(owner_key, tmp_path / "owner.json", ENV["OWNER_PW"], scrypt_n=1024)
        agent_dir = tmp_path / "agent"
        init(agent_dir, "--rpc", node.url, "--registry", registry)

        result = runner.invoke(
            app,
            ["agent", "register", "--dir", str(agent_dir), "--owner-keystore",
             str(tmp_path / "owner.json"), "--owner-passphrase-env", "OWNER_PW",
             "--passphrase-env", "DEV_PW"],
            env=ENV,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        device = load_keystore(agent_dir / KEYSTORE_FILE, ENV["DEV_PW"]).device_id
        record = RegistryClient(chain, registry).device_info(device)
        assert (record.owner, record.kind, record.active) == (owner.address, "heartbeat", True)
        centre = cell_centre(record.location)
        assert centre is not None and abs(centre[0] - 47.3769) < 1e-3
        assert load_config(agent_dir).owner == owner.address


def test_agent_init_refuses_a_kind_that_is_not_installed(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "init", "--dir", str(tmp_path), *INIT, "--kind", "nosuch"], env=ENV)
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "nosuch" in str(result.exception) and "heartbeat" in str(result.exception)
    assert not (tmp_path / KEYSTORE_FILE).exists()


def test_agent_of_a_coverage_device_explains_that_it_needs_a_radio(tmp_path: Path) -> None:
    init(tmp_path, "--kind", "coverage")
    agent = DeviceAgent.open(tmp_path, ENV["DEV_PW"])
    try:
        with pytest.raises(ConfigError, match="radio"):
            agent.beat()
    finally:
        agent.close()
