"""The adversarial scenario suite in full: every attacker, both radio models.

    .venv/bin/python bench/attacks.py [SEED] [EPOCHS] [HONEST]

Runs `opendepin.sim.attacks.run_suite` over every scenario in the `project` (~900 m grid) and
`rooftop` (600 m grid) models — default seed 0, 4 epochs, 64 honest devices — and prints the
table `depin sim attacks` prints (figures from the last epoch, PASS/MISS against the targets)
and the run time. Targets are reported, not asserted: this is a measurement of the rules that
exist when it runs.
"""

from __future__ import annotations

import sys
import time

from opendepin.sim.attacks.suite import DEFAULT_EPOCHS, run_suite
from opendepin.sim.attacks.table import economics_note, print_table, table_console


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_EPOCHS
    honest = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    started = time.perf_counter()
    rows = run_suite((), ("project", "rooftop"), seed=seed, honest=honest, epochs=epochs)
    elapsed = time.perf_counter() - started
    console = table_console()
    print_table(rows, console)
    console.print(economics_note(rows), highlight=False)
    console.print(
        f"seed {seed}, {epochs} epochs, {honest} honest devices per model: "
        f"{len(rows)} rows in {elapsed:.1f} s",
        highlight=False,
    )


if __name__ == "__main__":
    main()
