"""`depin demo`: run a whole network in one process and show what happened.

Embedded chain, three oracles (2-of-3) with real HTTP ingest on localhost, simulated
heartbeat devices (a few dishonest), coverage devices in Lisbon (incl. location spoofers
and a witness ring) and storage nodes holding erasure-coded objects (incl. a deleter, a node
that kept only roots and one that goes offline for a while), several epochs on a simulated
clock, every root settled and every owner's reward claimed — see `opendepin.sim.demo`. Nothing to install beyond the
package; files go to a temporary directory unless `--dir` is given. On Linux the oracles' ingest
and epoch stages run in forked processes, so they use every core (`--sequential`: all in one).
"""

from __future__ import annotations

import atexit
import gc
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from opendepin.errors import InputError
from opendepin.proofs.registry import installed_kinds
from opendepin.sim.consumers import DEFAULT_CONSUMERS, MAX_CONSUMERS, ConsumerSummary
from opendepin.sim.demo import (
    DEFAULT_COVERAGE_DEVICES,
    DEFAULT_STORAGE_NODES,
    MIN_STORAGE_NODES,
    DemoSummary,
    StorageSummary,
    run_demo,
)
from opendepin.types import ONE_TOKEN


class _RichProgress:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def task(self, description: str, total: int) -> Callable[[int], None]:
        task_id = self._progress.add_task(description, total=total)
        return lambda n: self._progress.advance(task_id, n)


_EXIT_COLLECTION_SKIPPED: list[bool] = []


def _skip_exit_collection() -> None:
    """At interpreter exit, freeze what is still alive before the final garbage collections.

    After a demo this process still holds the embedded chain's and the simulation's module
    level state (py-evm, titanoboa, the kinds' caches): the collections Python runs while it
    shuts down walk all of it, about half a second on a busy 2-core machine, only to free
    memory the operating system takes back anyway. Frozen objects are skipped (`gc.freeze`);
    nothing else of the shutdown changes (atexit handlers registered earlier, e.g. logging's,
    still run after this one, files are flushed and closed as before). Registered at exit
    only, so a process that goes on after the command (a test runner) collects as usual."""
    if not _EXIT_COLLECTION_SKIPPED:
        _EXIT_COLLECTION_SKIPPED.append(True)
        atexit.register(gc.freeze)


def _tokens(base_units: int | str) -> str:
    """Base units as whole tokens with 2 decimals, rounded down (display only)."""
    value = int(base_units)
    return f"{value // ONE_TOKEN:,}.{(value % ONE_TOKEN) * 100 // ONE_TOKEN:02d}"


def demo(
    devices: Annotated[int, typer.Option(help="Simulated heartbeat devices.")] = 200,
    coverage_devices: Annotated[
        int, typer.Option(help="Simulated coverage devices (0: heartbeat only; 8+ include cheats).")
    ] = DEFAULT_COVERAGE_DEVICES,
    storage_nodes: Annotated[
        int,
        typer.Option(
            help=f"Simulated storage nodes (0: none; at least {MIN_STORAGE_NODES}; 10+ include cheats)."
        ),
    ] = DEFAULT_STORAGE_NODES,
    epochs: Annotated[int, typer.Option(help="Epochs to run (each is 24 simulated hours).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of everything: keys, places, behaviour.")] = 1,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Keep the network's files here (default: a temp dir)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON here.")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="KIND=DEVICES: simulate this installed proof kind (repeat; replaces "
            "--devices/--coverage-devices/--storage-nodes).",
        ),
    ] = None,
    consumers: Annotated[
        int,
        typer.Option(
            help="Simulated storage consumers who buy credits and store, read and delete objects "
            "through a gateway that settles their usage on chain (0: none; needs storage nodes)."
        ),
    ] = DEFAULT_CONSUMERS,
    sequential: Annotated[
        bool,
        typer.Option(
            "--sequential",
            help="Run the three oracles one after another in this process (slower, same results; "
            "by default their ingest and epoch stages run in forked processes where possible).",
        ),
    ] = False,
) -> None:
    """Run a complete network on one machine: deploy, report, verify, settle, claim."""
    if devices < 1 or epochs < 1:
        raise InputError("--devices and --epochs must be at least 1")
    if coverage_devices < 0:
        raise InputError("--coverage-devices must be at least 0")
    if not 0 <= consumers <= MAX_CONSUMERS:
        raise InputError(f"--consumers must be between 0 and {MAX_CONSUMERS}")
    if storage_nodes < 0 or 0 < storage_nodes < MIN_STORAGE_NODES:
        raise InputError(
            f"--storage-nodes must be 0 or at least {MIN_STORAGE_NODES} (a segment's pieces go to different nodes)"
        )
    kinds = _parse_kinds(kind) if kind else None
    if kinds is not None and 0 < kinds.get("storage", 0) < MIN_STORAGE_NODES:
        raise InputError(f"--kind storage=N needs N >= {MIN_STORAGE_NODES}")
    _skip_exit_collection()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="depin-demo-") as tmp:
        data_dir = directory if directory is not None else Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            summary = run_demo(
                seed=seed,
                devices=devices,
                epochs=epochs,
                data_dir=data_dir,
                progress=_RichProgress(progress),
                coverage_devices=coverage_devices,
                storage_nodes=storage_nodes,
                kinds=kinds,
                parallel=not sequential,
                consumers=consumers,
            )
        render(console, summary, kept=directory is not None)
        if json_out is not None:
            json_out.write_text(json.dumps(summary.to_json(), indent=2, sort_keys=True) + "\n")
            console.print(f"summary written to {json_out}")


def _parse_kinds(values: list[str]) -> dict[str, int]:
    """`KIND=DEVICES` options -> {kind: devices}; InputError naming a bad one."""
    installed = installed_kinds()
    out: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise InputError(f"--kind {value!r}: write KIND=DEVICES, e.g. --kind heartbeat=200")
        if name not in installed:
            raise InputError(
                f"--kind {value!r}: no proof kind {name!r} is installed (installed: {', '.join(installed)})"
            )
        out[name] = int(count)
    return out


def render(console: Console, summary: DemoSummary, kept: bool) -> None:
    """Print the demo's tables."""
    epochs = Table(title="Epochs")
    for col in ("epoch", "accepted", "rejected", "emission", "paid", "root", "signed", "sent by"):
        epochs.add_column(
            col, justify="right" if col in ("accepted", "rejected", "emission") else "left"
        )
    for e in summary.epochs:
        epochs.add_row(
            str(e.epoch),
            f"{e.accepted_reports:,}",
            f"{sum(e.rejected_by_reason.values()):,}",
            _tokens(e.emission),
            str(e.rewarded_devices),
            e.root[:10] + "…",
            f"{len(e.signers)} of {len(summary.oracle_urls)}",
            f"#{e.submitted_by}",
        )
    console.print(epochs)

    # Every rejected report and invalid verdict has a stable reason: one row per reason.
    reasons = sorted({r for e in summary.epochs for r in e.rejected_by_reason})
    if reasons:
        rejected = Table(title="Rejected reports and invalid verdicts, by reason")
        rejected.add_column("reason")
        for e in summary.epochs:
            rejected.add_column(f"epoch {e.epoch}", justify="right")
        for reason in reasons:
            rejected.add_row(
                reason, *(f"{e.rejected_by_reason.get(reason, 0):,}" for e in summary.epochs)
            )
        console.print(rejected)

    top = Table(title="Top earners (cumulative)")
    top.add_column("owner")
    top.add_column("tokens", justify="right")
    for owner, amount in summary.top_earners:
        top.add_row(owner, _tokens(amount))
    console.print(top)

    why = Table(title=f"Why devices went unrewarded (epoch {len(summary.epochs) - 1})")
    why.add_column("simulated behaviour")
    why.add_column("reason")
    why.add_column("devices", justify="right")
    for behaviour, by_reason in summary.unrewarded.items():
        for why_reason, count in by_reason.items():
            why.add_row(behaviour, why_reason, str(count))
    console.print(why)

    if summary.storage is not None:
        render_storage(console, summary.storage)

    if summary.consumers is not None:
        render_consumers(console, summary.consumers)

    ok = summary.supply_reconciles
    console.print(
        f"supply: minted at genesis {_tokens(summary.genesis_minted)} + claimed {_tokens(summary.claims_total)} "
        f"− burned for credits {_tokens(summary.burned)} = {_tokens(summary.supply)} tokens on chain · "
        f"unclaimed {_tokens(summary.unclaimed)} · "
        + ("[green]supply reconciles[/]" if ok else "[red]supply does not reconcile[/]")
    )
    where = (
        f"files kept in {summary.data_dir}"
        if kept
        else "files were in a temporary directory (use --dir to keep them)"
    )
    devices = " + ".join(f"{n} {k}" for k, n in summary.kind_devices.items()) or "no"
    console.print(
        f"{devices} devices, {len(summary.epochs)} epochs in {summary.elapsed_seconds:.1f} s; {where}"
    )


def render_storage(console: Console, storage: StorageSummary) -> None:
    """Print the storage section: objects and repair, then each behaviour's outcome."""
    readable = "[green]" if storage.readable == storage.objects else "[red]"
    console.print(
        f"storage: {storage.objects} objects ({storage.object_bytes:,} bytes) in {storage.pieces_placed} pieces · "
        f"{readable}{storage.readable} of {storage.objects} readable at the end[/] · "
        f"{storage.pieces_repaired} pieces repaired ({storage.segments_repaired} segment repairs) · "
        f"{storage.proofs_sent:,} proofs sent"
    )
    table = Table(title="Storage nodes by simulated behaviour")
    for col in ("behaviour", "nodes", "paid", "disqualified", "reputation", "storage tokens"):
        table.add_column(col, justify="left" if col == "behaviour" else "right")
    for behaviour, row in storage.behaviours.items():
        table.add_row(
            behaviour,
            str(row.nodes),
            str(row.paid_nodes),
            str(row.disqualified),
            _score_range(row.min_score_ppm, row.max_score_ppm),
            _tokens(row.rewards),
        )
    console.print(table)


def render_consumers(console: Console, c: ConsumerSummary) -> None:
    """Print the demand side: what consumers did, paid and owe, and what usage paid nodes."""
    intact = "[green]" if c.reads_intact == c.reads else "[red]"
    console.print(
        f"consumers: {c.consumers} stored {c.objects_put} objects ({c.bytes_put:,} bytes), "
        f"listed {c.objects_listed}, {intact}{c.reads_intact} of {c.reads} reads intact[/], "
        f"deleted {c.deleted}"
    )
    table = Table(title="Credits (consumers → gateway → usage pool)")
    table.add_column("what")
    table.add_column("amount", justify="right")
    table.add_row("tokens burned for credits", _tokens(c.tokens_burned))
    table.add_row("credits bought", f"{c.credits_bought:,}")
    table.add_row(f"credits charged (epochs {', '.join(map(str, c.settled_epochs)) or '-'})", f"{c.credits_charged:,}")
    table.add_row("credits spent on chain", f"{c.credits_spent:,}")
    table.add_row("credits owed (consumers short of credits)", f"{c.credits_owed:,}")
    table.add_row("last epoch's charges (settled after the demo)", f"{c.unsettled_charges:,}")
    table.add_row(f"usage paid to nodes ({c.egress_reports} egress reports)", _tokens(c.usage_paid))
    console.print(table)


def _score_range(low: int | None, high: int | None) -> str:
    """A reputation range in ppm as scores with 4 decimals ("-" when none was published)."""
    if low is None or high is None:
        return "-"
    lo, hi = f"{low / 1_000_000:.4f}", f"{high / 1_000_000:.4f}"  # display only
    return lo if lo == hi else f"{lo}–{hi}"
