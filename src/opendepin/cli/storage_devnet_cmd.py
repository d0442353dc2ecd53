"""`depin storage devnet`: a whole local storage network in one process, in one command.

```
depin storage devnet --dir D [--nodes 8] [--port 9000] [--epoch-seconds 3600]
```

Starts the embedded chain (a block every few seconds at wall time), the contracts, N storage
nodes on 127.0.0.1:P+1…P+N, one oracle's ingest on P+N+1 and the S3 gateway on P; funds a
consumer account (genesis tokens, some burned for credits) and writes its access key to
D/credentials.json (0600): `endpoint_url`, `aws_access_key_id`, `aws_secret_access_key`,
`region`, `bucket_prefix`. Prints one line per component, then "ready"; runs until
SIGTERM/SIGINT and exits 0 once every component stopped. A devnet is throw-away: see
`opendepin.storage.devnet` for what survives a restart on the same D (objects do; the chain
does not). `register(app)` adds the command to the `depin storage` group.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from opendepin.cli.common import check_port, check_port_number
from opendepin.errors import InputError

MAX_NODES = 64


def register(app: typer.Typer) -> None:
    """Add `devnet` to the `depin storage` group."""

    @app.command("devnet")
    def devnet(
        directory: Annotated[
            Path, typer.Option("--dir", help="Devnet directory (seed, metadata, node pieces).")
        ],
        nodes: Annotated[
            int, typer.Option("--nodes", min=2, max=MAX_NODES, help="Storage nodes to run.")
        ] = 8,
        port: Annotated[
            int,
            typer.Option("--port", help="Gateway port; nodes and the oracle take the next ones."),
        ] = 9000,
        epoch_seconds: Annotated[
            int,
            typer.Option(
                "--epoch-seconds",
                help="Epoch length (at least 60, a multiple of 60): usage of an epoch is settled "
                "in the next one and paid when the oracle runs that one.",
            ),
        ] = 3_600,
    ) -> None:
        """Run a local storage network (chain, nodes, oracle, S3 gateway) in the foreground."""
        from opendepin.storage.devnet import HOST, run

        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
        if directory.exists() and not directory.is_dir():
            raise InputError(f"--dir {directory} is not a directory")
        check_port_number(port + nodes + 1, f"--port {port} with --nodes {nodes}: port")
        for p in range(port, port + nodes + 2):
            check_port(HOST, p, "port")

        def echo(line: str) -> None:
            typer.echo(line, color=False)

        run(directory, nodes, port, echo=echo, epoch_seconds=epoch_seconds)


def _standalone() -> None:
    """`python -m opendepin.cli.storage_devnet_cmd …` (before the command is wired in)."""
    import sys

    from opendepin.errors import DepinError

    app = typer.Typer()
    register(app)

    @app.callback()
    def _group() -> None:
        """Storage devnet."""

    try:
        app(["devnet", *sys.argv[1:]])
    except DepinError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    _standalone()

__all__ = ["register"]
