"""The proof-kind registry: installed kinds from entry points, lookups, and broken plugins."""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint

import pytest

from opendepin.errors import ConfigError
from opendepin.network.settings import PoolsSection, Settings
from opendepin.proofs import ENTRY_POINT_GROUP, Kind
from opendepin.proofs.registry import _load, get_kind, installed_kinds, kinds_for

SHIPPED = ("heartbeat", "coverage")


def _entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_entry_point_group_is_the_documented_one() -> None:
    assert ENTRY_POINT_GROUP == "opendepin.proof_kinds"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_kinds_are_installed_kinds_named_like_their_entry_point(name: str) -> None:
    kinds = installed_kinds()
    assert name in kinds
    kind = kinds[name]
    assert isinstance(kind, Kind)
    assert str(kind.name) == name


def test_installed_kinds_are_sorted_by_name_and_a_copy() -> None:
    kinds = installed_kinds()
    assert list(kinds) == sorted(kinds)
    assert isinstance(kinds, dict)
    kinds.pop("heartbeat")  # mutating the returned mapping does not touch the registry
    assert "heartbeat" in installed_kinds()


def test_get_kind_returns_the_installed_object() -> None:
    for name in SHIPPED:
        assert get_kind(name) is installed_kinds()[name]


def test_get_kind_of_an_unknown_name_lists_the_installed_kinds() -> None:
    with pytest.raises(ConfigError) as info:
        get_kind("nosuch")
    message = str(info.value)
    assert "'nosuch'" in message
    for name in installed_kinds():
        assert name in message


def test_kinds_for_returns_the_pooled_installed_kinds() -> None:
    settings = Settings(pools=PoolsSection(bps={"heartbeat": 4_000, "coverage": 6_000}))
    kinds = kinds_for(settings)
    assert list(kinds) == ["coverage", "heartbeat"]
    assert kinds["coverage"] is get_kind("coverage")
    assert kinds["heartbeat"] is get_kind("heartbeat")


def test_kinds_for_leaves_out_installed_kinds_without_a_pool() -> None:
    settings = Settings(pools=PoolsSection(bps={"heartbeat": 10_000}))
    assert list(kinds_for(settings)) == ["heartbeat"]


def test_kinds_for_omits_a_pooled_kind_that_is_not_installed() -> None:
    settings = Settings(pools=PoolsSection(bps={"heartbeat": 5_000, "nosuch": 5_000}))
    assert "nosuch" not in installed_kinds()
    kinds = kinds_for(settings)
    assert list(kinds) == ["heartbeat"]


def test_kinds_for_an_empty_pool_set_is_empty() -> None:
    assert kinds_for(Settings(pools=PoolsSection(bps={}))) == {}


# -- broken plugins are configuration errors ------------------------------------------


def test_load_accepts_a_shipped_entry_point() -> None:
    kind = _load(_entry_point("heartbeat", "opendepin.proofs.heartbeat.kind:KIND"))
    assert kind is get_kind("heartbeat")


def test_load_of_an_entry_point_whose_import_fails_is_a_config_error() -> None:
    ep = _entry_point("ghost", "opendepin_no_such_module_xyz:KIND")
    with pytest.raises(ConfigError, match="failed to import") as info:
        _load(ep)
    assert "'ghost'" in str(info.value)
    assert "opendepin_no_such_module_xyz:KIND" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_load_of_a_missing_attribute_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="failed to import"):
        _load(_entry_point("ghost", "opendepin.proofs.heartbeat.kind:NO_SUCH_KIND"))


def test_load_of_an_object_that_is_not_a_kind_is_a_config_error() -> None:
    ep = _entry_point("pathjoin", "os.path:join")
    with pytest.raises(ConfigError, match="is not a proof kind") as info:
        _load(ep)
    assert "'pathjoin'" in str(info.value)


def test_load_of_a_kind_whose_name_differs_from_its_entry_point_is_a_config_error() -> None:
    ep = _entry_point("coverage", "opendepin.proofs.heartbeat.kind:KIND")
    with pytest.raises(ConfigError, match="names itself 'heartbeat'") as info:
        _load(ep)
    assert "'coverage'" in str(info.value)


@pytest.mark.parametrize("bad", ["Bad-Name", "Heartbeat", "1kind", "with space", "", "a" * 33])
def test_load_refuses_an_invalid_kind_name_before_importing(bad: str) -> None:
    # The value names a real kind: the name alone is what is refused.
    ep = _entry_point(bad, "opendepin.proofs.heartbeat.kind:KIND")
    with pytest.raises(ConfigError, match="lower-case letters, digits and '_'"):
        _load(ep)


# -- every shipped kind uses the same package layout ------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_kinds_share_one_package_layout(name: str) -> None:
    package = importlib.import_module(f"opendepin.proofs.{name}")
    kind_module = importlib.import_module(f"opendepin.proofs.{name}.kind")
    settings_module = importlib.import_module(f"opendepin.proofs.{name}.settings")
    installed = get_kind(name)
    assert package.KIND is kind_module.KIND is installed
    # The kind's settings model lives in its `settings` module.
    model = installed.settings_model
    assert model.__module__ == settings_module.__name__
    assert getattr(settings_module, model.__name__) is model


COMMON_MODULES = ("kind", "settings", "reasons", "payload", "verifier", "scorer", "simulation")
"""Same file names for the same roles in every kind (the example plugin included)."""


@pytest.mark.parametrize(
    "package", ["opendepin.proofs.heartbeat", "opendepin.proofs.coverage", "depin_airquality"]
)
def test_kinds_use_the_same_module_names_for_the_same_roles(package: str) -> None:
    for role in COMMON_MODULES:
        importlib.import_module(f"{package}.{role}")
    kind = importlib.import_module(package).KIND
    assert kind.reasons.__module__ == f"{package}.reasons"
    assert type(kind).__module__ == f"{package}.kind"


@pytest.mark.parametrize("name", sorted(installed_kinds()))
def test_every_reason_of_a_kind_is_given_by_one_of_its_declared_rules(name: str) -> None:
    kind = get_kind(name)
    declared = {code for rule in kind.rules for code in rule.reasons}
    assert {r.value for r in kind.reasons} == declared
    assert len({rule.name for rule in kind.rules}) == len(kind.rules)
    assert all(rule.applies_to for rule in kind.rules)
