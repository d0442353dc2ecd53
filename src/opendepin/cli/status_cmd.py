"""`depin status`: one look at a deployed network, for the people who run it.

Reads `deployment.json` (and `proposals.json`, if `depin chain gov propose` wrote one) from
`--netdir`, asks the chain node (`--rpc`, default `chain.rpc_url`) and each `--peer` oracle,
and prints what an operator checks first, as tables or, with `--json`, as one JSON object
(the same fields; `STATUS_FORMAT`):

- **chain** — the RPC URL, chain id, latest block and its time;
- **contracts** — each deployed address, and whether it still holds the code recorded at
  deployment (`code_matches`);
- **oracles** — the distributor's oracle set, its threshold M, whether it is paused;
- **epochs** — by the *chain's* clock (the latest block's time, the clock the distributor
  enforces, not this machine's): the current epoch, the next epoch to settle
  (`distributor.next_epoch()`), how many ended epochs are not settled yet, and when ingest
  closes (epoch end + `network.report_grace_seconds`, from the settings) for both; and
  whether the settings' epoch clock is the distributor's;
- **peers** — per `--peer URL`: whether `GET /healthz` answers for this network, with the
  peer's synced registry block and device count; from its `GET /metrics` (optional: a peer
  without it is still healthy) ingest's counters (reports accepted, rejected by reason) and,
  when it is an oracle, the epoch it works on, epochs settled, signatures held, peer errors
  (`docs/operations.md` lists the metrics);
- **governance** — every proposal recorded in `proposals.json` with its state on the
  Timelock (unset = cancelled, waiting, ready, done) and when it becomes executable.

Nothing is signed and no key is read. An unreachable or wrong chain node is one `error:`
line and exit 1 (ChainError / ConfigError); an unreachable peer is not an error of the
command — it is what the command is for, and shows as unhealthy with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opendepin import jsonlimits
from opendepin.chain.backend import Chain
from opendepin.chain.clients import DistributorClient
from opendepin.chain.deploy import Deployment
from opendepin.chain.governance import (
    TIMELOCK_CONTRACT,
    GovernanceClient,
    OperationState,
    format_unix,
    load_proposals,
)
from opendepin.chain.rpc import RpcChain
from opendepin.crypto import keccak256
from opendepin.errors import ConfigError, PeerError
from opendepin.http.client import read_bounded
from opendepin.network.settings import Settings, load_settings

STATUS_FORMAT = "status_v1"
"""`format` of the `--json` object."""
PEER_DEADLINE_SECONDS = 5.0
"""Longest wait for one peer answer (healthz or metrics)."""
MAX_HEALTH_BYTES = 64 << 10
MAX_METRICS_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """The node the command asked."""

    rpc_url: str
    chain_id: int
    block: int
    """Latest block number."""
    block_time_unix: int
    """Its timestamp: the chain's clock."""


@dataclass(frozen=True, slots=True)
class ContractStatus:
    name: str
    address: str
    code_matches: bool
    """The address holds the code whose hash `deployment.json` recorded."""


@dataclass(frozen=True, slots=True)
class OracleSetStatus:
    oracles: list[str]
    """The distributor's oracle set, as it returns it."""
    threshold: int
    """Signatures (M of N) a root needs."""
    paused: bool


@dataclass(frozen=True, slots=True)
class EpochProgress:
    """Where the network's epochs stand by the chain's clock."""

    genesis_unix: int
    epoch_seconds: int
    report_grace_seconds: int
    """From the settings: how long after its end an epoch still takes reports."""
    current_epoch: int | None
    """The epoch the latest block's time falls in (None before genesis)."""
    current_ingest_closes_unix: int | None
    seconds_until_current_ingest_closes: int | None
    next_to_settle: int
    """`distributor.next_epoch()`: the lowest epoch without a root on chain."""
    next_ingest_closes_unix: int
    next_ingest_closed: bool
    """The oracles may seal and settle `next_to_settle` now."""
    unsettled_ended_epochs: int
    """Epochs that ended (by the chain's clock) and have no root yet."""
    clock_matches_settings: bool
    """The settings' genesis and epoch length are the distributor's."""


@dataclass(frozen=True, slots=True)
class PeerMetrics:
    """What `depin status` reads from a peer's `/metrics` (None: the peer does not export it)."""

    reports_accepted: int | None = None
    reports_rejected: dict[str, int] = field(default_factory=dict)
    """Reason -> reports ingest rejected."""
    oracle_epoch: int | None = None
    epochs_settled: int | None = None
    signatures_held: int | None = None
    peer_errors: dict[str, int] = field(default_factory=dict)
    """Kind -> failed calls to its own peers."""
    stage_failures: int | None = None


@dataclass(frozen=True, slots=True)
class PeerStatus:
    url: str
    healthy: bool
    """`/healthz` answered 200 "ok" for this deployment's network."""
    error: str | None = None
    """Why it is not healthy."""
    network_id: str | None = None
    synced_block: int | None = None
    """Last registry block its ingest mirror applied."""
    devices: int | None = None
    metrics: PeerMetrics | None = None
    metrics_error: str | None = None


@dataclass(frozen=True, slots=True)
class ProposalStatus:
    id: str
    change: str
    summary: str
    state: str
    """OperationState on the Timelock: unset (cancelled), waiting, ready, done."""
    ready_at_unix: int
    seconds_until_ready: int
    """0 once executable (or done)."""


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    """Everything `depin status` prints."""

    network_id: str
    chain: ChainStatus
    contracts: list[ContractStatus]
    oracle_set: OracleSetStatus
    epochs: EpochProgress
    peers: list[PeerStatus]
    proposals: list[ProposalStatus] | None
    """None without a Timelock in the deployment."""

    def to_json(self) -> dict[str, Any]:
        return {"format": STATUS_FORMAT, **asdict(self)}


# -- gathering --------------------------------------------------------------------------


def _epochs(distributor: DistributorClient, settings: Settings, now: int) -> EpochProgress:
    clock = distributor.clock()
    grace = settings.network.report_grace_seconds
    next_epoch = distributor.next_epoch()
    current = (now - clock.genesis_unix) // clock.epoch_seconds if now >= clock.genesis_unix else None
    current_close = None if current is None else clock.end_unix(current) + grace
    next_close = clock.end_unix(next_epoch) + grace
    return EpochProgress(
        genesis_unix=clock.genesis_unix,
        epoch_seconds=clock.epoch_seconds,
        report_grace_seconds=grace,
        current_epoch=current,
        current_ingest_closes_unix=current_close,
        seconds_until_current_ingest_closes=None if current_close is None else current_close - now,
        next_to_settle=next_epoch,
        next_ingest_closes_unix=next_close,
        next_ingest_closed=now >= next_close,
        unsettled_ended_epochs=max(0, (current or 0) - next_epoch),
        clock_matches_settings=(
            settings.network.genesis_unix == clock.genesis_unix
            and settings.network.epoch_seconds == clock.epoch_seconds
        ),
    )


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value) for family in text_string_to_metric_families(text) for s in family.samples
    ]


def parse_peer_metrics(text: str) -> PeerMetrics:
    """The counters `depin status` shows from a Prometheus text exposition (ValueError if
    it is not one)."""
    accepted = epoch = settled = held = failures = None
    rejected: dict[str, int] = {}
    peer_errors: dict[str, int] = {}
    for name, labels, value in _samples(text):
        if name == "depin_ingest_reports_accepted_total":
            accepted = int(value)
        elif name == "depin_ingest_reports_rejected_total":
            rejected[labels.get("reason", "")] = int(value)
        elif name == "depin_oracle_epoch":
            epoch = int(value)
        elif name == "depin_oracle_epochs_settled_total":
            settled = int(value)
        elif name == "depin_oracle_signatures_held":
            held = int(value)
        elif name == "depin_oracle_peer_errors_total":
            peer_errors[labels.get("kind", "")] = int(value)
        elif name == "depin_oracle_stage_failures_total":
            failures = (failures or 0) + int(value)
    return PeerMetrics(accepted, dict(sorted(rejected.items())), epoch, settled, held, peer_errors, failures)


def peer_status(http: httpx.Client, url: str, network_id: str) -> PeerStatus:
    """Ask one peer for its health and metrics (never raises for the peer's faults)."""
    base = url.rstrip("/")
    try:
        status, body = read_bounded(
            http, "GET", base + "/healthz", max_bytes=MAX_HEALTH_BYTES, deadline_seconds=PEER_DEADLINE_SECONDS
        )
    except PeerError as exc:
        return PeerStatus(url, False, f"unreachable: {exc}")
    if status != 200:
        return PeerStatus(url, False, f"/healthz answered HTTP {status}")
    try:
        health = jsonlimits.loads(body)
    except ValueError:
        return PeerStatus(url, False, "/healthz did not answer JSON")
    if not isinstance(health, dict):
        return PeerStatus(url, False, "/healthz did not answer a JSON object")
    peer_network = health.get("network_id")
    synced, devices = health.get("synced_block"), health.get("devices")
    error = None
    if health.get("status") != "ok":
        error = f"/healthz status is {health.get('status')!r}"
    elif peer_network != network_id:
        error = f"serves network {peer_network!r}, this deployment is {network_id!r}"
    metrics: PeerMetrics | None = None
    metrics_error: str | None = None
    try:
        m_status, m_body = read_bounded(
            http, "GET", base + "/metrics", max_bytes=MAX_METRICS_BYTES, deadline_seconds=PEER_DEADLINE_SECONDS
        )
        if m_status == 200:
            metrics = parse_peer_metrics(m_body.decode("utf-8", "replace"))
        else:
            metrics_error = f"/metrics answered HTTP {m_status}"
    except (PeerError, ValueError) as exc:
        metrics_error = f"/metrics unusable: {exc}"
    return PeerStatus(
        url,
        error is None,
        error,
        str(peer_network) if peer_network is not None else None,
        synced if type(synced) is int else None,
        devices if type(devices) is int else None,
        metrics,
        metrics_error,
    )


def _proposals(chain: Chain, deployment: Deployment, netdir: Path, now: int) -> list[ProposalStatus] | None:
    if TIMELOCK_CONTRACT not in deployment.addresses:
        return None
    gov = GovernanceClient(chain, deployment.address(TIMELOCK_CONTRACT))
    out = []
    for record in load_proposals(netdir):
        state = gov.state(record.id)
        out.append(
            ProposalStatus(
                id="0x" + record.id.hex(),
                change=record.change,
                summary=record.operation.summary,
                state=state.value,
                ready_at_unix=record.ready_at,
                seconds_until_ready=0 if state is OperationState.DONE else max(0, record.ready_at - now),
            )
        )
    return out


def collect_status(
    chain: Chain, deployment: Deployment, settings: Settings, netdir: Path, peers: Sequence[str], http: httpx.Client,
    rpc_url: str,
) -> NetworkStatus:
    """Ask the chain and every peer; ConfigError if the deployment is for another chain."""
    if deployment.chain_id != chain.chain_id:
        raise ConfigError(
            f"{netdir / 'deployment.json'} is for chain {deployment.chain_id}, the node at {rpc_url} is "
            f"chain {chain.chain_id}"
        )
    block = chain.block_number()
    now = chain.timestamp(block)
    contracts = [
        ContractStatus(name, address, "0x" + keccak256(chain.code(address)).hex() == deployment.code_hashes.get(name))
        for name, address in sorted(deployment.addresses.items())
    ]
    distributor = deployment.distributor(chain)
    oracle_set = OracleSetStatus([str(a) for a in distributor.oracles()], distributor.threshold(), distributor.paused())
    return NetworkStatus(
        network_id=deployment.network_id,
        chain=ChainStatus(rpc_url, chain.chain_id, block, now),
        contracts=contracts,
        oracle_set=oracle_set,
        epochs=_epochs(distributor, settings, now),
        peers=[peer_status(http, p, deployment.network_id) for p in peers],
        proposals=_proposals(chain, deployment, netdir, now),
    )


# -- rendering --------------------------------------------------------------------------


def _yes_no(flag: bool, good: bool = True) -> str:
    ok = flag is good
    return f"[{'green' if ok else 'red'}]{'yes' if flag else 'no'}[/]"


def _opt(value: object) -> str:
    return "-" if value is None else escape(str(value))


def render(status: NetworkStatus, console: Console) -> None:
    """The status as rich tables."""
    c, e = status.chain, status.epochs
    overview = Table(title=f"network {escape(status.network_id)}", show_header=False)
    overview.add_column("what", style="bold")
    overview.add_column("value", overflow="fold")
    overview.add_row("rpc", escape(c.rpc_url))
    overview.add_row("chain id", str(c.chain_id))
    overview.add_row("latest block", f"{c.block} at {format_unix(c.block_time_unix)} ({c.block_time_unix})")
    overview.add_row(
        "oracles", f"{status.oracle_set.threshold} of {len(status.oracle_set.oracles)}: "
        + ", ".join(status.oracle_set.oracles)
    )
    overview.add_row("distributor paused", _yes_no(status.oracle_set.paused, good=False))
    overview.add_row(
        "current epoch",
        "before genesis" if e.current_epoch is None else
        f"{e.current_epoch} (ingest closes in {e.seconds_until_current_ingest_closes} s, "
        f"at {format_unix(e.current_ingest_closes_unix or 0)})",
    )
    overview.add_row(
        "next epoch to settle",
        f"{e.next_to_settle} (ingest {'closed' if e.next_ingest_closed else 'open'} "
        f"{'since' if e.next_ingest_closed else 'until'} {format_unix(e.next_ingest_closes_unix)})",
    )
    overview.add_row("ended, unsettled epochs", str(e.unsettled_ended_epochs))
    overview.add_row("epoch clock", f"genesis {format_unix(e.genesis_unix)}, {e.epoch_seconds} s, "
                     f"report grace {e.report_grace_seconds} s; settings agree: {_yes_no(e.clock_matches_settings)}")
    console.print(overview)

    contracts = Table(title="contracts")
    for column in ("contract", "address", "code matches deployment"):
        contracts.add_column(column, overflow="fold")
    for k in status.contracts:
        contracts.add_row(k.name, k.address, _yes_no(k.code_matches))
    console.print(contracts)

    if status.peers:
        peers = Table(title="peers")
        for column in ("peer", "healthy", "synced block", "devices", "accepted", "rejected", "oracle epoch",
                       "settled", "signatures", "peer errors"):
            peers.add_column(column, overflow="fold")
        for p in status.peers:
            m = p.metrics or PeerMetrics()
            health = _yes_no(p.healthy) + ("" if p.error is None else f" {escape(p.error)}")
            errors = ", ".join(f"{k} {v}" for k, v in sorted(m.peer_errors.items()) if v) or (
                "-" if not m.peer_errors else "0"
            )
            peers.add_row(
                escape(p.url), health, _opt(p.synced_block), _opt(p.devices), _opt(m.reports_accepted),
                escape(", ".join(f"{r} {n}" for r, n in m.reports_rejected.items()) or ("-" if p.metrics is None else "0")),
                _opt(m.oracle_epoch), _opt(m.epochs_settled), _opt(m.signatures_held), escape(errors),
            )
        console.print(peers)

    if status.proposals is None:
        console.print("governance: no Timelock in the deployment")
    elif not status.proposals:
        console.print("governance: no proposals recorded")
    else:
        gov = Table(title="governance proposals")
        for column in ("operation id", "change", "state", "ready at"):
            gov.add_column(column, overflow="fold")
        for prop in status.proposals:
            ready = "" if prop.state == OperationState.DONE else (
                f"{format_unix(prop.ready_at_unix)}" + (f" (in {prop.seconds_until_ready} s)" if prop.seconds_until_ready else "")
            )
            gov.add_row(prop.id, escape(prop.summary), prop.state, ready)
        console.print(gov)


# -- the command ------------------------------------------------------------------------


def status(
    netdir: Annotated[
        Path, typer.Option("--netdir", "--dir", help="Network directory (deployment.json, proposals.json).")
    ] = Path("."),
    rpc: Annotated[str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="network.toml to read (default ./network.toml).")
    ] = None,
    peer: Annotated[
        list[str] | None, typer.Option("--peer", help="Base URL of an oracle or ingest to check (repeat).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Show a deployed network: chain, contracts, oracles, epochs, peers, governance."""
    settings = load_settings(config)
    deployment = Deployment.load(netdir)
    url = rpc or settings.chain.rpc_url
    chain = RpcChain(url)
    with httpx.Client() as http:
        result = collect_status(chain, deployment, settings, netdir, peer or [], http, url)
    if json_output:
        typer.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        render(result, Console(highlight=False))
