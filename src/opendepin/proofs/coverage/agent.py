"""The device side of Proof-of-Coverage: when to beacon, and what to sign.

A coverage device does two things:

1. **Beacon** about once per one to two `beacon_interval_seconds` (`BeaconSchedule`): draw
   a fresh random secret, derive the beacon data from the current entropy block's hash, its
   own id, the beacon counter and that secret (`payload.beacon_data`), put the frame on air
   through its `Radio`, and sign a beacon report naming that block and revealing the secret.
   The current entropy block is the last block at or before the start of the current
   `entropy_window_seconds` window (`entropy_window_start_ms` gives that start); a device
   reads it from its chain connection.
2. **Witness**: for every frame its radio heard, sign a witness report with the measured
   RSSI, SNR, frequency and reception time, labelled with the epoch the *beacon* was sent
   in. A concentrator timestamps a frame where its preamble starts, which is when the
   beaconer started sending (propagation takes microseconds), so the `Radio` gives that time
   as `frame.sent_ms`; a frame sent before the current epoch began is a witness of the
   previous epoch, even when it is heard (and signed) a moment after that epoch's end.

**Unpredictable.** Secrets come from `secrets.token_bytes` and beacon times from
`secrets.SystemRandom` unless a seeded `random.Random` is injected (simulations, so scenarios
replay). Each beacon is due at a uniformly random time in `[last + interval, last + 2·interval)`
and the first at a random point of the first interval after the schedule is first asked, so
the verifier's minimum-gap rule (`irregular_interval`) always holds while nobody can tell
from public inputs when a device will beacon next.

`CoverageAgent` does both for one device with an injected `Radio`, so the same code runs on a
Raspberry Pi with a LoRa concentrator and in the simulator with `SimulatedRadio`. The agent
never decides validity; it reports what it did and heard, and the oracles judge.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from opendepin.identity import DeviceKey
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND
from opendepin.proofs.coverage.payload import (
    BEACON_SECRET_BYTES,
    BeaconPayload,
    WitnessPayload,
    beacon_data,
)
from opendepin.proofs.coverage.radio import Frame, Radio, Reception
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId


@dataclass
class BeaconSchedule:
    """Random beacon times at least one interval apart; counts beacons for the data derivation."""

    interval_seconds: int
    """Minimum spacing of beacons (`CoverageSection.beacon_interval_seconds`)."""
    rng: random.Random = field(default_factory=secrets.SystemRandom, repr=False)
    """Where the times come from: the OS's CSPRNG, or a seeded `random.Random` in simulations."""
    last_sent_ms: int | None = None
    """When the last beacon went out."""
    counter: int = 0
    """Counter of the next beacon."""
    next_at_ms: int | None = None
    """When the next beacon is due (None: not drawn yet; drawn when first asked)."""

    @property
    def interval_ms(self) -> int:
        return self.interval_seconds * MS_PER_SECOND

    def _jitter_ms(self) -> int:
        return self.rng.randrange(self.interval_ms) if self.interval_ms > 0 else 0

    def next_due_ms(self, now_ms: int) -> int:
        """When the next beacon is due; the first call draws a random point of the interval
        starting at `now_ms`."""
        if self.next_at_ms is None:
            self.next_at_ms = now_ms + self._jitter_ms()
        return self.next_at_ms

    def due(self, now_ms: int) -> bool:
        """True when a beacon may be sent at `now_ms`."""
        return now_ms >= self.next_due_ms(now_ms)

    def take(self, now_ms: int) -> int:
        """Claim the slot at `now_ms` and return its beacon counter (ValueError if not due).

        The next beacon is then due at a random time in `[now + interval, now + 2·interval)`.
        """
        if not self.due(now_ms):
            raise ValueError(f"next beacon is not due before {self.next_at_ms} ms")
        counter = self.counter
        self.counter += 1
        self.last_sent_ms = now_ms
        self.next_at_ms = now_ms + self.interval_ms + self._jitter_ms()
        return counter


def entropy_window_start_ms(now_ms: int, epoch_start_ms: int, window_seconds: int) -> int:
    """Start of the entropy window containing `now_ms` (windows tile the epoch from its start)."""
    window_ms = window_seconds * MS_PER_SECOND
    return epoch_start_ms + (now_ms - epoch_start_ms) // window_ms * window_ms


@dataclass(frozen=True, slots=True)
class RadioConfig:
    """A device's radio parameters, as it reports them."""

    frequency_hz: int = 868_100_000
    tx_power_cdbm: int = 1_400
    antenna_gain_cdbi: int = 300
    region: str = "EU868"


@dataclass
class CoverageAgent:
    """Beacons and witnesses for one device through an injected `Radio`."""

    key: DeviceKey
    radio: Radio
    network_id: str
    chain_id: int
    schedule: BeaconSchedule
    config: RadioConfig = RadioConfig()
    next_seq: int = 1
    """Sequence number of the next report (strictly increasing per device)."""
    secret_source: Callable[[int], bytes] = field(default=secrets.token_bytes, repr=False)
    """n -> n random bytes for beacon secrets: the OS's CSPRNG, or a seeded `randbytes` in
    simulations."""

    @property
    def device(self) -> DeviceId:
        return DeviceId(self.key.device_id)

    def _sign(self, epoch: int, timestamp_ms: int, payload: dict[str, object]) -> Report:
        report = new_signed_report(
            self.key,
            network_id=self.network_id,
            chain_id=self.chain_id,
            kind=COVERAGE_KIND,
            epoch=epoch,
            seq=self.next_seq,
            timestamp_ms=timestamp_ms,
            payload=payload,
        )
        self.next_seq += 1
        return report

    def beacon(
        self, now_ms: int, epoch: int, entropy: bytes, entropy_block: int
    ) -> Report | None:
        """Transmit and report a beacon if one is due; None otherwise.

        `entropy` is the hash of block `entropy_block`, the current window's entropy block.
        """
        if not self.schedule.due(now_ms):
            return None
        counter = self.schedule.take(now_ms)
        secret = self.secret_source(BEACON_SECRET_BYTES)
        payload = BeaconPayload(
            counter=counter,
            data=beacon_data(entropy, self.device, counter, secret),
            entropy_block=entropy_block,
            frequency_hz=self.config.frequency_hz,
            tx_power_cdbm=self.config.tx_power_cdbm,
            antenna_gain_cdbi=self.config.antenna_gain_cdbi,
            region=self.config.region,
            secret=secret,
        )
        self.radio.transmit(
            Frame(
                self.device,
                payload.data,
                payload.frequency_hz,
                payload.tx_power_cdbm,
                payload.antenna_gain_cdbi,
                now_ms,
            )
        )
        return self._sign(epoch, now_ms, payload.to_obj())

    def witness_payload(self, heard: Reception) -> WitnessPayload:
        """What this device reports about one reception."""
        return WitnessPayload(
            beaconer=heard.frame.sender,
            data=heard.frame.data,
            rssi_cdbm=heard.rssi_cdbm,
            snr_cdb=heard.snr_cdb,
            frequency_hz=heard.frequency_hz,
            received_ms=heard.received_ms,
            antenna_gain_cdbi=self.config.antenna_gain_cdbi,
            region=self.config.region,
        )

    def witnesses(self, epoch: int, epoch_start_ms: int | None = None) -> list[Report]:
        """Signed witness reports for everything the radio heard since the last call.

        `epoch` is the current epoch and `epoch_start_ms` its start: a frame sent before it is
        labelled `epoch − 1`, the beacon's epoch (the module docstring). Without a start every
        witness is labelled `epoch`.
        """
        out: list[Report] = []
        for heard in self.radio.receptions(self.device):
            label = epoch
            if epoch_start_ms is not None and heard.frame.sent_ms < epoch_start_ms and epoch > 0:
                label = epoch - 1
            out.append(self._sign(label, heard.received_ms, self.witness_payload(heard).to_obj()))
        return out
