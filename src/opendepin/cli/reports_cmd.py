"""`depin reports schema`: the published EIP-712 schema devices sign reports with.

Prints the typed-data `types`, the domain template (its chainId is the network's), the type
hash, what each field means, the signature encodings and how `epoch` follows from
`timestampMs` (`epoch = floor((timestampMs/1000 - genesis_unix) / epoch_seconds)`) —
everything a third-party device implementation needs to produce reports this network
accepts — plus the installed proof kinds and, per kind, the JSON Schema of each payload it
accepts (`payloads`); `--kind NAME` prints that kind's payload JSON Schemas and its ordered
rules.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from opendepin.proofs.registry import get_kind, installed_kinds
from opendepin.reports.eip712 import schema as report_schema

app = typer.Typer(help="Report envelope: signing schema.", no_args_is_help=True)


@app.command("schema")
def schema(
    kind: Annotated[
        str | None, typer.Option("--kind", help="Print this installed kind's payload JSON Schemas instead.")
    ] = None,
) -> None:
    """Print the EIP-712 schema of signed reports (or a kind's payload schemas) as JSON."""
    if kind is not None:
        found = get_kind(kind)
        payloads = {name: dict(s) for name, s in found.payload_schemas.items()}
        rules = [r.to_obj() for r in found.rules]
        typer.echo(json.dumps({"kind": kind, "payloads": payloads, "rules": rules}, indent=2, ensure_ascii=False))
        return
    body = report_schema()
    names = sorted(installed_kinds())
    body["kinds"] = names
    body["payloads"] = {
        name: {payload: dict(s) for payload, s in get_kind(name).payload_schemas.items()}
        for name in names
    }
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
