"""`depin sim attacks`: one scenario prints the table; a bad scenario name is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opendepin.cli.app import app


def test_one_scenario_prints_the_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "attacks.json"
    result = CliRunner().invoke(
        app,
        ["sim", "attacks", "--scenario", "ring_weak", "--honest", "9", "--epochs", "2",
         "--model", "project", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "ring_weak" in result.stdout and "reward/key" in result.stdout
    assert "PASS" in result.stdout or "MISS" in result.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["scenario"], r["model"], r["attacker_keys"]) for r in rows] == [("ring_weak", "project", 5)]


def test_unknown_scenario_is_one_error_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["sim", "attacks", "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.stderr
    assert "Traceback" not in result.output
