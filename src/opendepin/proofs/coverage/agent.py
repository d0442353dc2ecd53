"""The device side of Proof-of-Coverage: when to beacon, and what to sign.

A coverage device does two things:

1. **Beacon** at most once per `beacon_interval_seconds` (`BeaconSchedule`): derive the
   beacon data from the current entropy block's hash and its own id (`payload.beacon_data`),
   put the frame on air through its `Radio`, and sign a beacon report naming that block.
   The current entropy block is the last block at or before the start of the current
   `entropy_window_seconds` window (`entropy_window_start_ms` gives that start); a device
   reads it from its chain connection.
2. **Witness**: for every frame its radio heard, sign a witness report with the measured
   RSSI, SNR, frequency and reception time.

`CoverageAgent` does both for one device with an injected `Radio`, so the same code runs on a
Raspberry Pi with a LoRa concentrator and in the simulator with `SimulatedRadio`. The agent
never decides validity; it reports what it did and heard, and the oracles judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from opendepin.identity import DeviceKey
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND
from opendepin.proofs.coverage.payload import BeaconPayload, WitnessPayload, beacon_data
from opendepin.proofs.coverage.radio import Frame, Radio, Reception
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId


@dataclass
class BeaconSchedule:
    """At most one beacon per interval; counts beacons for the data derivation."""

    interval_seconds: int
    """Minimum spacing of beacons (`CoverageSection.beacon_interval_seconds`)."""
    last_sent_ms: int | None = None
    """When the last beacon went out."""
    counter: int = 0
    """Counter of the next beacon."""

    def due(self, now_ms: int) -> bool:
        """True when a beacon may be sent at `now_ms`."""
        return (
            self.last_sent_ms is None
            or now_ms - self.last_sent_ms >= self.interval_seconds * MS_PER_SECOND
        )

    def take(self, now_ms: int) -> int:
        """Claim the slot at `now_ms` and return its beacon counter (ValueError if not due)."""
        if not self.due(now_ms):
            raise ValueError(f"next beacon is not due before {self.next_due_ms()} ms")
        counter = self.counter
        self.counter += 1
        self.last_sent_ms = now_ms
        return counter

    def next_due_ms(self) -> int | None:
        """Earliest time of the next beacon (None: now)."""
        if self.last_sent_ms is None:
            return None
        return self.last_sent_ms + self.interval_seconds * MS_PER_SECOND


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
        payload = BeaconPayload(
            counter=counter,
            data=beacon_data(entropy, self.device, counter),
            entropy_block=entropy_block,
            frequency_hz=self.config.frequency_hz,
            tx_power_cdbm=self.config.tx_power_cdbm,
            antenna_gain_cdbi=self.config.antenna_gain_cdbi,
            region=self.config.region,
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

    def witnesses(self, epoch: int) -> list[Report]:
        """Signed witness reports for everything the radio heard since the last call."""
        return [
            self._sign(epoch, heard.received_ms, self.witness_payload(heard).to_obj())
            for heard in self.radio.receptions(self.device)
        ]
