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
