"""Root of the `depin` CLI.

Each concern lives in its own module exposing a `typer.Typer` named `app` (or a command
function); this module only wires them together and turns expected errors into one clear
line and a non-zero exit (no traceback for a user's mistake).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from typer.core import TyperGroup

from opendepin.errors import DepinError

_SETTINGS: dict[str, Any] = {
    "name": "depin",
    "help": "opendepin: verify physical infrastructure, reward it on an EVM chain.",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
}

_COMMANDS: dict[str, tuple[str, str | None]] = {
    "demo": ("opendepin.cli.demo_cmd", "demo"),
    "audit": ("opendepin.cli.audit_cmd", "audit"),
    "explorer": ("opendepin.cli.explorer_cmd", "explorer"),
    "status": ("opendepin.cli.status_cmd", "status"),
    "config": ("opendepin.cli.config_cmd", None),
    "keys": ("opendepin.cli.keys_cmd", None),
    "reports": ("opendepin.cli.reports_cmd", None),
    "merkle": ("opendepin.cli.merkle_cmd", None),
    "chain": ("opendepin.cli.chain_cmd", None),
    "credits": ("opendepin.cli.credits_cmd", None),
    "agent": ("opendepin.cli.agent_cmd", None),
    "oracle": ("opendepin.cli.oracle_cmd", None),
    "sim": ("opendepin.cli.sim_cmd", None),
    "storage": ("opendepin.cli.storage_cmd", None),
}
"""Every top-level command, in the order `depin --help` lists them: its module and the
command function in it (None: the module's `app`, a command group). A module is imported
when its command is looked up, so `depin demo` starts without importing what only
`depin sim`, `depin explorer`, `depin agent` … need (web3, numpy, jinja2, the attack suite:
about 1 s of a 2-core machine's start-up)."""


def _load(name: str) -> Any:
    """The click command of `name`, built by typer exactly as when registered on `app`."""
    module_name, function = _COMMANDS[name]
    module = import_module(module_name)
    holder = typer.Typer(**_SETTINGS)
    holder.callback()(lambda: None)  # a group, so the command keeps its name
    if function is None:
        holder.add_typer(module.app, name=name)
    else:
        holder.command(name)(getattr(module, function))
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: every name from the start, each built on first access."""

    def __init__(self, built: MutableMapping[str, Any]) -> None:
        self._built = dict(built)
        self._names = [*_COMMANDS, *(n for n in built if n not in _COMMANDS)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in _COMMANDS:
                raise KeyError(name)
            self._built[name] = _load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


class _LazyGroup(TyperGroup):
    """The `depin` group: its commands' modules are imported when a command is looked up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)


app = typer.Typer(cls=_LazyGroup, **_SETTINGS)


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
