from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opendepin.errors import ConfigError
from opendepin.network.settings import PoolsSection, Settings, load_settings
from opendepin.proofs import get_kind


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


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('[network]\nchain_id = = 3\n', "2:12", "Invalid value"),
        ("[network\n", "1:9", "Expected ']' at the end of a table declaration"),
        ('[network]\nnetwork_id = "x', "2:16", "Unterminated string (at end of file)"),
    ],
)
def test_toml_syntax_error_is_one_line_with_file_line_and_column(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == f"{cfg}:{where}: invalid TOML: {what}"


def test_unreadable_settings_file_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_bytes(b"\xff\xfe[network]")
    with pytest.raises(ConfigError, match=f"^cannot read {cfg}: 'utf-8' codec can't decode"):
        load_settings(cfg)


def test_epoch_clock_boundaries_follow_genesis_and_length() -> None:
    from opendepin.network.settings import NetworkSection

    net = NetworkSection(genesis_unix=1_000, epoch_seconds=60, report_grace_seconds=5)
    assert net.epoch_start_unix(0) == 1_000
    assert net.epoch_end_unix(0) == net.epoch_start_unix(1) == 1_060
    assert net.epoch_window_ms(2) == (1_120_000, 1_180_000)
    assert net.ingest_close_unix(2) == 1_185


# -- proof kinds' sections -----------------------------------------------------------------


def _load_toml(tmp_path: Path, text: str) -> Settings:
    cfg = tmp_path / "network.toml"
    cfg.write_text(text)
    return load_settings(cfg)


def _defaults(kind: str) -> dict[str, Any]:
    return get_kind(kind).settings_model().model_dump(mode="json")


def test_kind_section_defaults_when_the_file_says_nothing(tmp_path: Path) -> None:
    s = _load_toml(tmp_path, '[network]\nnetwork_id = "x"\n')
    assert s.kinds == {}
    section = s.kind_section("heartbeat")
    assert isinstance(section, get_kind("heartbeat").settings_model)
    assert section.model_dump(mode="json") == _defaults("heartbeat")


def test_kind_section_from_a_kinds_table(tmp_path: Path) -> None:
    s = _load_toml(tmp_path, "[kinds.heartbeat]\nmin_online_hours = 5\n")
    section = s.kind_section("heartbeat")
    assert isinstance(section, get_kind("heartbeat").settings_model)
    assert section.model_dump() == {**_defaults("heartbeat"), "min_online_hours": 5}


def test_kind_section_from_a_top_level_table(tmp_path: Path) -> None:
    s = _load_toml(tmp_path, "[heartbeat]\nmin_online_hours = 6\nfull_trust_meters = 250\n")
    section = s.kind_section("heartbeat")
    assert isinstance(section, get_kind("heartbeat").settings_model)
    assert section.model_dump() == {**_defaults("heartbeat"), "min_online_hours": 6, "full_trust_meters": 250}


def test_kinds_table_wins_over_the_top_level_table_field_by_field(tmp_path: Path) -> None:
    s = _load_toml(
        tmp_path,
        "[kinds.heartbeat]\nmin_online_hours = 5\n[heartbeat]\nmin_online_hours = 7\nfull_trust_meters = 250\n",
    )
    section = s.kind_section("heartbeat").model_dump()
    assert section["min_online_hours"] == 5  # [kinds.heartbeat] wins the clash
    assert section["full_trust_meters"] == 250  # the rest of [heartbeat] still counts


def test_kind_section_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./network.toml
    monkeypatch.setenv("DEPIN_KINDS__HEARTBEAT__MIN_ONLINE_HOURS", "3")
    s = load_settings()
    assert s.kind_section("heartbeat").model_dump() == {**_defaults("heartbeat"), "min_online_hours": 3}


def test_environment_wins_over_the_file_for_a_kind_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPIN_KINDS__HEARTBEAT__MIN_ONLINE_HOURS", "3")
    s = _load_toml(tmp_path, "[heartbeat]\nmin_online_hours = 7\nfull_trust_meters = 250\n")
    section = s.kind_section("heartbeat").model_dump()
    assert section["min_online_hours"] == 3
    assert section["full_trust_meters"] == 250


def test_unknown_kind_table_is_a_config_error_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text("[kinds.nosuch]\nx = 1\n")
    with pytest.raises(ConfigError, match="nosuch") as info:
        load_settings(cfg)
    assert "heartbeat" in str(info.value)  # lists the installed kinds


def test_bad_value_in_a_kind_table_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text("[kinds.heartbeat]\nmin_online_hours = -1\n")
    with pytest.raises(ConfigError, match="min_online_hours"):
        load_settings(cfg)


def test_unknown_field_in_a_kind_table_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text("[heartbeat]\nnot_a_setting = 1\n")
    with pytest.raises(ConfigError, match="not_a_setting"):
        load_settings(cfg)


def test_parameters_hold_exactly_the_paid_kinds_with_defaults_filled(tmp_path: Path) -> None:
    s = _load_toml(
        tmp_path,
        "[pools]\nbps = { heartbeat = 10000 }\n[heartbeat]\nmin_online_hours = 5\n"
        "[kinds.coverage]\nmax_distance_m = 50000\n",
    )
    params = s.parameters()
    # coverage is configured but not paid: left out; store/ingest are node-local: left out.
    assert set(params["kinds"]) == {"heartbeat"}
    assert params["kinds"]["heartbeat"] == {**_defaults("heartbeat"), "min_online_hours": 5}
    assert "store" not in params and "ingest" not in params
    assert "heartbeat" not in params and "coverage" not in params


def test_parameters_fill_defaults_for_paid_kinds_not_configured() -> None:
    params = Settings(pools=PoolsSection(bps={"heartbeat": 4_000, "coverage": 6_000})).parameters()
    assert params["kinds"] == {"coverage": _defaults("coverage"), "heartbeat": _defaults("heartbeat")}


def test_parameters_leave_out_a_paid_kind_that_is_not_installed() -> None:
    params = Settings(pools=PoolsSection(bps={"heartbeat": 5_000, "nosuch": 5_000})).parameters()
    assert set(params["kinds"]) == {"heartbeat"}
    assert params["pools"]["bps"] == {"heartbeat": 5_000, "nosuch": 5_000}


def test_parameters_round_trip_through_model_validate(tmp_path: Path) -> None:
    s = _load_toml(
        tmp_path,
        "[pools]\nbps = { heartbeat = 4000, coverage = 6000 }\n[network]\nnetwork_id = \"rt\"\n"
        "[kinds.heartbeat]\nmin_online_hours = 5\n[coverage]\nmax_distance_m = 50000\n",
    )
    again = Settings.model_validate(s.parameters())  # what `depin audit` does with a manifest
    for kind in ("heartbeat", "coverage"):
        assert again.kind_section(kind) == s.kind_section(kind)
    assert again.kind_section("coverage").model_dump()["max_distance_m"] == 50_000
    assert again.network == s.network
    assert again.pools == s.pools
    assert again.parameters() == s.parameters()


def test_old_style_parameters_with_a_top_level_kind_table_still_validate() -> None:
    params = Settings(pools=PoolsSection(bps={"heartbeat": 10_000})).parameters()
    old = {k: v for k, v in params.items() if k != "kinds"}
    old["heartbeat"] = {**params["kinds"]["heartbeat"], "min_online_hours": 4}
    s = Settings.model_validate(old)
    assert s.kind_section("heartbeat").model_dump() == {**_defaults("heartbeat"), "min_online_hours": 4}
    assert s.parameters()["kinds"] == {"heartbeat": old["heartbeat"]}
