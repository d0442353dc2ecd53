"""What the coverage rules remember between epochs.

Three rules look back further than one epoch:

* **interval** — at most one beacon per `beacon_interval_seconds`, also across an epoch boundary;
* **reciprocity** — a beaconer must have witnessed validly, and a witness must have beaconed
  validly, within `reciprocity_window_seconds` (48 h, as Helium);
* **hex density** — a device counts towards its hex's density if it was *active* (a valid
  beacon with at least one valid witness) within `density_window_seconds` (60 h);
* **establishment** — a new device ramps up over its first `establishment_epochs` epochs
  (`trust`), counted from the start of the epoch it was first seen in (`first_seen_ms`, the
  one field that keeps the *earliest* time; it is kept as long as the device has any other
  entry, so a device away for longer than every look-back window starts again).

`CoverageHistory` carries, per device, the time of the last such event. It is small (five
integers per device), is a pure function of past epochs' results (`updated`), and has a
canonical JSON form (`to_obj` / `from_obj`) that the oracle persists between epochs and
publishes with each epoch so an audit can recompute it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opendepin.types import DeviceId

_FIELDS = ("last_beacon_ms", "last_valid_beacon_ms", "last_valid_witness_ms", "last_active_ms")


def _merge(
    old: Mapping[DeviceId, int], new: Mapping[DeviceId, int], keep: Callable[[int, int], int] = max
) -> dict[DeviceId, int]:
    """`old` with `new` merged in, keeping `keep` (the later, by default) of two times."""
    out = dict(old)
    for device, ms in new.items():
        out[device] = keep(out[device], ms) if device in out else ms
    return out


@dataclass(frozen=True, slots=True)
class CoverageHistory:
    """Per-device times (Unix ms) of the last relevant events before this epoch."""

    last_beacon_ms: Mapping[DeviceId, int] = field(default_factory=dict)
    """Last beacon that counted for the interval rule (valid or not)."""
    last_valid_beacon_ms: Mapping[DeviceId, int] = field(default_factory=dict)
    """Last valid beacon (witness reciprocity)."""
    last_valid_witness_ms: Mapping[DeviceId, int] = field(default_factory=dict)
    """Last valid witness report (beaconer reciprocity)."""
    last_active_ms: Mapping[DeviceId, int] = field(default_factory=dict)
    """Last valid beacon that had at least one valid witness (hex density)."""
    first_seen_ms: Mapping[DeviceId, int] = field(default_factory=dict)
    """Start of the first epoch the device reported in (establishment; earliest kept)."""

    def updated(self, epoch_activity: CoverageHistory) -> CoverageHistory:
        """This history with one more epoch's activity merged in (keeps the later time)."""
        return CoverageHistory(
            last_beacon_ms=_merge(self.last_beacon_ms, epoch_activity.last_beacon_ms),
            last_valid_beacon_ms=_merge(
                self.last_valid_beacon_ms, epoch_activity.last_valid_beacon_ms
            ),
            last_valid_witness_ms=_merge(
                self.last_valid_witness_ms, epoch_activity.last_valid_witness_ms
            ),
            last_active_ms=_merge(self.last_active_ms, epoch_activity.last_active_ms),
            first_seen_ms=_merge(self.first_seen_ms, epoch_activity.first_seen_ms, min),
        )

    def pruned(self, before_ms: int) -> CoverageHistory:
        """Drop entries older than `before_ms` (they can no longer satisfy any window)."""
        kept: dict[str, dict[DeviceId, int]] = {
            name: {d: ms for d, ms in getattr(self, name).items() if ms >= before_ms} for name in _FIELDS
        }
        alive = set().union(*(kept[name] for name in _FIELDS))
        first = {d: ms for d, ms in self.first_seen_ms.items() if d in alive}
        return CoverageHistory(**kept, first_seen_ms=first)

    def to_obj(self) -> dict[str, dict[str, int]]:
        """Canonical JSON object (devices sorted)."""
        out = {name: dict(sorted(getattr(self, name).items())) for name in _FIELDS}
        if self.first_seen_ms:  # absent when empty: earlier state files read and write the same
            out["first_seen_ms"] = dict(sorted(self.first_seen_ms.items()))
        return out

    @classmethod
    def from_obj(cls, obj: Any) -> CoverageHistory:
        """Inverse of `to_obj`; ValueError if `obj` is not an object of device -> int fields."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"history must be an object of fields, got {type(obj).__name__}")
        values: dict[str, dict[DeviceId, int]] = {}
        for name in (*_FIELDS, "first_seen_ms"):
            # first_seen_ms is absent from files written before establishment existed.
            raw = obj.get(name, {} if name == "first_seen_ms" else None)
            if not isinstance(raw, dict) or not all(
                isinstance(k, str) and type(v) is int for k, v in raw.items()
            ):
                raise ValueError(f"history field {name!r} must map device ids to integers")
            values[name] = {DeviceId(k): v for k, v in raw.items()}
        return cls(**values)
