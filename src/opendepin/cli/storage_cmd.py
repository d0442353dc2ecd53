"""`depin storage …`: storage as a service — run a storage node (and, from other modules, place objects).

```
depin storage node --dir D --port P [--host 127.0.0.1] [--capacity BYTES] [--key KEYSTORE]
                   [--passphrase-env VAR] [--ingest URL]... [--rpc-url URL] [--placer ADDR]...
                   [--config network.toml]
```

The node runs in the foreground, logs one line per request, and exits 0 on SIGTERM/SIGINT
once requests in flight are done. Its key is D/device.json (created at first start, with the
passphrase from `--passphrase-env` or a prompt) unless `--key` names a keystore. To register
the node on chain, run `depin agent register --dir D --owner-keystore FILE --registry ADDR`:
the node writes D/agent.toml (kind "storage") for exactly that.

Placers: the network's `[storage] placers`, plus every `--placer` (for test networks). With
neither, the node refuses every order (unauthorised_placer).

Other modules add commands to this group with a `register(app)` function.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from opendepin.cli.common import ask_passphrase, check_port
from opendepin.errors import InputError
from opendepin.network.settings import load_settings
from opendepin.storage.node.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    KEYSTORE_FILE,
    NodeConfig,
    parse_placers,
)

app = typer.Typer(
    help="Storage as a service: run a storage node; place and fetch objects.", no_args_is_help=True
)


@app.command("node")
def node(
    directory: Annotated[
        Path, typer.Option("--dir", help="Node directory (pieces, ledger, key, state).")
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = DEFAULT_HOST,
    capacity: Annotated[
        int | None,
        typer.Option("--capacity", min=0, help="Most piece bytes to hold (default 1 TiB)."),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Node keystore (default DIR/device.json, created if missing)."),
    ] = None,
    passphrase_env: Annotated[
        str | None,
        typer.Option("--passphrase-env", help="Env variable holding the keystore passphrase."),
    ] = None,
    ingest: Annotated[
        list[str] | None,
        typer.Option("--ingest", help="Ingest URL for the node's reports (repeat for several)."),
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url",
            help='Chain JSON-RPC for audit entropy (default: chain.rpc_url; "" for none).',
        ),
    ] = None,
    placer: Annotated[
        list[str] | None,
        typer.Option("--placer", help="Also accept orders of this placer address (repeat)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="network.toml (default ./network.toml).")
    ] = None,
) -> None:
    """Run a storage node in the foreground: hold pieces, serve them against orders, prove them."""
    from opendepin.storage.node.main import node_app, open_key, prepare_directory, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    check_port(host, port)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--dir {directory} is not a directory")
    settings = load_settings(config)
    cfg = NodeConfig.from_settings(
        settings,
        directory,
        host=host,
        port=port,
        placers=parse_placers(placer or ()),
        ingest_urls=tuple(dict.fromkeys(ingest or ())),
        rpc_url=(settings.chain.rpc_url if rpc_url is None else rpc_url) or None,
    ).with_updates(capacity_bytes=capacity)
    keystore = key or directory / KEYSTORE_FILE
    passphrase = ask_passphrase(
        passphrase_env, f"the node key {keystore}", confirm=not keystore.exists()
    )
    device = open_key(directory, key, passphrase)
    prepare_directory(cfg)
    app_ = node_app(cfg, device)
    removed = {k: v for k, v in app_.recovered.items() if v}
    typer.echo(
        f"storage node {device.device_id} on http://{host}:{port} ({directory})", color=False
    )
    if removed:
        typer.echo(f"recovered after a crash: removed {removed}")
    if not cfg.placers:
        typer.echo(
            "warning: no authorised placers ([storage] placers or --placer): every order is refused"
        )
    if not cfg.ingest_urls:
        typer.echo("warning: no --ingest: reports are queued in node.db and not delivered")
    serve(app_)
    typer.echo("storage node stopped")


def _register_commands() -> None:
    """The placer's commands (put, get, ls, rm, repair), the S3 gateway's (gateway, keys,
    settle) and the one-command local storage network (devnet) join the group."""
    from opendepin.cli import (
        storage_client_cmd,
        storage_devnet_cmd,
        storage_gateway_cmd,
        storage_settle_cmd,
    )

    storage_client_cmd.register(app)
    storage_gateway_cmd.register(app)
    storage_settle_cmd.register(app)
    storage_devnet_cmd.register(app)


_register_commands()
