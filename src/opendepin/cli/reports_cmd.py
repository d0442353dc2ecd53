"""`depin reports schema`: the published EIP-712 schema devices sign reports with.

Prints the typed-data `types`, the domain template (its chainId is the network's), the type
hash, what each field means and the signature encodings — everything a third-party device
implementation needs to produce reports this network accepts.
"""

from __future__ import annotations

import json

import typer

from opendepin.reports.eip712 import schema as report_schema

app = typer.Typer(help="Report envelope: signing schema.", no_args_is_help=True)


@app.command("schema")
def schema() -> None:
    """Print the EIP-712 schema of signed reports as JSON."""
    typer.echo(json.dumps(report_schema(), indent=2, ensure_ascii=False))
