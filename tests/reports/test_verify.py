"""Every check of `reports.verify`: each reason's failing case and the passing case."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from opendepin.identity import DeviceKey, KeyType
from opendepin.reports.eip712 import report_digest
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import Rejection, RejectReason
from opendepin.reports.verify import (
    SECP256K1_ORDER,
    SIGNATURE_FAILURES,
    PayloadRegistry,
    SequenceTracker,
    SignatureJob,
    SignatureResult,
    check_device,
    check_network,
    check_signatures,
    check_time,
    recover_signers,
    verify_signature,
    verify_signature_jobs,
)
from opendepin.types import DeviceId

from .conftest import CHAIN_ID, EPOCH_SECONDS, EPOCH_START_MS, GENESIS_UNIX, NETWORK, NOW_MS, signed

MAX_AGE_S = 7_200
MAX_FUTURE_S = 300


def _reason(result: Rejection | None) -> RejectReason | None:
    return None if result is None else result.reason


# --- network / chain ------------------------------------------------------------------------


def test_check_network_accepts_matching_network() -> None:
    assert check_network(signed(DeviceKey.generate()), NETWORK, CHAIN_ID) is None


def test_check_network_rejects_wrong_network() -> None:
    result = check_network(signed(DeviceKey.generate()), "other", CHAIN_ID)
    assert _reason(result) is RejectReason.WRONG_NETWORK


def test_check_network_rejects_wrong_chain() -> None:
    result = check_network(signed(DeviceKey.generate()), NETWORK, CHAIN_ID + 1)
    assert _reason(result) is RejectReason.WRONG_CHAIN


# --- registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    active: bool


def test_check_device_accepts_active_device() -> None:
    assert check_device(signed(DeviceKey.generate()), _Record(active=True)) is None


def test_check_device_rejects_unknown_device() -> None:
    assert _reason(check_device(signed(DeviceKey.generate()), None)) is RejectReason.UNKNOWN_DEVICE


def test_check_device_rejects_inactive_device() -> None:
    result = check_device(signed(DeviceKey.generate()), _Record(active=False))
    assert _reason(result) is RejectReason.INACTIVE_DEVICE


# --- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", list(KeyType))
def test_check_signatures_accepts_valid_batch(key_type: KeyType) -> None:
    reports = [signed(DeviceKey.generate(key_type), seq=i) for i in range(5)]
    assert check_signatures(reports) == [None] * 5


def test_check_signatures_mixed_batch_keeps_order() -> None:
    good = signed(DeviceKey.generate())
    forged = dataclasses.replace(signed(DeviceKey.generate()), device=good.device)
    ed = signed(DeviceKey.generate(KeyType.ED25519))
    results = check_signatures([good, forged, ed])
    assert [_reason(r) for r in results] == [None, RejectReason.SIGNER_MISMATCH, None]


def test_check_signatures_rejects_secp256k1_signer_mismatch() -> None:
    other = signed(DeviceKey.generate())
    report = dataclasses.replace(signed(DeviceKey.generate()), signature=other.signature)
    # A valid signature by someone else over different bytes recovers to a random address.
    assert _reason(check_signatures([report])[0]) is RejectReason.SIGNER_MISMATCH


def test_check_signatures_rejects_ed25519_key_of_another_device() -> None:
    victim = DeviceKey.generate(KeyType.ED25519)
    attacker = DeviceKey.generate(KeyType.ED25519)
    forged = dataclasses.replace(signed(attacker), device=victim.device_id, signature=b"")
    forged = dataclasses.replace(
        forged,
        signature=attacker.sign_digest(report_digest(forged)),
        signer_key=attacker.public_key,
    )
    [result] = check_signatures([forged])
    assert _reason(result) is RejectReason.SIGNER_MISMATCH


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: dataclasses.replace(r, signature=b""), id="empty"),
        pytest.param(lambda r: dataclasses.replace(r, signature=r.signature[:64]), id="64-no-key"),
        pytest.param(lambda r: dataclasses.replace(r, signature=r.signature + b"\0"), id="66"),
        pytest.param(
            lambda r: dataclasses.replace(r, signature=r.signature[:64] + b"\x1d"), id="v29"
        ),
        pytest.param(
            lambda r: dataclasses.replace(r, signature=r.signature[:64] + b"\x00"), id="v0"
        ),
        pytest.param(lambda r: dataclasses.replace(r, signature=bytes(64) + b"\x1b"), id="zero-rs"),
        pytest.param(
            lambda r: dataclasses.replace(r, signer_key=b"\x01" * 32), id="secp-with-signer-key"
        ),
    ],
)
def test_check_signatures_rejects_bad_secp256k1_bytes(mutate: object) -> None:
    report = mutate(signed(DeviceKey.generate()))  # type: ignore[operator]
    assert _reason(check_signatures([report])[0]) is RejectReason.BAD_SIGNATURE


def test_check_signatures_rejects_high_s_malleated_signature() -> None:
    report = signed(DeviceKey.generate())
    sig = report.signature
    s = int.from_bytes(sig[32:64], "big")
    v = 27 + (1 - (sig[64] - 27))  # negating s flips the recovery id
    malleated = sig[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes((v,))
    result = check_signatures([dataclasses.replace(report, signature=malleated)])[0]
    assert _reason(result) is RejectReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: dataclasses.replace(r, signature=bytes(64)), id="zero-sig"),
        pytest.param(
            lambda r: dataclasses.replace(r, signer_key=r.signer_key[:31]), id="short-key"
        ),
        pytest.param(
            lambda r: dataclasses.replace(
                r, signature=r.signature[:63] + bytes((r.signature[63] ^ 1,))
            ),
            id="flipped-bit",
        ),
    ],
)
def test_check_signatures_rejects_bad_ed25519_bytes(mutate: object) -> None:
    report = mutate(signed(DeviceKey.generate(KeyType.ED25519)))  # type: ignore[operator]
    assert _reason(check_signatures([report])[0]) is RejectReason.BAD_SIGNATURE


def test_check_signatures_rejects_unencodable_report_as_malformed() -> None:
    report = dataclasses.replace(signed(DeviceKey.generate()), seq=-1)
    assert _reason(check_signatures([report])[0]) is RejectReason.MALFORMED


def test_check_signatures_verdicts_do_not_depend_on_the_runner() -> None:
    secp, ed, other = DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519), DeviceKey.generate()
    good = [signed(secp, seq=i) for i in range(1, 4)] + [signed(ed, seq=i) for i in range(1, 4)]
    forged = dataclasses.replace(good[0], signature=other.sign_digest(report_digest(good[0])))
    reports = [*good, forged, dataclasses.replace(good[1], signature=b"\x01" * 65),
               dataclasses.replace(good[4], signature=bytes(64)), dataclasses.replace(good[2], seq=-1)]
    expected = check_signatures(reports)
    seen: list[int] = []

    def backwards(jobs: list[SignatureJob]) -> list[SignatureResult]:
        seen.append(len(jobs))
        return verify_signature_jobs(jobs[::-1])[::-1]

    assert check_signatures(reports, backwards) == expected
    assert seen == [len(reports) - 1]  # the unencodable report never became a job
    assert [_reason(r) for r in expected[-4:]] == [
        RejectReason.SIGNER_MISMATCH, RejectReason.BAD_SIGNATURE,
        RejectReason.BAD_SIGNATURE, RejectReason.MALFORMED,
    ]
    with pytest.raises(ValueError):
        check_signatures(reports, lambda jobs: verify_signature_jobs(jobs)[:-1])


def test_verify_signature_failures_are_indices_of_their_rejections() -> None:
    report = signed(DeviceKey.generate())
    digest = report_digest(report)
    assert verify_signature(report.signature, b"", digest) == bytes.fromhex(report.device[2:])
    result = verify_signature(report.signature[:64] + b"\x1d", b"", digest)
    assert isinstance(result, int)
    assert SIGNATURE_FAILURES[result] == check_signatures(
        [dataclasses.replace(report, signature=report.signature[:64] + b"\x1d")]
    )[0]


def test_recover_signers_returns_ids_and_none_for_bad_signatures() -> None:
    secp, ed = DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519)
    bad = dataclasses.replace(signed(secp), signature=b"\x01" * 65)
    assert recover_signers([signed(secp), signed(ed), bad]) == [secp.device_id, ed.device_id, None]


# --- time -----------------------------------------------------------------------------------


def _time(report: Report, now_ms: int = NOW_MS) -> RejectReason | None:
    return _reason(check_time(report, now_ms, MAX_AGE_S, MAX_FUTURE_S, EPOCH_SECONDS, GENESIS_UNIX))


def test_check_time_accepts_fresh_report_in_its_epoch() -> None:
    assert _time(signed(DeviceKey.generate())) is None


def test_check_time_accepts_exactly_max_age_and_max_future() -> None:
    key = DeviceKey.generate()
    assert _time(signed(key, timestamp_ms=NOW_MS - MAX_AGE_S * 1000)) is None
    assert _time(signed(key, timestamp_ms=NOW_MS + MAX_FUTURE_S * 1000)) is None


def test_check_time_rejects_stale_report() -> None:
    report = signed(DeviceKey.generate(), timestamp_ms=NOW_MS - MAX_AGE_S * 1000 - 1)
    assert _time(report) is RejectReason.STALE


def test_check_time_rejects_future_report() -> None:
    report = signed(DeviceKey.generate(), timestamp_ms=NOW_MS + MAX_FUTURE_S * 1000 + 1)
    assert _time(report) is RejectReason.FUTURE


@pytest.mark.parametrize(
    ("epoch", "ts"),
    [
        (2, EPOCH_START_MS),  # first ms of epoch 3 claimed as epoch 2
        (3, EPOCH_START_MS - 1),  # last ms of epoch 2 claimed as epoch 3
        (4, EPOCH_START_MS + 10),
    ],
)
def test_check_time_rejects_timestamp_outside_its_epoch(epoch: int, ts: int) -> None:
    report = signed(DeviceKey.generate(), epoch=epoch, timestamp_ms=ts)
    assert _time(report, now_ms=ts) is RejectReason.WRONG_EPOCH


def test_check_time_accepts_first_ms_of_epoch() -> None:
    report = signed(DeviceKey.generate(), timestamp_ms=EPOCH_START_MS)
    assert _time(report, now_ms=EPOCH_START_MS) is None


# --- replay ---------------------------------------------------------------------------------


def test_sequence_tracker_accepts_increasing_and_rejects_repeats() -> None:
    key = DeviceKey.generate()
    tracker = SequenceTracker()
    assert tracker.last(key.device_id) is None
    assert tracker.check_and_advance(signed(key, seq=5)) is None
    assert _reason(tracker.check_and_advance(signed(key, seq=5))) is RejectReason.REPLAYED
    assert _reason(tracker.check_and_advance(signed(key, seq=4))) is RejectReason.REPLAYED
    assert tracker.check_and_advance(signed(key, seq=6)) is None
    assert tracker.last(key.device_id) == 6


def test_sequence_tracker_check_does_not_advance() -> None:
    key = DeviceKey.generate()
    tracker = SequenceTracker()
    report = signed(key, seq=1)
    assert tracker.check(report) is None
    assert tracker.check(report) is None
    assert tracker.last(key.device_id) is None


def test_sequence_tracker_load_keeps_larger_and_ignores_case() -> None:
    key = DeviceKey.generate()
    tracker = SequenceTracker({key.device_id: 10})
    tracker.load({DeviceId(key.device_id.lower()): 7})
    assert tracker.last(key.device_id) == 10
    assert _reason(tracker.check_and_advance(signed(key, seq=10))) is RejectReason.REPLAYED
    assert tracker.check_and_advance(signed(key, seq=11)) is None


def test_sequence_tracker_devices_are_independent() -> None:
    a, b = DeviceKey.generate(), DeviceKey.generate()
    tracker = SequenceTracker()
    assert tracker.check_and_advance(signed(a, seq=3)) is None
    assert tracker.check_and_advance(signed(b, seq=1)) is None
    assert len(tracker) == 2


# --- payload --------------------------------------------------------------------------------


def _heartbeat_validator(payload: dict[str, object]) -> None:
    if type(payload.get("lat_e7")) is not int:
        raise ValueError("lat_e7 must be an integer")


def _registry() -> PayloadRegistry:
    registry = PayloadRegistry()
    registry.register("heartbeat", _heartbeat_validator)
    return registry


def test_payload_registry_accepts_valid_payload() -> None:
    assert _registry().check(signed(DeviceKey.generate())) is None


def test_payload_registry_rejects_unknown_kind() -> None:
    report = signed(DeviceKey.generate(), kind="storage")
    assert _reason(_registry().check(report)) is RejectReason.UNKNOWN_KIND


def test_payload_registry_rejects_malformed_payload() -> None:
    report = signed(DeviceKey.generate(), payload={"lat_e7": "north"})
    result = _registry().check(report)
    assert _reason(result) is RejectReason.MALFORMED_PAYLOAD
    assert result is not None and "lat_e7" in result.message


def test_payload_registry_refuses_duplicate_kind() -> None:
    with pytest.raises(ValueError, match="already registered"):
        _registry().register("heartbeat", _heartbeat_validator)
