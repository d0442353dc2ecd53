"""`depin reports schema` prints the published EIP-712 schema."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from opendepin.cli.app import app
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
