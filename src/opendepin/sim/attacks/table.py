"""The suite's figures as one table (rich; plain text when the console is not a terminal)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from rich.console import Console
from rich.table import Table

from opendepin.sim.attacks.suite import (
    TARGET_HONEST_PENALISED,
    TARGET_POOL_SHARE,
    TARGET_REWARD_PER_KEY,
    Metrics,
)
from opendepin.types import ONE_TOKEN


def _pct(value: Fraction) -> str:
    return f"{float(value) * 100:.2f} %"


def _mark(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]MISS[/]"


def _tokens(base_units: int) -> str:
    return f"{base_units / ONE_TOKEN:,.2f}"


def _epochs(value: Fraction | None) -> str:
    if value is None:
        return "never"
    return f"{float(value):,.1f}" if value < 10**9 else ">1e9"


def _causes(by: dict[str, int], most: int = 2) -> str:
    top = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))[:most]
    return ", ".join(f"{k} {v}" for k, v in top) + (" …" if len(by) > most else "")


def metrics_table(rows: Sequence[Metrics]) -> Table:
    """One row per (scenario, model, kind)."""
    table = Table(
        title="Adversarial scenarios (last epoch)",
        caption=(
            f"targets: reward/key ≤ {float(TARGET_REWARD_PER_KEY)} × honest, pool share < "
            f"{_pct(TARGET_POOL_SHARE)}, honest penalised < {_pct(TARGET_HONEST_PENALISED)}; "
            "break-even = epochs until one key repays onboarding + location fees"
        ),
    )
    for name, justify in (
        ("scenario", "left"), ("model", "left"), ("pool", "left"), ("keys", "right"),
        ("pool share", "right"), ("reward/key", "right"), ("honest penalised", "right"),
        ("why honest penalised", "left"), ("break-even (epochs)", "right"),
        ("fee for 1 y (tokens)", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in rows:
        ok = m.passes()
        table.add_row(
            m.scenario, m.model, m.kind, str(m.attacker_keys),
            f"{_pct(m.pool_share)} {_mark(ok['pool_share'])}",
            f"{float(m.reward_per_key):.3f} {_mark(ok['reward_per_key'])}",
            f"{m.honest_penalised}/{m.honest_devices} {_mark(ok['honest_penalised'])}",
            _causes(m.penalised_by),
            _epochs(m.break_even_epochs), _tokens(m.fee_for_one_year),
        )
    return table


TABLE_WIDTH = 190
"""Width of the table when the output is not a terminal (a file, a pipe, a test)."""


def table_console() -> Console:
    """A console that does not squeeze the table to 80 columns when stdout is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=TABLE_WIDTH)


def print_table(rows: Sequence[Metrics], console: Console | None = None) -> None:
    (console if console is not None else table_console()).print(metrics_table(rows))


def economics_note(rows: Sequence[Metrics]) -> str:
    """The economic assumptions behind break-even, in one line."""
    if not rows:
        return ""
    fee = rows[0].fee_tokens
    pools = ", ".join(sorted({f"{m.kind} {_tokens(m.pool_tokens)}" for m in rows}))
    return (
        f"break-even at epoch 0's emission split into pools ({pools} tokens/epoch), "
        f"fees {_tokens(fee)} tokens per key (onboarding + location), in a network of "
        f"{rows[0].network_devices:,} devices where an honest device earns pool/devices"
    )
