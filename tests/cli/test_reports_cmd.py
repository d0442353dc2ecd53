"""`depin reports schema` prints the published EIP-712 schema."""

from __future__ import annotations

import json
import math
from fractions import Fraction

from typer.testing import CliRunner

from opendepin.cli.app import app
from opendepin.network.clock import EpochClock
from opendepin.reports.eip712 import REPORT_TYPE


def test_reports_schema_prints_types_domain_and_docs() -> None:
    result = CliRunner().invoke(app, ["reports", "schema"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["encodeType"] == REPORT_TYPE
    assert doc["domain"]["name"] == "opendepin" and doc["domain"]["version"] == "1"
    assert "EIP712Domain" in doc["types"] and "Report" in doc["types"]
    assert set(doc["fields"]) == {f["name"] for f in doc["types"]["Report"]}


def test_reports_schema_lists_installed_kinds_and_prints_a_kinds_payload_schemas() -> None:
    result = CliRunner().invoke(app, ["reports", "schema"])
    assert {"heartbeat", "coverage"} <= set(json.loads(result.output)["kinds"])
    result = CliRunner().invoke(app, ["reports", "schema", "--kind", "coverage"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc["payloads"]) == {"beacon", "witness"}
    assert doc["payloads"]["witness"]["properties"]["type"] == {"const": "witness"}


def test_reports_schema_of_an_unknown_kind_is_one_clear_error() -> None:
    result = CliRunner().invoke(app, ["reports", "schema", "--kind", "nosuch"])
    assert result.exit_code != 0
    assert "nosuch" in str(result.exception)


def test_reports_schema_prints_every_kinds_payloads_and_the_epoch_rule() -> None:
    doc = json.loads(CliRunner().invoke(app, ["reports", "schema"]).output)
    assert set(doc["payloads"]) == set(doc["kinds"])
    assert set(doc["payloads"]["coverage"]) == {"beacon", "witness"}
    assert doc["payloads"]["coverage"]["witness"]["properties"]["type"] == {"const": "witness"}
    assert "heartbeat" in doc["payloads"]["heartbeat"]
    rule = doc["epoch"]["formula"]
    assert rule == "epoch = floor((timestampMs / 1000 - genesis_unix) / epoch_seconds)"


def test_reports_schema_epoch_rule_is_the_clocks() -> None:
    """The published formula, evaluated literally, agrees with `EpochClock.epoch_at_ms`."""
    genesis, length = 1_700_000_000, 3_600
    clock = EpochClock(genesis, length)
    end_of_epoch_0_ms = (genesis + length) * 1000
    samples = (genesis * 1000, genesis * 1000 + 999, end_of_epoch_0_ms - 1, end_of_epoch_0_ms)
    for timestamp_ms in (*samples, (genesis + 5 * length + 17) * 1000 + 3):
        published = math.floor((Fraction(timestamp_ms, 1000) - genesis) / length)
        assert published == clock.epoch_at_ms(timestamp_ms)
