"""`depin agent …`: run a device — create its key, register it, report, see and claim rewards.

```
depin agent init     --dir DIR [--type secp256k1|ed25519] [--kind heartbeat] [--lat/--lon]
                     [--netdir NETDIR] [--ingest-url URL ...] [--oracle-url URL]
depin agent register --dir DIR --owner-keystore FILE [--rpc URL] [--registry ADDR]
depin agent run      --dir DIR [--once | --count N] [--interval S] [--give-up-after N]
depin agent rewards  --dir DIR [--account ADDR] [--json]
depin agent claim    --dir DIR --sender-keystore FILE
```

`--netdir` takes the contract addresses from a network directory's deployment.json (written
by `depin chain deploy`). `--ingest-url` may be repeated: every oracle runs its own ingest and
computes from its own reports, so a device sends each report to all of them.

Passphrases are never arguments: `--passphrase-env VAR` names an environment variable,
otherwise the command prompts (on a terminal only). Files in DIR are described in
`opendepin.agent.config`.

`depin agent run` exits 1 with one `error:` line when no report was accepted (the ingest
unreachable or refusing, or every report rejected) and when it gave up on an ingest that
failed `--give-up-after` sends in a row; unsent reports stay queued for the next run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from opendepin.agent.config import (
    KEYSTORE_FILE,
    STATE_DB,
    AgentConfig,
    load_config,
    save_config,
)
from opendepin.agent.device import DeviceAgent
from opendepin.agent.onchain import (
    cell_of,
    claim,
    claimed,
    fetch_rewards,
    register_device,
    require_address,
)
from opendepin.cli.common import ask_passphrase
from opendepin.errors import ConfigError, DeliveryError, InputError
from opendepin.geo import E7
from opendepin.identity import DEFAULT_SCRYPT_N, DeviceKey, KeyType, load_keystore, save_keystore
from opendepin.identity.address import checksum
from opendepin.network.settings import load_settings
from opendepin.proofs.registry import get_kind
from opendepin.types import ONE_TOKEN, Address

if TYPE_CHECKING:
    from opendepin.chain.rpc import RpcChain

app = typer.Typer(help="Run a device: keys, registration, reports, rewards.", no_args_is_help=True)
console = Console()

DirOption = Annotated[Path, typer.Option("--dir", help="Agent directory (agent.toml, keystore).")]
PassEnvOption = Annotated[
    str | None,
    typer.Option("--passphrase-env", help="Env variable holding the device keystore passphrase."),
]
RpcOption = Annotated[str | None, typer.Option("--rpc", help="JSON-RPC URL (default agent.toml).")]
MAX_LATITUDE = 90.0
MAX_LONGITUDE = 180.0
DEFAULT_GIVE_UP_AFTER = 6
"""Failed sends in a row before `depin agent run` stops (backoff: about 15-30 s in all)."""


def _rpc_chain(url: str) -> RpcChain:
    """The node at `url` (imported lazily: web3 is slow to import and `run` never needs it)."""
    from opendepin.chain.rpc import RpcChain

    return RpcChain(url)


def _coordinate(value: float, limit: float, option: str) -> float:
    """`value` if it is a finite number of degrees within ±`limit`, else InputError."""
    if not math.isfinite(value) or abs(value) > limit:
        raise InputError(f"{option} {value} is out of range: degrees from -{limit:g} to {limit:g}")
    return value


def _typed_address(value: str | None, option: str) -> str | None:
    """A typed contract address, checksummed (strict EIP-55: a wrong checksum is refused)."""
    if value is None:
        return None
    try:
        return checksum(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


@app.command("init")
def init(
    agent_dir: DirOption,
    key_type: Annotated[
        KeyType, typer.Option("--type", help="Device key type.")
    ] = KeyType.SECP256K1,
    kind: Annotated[
        str, typer.Option("--kind", help="Proof kind the device reports.")
    ] = "heartbeat",
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="network.toml (default ./network.toml).")
    ] = None,
    netdir: Annotated[
        Path | None,
        typer.Option("--netdir", help="Network directory: contract addresses from deployment.json."),
    ] = None,
    ingest_url: Annotated[
        list[str] | None,
        typer.Option("--ingest-url", help="Ingest node (repeat: every report goes to each)."),
    ] = None,
    oracle_url: Annotated[
        str | None, typer.Option("--oracle-url", help="Oracle serving GET /v1/rewards.")
    ] = None,
    rpc_url: Annotated[
        str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")
    ] = None,
    registry: Annotated[
        str | None, typer.Option("--registry", help="DeviceRegistry address.")
    ] = None,
    distributor: Annotated[
        str | None, typer.Option("--distributor", help="RewardDistributor address.")
    ] = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Fixed latitude, degrees.")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Fixed longitude, degrees.")] = None,
    passphrase_env: PassEnvOption = None,
    scrypt_n: Annotated[
        int, typer.Option("--scrypt-n", hidden=True, help="scrypt cost of the keystore.")
    ] = DEFAULT_SCRYPT_N,
) -> None:
    """Create the device key (encrypted keystore) and agent.toml in DIR."""
    if (lat is None) != (lon is None):
        raise InputError("give both --lat and --lon, or neither")
    if lat is not None and lon is not None:
        lat, lon = _coordinate(lat, MAX_LATITUDE, "--lat"), _coordinate(lon, MAX_LONGITUDE, "--lon")
    registry = _typed_address(registry, "--registry")
    distributor = _typed_address(distributor, "--distributor")
    keystore = agent_dir / KEYSTORE_FILE
    if keystore.exists():
        raise InputError(f"{keystore} exists: this directory already holds a device")
    settings = load_settings(config)
    get_kind(kind)  # ConfigError naming the installed kinds if this one is not
    if kind not in settings.pools.bps:
        console.print(f"[yellow]note:[/] the network's [pools] do not pay kind {kind!r}", highlight=False)
    if netdir is not None:
        from opendepin.chain.deploy import Deployment

        deployment = Deployment.load(netdir)
        if deployment.chain_id != settings.network.chain_id:
            raise ConfigError(
                f"{netdir}: deployment is for chain {deployment.chain_id}, "
                f"network.chain_id is {settings.network.chain_id}"
            )
        registry = registry or deployment.address("DeviceRegistry")
        distributor = distributor or deployment.address("RewardDistributor")
    urls = ingest_url or []
    cfg = AgentConfig.from_settings(settings, kind=kind, key_type=key_type.value).with_updates(
        ingest_url=urls[0] if urls else None,
        extra_ingest_urls=tuple(urls[1:]) or None,
        oracle_url=oracle_url,
        rpc_url=rpc_url,
        registry_address=registry,
        distributor_address=distributor,
        lat_e7=None if lat is None else round(lat * E7),
        lon_e7=None if lon is None else round(lon * E7),
    )
    passphrase = ask_passphrase(passphrase_env, "the new device key", confirm=True)
    agent_dir.mkdir(parents=True, exist_ok=True)
    key = DeviceKey.generate(key_type)
    save_keystore(key, keystore, passphrase, scrypt_n=scrypt_n)
    save_config(cfg, agent_dir)
    console.print(f"device [bold]{key.device_id}[/] ({key_type.value}, kind {kind}) in {agent_dir}")


@app.command("register")
def register(
    agent_dir: DirOption,
    owner_keystore: Annotated[Path, typer.Option("--owner-keystore", help="Owner's keystore.")],
    owner_passphrase_env: Annotated[
        str | None,
        typer.Option("--owner-passphrase-env", help="Env variable holding the owner's passphrase."),
    ] = None,
    passphrase_env: PassEnvOption = None,
    rpc_url: RpcOption = None,
    registry: Annotated[
        str | None, typer.Option("--registry", help="DeviceRegistry address (default agent.toml).")
    ] = None,
    assert_location: Annotated[
        bool, typer.Option(help="Also assert the H3 cell of the position in agent.toml.")
    ] = True,
) -> None:
    """The device signs its onboarding permit; the owner's account sends it and pays the fee."""
    from opendepin.chain.accounts import Signer

    cfg = load_config(agent_dir)
    device = load_keystore(agent_dir / KEYSTORE_FILE, ask_passphrase(passphrase_env, "the device"))
    owner_key = load_keystore(
        owner_keystore,
        ask_passphrase(owner_passphrase_env, "the owner", option="--owner-passphrase-env"),
    )
    if owner_key.type is not KeyType.SECP256K1:
        raise InputError(f"{owner_keystore}: the owner account must be a secp256k1 key")
    owner = Signer.from_key(owner_key)
    address = require_address(registry or cfg.registry_address, "registry")
    location = None
    if assert_location and cfg.lat_e7 is not None and cfg.lon_e7 is not None:
        location = cell_of(cfg.lat_e7, cfg.lon_e7)
    chain = _rpc_chain(rpc_url or cfg.rpc_url)
    register_device(chain, address, device, owner, cfg.kind, location=location)
    save_config(cfg.with_updates(owner=owner.address, registry_address=address), agent_dir)
    where = f", location {location:#x}" if location is not None else ""
    console.print(f"registered {device.device_id} to {owner.address}{where}")


@app.command("run")
def run(
    agent_dir: DirOption,
    once: Annotated[bool, typer.Option("--once", help="One report, one send attempt.")] = False,
    count: Annotated[
        int | None,
        typer.Option("--count", min=1, help="Stop after N reports, once all are delivered."),
    ] = None,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Seconds between reports.")
    ] = None,
    give_up_after: Annotated[
        int,
        typer.Option(
            "--give-up-after",
            min=0,
            help="Stop after this many failed sends in a row (0: retry for ever).",
        ),
    ] = DEFAULT_GIVE_UP_AFTER,
    passphrase_env: PassEnvOption = None,
) -> None:
    """Sign and send reports; queue them on disk and retry while the ingest is unreachable."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    agent = DeviceAgent.open(agent_dir, ask_passphrase(passphrase_env, "the device"))
    try:
        result = asyncio.run(
            agent.run(
                interval_seconds=interval,
                once=once,
                max_reports=count,
                give_up_after=give_up_after or None,
            )
        )
    except KeyboardInterrupt:
        result = None
    finally:
        pending = agent.pending
        agent.close()
    if result is None:
        return
    console.print(
        f"accepted {result.accepted}, rejected {len(result.rejected)}, queued {pending}"
        + (f" ({result.failure})" if result.failure else "")
    )
    urls = agent.config.all_ingest_urls
    where = f"ingest {urls[0]}" if len(urls) == 1 else f"ingests {', '.join(urls)}"
    queued = f"; {pending} queued in {agent_dir / STATE_DB} for the next run" if pending else ""
    if result.gave_up:
        raise DeliveryError(f"{where}: {result.failure}{queued}")
    if result.accepted == 0:
        if result.failure:
            why = result.failure
        elif result.rejected:
            reasons = ", ".join(sorted({r.reason for r in result.rejected}))
            why = f"all {len(result.rejected)} rejected ({reasons})"
        else:
            why = "nothing was sent"
        raise DeliveryError(f"no report accepted by {where}: {why}{queued}")


def _tokens(amount: int) -> str:
    whole, frac = divmod(amount, ONE_TOKEN)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")


def _account(cfg: AgentConfig, account: str | None) -> Address:
    return require_address(account or cfg.owner, "account")


@app.command("rewards")
def rewards(
    agent_dir: DirOption,
    account: Annotated[str | None, typer.Option("--account", help="Default: the owner.")] = None,
    rpc_url: RpcOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (amounts in base units).")] = False,
) -> None:
    """Show the owner's cumulative rewards, what is claimed and what is claimable."""
    cfg = load_config(agent_dir)
    who = _account(cfg, account)
    statement = asyncio.run(fetch_rewards(cfg.oracle_url, who))
    if statement is None:
        if as_json:
            typer.echo(json.dumps({"account": who, "epoch": None, "cumulative_amount": "0"}))
        else:
            console.print(f"{who} has no rewards yet")
        return
    done: int | None = None
    if cfg.distributor_address:
        distributor = require_address(cfg.distributor_address, "distributor")
        done = claimed(_rpc_chain(rpc_url or cfg.rpc_url), distributor, who)
    if as_json:
        body = {
            "account": who,
            "epoch": statement.epoch,
            "cumulative_amount": str(statement.cumulative_amount),
            "claimed": None if done is None else str(done),
            "claimable": None if done is None else str(statement.cumulative_amount - done),
        }
        typer.echo(json.dumps(body))
        return
    table = Table(title=f"rewards of {who} (epoch {statement.epoch})")
    for col in ("cumulative", "claimed", "claimable"):
        table.add_column(col, justify="right")
    table.add_row(
        _tokens(statement.cumulative_amount),
        "?" if done is None else _tokens(done),
        "?" if done is None else _tokens(statement.cumulative_amount - done),
    )
    console.print(table)


@app.command("claim")
def claim_cmd(
    agent_dir: DirOption,
    sender_keystore: Annotated[Path, typer.Option("--sender-keystore", help="Pays the gas.")],
    sender_passphrase_env: Annotated[
        str | None,
        typer.Option("--sender-passphrase-env", help="Env variable holding the sender's passphrase."),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Default: the owner.")] = None,
    rpc_url: RpcOption = None,
) -> None:
    """Claim the owner's rewards from the distributor with the oracle's proof."""
    from opendepin.chain.accounts import Signer

    cfg = load_config(agent_dir)
    who = _account(cfg, account)
    distributor = require_address(cfg.distributor_address, "distributor")
    statement = asyncio.run(fetch_rewards(cfg.oracle_url, who))
    if statement is None:
        raise ConfigError(f"{who} has nothing to claim yet")
    chain = _rpc_chain(rpc_url or cfg.rpc_url)
    before = claimed(chain, distributor, who)
    if before >= statement.cumulative_amount:
        console.print(f"nothing new to claim: {_tokens(before)} already claimed")
        return
    key = load_keystore(
        sender_keystore,
        ask_passphrase(sender_passphrase_env, "the sender", option="--sender-passphrase-env"),
    )
    claim(chain, distributor, statement, Signer.from_key(key))
    console.print(f"claimed {_tokens(statement.cumulative_amount - before)} for {who}")
