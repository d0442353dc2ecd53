"""`depin storage settle --epoch E`: charge an ended epoch's usage on chain and report it.

```
depin storage settle --epoch E --db URL --key PLACERKEY [--passphrase-env VAR]
                     [--config network.toml] [--dir NETDIR] [--rpc URL]
                     [--data DIR] [--ingest URL]... [--json]
```

Runs `opendepin.storage.settlement.Settlement.settle` on the gateway's metadata database
(`--db`, the same as `depin storage gateway`'s): the usage file is written under
`--data` (default ./gateway-data; the gateway serves it at `GET /v1/usage/E` when started with
the same directory), each account's credits are spent with the gateway's placer key (an
authorised spender: `depin credits spenders --add`), and the usage reports go to every
`--ingest`. Safe to rerun: a settled epoch is never spent twice, and reports still queued
(an ingest was down) are sent again. Prints one line per account, or JSON with `--json`.
`register(app)` adds the command to the `depin storage` group.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from opendepin.cli.storage_client_cmd import (
    ConfigOption,
    KeyOption,
    PassphraseOption,
    load_placer_key,
)
from opendepin.errors import InputError

if TYPE_CHECKING:
    from opendepin.chain.accounts import Signer
    from opendepin.network.settings import Settings
    from opendepin.storage.metadata import Metadata
    from opendepin.storage.settlement import Settlement

DEFAULT_DB = "sqlite:///placer.db"
DEFAULT_DATA = Path("gateway-data")


def open_settlement(
    settings: Settings,
    signer: Signer,
    metadata: Metadata,
    netdir: Path,
    rpc: str | None,
    data: Path,
    ingest: tuple[str, ...],
) -> Settlement:
    """The gateway's settlement over its metadata database and the network's chain (the
    deployment in `netdir`, its code verified), filing reports with the `ingest` URLs."""
    from opendepin.chain.deploy import Deployment
    from opendepin.chain.rpc import RpcChain
    from opendepin.storage.credits import CreditsLedger
    from opendepin.storage.metering import Metering
    from opendepin.storage.pricing import Prices
    from opendepin.storage.settlement import Settlement, SettlementConfig

    for url in ingest:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--ingest {url[:80]!r} must start with http:// or https://")
    deployment = Deployment.load(netdir)
    chain = RpcChain(rpc or settings.chain.rpc_url)
    deployment.verify_code(chain)
    n = settings.network
    return Settlement(
        Metering(metadata.engine),
        CreditsLedger(chain, deployment),
        signer,
        SettlementConfig(
            n.network_id,
            n.chain_id,
            n.genesis_unix,
            n.epoch_seconds,
            data,
            Prices.from_settings(settings),
            ingest,
        ),
    )


def register(app: typer.Typer) -> None:
    """Add `settle` to the `depin storage` group."""

    @app.command("settle")
    def settle(
        epoch: Annotated[int, typer.Option("--epoch", min=0, help="The ended epoch to settle.")],
        db: Annotated[
            str, typer.Option("--db", metavar="URL", help="The gateway's metadata database URL.")
        ] = DEFAULT_DB,
        key_file: KeyOption = None,
        passphrase_env: PassphraseOption = None,
        config: ConfigOption = None,
        netdir: Annotated[
            Path, typer.Option("--dir", help="Network directory (deployment.json).")
        ] = Path("."),
        rpc: Annotated[
            str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")
        ] = None,
        data: Annotated[
            Path, typer.Option("--data", help="Where usage files and the report spool live.")
        ] = DEFAULT_DATA,
        ingest: Annotated[
            list[str] | None,
            typer.Option("--ingest", help="An oracle's ingest URL (repeat, one per oracle)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Settle an ended epoch: usage file, credits spent on chain, usage reports filed."""
        from opendepin.network.settings import load_settings
        from opendepin.storage.metadata import Metadata

        settings = load_settings(config)
        signer = load_placer_key(key_file, passphrase_env)
        urls = tuple(ingest or ())
        try:
            metadata = Metadata(db)
        except Exception as exc:
            raise InputError(f"--db {db}: cannot open: {type(exc).__name__}: {exc}") from exc
        settlement = open_settlement(settings, signer, metadata, netdir, rpc, data, urls)
        try:
            settled = settlement.settle(epoch)
            result = asyncio.run(settlement.deliver()) if urls else None
            delivered = {
                "accepted": 0 if result is None else result.accepted,
                "rejected": 0 if result is None else len(result.rejected),
                "queued": settlement.agent.pending,
            }
        finally:
            settlement.close()
            metadata.close()
        if as_json:
            doc = {
                "epoch": epoch,
                "usage_ref": "0x" + settled.usage_ref.hex(),
                "file": str(settled.path),
                "accounts": [
                    {"account": a.account, "charged": a.charged, "spent": a.spent, "state": a.state}
                    for a in settled.accounts
                ],
                "reports": delivered,
            }
            typer.echo(json.dumps(doc, indent=2))
            return
        typer.echo(
            f"epoch {epoch}: usage file {settled.path} (usage_ref 0x{settled.usage_ref.hex()})"
        )
        for a in settled.accounts:
            typer.echo(f"  {a.account}  charged {a.charged}  spent {a.spent}  {a.state}")
        typer.echo(
            f"reports: {delivered['accepted']} accepted, {delivered['rejected']} rejected, "
            f"{delivered['queued']} queued" + ("" if urls else " (no --ingest given)")
        )


__all__ = ["register"]
