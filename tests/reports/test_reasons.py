"""RejectReason values are a stable public interface."""

from __future__ import annotations

from opendepin.errors import InvalidReport
from opendepin.reports.reasons import Rejection, RejectReason

STABLE_VALUES = {
    "MALFORMED": "malformed",
    "WRONG_NETWORK": "wrong_network",
    "WRONG_CHAIN": "wrong_chain",
    "UNKNOWN_DEVICE": "unknown_device",
    "INACTIVE_DEVICE": "inactive_device",
    "BAD_SIGNATURE": "bad_signature",
    "SIGNER_MISMATCH": "signer_mismatch",
    "STALE": "stale",
    "FUTURE": "future",
    "REPLAYED": "replayed",
    "UNKNOWN_KIND": "unknown_kind",
    "MALFORMED_PAYLOAD": "malformed_payload",
    "WRONG_EPOCH": "wrong_epoch",
}


def test_reject_reason_values_are_exactly_the_stable_set() -> None:
    assert {r.name: r.value for r in RejectReason} == STABLE_VALUES


def test_every_reason_has_a_description() -> None:
    for reason in RejectReason:
        assert reason.description.endswith(".")


def test_rejection_to_error_carries_the_reason() -> None:
    error = Rejection(RejectReason.STALE, "too old").to_error()
    assert isinstance(error, InvalidReport)
    assert error.code == RejectReason.STALE and error.message == "too old"
    assert str(error) == "stale: too old"
