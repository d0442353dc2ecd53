"""`depin storage settle` is a command of its own group once registered; bad input is one error."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from opendepin.cli.storage_settle_cmd import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _group() -> None:
        """storage"""

    return app


def test_settle_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(_app(), ["settle", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--epoch", "--db", "--key", "--ingest", "--data", "--json"):
        assert option in result.output


def test_settle_without_a_key_fails_before_touching_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["settle", "--epoch", "3", "--db", f"sqlite:///{tmp_path / 'g.db'}"]
    )
    assert result.exit_code != 0
    assert "no placer key" in str(result.exception) + result.output
    assert not (tmp_path / "g.db").exists()
