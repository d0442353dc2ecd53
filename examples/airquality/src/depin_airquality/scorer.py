"""Scoring: one share per distinct hour with a valid reading.

```
shares(device) = |{ (timestamp − epoch start) // hour_seconds  :  valid readings }|
                 if that count ≥ min_hours, else 0          (reason airquality_insufficient_hours)
```

A station that reports every hour of a 24-hour epoch earns 24 shares; several readings in
one hour count once, so retries and chatty devices gain nothing. The shares are integers, so
every oracle splits the pool identically. The reading's *value* does not change the score:
the network pays for measuring, not for pollution.

Every device that sent anything gets an `Explanation`: its shares, the sorted reasons it
earned less than a perfect epoch (report-level reasons of its invalid readings and the
device-level `airquality_insufficient_hours`), its invalid readings counted by reason, and
`details = {"hours", "readings"}` (distinct valid hours, valid readings).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from opendepin.network.settings import NetworkSection
from opendepin.proofs.kind import Explanation
from opendepin.types import DeviceId

from depin_airquality.reasons import AirQualityReason
from depin_airquality.settings import AirQualitySection
from depin_airquality.verifier import Checked

MS_PER_SECOND = 1_000


@dataclass(slots=True)
class _Tally:
    hours: set[int] = field(default_factory=set)
    readings: int = 0
    invalid: Counter[str] = field(default_factory=Counter)


def hour_of(timestamp_ms: int, epoch_start_ms: int, section: AirQualitySection) -> int:
    """The scoring bucket of a timestamp inside an epoch (0 = the epoch's first hour)."""
    return (timestamp_ms - epoch_start_ms) // (section.hour_seconds * MS_PER_SECOND)


def explain(
    checked: Sequence[Checked], network: NetworkSection, section: AirQualitySection
) -> dict[DeviceId, Explanation]:
    """Every reporting device's explanation, shares included, sorted by device."""
    tallies: dict[DeviceId, _Tally] = {}
    for c in checked:
        tally = tallies.setdefault(c.report.device, _Tally())
        if c.reading is None:
            tally.invalid[str(c.verdict.reason)] += 1
            continue
        start_ms, _ = network.epoch_window_ms(c.report.epoch)
        tally.hours.add(hour_of(c.report.timestamp_ms, start_ms, section))
        tally.readings += 1
    out: dict[DeviceId, Explanation] = {}
    for device in sorted(tallies):
        tally = tallies[device]
        reasons = set(tally.invalid)
        enough = len(tally.hours) >= section.min_hours
        if not enough:
            reasons.add(AirQualityReason.AIRQUALITY_INSUFFICIENT_HOURS.value)
        out[device] = Explanation(
            device=device,
            shares=len(tally.hours) if enough else 0,
            reasons=tuple(sorted(reasons)),
            invalid=dict(sorted(tally.invalid.items())),
            details={"hours": len(tally.hours), "readings": tally.readings},
        )
    return out
