"""Checks that decide whether a report may enter the network.

Each check is a small function (or a small stateful object) returning `None` when the report
passes and a `Rejection(reason, message)` when it does not; none of them raises for
untrusted input. Ingest composes them in the order the design fixes — decode → network and
chain → registry (device registered and active; ingest's own registry mirror) → signature →
freshness and replay → payload → append — and `BatchVerifier` composes them the same way for
callers without a registry.

Signatures are the costly part, so `check_signatures` works on a whole batch and does, per
report, only hashing plus ONE library call:

* secp256k1: `coincurve.PublicKey.from_signature_and_message(r‖s‖recid, digest, hasher=None)`
  recovers the public key; the address is the last 20 bytes of its keccak256, compared as
  bytes with `report.device`. High-s signatures are refused (as Ethereum does since EIP-2),
  so each report has exactly one valid signature encoding.
* ed25519: `nacl.signing.VerifyKey(signer_key).verify(digest, signature)`; the verify key
  and the key's derived address are cached per public key.

The EIP-712 type hash is a constant and the domain separator is cached per chain id
(`reports.eip712`).

`check_signatures` computes the digests itself and hands the rest — one `SignatureJob` of
plain bytes per report — to a `SignatureRunner`: by default `verify_signature_jobs`, in the
caller; a caller may pass one that spreads the jobs over worker processes
(`ingest.workers.SignatureWorkers.run`), because the library calls are most of the cost.
Each job's result is a pure function of its bytes, and the verdicts are built from the
results here in one way only, so they do not depend on where the jobs ran. (Ingest runs
`check_signatures` itself on its workers, together with decoding and the payload check:
`ingest.workers.prepare_reports`.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import coincurve
import nacl.exceptions
import nacl.signing

from opendepin.crypto import keccak_256
from opendepin.identity.address import ed25519_address_bytes, to_checksum_address
from opendepin.network.clock import EpochClock
from opendepin.reports.eip712 import report_digest
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import Rejection, RejectReason
from opendepin.types import DeviceId

__all__ = [
    "SIGNATURE_FAILURES",
    "PayloadRegistry",
    "RejectReason",
    "Rejection",
    "SequenceTracker",
    "SignatureJob",
    "SignatureResult",
    "SignatureRunner",
    "check_device",
    "check_network",
    "check_signatures",
    "check_time",
    "check_time_of",
    "recover_signers",
    "verify_signature",
    "verify_signature_jobs",
]

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""n, the order of the secp256k1 group."""
SECP256K1_HALF_ORDER = SECP256K1_ORDER // 2
"""Largest accepted s (low-s rule)."""
MS_PER_SECOND = 1_000
_ED25519_CACHE_MAX = 100_000  # cached (VerifyKey, address) pairs; cleared when full

_from_signature_and_message = coincurve.PublicKey.from_signature_and_message
_ed25519_keys: dict[bytes, tuple[nacl.signing.VerifyKey, bytes]] = {}


def check_network(report: Report, network_id: str, chain_id: int) -> Rejection | None:
    """WRONG_NETWORK / WRONG_CHAIN unless the report is bound to this network and chain."""
    if report.network_id != network_id:
        return Rejection(
            RejectReason.WRONG_NETWORK,
            f"report is for network {report.network_id!r}, this is {network_id!r}",
        )
    if report.chain_id != chain_id:
        return Rejection(
            RejectReason.WRONG_CHAIN,
            f"report is for chain id {report.chain_id}, this is {chain_id}",
        )
    return None


class DeviceStatus(Protocol):
    """What `check_device` needs of a registry record (`records.DeviceRecord` fits)."""

    @property
    def active(self) -> bool: ...


def check_device(report: Report, record: DeviceStatus | None) -> Rejection | None:
    """UNKNOWN_DEVICE if the registry has no record of the device, INACTIVE_DEVICE if deactivated.

    `record` is the registry's entry for `report.device` (None when absent); ingest looks it
    up in its registry mirror.
    """
    if record is None:
        return Rejection(
            RejectReason.UNKNOWN_DEVICE, f"device {report.device} is not registered on this network"
        )
    if not record.active:
        return Rejection(RejectReason.INACTIVE_DEVICE, f"device {report.device} is deactivated")
    return None


SignatureJob = tuple[bytes, bytes, bytes]
"""One report's signature check once its EIP-712 digest is known: (signature, signer_key,
digest). Plain bytes, so a batch of jobs can be verified in another process."""
SignatureResult = bytes | int
"""A job's outcome: the signer's 20 address bytes, or why not as an index into
`SIGNATURE_FAILURES`."""
SignatureRunner = Callable[[list[SignatureJob]], Sequence[SignatureResult]]
"""Verifies a list of jobs, one result per job in order: `verify_signature_jobs` here, or
spread over worker processes (`ingest.workers.SignatureWorkers.run`)."""

_BAD_SHAPE = Rejection(
    RejectReason.BAD_SIGNATURE,
    "signature must be 65 bytes r‖s‖v (secp256k1, empty signer_key) or 64 bytes with a "
    "32-byte signer_key (ed25519)",
)
_BAD_V = Rejection(RejectReason.BAD_SIGNATURE, "secp256k1 signature v must be 27 or 28")
_HIGH_S = Rejection(RejectReason.BAD_SIGNATURE, "secp256k1 signature s is not in the lower half")
_NO_RECOVER = Rejection(
    RejectReason.BAD_SIGNATURE, "no public key can be recovered from the signature"
)
_ED_BAD_KEY = Rejection(RejectReason.BAD_SIGNATURE, "signer_key is not an ed25519 public key")
_ED_INVALID = Rejection(RejectReason.BAD_SIGNATURE, "ed25519 signature does not verify")
SIGNATURE_FAILURES: tuple[Rejection, ...] = (
    _BAD_SHAPE, _BAD_V, _HIGH_S, _NO_RECOVER, _ED_BAD_KEY, _ED_INVALID
)
"""Why a signature job failed, by the index `verify_signature` returns."""
_FAIL_SHAPE, _FAIL_V, _FAIL_HIGH_S, _FAIL_NO_RECOVER, _FAIL_ED_KEY, _FAIL_ED_INVALID = range(6)


def _digest(report: Report) -> bytes | Rejection:
    """The report's EIP-712 digest, or MALFORMED if its fields cannot be encoded."""
    try:
        return report_digest(report)
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        return Rejection(RejectReason.MALFORMED, f"cannot compute the report digest: {exc}")


def verify_signature(sig: bytes, signer_key: bytes, digest: bytes) -> SignatureResult:
    """Verify one signature over `digest`: the signer's 20 address bytes, or the index in
    `SIGNATURE_FAILURES` of why not. A pure function of its arguments (the ed25519 key cache
    only saves work), so it gives the same answer in any process."""
    if len(sig) == 65 and not signer_key:
        v = sig[64]
        if v != 27 and v != 28:
            return _FAIL_V
        if int.from_bytes(sig[32:64], "big") > SECP256K1_HALF_ORDER:
            return _FAIL_HIGH_S
        try:
            pub = _from_signature_and_message(sig[:64] + bytes((v - 27,)), digest, hasher=None)
        except Exception:  # coincurve raises plain Exception for unrecoverable signatures
            return _FAIL_NO_RECOVER
        return keccak_256(pub.format(compressed=False)[1:]).digest()[12:]
    if len(sig) == 64 and len(signer_key) == 32:
        cached = _ed25519_keys.get(signer_key)
        if cached is None:
            try:
                cached = (nacl.signing.VerifyKey(signer_key), ed25519_address_bytes(signer_key))
            except (ValueError, TypeError, nacl.exceptions.CryptoError):
                return _FAIL_ED_KEY
            if len(_ed25519_keys) >= _ED25519_CACHE_MAX:
                _ed25519_keys.clear()
            _ed25519_keys[signer_key] = cached
        try:
            cached[0].verify(digest, sig)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
            return _FAIL_ED_INVALID
        return cached[1]
    return _FAIL_SHAPE


def verify_signature_jobs(jobs: Sequence[SignatureJob]) -> list[SignatureResult]:
    """`verify_signature` of each job, in order (the default `SignatureRunner`)."""
    return [verify_signature(sig, key, digest) for sig, key, digest in jobs]


def recover_signers(reports: Sequence[Report]) -> list[DeviceId | None]:
    """The device id each report's signature proves (checksummed), None where it is invalid.

    For ed25519 reports this is the id derived from `signer_key` when the signature verifies.
    """
    out: list[DeviceId | None] = []
    for report in reports:
        digest = _digest(report)
        if isinstance(digest, Rejection):
            out.append(None)
            continue
        signer = verify_signature(report.signature, report.signer_key, digest)
        out.append(None if isinstance(signer, int) else to_checksum_address(signer))
    return out


def check_signatures(
    reports: Sequence[Report], run: SignatureRunner | None = None
) -> list[Rejection | None]:
    """Per report: None, or BAD_SIGNATURE (invalid bytes / does not verify) or SIGNER_MISMATCH.

    A report whose fields cannot be EIP-712 encoded at all (out-of-range integer, device not
    an address) gets MALFORMED; reports from `codec.from_json` never do.

    The digests are computed here; the signatures are verified by `run` (default: here, one
    after the other). The verdicts depend only on the reports, never on `run`.
    """
    out: list[Rejection | None] = [None] * len(reports)
    jobs: list[SignatureJob] = []
    where: list[int] = []
    for i, report in enumerate(reports):
        digest = _digest(report)
        if isinstance(digest, Rejection):
            out[i] = digest
        else:
            jobs.append((report.signature, report.signer_key, digest))
            where.append(i)
    results = verify_signature_jobs(jobs) if run is None else run(jobs)
    failures = SIGNATURE_FAILURES
    for i, signer in zip(where, results, strict=True):
        if isinstance(signer, int):
            out[i] = failures[signer]
            continue
        device = reports[i].device
        if len(device) != 42 or signer.hex() != device[2:].lower():
            out[i] = Rejection(
                RejectReason.SIGNER_MISMATCH,
                f"signed by {to_checksum_address(signer)}, not by device {device}",
            )
    return out


def check_time(
    report: Report,
    now_ms: int,
    max_age_s: int,
    max_future_s: int,
    epoch_seconds: int,
    genesis_unix: int,
    overhang_ms: int = 0,
) -> Rejection | None:
    """STALE / FUTURE against the ingest clock, then WRONG_EPOCH against the report's epoch.

    The report's timestamp must satisfy `now - max_age <= t <= now + max_future` and lie in
    `[genesis + epoch·epoch_seconds, genesis + (epoch+1)·epoch_seconds + overhang)` (seconds,
    as ms), where `overhang_ms` is the report kind's `Kind.epoch_overhang_ms` (a coverage
    witness of a beacon sent in the epoch's last second is heard just after its end).
    """
    return check_time_of(
        report.timestamp_ms,
        report.epoch,
        now_ms,
        max_age_s,
        max_future_s,
        epoch_seconds,
        genesis_unix,
        overhang_ms,
    )


def check_time_of(
    ts: int,
    epoch: int,
    now_ms: int,
    max_age_s: int,
    max_future_s: int,
    epoch_seconds: int,
    genesis_unix: int,
    overhang_ms: int = 0,
) -> Rejection | None:
    """`check_time` of a report with timestamp `ts` (Unix ms) and epoch `epoch`."""
    age_ms = now_ms - ts
    if age_ms > max_age_s * MS_PER_SECOND:
        return Rejection(
            RejectReason.STALE,
            f"timestamp {ts} is {age_ms} ms old; the limit is {max_age_s * MS_PER_SECOND} ms",
        )
    if -age_ms > max_future_s * MS_PER_SECOND:
        return Rejection(
            RejectReason.FUTURE,
            f"timestamp {ts} is {-age_ms} ms ahead of the ingest clock; "
            f"the limit is {max_future_s * MS_PER_SECOND} ms",
        )
    start_ms, end_ms = EpochClock(genesis_unix, epoch_seconds).window_ms(epoch, overhang_ms)
    if not start_ms <= ts < end_ms:
        return Rejection(
            RejectReason.WRONG_EPOCH,
            f"timestamp {ts} is outside epoch {epoch} = [{start_ms}, {end_ms}) ms",
        )
    return None


class SequenceTracker:
    """Last accepted sequence number per device; a report must carry a strictly larger one.

    Seed it from the report store with `load`, then call `check_and_advance` for each report
    in arrival order: a second copy of a report in the same batch is REPLAYED too. Not
    thread-safe; one tracker per ingest worker, fed from the shared store.
    """

    def __init__(self, initial: Mapping[DeviceId, int] | None = None) -> None:
        self._last: dict[str, int] = {}
        if initial:
            self.load(initial)

    def __len__(self) -> int:
        return len(self._last)

    def last(self, device: DeviceId) -> int | None:
        """The device's last accepted sequence number, or None if none was accepted."""
        return self._last.get(device.lower())

    def load(self, mapping: Mapping[DeviceId, int]) -> None:
        """Merge known last sequence numbers (keeping the larger where both exist)."""
        for device, seq in mapping.items():
            key = device.lower()
            prev = self._last.get(key)
            if prev is None or seq > prev:
                self._last[key] = seq

    def check(self, report: Report) -> Rejection | None:
        """REPLAYED if `report.seq` is not above the device's last accepted one (no change)."""
        return self.check_seq(report.device, report.seq)

    def check_seq(self, device: str, seq: int) -> Rejection | None:
        """`check` of a report of `device` with sequence number `seq`."""
        last = self._last.get(device.lower())
        if last is not None and seq <= last:
            return Rejection(
                RejectReason.REPLAYED,
                f"seq {seq} of {device} is not above its last accepted seq {last}",
            )
        return None

    def advance(self, report: Report) -> None:
        """Record `report.seq` as the device's last accepted sequence number."""
        self.advance_seq(report.device, report.seq)

    def advance_seq(self, device: str, seq: int) -> None:
        """`advance` for a report of `device` with sequence number `seq`."""
        self._last[device.lower()] = seq

    def check_and_advance(self, report: Report) -> Rejection | None:
        """`check`, and on success `advance`."""
        rejection = self.check(report)
        if rejection is None:
            self.advance(report)
        return rejection

    def snapshot(self) -> dict[str, int]:
        """A copy of the table (lower-case device -> last seq), e.g. to persist it."""
        return dict(self._last)


PayloadValidator = Callable[[dict[str, Any]], None]
"""Raises ValueError (or TypeError/KeyError) with a message if a payload is malformed."""


class PayloadRegistry:
    """Proof kinds this network accepts, each with the validator of its payload schema.

    A validator must be a pure function of the payload (a schema check): ingest may run it
    in a signature worker process on a pickled copy of the registry (`ingest.workers`), and
    checks here only what it cannot pickle."""

    def __init__(self) -> None:
        self._validators: dict[str, PayloadValidator] = {}

    def register(self, kind: str, validator: PayloadValidator) -> None:
        """Accept reports of `kind`, validated by `validator` (ValueError if already registered)."""
        if kind in self._validators:
            raise ValueError(f"proof kind {kind!r} is already registered")
        self._validators[kind] = validator

    def kinds(self) -> list[str]:
        """Registered kinds, sorted."""
        return sorted(self._validators)

    def check(self, report: Report) -> Rejection | None:
        """UNKNOWN_KIND if no validator is registered; MALFORMED_PAYLOAD if it refuses the payload."""
        validator = self._validators.get(report.kind)
        if validator is None:
            return Rejection(
                RejectReason.UNKNOWN_KIND,
                f"unknown proof kind {report.kind!r}; this network accepts {self.kinds()}",
            )
        try:
            validator(report.payload_obj())
        except (ValueError, TypeError, KeyError) as exc:
            return Rejection(RejectReason.MALFORMED_PAYLOAD, f"{report.kind} payload: {exc}")
        except Exception as exc:  # a kind plugin's bug on hostile input must not stop ingest
            return Rejection(
                RejectReason.MALFORMED_PAYLOAD,
                f"{report.kind} payload: the kind's validator failed ({type(exc).__name__})",
            )
        return None
