"""`proofs.kind`: the published explanation form, its main reason, and KindBase's defaults."""

from __future__ import annotations

import json

from opendepin.proofs import Explanation, KindBase, get_kind
from opendepin.types import DeviceId

DEVICE = DeviceId("0x" + "ab" * 20)


def test_explanation_to_obj_holds_device_shares_reasons_invalid_and_details() -> None:
    e = Explanation(
        device=DEVICE,
        shares=42,
        reasons=("bad_rssi", "stale"),
        invalid={"stale": 1, "bad_rssi": 3},
        details={"hours": 7, "trust": "0.25"},
    )
    obj = e.to_obj()
    assert obj == {
        "hours": 7,
        "trust": "0.25",
        "device": DEVICE,
        "shares": 42,
        "reasons": ["bad_rssi", "stale"],
        "invalid": {"bad_rssi": 3, "stale": 1},
    }
    assert list(obj["invalid"]) == ["bad_rssi", "stale"]  # sorted by reason
    assert isinstance(obj["reasons"], list)
    json.dumps(obj)  # plain JSON values


def test_explanation_to_obj_fixed_fields_win_over_details() -> None:
    e = Explanation(device=DEVICE, shares=5, reasons=(), details={"shares": 999, "device": "other"})
    obj = e.to_obj()
    assert obj["shares"] == 5
    assert obj["device"] == DEVICE


def test_explanation_defaults_are_empty() -> None:
    obj = Explanation(device=DEVICE, shares=0, reasons=()).to_obj()
    assert obj == {"device": DEVICE, "shares": 0, "reasons": [], "invalid": {}}


def test_main_reason_is_the_most_frequent_invalid_reason() -> None:
    e = Explanation(
        device=DEVICE,
        shares=0,
        reasons=("aaa_first", "bad_rssi", "stale"),
        invalid={"bad_rssi": 2, "stale": 5, "aaa_first": 1},
    )
    assert e.main_reason == "stale"


def test_main_reason_breaks_a_tie_by_name() -> None:
    e = Explanation(device=DEVICE, shares=0, reasons=(), invalid={"bbb": 3, "aaa": 3, "ccc": 1})
    # The documented tie-break is by name; max over (count, name) picks the last name.
    assert e.main_reason == "bbb"
    swapped = Explanation(device=DEVICE, shares=0, reasons=(), invalid={"aaa": 3, "bbb": 3})
    assert swapped.main_reason == e.main_reason  # independent of insertion order


def test_main_reason_without_invalid_reports_is_the_first_reason() -> None:
    e = Explanation(device=DEVICE, shares=1, reasons=("below_min_hours", "location_untrusted"))
    assert e.main_reason == "below_min_hours"


def test_main_reason_of_a_perfect_device_is_none() -> None:
    assert Explanation(device=DEVICE, shares=96, reasons=()).main_reason is None


def test_kind_base_defaults_are_stateless_without_entropy_or_inputs() -> None:
    class Minimal(KindBase):
        pass

    kind = Minimal()
    section = object()
    assert kind.entropy_window_seconds(section) is None
    assert kind.initial_state(section) is None
    assert dict(kind.external_inputs(section)) == {}


def test_heartbeat_relies_on_the_kind_base_defaults() -> None:
    heartbeat = get_kind("heartbeat")
    assert isinstance(heartbeat, KindBase)
    section = heartbeat.settings_model()
    assert heartbeat.entropy_window_seconds(section) == 3_600  # liveness on by default: hourly blocks
    assert heartbeat.entropy_window_seconds(heartbeat.settings_model(liveness_window_seconds=0)) is None
    assert heartbeat.initial_state(section) is None
    assert dict(heartbeat.external_inputs(section)) == {}


def test_coverage_overrides_the_kind_base_defaults() -> None:
    coverage = get_kind("coverage")
    section = coverage.settings_model()
    assert coverage.entropy_window_seconds(section) == section.entropy_window_seconds  # type: ignore[attr-defined]
    assert coverage.initial_state(section) is not None  # stateful


def test_explanation_round_trips_through_its_published_form() -> None:
    from opendepin.proofs.kind import Explanation
    from opendepin.types import DeviceId

    e = Explanation(DeviceId("0x" + "ab" * 20), 7, ("insufficient_uptime",), {"stale": 2}, {"hours": 3})
    assert Explanation.from_obj(e.to_obj()) == e
    import pytest

    with pytest.raises(ValueError, match="not a published explanation"):
        Explanation.from_obj({"device": "x"})
