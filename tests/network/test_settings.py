from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.errors import ConfigError
from opendepin.network.settings import load_settings


def test_defaults_load_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.network.epoch_seconds == 86_400
    assert sum(s.pools.bps.values()) <= 10_000


def test_file_then_environment_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text('[network]\nnetwork_id = "from-file"\nchain_id = 5\n')
    monkeypatch.setenv("DEPIN_NETWORK__CHAIN_ID", "7")
    s = load_settings(cfg)
    assert s.network.network_id == "from-file"
    assert s.network.chain_id == 7


def test_unknown_key_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text("[network]\nnot_a_setting = 1\n")
    with pytest.raises(ConfigError, match="not_a_setting"):
        load_settings(cfg)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_epoch_clock_boundaries_follow_genesis_and_length() -> None:
    from opendepin.network.settings import NetworkSection

    net = NetworkSection(genesis_unix=1_000, epoch_seconds=60, report_grace_seconds=5)
    assert net.epoch_start_unix(0) == 1_000
    assert net.epoch_end_unix(0) == net.epoch_start_unix(1) == 1_060
    assert net.epoch_window_ms(2) == (1_120_000, 1_180_000)
    assert net.ingest_close_unix(2) == 1_185
