"""Beacon and witness payloads: what coverage devices sign, and how beacon data is derived.

A coverage report is an ordinary signed envelope (`reports.envelope.Report`) of kind
`"coverage"` whose payload is a canonical JSON object discriminated by `"type"`:

* **beacon** — a device transmits a short radio packet whose `data` nobody but a receiver
  in radio range can know: `keccak256(entropy ‖ device ‖ counter ‖ secret)[:16]`, where
  `entropy` is the hash of a recent block the device saw (the payload names it:
  `entropy_block`), `device` the beaconer's 20-byte address, `counter` an 8-byte big-endian
  per-device beacon counter and `secret` 16 bytes the beaconer drew at random for this one
  beacon (`secrets.token_bytes`). The secret goes on air only inside the hash; the beaconer
  reveals it in its own signed beacon report (`"secret"`), and the verifier regenerates the
  data from the named block and the revealed secret. The block keeps a beacon from being
  precomputed before the block existed or replayed by another device; the secret keeps
  *anyone else* from computing it at all — entropy, address and counter are public, so
  without the secret a fleet with no radio could "witness" every honest beacon.
  The transmit time is the envelope's `timestamp_ms`.
* **witness** — a device that heard a beacon reports who sent it, the data it heard, and the
  radio measurements of the reception. Only the data it heard can match the beacon's.

**Why the secret stays secret until the epoch closes.** It is on air only hashed; the beacon
report carrying it goes only to the oracles' ingest, and an oracle serves an epoch's reports
(`/v1/epochs/{e}/reports`, agreement batches, the explorer's sealed inputs) only once ingest
has closed for that epoch (its end plus `network.report_grace_seconds`), when no witness of
it can be accepted any more. What the secret cannot stop: a **colluding** beaconer may hand
its secret (or the data) to its ring before it beacons, so a ring's witnesses of its own
members are not prevented by it — those are the graph and radio-plausibility rules' job.

Every number is an integer: power in centi-dBm (`rssi_cdbm = -10_250` is −102.5 dBm), SNR
and gains in centi-dB, frequency in Hz, times in Unix milliseconds. Decoding is strict
(unknown or missing fields, wrong types, bools where ints belong, hex that is not exactly
`0x` plus lower-case digits of the right length are all rejected) so two oracles can never
read one payload two ways, and bounded where a number feeds a fixed-width computation — the
counter is hashed as 8 bytes (< 2**64), frequencies (≤ 10**12 Hz) and levels
(±`MAX_LEVEL_CDB`) enter the float64 radio geometry — so no value a device signs can make
verification overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from opendepin.crypto import keccak256
from opendepin.identity.address import ADDRESS_BYTES, checksum
from opendepin.types import DeviceId

BEACON_DATA_BYTES: Final = 16
"""Length of a beacon's data (the part of the keccak digest that is transmitted)."""
BEACON_SECRET_BYTES: Final = 16
"""Length of a beacon's per-beacon random secret (128 bits: not guessable before it is revealed)."""
BEACON_COUNTER_BYTES: Final = 8
"""Width of the big-endian counter hashed into the beacon data."""
MAX_REGION_CHARS: Final = 16
"""Longest regulatory region name accepted (e.g. "EU868", "US915")."""
MAX_COUNTER: Final = (1 << (8 * BEACON_COUNTER_BYTES)) - 1
"""Largest beacon counter: counters are hashed as `BEACON_COUNTER_BYTES` big-endian bytes."""
MAX_FREQUENCY_HZ: Final = 10**12
"""Largest frequency accepted (1 THz, far above any radio): it feeds the float64 path-loss
bound, which must stay finite."""
MAX_LEVEL_CDB: Final = 100_000
"""Largest magnitude of a power, gain, RSSI or SNR, centi-dB(m) (±1000 dB, far beyond any
radio): levels feed the float64 RSSI bound, which must stay an exact int64."""

BEACON: Final = "beacon"
WITNESS: Final = "witness"


def beacon_data(entropy: bytes, device: DeviceId, counter: int, secret: bytes) -> bytes:
    """The data a beacon must carry: `keccak256(entropy ‖ device ‖ counter ‖ secret)[:16]`.

    `device` is a device id as ingest accepted it (its checksum is not re-checked here);
    `secret` is the beacon's `BEACON_SECRET_BYTES` random bytes.
    """
    address = bytes.fromhex(device[2:])
    if len(address) != ADDRESS_BYTES:
        raise ValueError(f"a device id is a 20-byte address, got {device!r}")
    if len(secret) != BEACON_SECRET_BYTES:
        raise ValueError(f"a beacon secret is {BEACON_SECRET_BYTES} bytes, got {len(secret)}")
    return keccak256(
        entropy + address + counter.to_bytes(BEACON_COUNTER_BYTES, "big") + secret
    )[:BEACON_DATA_BYTES]


@dataclass(frozen=True, slots=True)
class BeaconPayload:
    """A beacon transmission as its sender reports it."""

    counter: int
    """Per-device beacon counter, hashed into `data`."""
    data: bytes
    """Transmitted beacon data (`beacon_data(entropy, device, counter, secret)`)."""
    entropy_block: int
    """Number of the block whose hash is the `entropy` in `data`."""
    frequency_hz: int
    """Carrier frequency used."""
    tx_power_cdbm: int
    """Conducted transmit power, centi-dBm."""
    antenna_gain_cdbi: int
    """Antenna gain, centi-dBi."""
    region: str
    """Regulatory region, e.g. "EU868"."""
    secret: bytes
    """The random per-beacon secret hashed into `data`, revealed only in this report."""

    def to_obj(self) -> dict[str, Any]:
        """The JSON object to put in a report (see `canonical_payload`)."""
        return {
            "type": BEACON,
            "counter": self.counter,
            "data": "0x" + self.data.hex(),
            "entropy_block": self.entropy_block,
            "frequency_hz": self.frequency_hz,
            "tx_power_cdbm": self.tx_power_cdbm,
            "antenna_gain_cdbi": self.antenna_gain_cdbi,
            "region": self.region,
            "secret": "0x" + self.secret.hex(),
        }


@dataclass(frozen=True, slots=True)
class WitnessPayload:
    """A reception of someone else's beacon."""

    beaconer: DeviceId
    """Device whose beacon was heard."""
    data: bytes
    """Beacon data as received."""
    rssi_cdbm: int
    """Received signal strength, centi-dBm."""
    snr_cdb: int
    """Signal-to-noise ratio, centi-dB."""
    frequency_hz: int
    """Frequency the beacon was received on."""
    received_ms: int
    """When the packet was received, Unix milliseconds (witness clock)."""
    antenna_gain_cdbi: int
    """Receiving antenna gain, centi-dBi."""
    region: str
    """Regulatory region of the witness."""

    def to_obj(self) -> dict[str, Any]:
        """The JSON object to put in a report (see `canonical_payload`)."""
        return {
            "type": WITNESS,
            "beaconer": self.beaconer,
            "data": "0x" + self.data.hex(),
            "rssi_cdbm": self.rssi_cdbm,
            "snr_cdb": self.snr_cdb,
            "frequency_hz": self.frequency_hz,
            "received_ms": self.received_ms,
            "antenna_gain_cdbi": self.antenna_gain_cdbi,
            "region": self.region,
        }


CoveragePayload = BeaconPayload | WitnessPayload

_BEACON_FIELDS: Final = frozenset(
    {
        "type",
        "counter",
        "data",
        "entropy_block",
        "frequency_hz",
        "tx_power_cdbm",
        "antenna_gain_cdbi",
        "region",
        "secret",
    }
)
_WITNESS_FIELDS: Final = frozenset(
    {
        "type",
        "beaconer",
        "data",
        "rssi_cdbm",
        "snr_cdb",
        "frequency_hz",
        "received_ms",
        "antenna_gain_cdbi",
        "region",
    }
)


def parse_payload(obj: dict[str, Any]) -> CoveragePayload:
    """Decode a payload object strictly; raises ValueError naming the offending field.

    A payload every field of which is right is decoded by one fused test of all the checks
    (`_well_formed`); any other goes through the checks one field at a time
    (`parse_payload_strict`), which say which field is wrong. Both give the same payload or
    the same error (`test_payloads` checks it on mutated payloads)."""
    fast = _well_formed(obj)
    return fast if fast is not None else parse_payload_strict(obj)


def _well_formed(obj: dict[str, Any]) -> CoveragePayload | None:
    """The payload, if `obj` passes every check of `parse_payload_strict` (but possibly the
    beaconer's address checksum, whose error is then the strict path's); else None."""
    kind = obj.get("type")
    m = MAX_LEVEL_CDB
    if kind == WITNESS and obj.keys() == _WITNESS_FIELDS:
        beaconer, data, region = obj["beaconer"], obj["data"], obj["region"]
        rssi, snr, gain = obj["rssi_cdbm"], obj["snr_cdb"], obj["antenna_gain_cdbi"]
        frequency, received = obj["frequency_hz"], obj["received_ms"]
        if (
            type(rssi) is int and -m <= rssi <= m
            and type(snr) is int and -m <= snr <= m
            and type(gain) is int and -m <= gain <= m
            and type(frequency) is int and 1 <= frequency <= MAX_FREQUENCY_HZ
            and type(received) is int and received >= 0
            and type(region) is str and 0 < len(region) <= MAX_REGION_CHARS
            and _is_hex(data, BEACON_DATA_BYTES)
            and type(beaconer) is str
        ):
            return WitnessPayload(
                _checksum(beaconer), bytes.fromhex(data[2:]), rssi, snr, frequency, received, gain, region
            )
        return None
    if kind == BEACON and obj.keys() == _BEACON_FIELDS:
        counter, data, block, secret = obj["counter"], obj["data"], obj["entropy_block"], obj["secret"]
        frequency, power, gain, region = obj["frequency_hz"], obj["tx_power_cdbm"], obj["antenna_gain_cdbi"], obj["region"]
        if (
            type(counter) is int and 0 <= counter <= MAX_COUNTER
            and _is_hex(data, BEACON_DATA_BYTES)
            and type(block) is int and block >= 0
            and type(frequency) is int and 1 <= frequency <= MAX_FREQUENCY_HZ
            and type(power) is int and -m <= power <= m
            and type(gain) is int and -m <= gain <= m
            and type(region) is str and 0 < len(region) <= MAX_REGION_CHARS
            and _is_hex(secret, BEACON_SECRET_BYTES)
        ):
            return BeaconPayload(
                counter, bytes.fromhex(data[2:]), block, frequency, power, gain, region, bytes.fromhex(secret[2:])
            )
    return None


def _is_hex(value: object, length: int) -> bool:
    """What `_hex_bytes` accepts: `0x` and 2·length lower-case hex digits."""
    return (
        type(value) is str and len(value) == 2 + 2 * length and value.startswith("0x")
        and _LOWER_HEX.issuperset(value[2:])
    )


@lru_cache(maxsize=1 << 16)
def _checksum(text: str) -> DeviceId:
    """`checksum`, remembered (a beaconer is named by every witness of its beacons; an
    error is raised again each time, not remembered)."""
    return checksum(text)


def parse_payload_strict(obj: dict[str, Any]) -> CoveragePayload:
    """`parse_payload`, one field at a time (the reference the fused test must agree with)."""
    kind = obj.get("type")
    if kind == BEACON:
        _check_fields(obj, _BEACON_FIELDS)
        return BeaconPayload(
            counter=_int(obj, "counter", 0, MAX_COUNTER),
            data=_data(obj),
            entropy_block=_int(obj, "entropy_block", minimum=0),
            frequency_hz=_int(obj, "frequency_hz", 1, MAX_FREQUENCY_HZ),
            tx_power_cdbm=_level(obj, "tx_power_cdbm"),
            antenna_gain_cdbi=_level(obj, "antenna_gain_cdbi"),
            region=_region(obj),
            secret=_hex_bytes(obj, "secret", BEACON_SECRET_BYTES),
        )
    if kind == WITNESS:
        _check_fields(obj, _WITNESS_FIELDS)
        beaconer = obj["beaconer"]
        if not isinstance(beaconer, str):
            raise ValueError("field 'beaconer' must be an address string")
        return WitnessPayload(
            beaconer=checksum(beaconer),
            data=_data(obj),
            rssi_cdbm=_level(obj, "rssi_cdbm"),
            snr_cdb=_level(obj, "snr_cdb"),
            frequency_hz=_int(obj, "frequency_hz", 1, MAX_FREQUENCY_HZ),
            received_ms=_int(obj, "received_ms", minimum=0),
            antenna_gain_cdbi=_level(obj, "antenna_gain_cdbi"),
            region=_region(obj),
        )
    raise ValueError(f"field 'type' must be {BEACON!r} or {WITNESS!r}, got {kind!r}")


def _check_fields(obj: dict[str, Any], expected: frozenset[str]) -> None:
    keys = obj.keys()
    missing = expected - keys
    if missing:
        raise ValueError(f"missing field(s): {', '.join(sorted(missing))}")
    extra = keys - expected
    if extra:
        raise ValueError(f"unknown field(s): {', '.join(sorted(extra))}")


def _int(obj: dict[str, Any], name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    value = obj[name]
    if type(value) is not int:  # bool is an int subclass; reject it too
        raise ValueError(f"field {name!r} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"field {name!r} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"field {name!r} must be <= {maximum}, got {value}")
    return value


def _level(obj: dict[str, Any], name: str) -> int:
    """A power, gain, RSSI or SNR in centi-dB(m), within ±`MAX_LEVEL_CDB`."""
    return _int(obj, name, -MAX_LEVEL_CDB, MAX_LEVEL_CDB)


_LOWER_HEX: Final = frozenset("0123456789abcdef")


def _hex_bytes(obj: dict[str, Any], name: str, length: int) -> bytes:
    """Exactly `length` bytes spelled `0x` + 2·length lower-case hex digits (one spelling per
    value: no upper case, no whitespace `bytes.fromhex` would skip)."""
    value = obj[name]
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"field {name!r} must be a 0x-prefixed hex string")
    digits = value[2:]
    if len(digits) != 2 * length:
        raise ValueError(f"field {name!r} must be {length} bytes, got {len(digits)} hex digits")
    if not _LOWER_HEX.issuperset(digits):
        raise ValueError(f"field {name!r} is not lower-case hex")
    return bytes.fromhex(digits)


def _data(obj: dict[str, Any]) -> bytes:
    return _hex_bytes(obj, "data", BEACON_DATA_BYTES)


def _region(obj: dict[str, Any]) -> str:
    value = obj["region"]
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REGION_CHARS:
        raise ValueError(f"field 'region' must be a string of 1..{MAX_REGION_CHARS} characters")
    return value
