"""`depin storage gateway` and `depin storage keys new|list|revoke`: the S3-compatible gateway.

```
depin storage gateway --db URL --node URL... [--nodes FILE] --key PLACERKEY [--passphrase-env VAR]
                      [--host 127.0.0.1] [--port 9000] [--master-key FILE] [--region us-east-1]
                      [--domain DOMAIN]... [--config network.toml]
                      [--dir NETDIR [--rpc URL] [--data DIR]]   # metering + credit checks
depin storage keys new --account ACCOUNT [--db URL] [--master-key FILE] [--json]
depin storage keys list [--account ACCOUNT] [--db URL] [--json]
depin storage keys revoke ACCESS_KEY_ID [--db URL]
```

The gateway serves the S3 REST API (path style, and virtual-host style under each
`--domain`) in the foreground until SIGTERM/SIGINT. Access keys live in the metadata
database (`--db`), their secrets sealed with the master key (`--master-key`, default
./gateway-master.key, created 0600 on first use); `keys new` prints the secret once.
`register(app)` adds these commands to the `depin storage` group.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opendepin.cli.common import check_port
from opendepin.cli.storage_client_cmd import (
    ConfigOption,
    KeyOption,
    NodeOption,
    NodesFileOption,
    PassphraseOption,
    load_placer_key,
    read_node_urls,
)
from opendepin.errors import InputError
from opendepin.storage.metadata import Metadata

DEFAULT_DB = "sqlite:///placer.db"
DbOption = Annotated[
    str, typer.Option("--db", metavar="URL", help="Metadata database URL (SQLite or PostgreSQL).")
]
MasterKeyOption = Annotated[
    Path,
    typer.Option("--master-key", metavar="FILE", help="Gateway master key (created if missing)."),
]
DEFAULT_MASTER_KEY = Path("gateway-master.key")


def _metadata(db: str) -> Metadata:
    try:
        return Metadata(db)
    except Exception as exc:  # a bad URL or an unreachable server: one line, not a traceback
        raise InputError(f"--db {db}: cannot open: {type(exc).__name__}: {exc}") from exc


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def register(app: typer.Typer) -> None:
    """Add `gateway` and the `keys` sub-group to the `depin storage` group."""

    @app.command("gateway")
    def gateway(
        db: DbOption = DEFAULT_DB,
        node: NodeOption = None,
        nodes: NodesFileOption = None,
        key_file: KeyOption = None,
        passphrase_env: PassphraseOption = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 9000,
        master_key: MasterKeyOption = DEFAULT_MASTER_KEY,
        region: Annotated[
            str, typer.Option("--region", help="Region clients sign for.")
        ] = "us-east-1",
        domain: Annotated[
            list[str] | None,
            typer.Option("--domain", help="Base domain for virtual-host addressing (repeat)."),
        ] = None,
        config: ConfigOption = None,
        netdir: Annotated[
            Path | None,
            typer.Option(
                "--dir",
                help="Network directory (deployment.json): meter usage and refuse accounts "
                "without credits (needs the chain at --rpc).",
            ),
        ] = None,
        rpc: Annotated[
            str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")
        ] = None,
        data: Annotated[
            Path,
            typer.Option("--data", help="Usage files (served at /v1/usage/E; as for settle)."),
        ] = Path("gateway-data"),
    ) -> None:
        """Run the S3-compatible gateway in the foreground over the storage nodes.

        With `--dir` it meters every request, refuses accounts whose credits are used up
        (AccessDenied) and serves the usage files `depin storage settle` writes; without it,
        every request with a valid key is served and nothing is metered."""
        from opendepin.network.settings import load_settings
        from opendepin.storage.gateway.context import GatewayConfig
        from opendepin.storage.gateway.main import open_gateway, serve
        from opendepin.storage.placer import PlacerConfig

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        check_port(host, port)
        settings = load_settings(config)
        signer = load_placer_key(key_file, passphrase_env)
        urls = read_node_urls(node, nodes)
        metadata = _metadata(db)
        hooks: dict[str, Any] = {}
        usage_data: Path | None = None
        settlement = None
        if netdir is not None:
            from opendepin.cli.storage_settle_cmd import open_settlement
            from opendepin.storage.gateway.credits_check import CreditsCheck

            settlement = open_settlement(settings, signer, metadata, netdir, rpc, data, ())
            hooks = {
                "authoriser": CreditsCheck(settlement.ledger.balance, settlement.owed),
                "usage": settlement.metering,
                "on_fetch": settlement.metering.record_fetch,
            }
            usage_data = data
        gw = open_gateway(
            metadata,
            urls,
            signer,
            PlacerConfig.from_settings(settings),
            master_key,
            GatewayConfig(region=region, domains=tuple(d.lower().strip(".") for d in domain or ())),
            **hooks,
        )
        reachable = sum(1 for e in gw.placer.directory.entries if e.usable)
        typer.echo(
            f"S3 gateway on http://{host}:{port} (placer {signer.address}, "
            f"{reachable}/{len(urls)} nodes reachable, region {region}"
            + (", metering and credit checks on" if settlement is not None else "")
            + ")",
            color=False,
        )
        try:
            serve(gw, host, port, usage_data=usage_data)
        finally:
            gw.placer.close()
            if settlement is not None:
                settlement.close()
            metadata.close()
        typer.echo("gateway stopped")

    keys = typer.Typer(help="S3 access keys of consumer accounts.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("new")
    def keys_new(
        account: Annotated[str, typer.Option("--account", help="The account the key acts for.")],
        db: DbOption = DEFAULT_DB,
        master_key: MasterKeyOption = DEFAULT_MASTER_KEY,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Create an access key for ACCOUNT; its secret is shown this once."""
        from opendepin.storage.gateway.keys import KeyStore, check_account, load_master_key

        check_account(account)
        metadata = _metadata(db)
        with metadata:
            store = KeyStore(metadata.engine, load_master_key(master_key))
            key, secret = store.create(account, _now_ms())
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "aws_access_key_id": key.access_key_id,
                        "aws_secret_access_key": secret,
                        "account": account,
                    }
                )
            )
            return
        typer.echo(f"access key id:     {key.access_key_id}")
        typer.echo(f"secret access key: {secret}")
        typer.echo(f"account:           {account}")
        typer.echo("the secret is not shown again: store it now")

    @keys.command("list")
    def keys_list(
        account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
        db: DbOption = DEFAULT_DB,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List access keys (never their secrets)."""
        from opendepin.storage.gateway.keys import KeyStore

        metadata = _metadata(db)
        with metadata:
            rows = KeyStore(metadata.engine).list(account)  # listing needs no master key
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {
                            "access_key_id": k.access_key_id,
                            "account": k.account,
                            "created_ms": k.created_ms,
                            "revoked_ms": k.revoked_ms,
                        }
                        for k in rows
                    ]
                )
            )
            return
        table = Table("access key id", "account", "created_ms", "state")
        for k in rows:
            table.add_row(k.access_key_id, k.account, str(k.created_ms),
                          "active" if k.active else f"revoked {k.revoked_ms}")  # fmt: skip
        Console().print(table)

    @keys.command("revoke")
    def keys_revoke(
        access_key_id: Annotated[str, typer.Argument(help="The access key id to revoke.")],
        db: DbOption = DEFAULT_DB,
    ) -> None:
        """Revoke an access key: requests signed with it are refused from now on."""
        from opendepin.storage.gateway.keys import KeyStore

        metadata = _metadata(db)
        with metadata:
            done = KeyStore(metadata.engine).revoke(access_key_id, _now_ms())
        if not done:
            raise InputError(f"no active access key {access_key_id[:40]!r}")
        typer.echo(f"revoked {access_key_id}")


__all__ = ["register"]
