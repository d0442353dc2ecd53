"""EIP-712 digest and signing, cross-checked against eth-account's own typed-data code."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.identity import DeviceKey, KeyType
from opendepin.reports.eip712 import (
    REPORT_TYPE,
    REPORT_TYPEHASH,
    report_digest,
    schema,
    sign_report,
    typed_data,
)
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import check_signatures
from opendepin.types import DeviceId, Epoch, ProofKind

from .conftest import signed


def _eth_account_signed(report: Report, key: DeviceKey) -> Report:
    """Sign with eth-account's typed-data implementation, independent of our digest code."""
    msg = Account.sign_typed_data(key.private_bytes(), full_message=typed_data(report))
    return dataclasses.replace(report, signature=bytes(msg.signature))


def _unsigned(key: DeviceKey) -> Report:
    return dataclasses.replace(signed(key), signature=b"")


def test_eth_account_signature_is_accepted() -> None:
    key = DeviceKey.generate()
    report = _eth_account_signed(_unsigned(key), key)
    assert check_signatures([report]) == [None]


def test_digest_equals_eth_account_message_hash() -> None:
    key = DeviceKey.generate()
    report = _unsigned(key)
    msg = Account.sign_typed_data(key.private_bytes(), full_message=typed_data(report))
    assert bytes(msg.message_hash) == report_digest(report)


CHANGES: dict[str, Any] = {
    "version": 2,
    "network_id": "another-network",
    "chain_id": 1,
    "kind": "coverage",
    "epoch": Epoch(4),
    "seq": 2,
    "timestamp_ms": 1,
    "payload": canonical_payload({"lat_e7": 1}),
}


@pytest.mark.parametrize("field", [*CHANGES, "device"])
def test_changed_field_makes_eth_account_signature_fail(field: str) -> None:
    key = DeviceKey.generate()
    report = _eth_account_signed(_unsigned(key), key)
    value = DeviceKey.generate().device_id if field == "device" else CHANGES[field]
    tampered = dataclasses.replace(report, **{field: value})
    [result] = check_signatures([tampered])
    assert result is not None
    assert result.reason in (RejectReason.SIGNER_MISMATCH, RejectReason.BAD_SIGNATURE)


@pytest.mark.parametrize("field", [*CHANGES, "device"])
def test_changed_field_makes_ed25519_signature_fail(field: str) -> None:
    key = DeviceKey.generate(KeyType.ED25519)
    report = signed(key)
    assert check_signatures([report]) == [None]
    value = DeviceKey.generate().device_id if field == "device" else CHANGES[field]
    [result] = check_signatures([dataclasses.replace(report, **{field: value})])
    assert result is not None
    assert result.reason is RejectReason.BAD_SIGNATURE  # the device is signed too


@settings(max_examples=25, deadline=None)
@given(
    network=st.text(min_size=1, max_size=20),
    chain_id=st.integers(0, 2**256 - 1),
    kind=st.text(min_size=1, max_size=12),
    epoch=st.integers(0, 2**64 - 1),
    seq=st.integers(0, 2**64 - 1),
    ts=st.integers(0, 2**64 - 1),
    payload=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
)
def test_digest_matches_eth_account_for_any_fields(
    network: str, chain_id: int, kind: str, epoch: int, seq: int, ts: int, payload: dict[str, Any]
) -> None:
    key = _KEY
    report = Report(
        network_id=network,
        chain_id=chain_id,
        device=DeviceId(key.device_id),
        kind=ProofKind(kind),
        epoch=Epoch(epoch),
        seq=seq,
        timestamp_ms=ts,
        payload=canonical_payload(payload),
    )
    msg = Account.sign_typed_data(key.private_bytes(), full_message=typed_data(report))
    assert bytes(msg.message_hash) == report_digest(report)


_KEY = DeviceKey.generate()


@pytest.mark.parametrize("key_type", list(KeyType))
def test_sign_report_produces_verifiable_signature(key_type: KeyType) -> None:
    key = DeviceKey.generate(key_type)
    report = sign_report(_unsigned(key), key)
    assert check_signatures([report]) == [None]
    assert report.signer_key == (key.public_key if key_type is KeyType.ED25519 else b"")


def test_sign_report_refuses_another_devices_report() -> None:
    report = _unsigned(DeviceKey.generate())
    with pytest.raises(ValueError, match="device"):
        sign_report(report, DeviceKey.generate())


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 2**16), ("epoch", -1), ("seq", 2**64), ("timestamp_ms", -5), ("chain_id", 2**256)],
)
def test_report_digest_rejects_out_of_range_fields(field: str, value: int) -> None:
    report = dataclasses.replace(_unsigned(DeviceKey.generate()), **{field: value})
    with pytest.raises(ValueError):
        report_digest(report)


def test_typed_data_carries_payload_as_hex() -> None:
    report = _unsigned(DeviceKey.generate())
    data = typed_data(report)
    assert data["primaryType"] == "Report"
    assert data["message"]["payload"] == "0x" + report.payload.hex()
    assert data["domain"] == {"name": "opendepin", "version": "1", "chainId": report.chain_id}
    json.dumps(data)  # the structure is plain JSON


def test_schema_publishes_types_domain_and_field_docs() -> None:
    doc = schema()
    assert doc["encodeType"] == REPORT_TYPE
    assert doc["typeHash"] == "0x" + REPORT_TYPEHASH.hex()
    names = [f["name"] for f in doc["types"]["Report"]]
    assert names == [
        "version",
        "network",
        "chainId",
        "device",
        "kind",
        "epoch",
        "seq",
        "timestampMs",
        "payload",
    ]
    assert set(doc["fields"]) == set(names)
    json.dumps(doc)


def _outcome(f: Any, report: Report) -> Any:
    try:
        return f(report)
    except Exception as exc:
        return (type(exc), str(exc))


_anything = st.one_of(st.integers(-2, 2**70), st.booleans(), st.floats(allow_nan=False), st.text(max_size=4), st.none())


@settings(max_examples=300, deadline=None)
@given(
    version=st.one_of(st.sampled_from([1, 1, 2]), _anything),
    network=st.one_of(st.sampled_from(["net-a", "net-b"]), _anything),
    chain_id=st.one_of(st.sampled_from([1, 31337, 2**256 - 1]), _anything),
    device=st.one_of(st.just(_KEY.device_id), st.sampled_from(["0x" + "zz" * 20, "0x12", "1x" + "00" * 20]), _anything),
    kind=st.one_of(st.sampled_from(["heartbeat", "coverage"]), _anything),
    epoch=st.one_of(st.integers(0, 2**64 - 1), _anything),
    seq=st.one_of(st.integers(0, 2**64 - 1), _anything),
    ts=st.one_of(st.integers(0, 2**64 - 1), _anything),
    payload=st.one_of(st.just(b'{"a":1}'), st.binary(max_size=8), _anything),
)
def test_struct_hash_with_a_cached_prefix_is_the_reference(
    version: Any, network: Any, chain_id: Any, device: Any, kind: Any, epoch: Any, seq: Any, ts: Any, payload: Any
) -> None:
    """The same digest, or the same exception with the same message, for any field values,
    whether the (version, network, chain id) prefix is cached or not."""
    from opendepin.reports.eip712 import _struct_hash_reference, struct_hash

    report = Report(
        network_id=network, chain_id=chain_id, device=device, kind=kind, epoch=epoch, seq=seq,
        timestamp_ms=ts, payload=payload, version=version,
    )
    expected = _outcome(_struct_hash_reference, report)
    # A valid report with the same prefix caches it (if it can be cached at all).
    _outcome(_struct_hash_reference, dataclasses.replace(_unsigned(_KEY), network_id=network, chain_id=chain_id, version=version))
    assert _outcome(struct_hash, report) == expected
    assert _outcome(struct_hash, report) == expected
