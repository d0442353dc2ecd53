"""`depin config show`: print the effective settings (file + environment + defaults)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from opendepin.network.settings import load_settings
from opendepin.proofs.registry import installed_kinds

app = typer.Typer(help="Inspect network settings.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="network.toml to read (default ./network.toml).")
]


@app.command("show")
def show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective settings: network.toml, then DEPIN_* variables, then defaults."""
    settings = load_settings(config)
    data = settings.model_dump(mode="json")
    installed = installed_kinds()
    # Every kind the network pays or configures, with its defaults filled in.
    names = sorted({*settings.kinds, *(k for k in settings.pools.bps if k in installed)})
    data["kinds"] = {name: settings.kind_section(name).model_dump(mode="json") for name in names}
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    import tomli_w

    Console().print(tomli_w.dumps(_drop_none(data)), highlight=False, markup=False)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: leave unset optional values out (they keep their defaults)."""
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}
