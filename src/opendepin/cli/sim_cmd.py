"""`depin sim`: simulations that measure the network's rules.

`depin sim attacks` runs the adversarial scenario suite (`opendepin.sim.attacks`): every
attacker mixed into an honest population, in the project's radio model and a denser rooftop
model, several epochs with history carried over, and prints per scenario the attackers' share
of each pool, their reward per key against an honest device's, the share of honest devices
penalised and the break-even of one key's fees, each against its target. Seeded: the same
options print the same table.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from opendepin.sim.attacks.suite import (
    DEFAULT_EPOCHS,
    DEFAULT_NETWORK_DEVICES,
    SCENARIOS,
    UnknownScenario,
    check_scenarios,
    jobs,
    run_suite,
)
from opendepin.sim.attacks.table import economics_note, print_table, table_console

app = typer.Typer(
    help="Simulations that measure the network's rules (seeded, reproducible).",
    no_args_is_help=True,
)
err_console = Console(stderr=True)


class ModelChoice(StrEnum):
    PROJECT = "project"
    ROOFTOP = "rooftop"
    BOTH = "both"


@app.command("attacks")
def attacks(
    seed: Annotated[int, typer.Option(help="Seed of everything: keys, places, radio, timing.")] = 0,
    epochs: Annotated[
        int, typer.Option(min=1, help="Epochs per scenario; figures are the last epoch's.")
    ] = DEFAULT_EPOCHS,
    model: Annotated[
        ModelChoice, typer.Option(help="Radio/population model: project (900 m grid), rooftop (600 m), or both.")
    ] = ModelChoice.BOTH,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help=f"Scenario to run (repeatable; default all): {', '.join(SCENARIOS)}.",
        ),
    ] = None,
    honest: Annotated[int, typer.Option(min=1, help="Honest devices per population.")] = 64,
    network_devices: Annotated[
        int, typer.Option(min=1, help="Network size the break-even figures assume.")
    ] = DEFAULT_NETWORK_DEVICES,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every figure as JSON here.")
    ] = None,
) -> None:
    """Run the adversarial scenario suite and print each scenario's figures against the targets."""
    try:
        names = check_scenarios(scenario or [])
    except UnknownScenario as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    models = ["project", "rooftop"] if model is ModelChoice.BOTH else [model.value]
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task("scenarios", total=jobs(names, models))

        def step(label: str) -> None:
            progress.update(task, description=label)
            progress.advance(task)

        rows = run_suite(
            names, models, seed=seed, honest=honest, epochs=epochs,
            network_devices=network_devices, progress=step,
        )
    console = table_console()
    print_table(rows, console)
    console.print(economics_note(rows), highlight=False)
    console.print(
        f"seed {seed}, {epochs} epochs, {honest} honest devices, "
        f"{time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    if json_out is not None:
        json_out.write_text(
            json.dumps(
                {"seed": seed, "epochs": epochs, "honest": honest, "rows": [r.to_obj() for r in rows]},
                indent=2,
            )
        )
