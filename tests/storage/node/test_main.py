"""The node's key and directory: created once, reopened, and registrable like any device."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.agent.config import load_config
from opendepin.errors import ConfigError, KeystoreError
from opendepin.identity import DeviceKey, KeyType, save_keystore
from opendepin.network.settings import Settings
from opendepin.storage.node.config import NodeConfig, parse_placers
from opendepin.storage.node.main import open_key, prepare_directory

from .conftest import PASSPHRASE


def test_open_key_creates_then_reopens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_key(tmp_path / "d", None, None)  # nothing to unlock, nothing to create with
    key = open_key(tmp_path / "d", None, PASSPHRASE, scrypt_n=2**10)
    assert (tmp_path / "d" / "device.json").is_file()
    assert open_key(tmp_path / "d", None, PASSPHRASE) == key
    with pytest.raises(KeystoreError):
        open_key(tmp_path / "d", None, "wrong passphrase")
    with pytest.raises(ConfigError):
        open_key(tmp_path / "d", tmp_path / "missing.json", PASSPHRASE)


def test_open_key_refuses_ed25519(tmp_path: Path) -> None:
    path = tmp_path / "ed.json"
    save_keystore(DeviceKey.generate(KeyType.ED25519), path, PASSPHRASE, scrypt_n=2**10)
    with pytest.raises(ConfigError, match="secp256k1"):
        open_key(tmp_path, path, PASSPHRASE)


def test_directory_is_registrable_with_depin_agent(tmp_path: Path, settings: Settings) -> None:
    placer = "0x" + "ab" * 20
    cfg = NodeConfig.from_settings(
        settings,
        tmp_path / "d",
        placers=parse_placers([placer]),
        ingest_urls=("http://a", "http://b"),
    )
    prepare_directory(cfg)
    agent = load_config(tmp_path / "d")
    assert (agent.kind, agent.network_id, agent.chain_id) == (
        "storage",
        cfg.network_id,
        cfg.chain_id,
    )
    assert agent.all_ingest_urls == ("http://a", "http://b")
    assert [p.lower() for p in cfg.placers] == [placer]
    with pytest.raises(ConfigError):
        parse_placers(["0x1234"])


def test_network_placers_and_audit_settings_are_used(tmp_path: Path) -> None:
    from opendepin.chain.accounts import Signer
    from opendepin.network.settings import load_settings

    network, extra = Signer.generate().address, Signer.generate().address
    s = load_settings(None, kinds={"storage": {"placers": [network], "audit_window_seconds": 1800}})
    cfg = NodeConfig.from_settings(s, tmp_path, placers=parse_placers([extra]))
    assert set(map(str, cfg.placers)) == {str(network), str(extra)}
    assert cfg.audit.audit_window_seconds == 1800 and cfg.audit.containment_windows == 24


def test_a_keystore_outside_the_directory_is_copied_in_for_registration(tmp_path: Path) -> None:
    outside = tmp_path / "keys" / "node.json"
    outside.parent.mkdir()
    key = DeviceKey.generate(KeyType.SECP256K1)
    save_keystore(key, outside, PASSPHRASE, scrypt_n=2**10)
    directory = tmp_path / "node"
    assert open_key(directory, outside, PASSPHRASE).device_id == key.device_id
    copied = directory / "device.json"
    assert copied.read_bytes() == outside.read_bytes()  # still encrypted: the same keystore
    assert copied.stat().st_mode & 0o777 == 0o600
    assert open_key(directory, None, PASSPHRASE).device_id == key.device_id
