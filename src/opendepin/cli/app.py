"""Root of the `depin` CLI.

Each concern lives in its own module exposing a `typer.Typer` named `app` (or a command
function); this module only wires them together and turns expected errors into one clear
line and a non-zero exit (no traceback for a user's mistake).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console

from opendepin.cli import (
    agent_cmd,
    audit_cmd,
    chain_cmd,
    config_cmd,
    credits_cmd,
    demo_cmd,
    explorer_cmd,
    keys_cmd,
    merkle_cmd,
    oracle_cmd,
    reports_cmd,
    sim_cmd,
    status_cmd,
    storage_cmd,
)
from opendepin.errors import DepinError

app = typer.Typer(
    name="depin",
    help="opendepin: verify physical infrastructure, reward it on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def package_version() -> str:
    """The installed opendepin distribution's version."""
    try:
        return version("opendepin")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"depin {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the opendepin version and exit.",
        ),
    ] = False,
) -> None:
    """opendepin: verify physical infrastructure, reward it on an EVM chain."""


app.add_typer(config_cmd.app, name="config")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(reports_cmd.app, name="reports")
app.add_typer(merkle_cmd.app, name="merkle")
app.add_typer(chain_cmd.app, name="chain")
app.add_typer(credits_cmd.app, name="credits")
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(oracle_cmd.app, name="oracle")
app.add_typer(sim_cmd.app, name="sim")
app.add_typer(storage_cmd.app, name="storage")
app.command("demo")(demo_cmd.demo)
app.command("audit")(audit_cmd.audit)
app.command("explorer")(explorer_cmd.explorer)
app.command("status")(status_cmd.status)

err_console = Console(stderr=True)


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=True)
    except DepinError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


def run(argv: list[str]) -> None:
    """Run the CLI with explicit arguments (used by tests and `python -m opendepin`)."""
    sys.argv = ["depin", *argv]
    main()
