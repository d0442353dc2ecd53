"""The kind's settings section, read from `[kinds.airquality]` (or `[airquality]`) of network.toml.

A kind declares its parameters as a frozen pydantic model subclassing opendepin's `Section`
(unknown keys are errors). opendepin finds the model through `Kind.settings_model`, validates
the network's table with it, and hands the typed instance to `compute` as `KindJob.section`;
every oracle publishes it (defaults filled in) in each epoch's manifest, so an auditor sees
exactly which thresholds paid an epoch. Environment overrides work too:
`DEPIN_KINDS__AIRQUALITY__MAX_DISTANCE_M=150`.

```toml
[kinds.airquality]
max_pm25_dugm3 = 5000   # 500.0 µg/m³
max_distance_m = 200
hour_seconds = 3600
min_hours = 1
```
"""

from __future__ import annotations

from opendepin.network.settings import Section
from pydantic import Field

from depin_airquality.payload import PM25_LIMIT_DUGM3


class AirQualitySection(Section):
    """Thresholds of the air-quality kind (every field has a default)."""

    max_pm25_dugm3: int = Field(
        5_000,
        ge=0,
        le=PM25_LIMIT_DUGM3,
        description="Largest plausible PM2.5 reading, deci-µg/m³ (5000 = 500.0 µg/m³, the top "
        "of the US AQI scale); higher readings are `airquality_out_of_range`.",
    )
    max_distance_m: int = Field(
        200,
        gt=0,
        description="Largest distance, whole metres, of a reported position from the centre of "
        "the device's asserted H3 cell; further is `airquality_too_far`.",
    )
    hour_seconds: int = Field(
        3_600,
        gt=0,
        description="Length of one scoring bucket ('hour'); shorten only for simulated clocks.",
    )
    min_hours: int = Field(
        1,
        ge=1,
        description="Distinct hours with a valid reading a device needs in an epoch to earn.",
    )
