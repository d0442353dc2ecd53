"""How many cores this process may run on: the count every pool sized "one per core" reads."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores the scheduler lets this process use (its CPU affinity, which a container or
    `taskset` may narrow), or every core where affinity cannot be read; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


__all__ = ["usable_cores"]
