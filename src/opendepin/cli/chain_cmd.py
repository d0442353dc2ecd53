"""`depin chain …`: deploy a network's contracts, run a local anvil node.

- `depin chain deploy` deploys Token, DeviceRegistry, RewardDistributor, Credits and the
  governance Timelock (see `opendepin.chain.deploy`) and writes `deployment.json` into the
  network directory. With `--rpc URL` (or `chain.backend = "rpc"`) it deploys to that node
  with the governance key from a keystore (`--keystore` or `chain.deployer_keystore`),
  decrypted with the passphrase in the environment variable `chain.passphrase_env`. On the
  embedded backend the chain lives only inside this process, so the record is mostly a
  dry run; `depin demo` deploys in-process instead. A zero `chain.timelock_delay_seconds`
  (instant governance) is refused on every node whose chain id is not 31337, the local
  development chain id (see `opendepin.chain.deploy`); where it is accepted, the command
  says so in one line. After wiring, the deployer renounces the timelock's admin role.
- `depin chain anvil` runs a local anvil (from `tools/`, always with `--prune-history`) in
  the foreground until Ctrl-C or SIGTERM, and stops it then; a port that already serves a
  chain (or anything else) is refused with one line.
- Every typed address is strict EIP-55: all lower or all upper case, or the correct mixed-case
  checksum; a wrong checksum is refused, never silently fixed.
- `depin chain fund ADDRESS…` and `depin chain mine [--advance-seconds S]` are for such a
  development node only: they set balances (`anvil_setBalance`) and move the chain's clock
  forward and mine a block (`evm_increaseTime`, `evm_mine`), e.g. to end an epoch now.
- `depin chain gov propose|execute|cancel|status` drive the governance timelock (see
  `opendepin.chain.governance`) over JSON-RPC: `propose CHANGE ARGS…` schedules a parameter
  change and records it in `NETDIR/proposals.json` (target, calldata, salt, predecessor),
  so `execute OPERATION-ID` needs nothing else; a change that is not ready yet is refused
  with one line (exit 1) before anything is signed.
- `depin chain abi NAME` prints a contract's ABI JSON from its published artefact
  (`opendepin.chain.artifacts`), and nothing else; an unknown NAME is one error line listing
  the known names.
- `depin chain permit-schema [--dir NETDIR]` prints the EIP-712 typed data of the registry's
  `Register` permit (what a device key signs to be registered): with the domain of the
  deployment in NETDIR, or a template domain without one.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opendepin.chain.accounts import Signer
from opendepin.chain.anvil import AnvilProcess
from opendepin.chain.artifacts import load_artifact
from opendepin.chain.backend import Chain
from opendepin.chain.deploy import (
    DEVNET_CHAIN_ID,
    Deployment,
    check_timelock_delay,
    deploy_network,
)
from opendepin.chain.eip712 import register_schema
from opendepin.chain.embedded import EmbeddedChain
from opendepin.chain.governance import (
    NO_PREDECESSOR,
    OPERATION_ID_BYTES,
    PROPOSALS_FILE,
    Call,
    GovernanceClient,
    Operation,
    OperationNotReady,
    OperationState,
    Proposal,
    ProposalRecord,
    format_unix,
    load_proposals,
    require_ready,
    save_proposals,
)
from opendepin.chain.rpc import RpcChain
from opendepin.cli.common import check_port_number, read_passphrase
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
    return Signer.from_key(load_keystore(path, read_passphrase(env, f"keystore {path}")))


def _parse_address(text: str, what: str) -> Address:
    """A typed address, checksummed; InputError for anything else (strict EIP-55).

    All-lower or all-upper case carries no checksum and is accepted; mixed case must be
    the correct checksum — a wrong one is a typo and is refused, never silently fixed.
    """
    from opendepin.identity.address import checksum

    try:
        return Address(checksum(text))
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


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
    console = Console()
    delay = settings.chain.timelock_delay_seconds
    check_timelock_delay(chain, delay)
    if delay == 0:
        where = (
            f"development chain id {DEVNET_CHAIN_ID}" if use_rpc else "the embedded chain"
        )
        console.print(
            f"warning: timelock delay is 0 (allowed on {where} only): "
            "governance changes take effect immediately",
            soft_wrap=True,
        )
    else:
        console.print(
            f"timelock delay: {delay} s between proposing and executing a change",
            soft_wrap=True,
        )
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
    console.print(table)
    if deployment.genesis_allocations:
        console.print(
            f"genesis allocation: minted {deployment.genesis_total} base units to "
            f"{len(deployment.genesis_allocations)} account(s), once",
            soft_wrap=True,
        )
    console.print(f"deployer {gov.address} renounced the timelock admin role", soft_wrap=True)
    if not use_rpc:
        console.print("note: embedded chain — these contracts lived only in this process.")
    console.print(f"wrote {path}")


@app.command("abi")
def abi(
    name: Annotated[str, typer.Argument(help="Contract name, e.g. RewardDistributor.")],
) -> None:
    """Print NAME's ABI JSON (from the published artefact) to stdout."""
    typer.echo(json.dumps(list(load_artifact(name).abi), indent=2))


@app.command("permit-schema")
def permit_schema(
    netdir: Annotated[
        Path | None,
        typer.Option("--dir", help="Network directory whose deployment.json fills the domain."),
    ] = None,
) -> None:
    """Print the EIP-712 typed data of DeviceRegistry's Register permit as JSON."""
    if netdir is None:
        doc = register_schema()
    else:
        deployment = Deployment.load(netdir)
        doc = register_schema(deployment.chain_id, deployment.address("DeviceRegistry"))
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@app.command("anvil")
def anvil(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (1-65535).")] = 8545,
) -> None:
    """Run a local anvil node (with --prune-history) until Ctrl-C or SIGTERM."""
    settings = load_settings(config)
    check_port_number(port)
    console = Console()
    # SIGTERM (a service manager, `kill`) and SIGINT (Ctrl-C, also when started with SIGINT
    # ignored, as shells do for background jobs) both unwind through the `with`, which stops
    # the child; anvil runs in its own session, so nothing else would.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with AnvilProcess(chain_id=settings.network.chain_id, port=port) as node:
            console.print(
                f"anvil listening on {node.url} (chain id {node.chain_id}); Ctrl-C stops it"
            )
            while node.running():
                time.sleep(ANVIL_IDLE_POLL_SECONDS)
        raise ChainError(f"anvil on port {port} exited by itself")
    except KeyboardInterrupt:
        console.print("anvil stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: object) -> None:
    """First SIGTERM/SIGINT: unwind as Ctrl-C does; further ones are ignored while stopping."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


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


# -- depin chain gov … ----------------------------------------------------------------------

gov_app = typer.Typer(
    help="Governance: propose, execute and list timelocked parameter changes.",
    no_args_is_help=True,
)
app.add_typer(gov_app, name="gov")

NetDirOption = Annotated[
    Path, typer.Option("--dir", help="Network directory (deployment.json, proposals.json).")
]
KeystoreOption = Annotated[
    Path | None,
    typer.Option("--keystore", help="Governance keystore (default chain.deployer_keystore)."),
]
PassphraseEnvOption = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env",
        help="Env variable holding its passphrase (default chain.passphrase_env).",
    ),
]
_TRUE_WORDS = ("true", "yes", "1", "on")
_FALSE_WORDS = ("false", "no", "0", "off")


@dataclass(frozen=True, slots=True)
class _Change:
    """One `depin chain gov propose CHANGE ARGS…` change."""

    usage: str
    """Its arguments, for help and error messages."""
    n_args: int | None
    """Exact argument count (None: at least two, for set-oracles)."""
    build: Callable[[Deployment, list[str]], Call]


def _non_negative_int(text: str, what: str) -> int:
    try:
        value = int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a whole number") from None
    if value < 0:
        raise InputError(f"{what} must not be negative, got {value}")
    return value


def _flag(text: str, what: str) -> bool:
    if text.lower() in _TRUE_WORDS:
        return True
    if text.lower() in _FALSE_WORDS:
        return False
    raise InputError(f"{what} must be true or false, got {text!r}")


def _set_oracles(d: Deployment, a: list[str]) -> Call:
    threshold = _non_negative_int(a[0], "threshold")
    members = [_parse_address(x, "oracle") for x in a[1:]]
    return Proposal.set_oracles(d.address("RewardDistributor"), members, threshold)


CHANGES: dict[str, _Change] = {
    "set-oracles": _Change("THRESHOLD ORACLE...", None, _set_oracles),
    "set-guardian": _Change(
        "GUARDIAN",
        1,
        lambda d, a: Proposal.set_guardian(
            d.address("RewardDistributor"), _parse_address(a[0], "guardian")
        ),
    ),
    "set-spender": _Change(
        "SPENDER true|false",
        2,
        lambda d, a: Proposal.set_spender(
            d.address("Credits"), _parse_address(a[0], "spender"), _flag(a[1], "allowed")
        ),
    ),
    "set-price": _Change(
        "CREDITS_PER_TOKEN",
        1,
        lambda d, a: Proposal.set_price(
            d.address("Credits"), _non_negative_int(a[0], "credits per token")
        ),
    ),
    "set-onboarding-fee": _Change(
        "BASE_UNITS",
        1,
        lambda d, a: Proposal.set_onboarding_fee(
            d.address("DeviceRegistry"), _non_negative_int(a[0], "fee")
        ),
    ),
    "set-location-fee": _Change(
        "BASE_UNITS",
        1,
        lambda d, a: Proposal.set_location_fee(
            d.address("DeviceRegistry"), _non_negative_int(a[0], "fee")
        ),
    ),
    "set-location-cooldown": _Change(
        "SECONDS",
        1,
        lambda d, a: Proposal.set_location_cooldown(
            d.address("DeviceRegistry"), _non_negative_int(a[0], "cooldown")
        ),
    ),
    "set-minter": _Change(
        "MINTER true|false",
        2,
        lambda d, a: Proposal.set_minter(
            d.address("Token"), _parse_address(a[0], "minter"), _flag(a[1], "allowed")
        ),
    ),
    "update-delay": _Change(
        "SECONDS",
        1,
        lambda d, a: Proposal.update_delay(d.address("Timelock"), _non_negative_int(a[0], "delay")),
    ),
}


def _build_change(deployment: Deployment, change: str, args: list[str]) -> Call:
    spec = CHANGES.get(change)
    if spec is None:
        raise InputError(f"unknown change {change!r}; one of: {', '.join(CHANGES)}")
    count_ok = len(args) >= 2 if spec.n_args is None else len(args) == spec.n_args
    if not count_ok:
        raise InputError(f"usage: {change} {spec.usage}")
    return spec.build(deployment, args)


def _gov_connect(
    settings: Settings, netdir: Path, rpc: str | None
) -> tuple[Deployment, RpcChain, GovernanceClient]:
    """The deployment in `netdir`, a chain that holds exactly its code, and its timelock."""
    deployment = Deployment.load(netdir)
    chain = RpcChain(rpc or settings.chain.rpc_url)
    deployment.verify_code(chain)
    return deployment, chain, GovernanceClient(chain, deployment.address("Timelock"))


def _require_signer(
    settings: Settings, keystore: Path | None, passphrase_env: str | None
) -> Signer:
    signer = _governance_signer(settings, keystore, passphrase_env)
    if signer is None:
        raise ConfigError("governance needs --keystore or chain.deployer_keystore")
    return signer


def _parse_bytes32(text: str, what: str) -> bytes:
    body = text[2:] if text.lower().startswith("0x") else text
    try:
        value = bytes.fromhex(body)
    except ValueError:
        value = b""
    if len(value) != OPERATION_ID_BYTES:
        raise InputError(f"{what} {text!r} is not 32 bytes of hex")
    return value


def _looks_like_id(text: str) -> bool:
    return text.lower().startswith("0x") and len(text) == 2 + 2 * OPERATION_ID_BYTES


_CHANGE_HELP = "; ".join(f"{name} {spec.usage}" for name, spec in CHANGES.items())


@gov_app.command("propose")
def gov_propose(
    change: Annotated[str, typer.Argument(help=f"The change: {_CHANGE_HELP}.")],
    args: Annotated[list[str], typer.Argument(help="The change's arguments.")],
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcUrlOption = None,
    keystore: KeystoreOption = None,
    passphrase_env: PassphraseEnvOption = None,
    delay: Annotated[
        int | None,
        typer.Option("--delay", min=0, help="Seconds to wait (default: the timelock's minimum)."),
    ] = None,
    predecessor: Annotated[
        str | None,
        typer.Option("--after", help="Operation id that must be executed first."),
    ] = None,
) -> None:
    """Schedule a parameter change on the timelock; prints its id and when it is ready."""
    settings = load_settings(config)
    call = _build_change(Deployment.load(netdir), change, args)  # a typo fails before any node
    _, _, gov = _gov_connect(settings, netdir, rpc)
    before = _parse_bytes32(predecessor, "--after") if predecessor else NO_PREDECESSOR
    signer = _require_signer(settings, keystore, passphrase_env)
    operation = Operation.of(call, predecessor=before)
    wait = gov.min_delay() if delay is None else delay
    receipt = gov.propose(operation, delay=wait, sender=signer)
    ready_at = gov.ready_at(operation.id)
    records = load_proposals(netdir)
    records.append(
        ProposalRecord(
            operation,
            change,
            tuple(args),
            wait,
            ready_at,
            receipt.block_number,
            signer.address,
        )
    )
    save_proposals(netdir, records)
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"proposed {operation.summary}", markup=False)
    console.print(f"operation id: 0x{operation.id.hex()}")
    console.print(f"ready at {format_unix(ready_at)} (unix {ready_at}; delay {wait} s)")


def _find_record(records: list[ProposalRecord], what: list[str], deployment: Deployment) -> int:
    """Index of the one recorded proposal named by an id, or by the same change and args."""
    if len(what) == 1 and _looks_like_id(what[0]):
        wanted = _parse_bytes32(what[0], "operation id")
        for i, record in enumerate(records):
            if record.id == wanted:
                return i
        raise InputError(f"no proposal {what[0]} in {PROPOSALS_FILE}")
    call = _build_change(deployment, what[0], what[1:])
    matches = [
        i
        for i, r in enumerate(records)
        if r.executed_block is None
        and not r.operation.is_batch
        and (r.operation.calls[0].target, r.operation.calls[0].calldata)
        == (call.target, call.calldata)
    ]
    if not matches:
        raise InputError(f"no unexecuted proposal of {call.summary} in {PROPOSALS_FILE}")
    if len(matches) > 1:
        ids = ", ".join("0x" + records[i].id.hex() for i in matches)
        raise InputError(f"{len(matches)} proposals of {call.summary}; name one by id: {ids}")
    return matches[0]


@gov_app.command("execute")
def gov_execute(
    what: Annotated[
        list[str], typer.Argument(help="OPERATION-ID, or the same CHANGE ARGS… as proposed.")
    ],
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcUrlOption = None,
    keystore: KeystoreOption = None,
    passphrase_env: PassphraseEnvOption = None,
) -> None:
    """Execute a proposed change once its delay has passed (exit 1 if it is not ready)."""
    settings = load_settings(config)
    deployment, _, gov = _gov_connect(settings, netdir, rpc)
    records = load_proposals(netdir)
    index = _find_record(records, what, deployment)
    record = records[index]
    require_ready(gov, record.id)
    signer = _require_signer(settings, keystore, passphrase_env)
    receipt = gov.execute_operation(record.operation, sender=signer)
    records[index] = replace(record, executed_block=receipt.block_number)
    save_proposals(netdir, records)
    Console(soft_wrap=True, highlight=False).print(
        f"executed 0x{record.id.hex()} ({record.operation.summary}) in block {receipt.block_number}",
        markup=False,
    )


@gov_app.command("cancel")
def gov_cancel(
    what: Annotated[
        list[str], typer.Argument(help="OPERATION-ID, or the same CHANGE ARGS… as proposed.")
    ],
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcUrlOption = None,
    keystore: KeystoreOption = None,
    passphrase_env: PassphraseEnvOption = None,
) -> None:
    """Cancel a pending proposal (cancellers only)."""
    settings = load_settings(config)
    deployment, chain, gov = _gov_connect(settings, netdir, rpc)
    records = load_proposals(netdir)
    record = records[_find_record(records, what, deployment)]
    if not gov.is_pending(record.id):
        raise OperationNotReady(
            record.id, gov.state(record.id), gov.ready_at(record.id), chain.timestamp()
        )
    signer = _require_signer(settings, keystore, passphrase_env)
    gov.cancel(record.id, sender=signer)
    Console(soft_wrap=True, highlight=False).print(
        f"cancelled 0x{record.id.hex()} ({record.operation.summary})", markup=False
    )


@gov_app.command("status")
def gov_status(
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcUrlOption = None,
) -> None:
    """List the recorded proposals with their state on chain."""
    settings = load_settings(config)
    _, chain, gov = _gov_connect(settings, netdir, rpc)
    now = chain.timestamp()
    table = Table(
        title=f"timelock {gov.address}: minimum delay {gov.min_delay()} s; "
        f"chain time {format_unix(now)}"
    )
    for column in ("operation id", "change", "state", "ready at"):
        table.add_column(column, overflow="fold")
    records = load_proposals(netdir)
    for record in records:
        state = gov.state(record.id)
        ready = "" if state is OperationState.DONE else format_unix(record.ready_at)
        table.add_row(
            "0x" + record.id.hex(), escape(record.operation.summary), state.value, ready
        )
    console = Console(width=200)
    console.print(table)
    if not records:
        console.print(f"no proposals recorded in {netdir / PROPOSALS_FILE}")
