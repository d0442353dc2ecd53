"""The session's demo directory, and facts read straight from its published files.

The explorer's pages are checked against these readers, which know only `docs/formats.md`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EPOCHS = 2
"""Epochs the session's demo runs."""


@dataclass(frozen=True)
class Demo:
    """The demo's directory, its summary, and readers of the primary oracle's files."""

    root: Path
    summary: Any

    @property
    def primary(self) -> Path:
        return self.root / "oracle-0"

    def epoch_dir(self, epoch: int) -> Path:
        return self.primary / "epochs" / str(epoch)

    def file(self, epoch: int, name: str) -> Any:
        return json.loads((self.epoch_dir(epoch) / name).read_text())

    @property
    def latest(self) -> int:
        return EPOCHS - 1


def amounts(demo: Demo, epoch: int) -> dict[str, int]:
    """device (lower-case) -> base units earned in the epoch, from rewards_v1.json."""
    out: dict[str, int] = {}
    for owner in demo.file(epoch, "rewards_v1.json")["owners"]:
        for d in owner["devices"]:
            out[d["device"].lower()] = out.get(d["device"].lower(), 0) + int(d["amount"])
    return out


def explanations(demo: Demo, epoch: int) -> dict[str, dict[str, Any]]:
    """device (lower-case) -> its explanation object (any kind)."""
    doc = demo.file(epoch, "explanations_v1.json")
    return {e["device"].lower(): e for rows in doc["kinds"].values() for e in rows}


def invalid_rows(demo: Demo, epoch: int, device: str) -> list[dict[str, Any]]:
    """The device's rows of verdicts_v1.json."""
    doc = demo.file(epoch, "verdicts_v1.json")
    return [r for k in doc["kinds"].values() for r in k["invalid"] if r["device"].lower() == device.lower()]


def rewarded_and_unrewarded(demo: Demo, epoch: int) -> tuple[str, str]:
    """A device paid in the epoch with nothing held against it, and one paid nothing with reasons."""
    paid = amounts(demo, epoch)
    expl = explanations(demo, epoch)
    rewarded = next(e["device"] for k, e in sorted(expl.items()) if paid.get(k, 0) > 0 and not e["reasons"])
    unrewarded = next(e["device"] for k, e in sorted(expl.items()) if paid.get(k, 0) == 0 and e["reasons"])
    return rewarded, unrewarded


def placed_devices(demo: Demo, epoch: int) -> list[str]:
    """Snapshot devices with a valid asserted H3 cell (the ones a map must draw)."""
    import h3

    out = []
    for d in demo.file(epoch, "snapshot_v1.json")["devices"]:
        cell = int(d["location"])
        if 0 < cell < 1 << 64 and h3.is_valid_cell(h3.int_to_str(cell)):
            out.append(d["device"])
    return out
