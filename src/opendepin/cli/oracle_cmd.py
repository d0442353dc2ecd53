"""`depin oracle …`: run one oracle of a multi-process network against a JSON-RPC chain.

- `depin oracle serve` — ingest + oracle on one port (POST /v1/reports, /v1/attestations,
  GET /v1/rewards/{account}, /v1/epochs/{epoch}/reports, /healthz, /metrics) and a loop that, once an epoch has ended
  on chain and its report grace (`network.report_grace_seconds`) has passed, runs it (seal → … → submit) and exchanges signatures with `--peer` oracles.
- `depin oracle run-epoch EPOCH` — run (or resume) one epoch's stages once and exit; for
  cron-style operation and for crash/restart testing.

Both read network.toml (+ DEPIN_* variables), `deployment.json` from `--netdir`, the oracle's
key from `--keystore` with its passphrase in the environment variable named by
`--passphrase-env` (never on the command line), and keep their store in `store.data_dir`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from opendepin.chain.accounts import Signer
from opendepin.chain.deploy import Deployment
from opendepin.chain.rpc import RpcChain
from opendepin.cli.common import check_port, read_passphrase
from opendepin.epochdir import EPOCHS_DIR
from opendepin.errors import ConfigError, DepinError
from opendepin.identity import load_keystore
from opendepin.network.settings import load_settings
from opendepin.oracle.executors import check_executor
from opendepin.oracle.node import Oracle
from opendepin.oracle.runner import Stage, SubmitState

app = typer.Typer(help="Run an oracle: ingest, verify, reward, sign, submit.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="network.toml (default ./network.toml).")]
NetdirOption = Annotated[Path, typer.Option("--netdir", help="Directory holding deployment.json.")]
KeystoreOption = Annotated[Path, typer.Option("--keystore", help="The oracle's keystore file.")]
PassEnvOption = Annotated[
    str, typer.Option("--passphrase-env", help="Environment variable holding the keystore passphrase.")
]
PeerOption = Annotated[list[str] | None, typer.Option("--peer", help="Base URL of a peer oracle (repeat).")]
RpcOption = Annotated[str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")]
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help='Where large kinds are computed in shards: "processes" (every core, the default), '
        '"inline", or a Dask scheduler address tcp://host:8786 (pip install \'opendepin[cluster]\'); '
        "overrides compute.executor.",
    ),
]
EXPLORER_PREFIX = "/explorer"
PENDING_STATES = (SubmitState.WAITING, SubmitState.AGREEING)
"""States in which an epoch needs another `advance`."""
DEFAULT_POLL_SECONDS = 2.0


def _open(
    config: Path | None,
    netdir: Path,
    keystore: Path,
    passphrase_env: str,
    peers: list[str],
    rpc: str | None,
    executor: str | None = None,
) -> Oracle:
    settings = load_settings(config)
    if executor is not None:
        check_executor(executor)
        settings = settings.model_copy(
            update={"compute": settings.compute.model_copy(update={"executor": executor})}
        )
    signer = Signer.from_key(load_keystore(keystore, read_passphrase(passphrase_env, f"keystore {keystore}")))
    chain = RpcChain(rpc or settings.chain.rpc_url)
    deployment = Deployment.load(netdir)
    if deployment.chain_id != chain.chain_id:
        raise ConfigError(f"deployment.json is for chain {deployment.chain_id}, the node is {chain.chain_id}")
    distributor = deployment.distributor(chain)
    oracles = distributor.oracles()
    if signer.address not in oracles:
        raise ConfigError(f"{signer.address} is not one of the distributor's oracles {oracles}")
    return Oracle.build(
        settings,
        chain=chain,
        registry=deployment.registry(chain),
        distributor=distributor,
        signer=signer,
        oracles=oracles,
        peers=peers,
        http=httpx.Client(timeout=10.0),
        registry_from_block=deployment.first_block,
        contracts=deployment.addresses,
    )


@app.command("run-epoch")
def run_epoch(
    epoch: Annotated[int, typer.Argument(help="Epoch to run.")],
    netdir: NetdirOption,
    keystore: KeystoreOption,
    passphrase_env: PassEnvOption = "DEPIN_ORACLE_PASSPHRASE",
    peer: PeerOption = None,
    rpc: RpcOption = None,
    config: ConfigOption = None,
    rounds: Annotated[int, typer.Option(help="Signature exchange rounds before giving up.")] = 1,
    executor: ExecutorOption = None,
) -> None:
    """Run (or resume after a crash) one epoch's stages, submitting if M signatures are held."""
    oracle = _open(config, netdir, keystore, passphrase_env, peer or [], rpc, executor)
    console = Console()
    settings = oracle.settings
    # Agreement ends within (f + 1) rounds of its start (docs/agreement.md): wait that long
    # for it, then `rounds` signature exchanges.
    faulty = max(0, len(oracle.runner.oracles) - settings.chain.oracle_threshold)
    agreeing_until = time.monotonic() + (faulty + 1) * settings.network.agreement_round_seconds + 30
    try:
        exchanges = 0
        while True:
            status = oracle.runner.advance(epoch)
            if status.state is SubmitState.AGREEING and time.monotonic() < agreeing_until:
                time.sleep(DEFAULT_POLL_SECONDS / 4)
                continue
            exchanges += 1
            if status.state not in PENDING_STATES or exchanges >= max(1, rounds):
                break
            time.sleep(DEFAULT_POLL_SECONDS)
    finally:
        oracle.close()
    console.print(
        f"epoch {epoch}: {status.state.value} root={status.root_hex} "
        f"signers={len(status.signers)} tx={status.tx_hash or '-'}",
        highlight=False,
    )


def mount_explorer(oracle: Oracle) -> None:
    """Add the explorer (`opendepin.explorer`) under /explorer/ to the oracle's app; it reads
    the oracle's published epochs as they appear, and supply, burns, claims and settled roots
    from the oracle's own chain."""
    from opendepin.explorer import explorer_router

    (oracle.runner.data_dir / EPOCHS_DIR).mkdir(parents=True, exist_ok=True)
    from opendepin.explorer.onchain import OnChain

    runner = oracle.runner
    try:
        label = getattr(runner.chain, "url", "the oracle's chain")
        onchain: OnChain | None = OnChain(runner.chain, runner.contracts, label=label)
    except ConfigError:  # a deployment record without Token or RewardDistributor: files only
        onchain = None
    oracle.app.include_router(explorer_router(runner.data_dir, prefix=EXPLORER_PREFIX, onchain=onchain))


@app.command("serve")
def serve(
    netdir: NetdirOption,
    keystore: KeystoreOption,
    passphrase_env: PassEnvOption = "DEPIN_ORACLE_PASSPHRASE",
    peer: PeerOption = None,
    rpc: RpcOption = None,
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default: ingest.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port, 1-65535 (default: ingest.port).")] = None,
    poll_seconds: Annotated[float, typer.Option(help="How often to look for ended epochs.")] = DEFAULT_POLL_SECONDS,
    explorer: Annotated[
        bool, typer.Option(help="Also serve the network explorer over this oracle's epochs at /explorer/.")
    ] = False,
    executor: ExecutorOption = None,
) -> None:
    """Serve ingest + oracle HTTP on one port and settle epochs as they end on chain."""
    ingest = load_settings(config).ingest
    listen_host, listen_port = host or ingest.host, port if port is not None else ingest.port
    check_port(listen_host, listen_port)  # before the keystore and the chain: one line, at once
    oracle = _open(config, netdir, keystore, passphrase_env, peer or [], rpc, executor)
    runner = oracle.runner
    if explorer:
        mount_explorer(oracle)
    console = Console()
    with oracle.serve(listen_host, listen_port) as server:
        console.print(
            f"oracle {runner.signer.address} serving on {server.url}; kinds: {', '.join(oracle.kinds) or '-'}; "
            f"peers: {list(runner.peers) or '-'}"
        )
        # Epochs this process started and has not seen settled: a peer may submit while we
        # wait for signatures, after which `next_epoch` has moved on but we still have to
        # check the root on chain against ours and record it (or /v1/rewards never serves it).
        unfinished: set[int] = set()
        cursor = 0
        try:
            while True:
                try:
                    oracle.sync_registry()
                    # Every epoch up to the distributor's next one whose ingest has closed
                    # (ended on chain + report grace) and that we have not recorded as settled
                    # — also the ones peers settled between two polls, or we would never
                    # record them.
                    next_epoch = runner.distributor.next_epoch()
                    while cursor <= next_epoch and runner.ingest_closed(cursor):
                        if runner.ledger.done(cursor, Stage.SUBMIT) is None:
                            unfinished.add(cursor)
                        cursor += 1
                except DepinError as exc:  # the node or the database hiccuped: try again
                    console.print(f"[yellow]poll failed, retrying:[/] {exc}", highlight=False)
                except Exception as exc:  # never let one poll stop the oracle (and its ingest)
                    console.print(f"[red]poll failed ({type(exc).__name__}), retrying:[/] {exc}", highlight=False)
                for e in sorted(unfinished):
                    # One epoch's failure (an unreachable node, a peer's bad answer, inputs
                    # that differ from the chain's root) is reported and retried on the next
                    # poll; it never stops the oracle from serving ingest and other epochs.
                    try:
                        status = runner.advance(e)
                    except DepinError as exc:
                        console.print(f"[red]epoch {e}:[/] {exc}", highlight=False)
                        continue
                    except Exception as exc:  # a bug or a hostile peer's answer: report, retry next poll
                        console.print(f"[red]epoch {e}: unexpected {type(exc).__name__}:[/] {exc}", highlight=False)
                        continue
                    if status.state not in PENDING_STATES:
                        unfinished.discard(e)
                    console.print(
                        f"epoch {e}: {status.state.value} root={status.root_hex[:18]}… "
                        f"signers={len(status.signers)}",
                        highlight=False,
                    )
                time.sleep(poll_seconds)
        except KeyboardInterrupt:
            console.print("stopping")
        finally:
            oracle.close()
