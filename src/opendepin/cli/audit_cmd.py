"""`depin audit EPOCH_DIR`: recompute a published epoch and say whether its root matches.

Anyone holding an epoch directory (sealed inputs, snapshot, prior totals, manifest, reward
file) can run it; see `opendepin.oracle.audit` for what is checked. Exit status 0 when the
recomputed root equals the published one and nothing diverges, 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from opendepin.oracle.audit import audit_epoch


def audit(
    epoch_dir: Annotated[Path, typer.Argument(help="An epoch directory: <data_dir>/epochs/<epoch>.")],
) -> None:
    """Recompute an epoch from its published files and compare the root."""
    console = Console()
    result = audit_epoch(epoch_dir)
    console.print(f"epoch {result.epoch}: published root 0x{result.published_root.hex()}")
    if result.recomputed_root is not None:
        console.print(f"epoch {result.epoch}: recomputed root 0x{result.recomputed_root.hex()}")
    for problem in result.problems:
        console.print(f"[red]diverges:[/] {problem}", highlight=False)
    if result.ok:
        console.print("[green]OK[/]: the published root follows from the published inputs")
        return
    console.print("[red]MISMATCH[/]")
    raise typer.Exit(1)
