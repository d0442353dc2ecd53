"""`depin chain …`: deploy a network's contracts, run a local anvil node.

- `depin chain deploy` deploys Token, DeviceRegistry, RewardDistributor, Credits and the
  governance Timelock (see `opendepin.chain.deploy`) and writes `deployment.json` into the
  network directory. With `--rpc URL` (or `chain.backend = "rpc"`) it deploys to that node
  with the governance key from a keystore (`--keystore` or `chain.deployer_keystore`),
  decrypted with the passphrase in the environment variable `chain.passphrase_env`. On the
  embedded backend the chain lives only inside this process, so the record is mostly a
  dry run; `depin demo` deploys in-process instead.
- `depin chain anvil` runs a local anvil (from `tools/`, always with `--prune-history`) in
  the foreground until Ctrl-C.
- `depin chain fund ADDRESS…` and `depin chain mine [--advance-seconds S]` are for such a
  development node only: they set balances (`anvil_setBalance`) and move the chain's clock
  forward and mine a block (`evm_increaseTime`, `evm_mine`), e.g. to end an epoch now.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opendepin.chain.accounts import Signer
from opendepin.chain.anvil import AnvilProcess
from opendepin.chain.backend import Chain
from opendepin.chain.deploy import deploy_network
from opendepin.chain.embedded import EmbeddedChain
from opendepin.chain.rpc import RpcChain
from opendepin.errors import ChainError, ConfigError, InputError
from opendepin.network.settings import Settings, load_settings
from opendepin.types import Address

app = typer.Typer(help="Deploy contracts and run a local chain node.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="network.toml to read (default ./network.toml)."),
]
DEV_FUNDING_WEI = 10**21
"""Balance given to a generated embedded-chain deployer (1,000 ETH)."""
ANVIL_IDLE_POLL_SECONDS = 0.5
DEFAULT_FUND_ETH = 100
"""Balance `depin chain fund` gives an account, whole ETH."""
WEI_PER_ETH = 10**18
DEV_RPC_TIMEOUT_SECONDS = 10.0
RpcUrlOption = Annotated[
    str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")
]


def _governance_signer(
    settings: Settings, keystore: Path | None, passphrase_env: str | None = None
) -> Signer | None:
    path = keystore if keystore is not None else settings.chain.deployer_keystore
    if path is None:
        return None
    from opendepin.identity import load_keystore

    env = passphrase_env or settings.chain.passphrase_env
    passphrase = os.environ.get(env)
    if passphrase is None:
        raise ConfigError(f"set ${env} to the passphrase of keystore {path}")
    return Signer.from_key(load_keystore(path, passphrase))


def _parse_address(text: str, what: str) -> Address:
    from eth_utils.address import is_address, to_checksum_address

    if not is_address(text):
        raise InputError(f"{what} {text!r} is not a 20-byte hex address")
    return Address(to_checksum_address(text))


@app.command("deploy")
def deploy(
    config: ConfigOption = None,
    netdir: Annotated[
        Path, typer.Option("--dir", help="Network directory for deployment.json.")
    ] = Path("."),
    rpc: Annotated[
        str | None, typer.Option("--rpc", help="JSON-RPC URL (implies the rpc backend).")
    ] = None,
    keystore: Annotated[
        Path | None, typer.Option("--keystore", help="Governance/deployer keystore.")
    ] = None,
    passphrase_env: Annotated[
        str | None,
        typer.Option(
            "--passphrase-env", help="Env variable holding its passphrase (default chain.passphrase_env)."
        ),
    ] = None,
    oracle: Annotated[
        list[str] | None, typer.Option("--oracle", help="Oracle address (repeat for each).")
    ] = None,
    guardian: Annotated[
        str | None, typer.Option("--guardian", help="Pause guardian (default: the deployer).")
    ] = None,
) -> None:
    """Deploy the network's contracts and write NETDIR/deployment.json."""
    settings = load_settings(config)
    oracles = [_parse_address(o, "oracle") for o in (oracle or [])]
    if len(oracles) < settings.chain.oracle_threshold:
        raise InputError(
            f"give at least chain.oracle_threshold = {settings.chain.oracle_threshold} "
            "--oracle addresses"
        )
    gov = _governance_signer(settings, keystore, passphrase_env)
    use_rpc = rpc is not None or settings.chain.backend == "rpc"
    chain: Chain
    if use_rpc:
        if gov is None:
            raise ConfigError("an rpc deployment needs --keystore or chain.deployer_keystore")
        chain = RpcChain(rpc or settings.chain.rpc_url)
        if chain.chain_id != settings.network.chain_id:
            raise ConfigError(
                f"node reports chain id {chain.chain_id}, network.chain_id is {settings.network.chain_id}"
            )
    else:
        chain = EmbeddedChain(settings.network.chain_id)
        if gov is None:
            gov = Signer.generate()
        chain.fund(gov.address, DEV_FUNDING_WEI)
    guard = _parse_address(guardian, "guardian") if guardian else gov.address
    deployment = deploy_network(chain, settings, gov, oracles, guard)
    path = deployment.save(netdir)
    table = Table(
        title=f"deployed on chain {deployment.chain_id} (blocks {deployment.first_block}-{deployment.deploy_block})"
    )
    table.add_column("contract")
    table.add_column("address")
    table.add_column("runtime code keccak")
    for name, address in deployment.addresses.items():
        table.add_row(name, address, deployment.code_hashes[name])
    console = Console()
    console.print(table)
    if not use_rpc:
        console.print("note: embedded chain — these contracts lived only in this process.")
    console.print(f"wrote {path}")


@app.command("anvil")
def anvil(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8545,
) -> None:
    """Run a local anvil node (with --prune-history) until Ctrl-C."""
    settings = load_settings(config)
    with AnvilProcess(chain_id=settings.network.chain_id, port=port) as node:
        Console().print(
            f"anvil listening on {node.url} (chain id {node.chain_id}); Ctrl-C stops it"
        )
        try:
            while node.running():
                time.sleep(ANVIL_IDLE_POLL_SECONDS)
        except KeyboardInterrupt:
            pass


def _dev_rpc(url: str, method: str, params: list[object]) -> object:
    """One JSON-RPC call to a development node; ChainError if it fails or is refused."""
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    try:
        response = httpx.post(url, json=body, timeout=DEV_RPC_TIMEOUT_SECONDS)
        response.raise_for_status()
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ChainError(f"{method} at {url} failed: {exc}") from exc
    if not isinstance(answer, dict) or "error" in answer:
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise ChainError(f"{method} refused by {url} (a development node only): {error}")
    return answer.get("result")


@app.command("fund")
def fund(
    address: Annotated[list[str], typer.Argument(help="Accounts to fund.")],
    config: ConfigOption = None,
    rpc: RpcUrlOption = None,
    eth: Annotated[int, typer.Option("--eth", min=0, help="Balance to set, whole ETH.")] = DEFAULT_FUND_ETH,
) -> None:
    """Set the ETH balance of accounts on a development node (anvil_setBalance)."""
    settings = load_settings(config)
    accounts = [_parse_address(a, "account") for a in address]
    chain = RpcChain(rpc or settings.chain.rpc_url)
    for account in accounts:
        chain.fund(account, eth * WEI_PER_ETH)
    Console().print(f"funded {len(accounts)} account(s) with {eth} ETH each")


@app.command("mine")
def mine(
    config: ConfigOption = None,
    rpc: RpcUrlOption = None,
    advance_seconds: Annotated[
        int, typer.Option("--advance-seconds", min=0, help="Move the chain clock forward first.")
    ] = 0,
) -> None:
    """Mine one block on a development node, optionally after moving its clock forward."""
    settings = load_settings(config)
    url = rpc or settings.chain.rpc_url
    if advance_seconds:
        _dev_rpc(url, "evm_increaseTime", [advance_seconds])
    _dev_rpc(url, "evm_mine", [])
    chain = RpcChain(url)
    Console().print(f"mined block {chain.block_number()} at unix time {chain.timestamp()}")
