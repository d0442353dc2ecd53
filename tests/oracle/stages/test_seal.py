"""The seal stage's own helpers (the stage itself runs in tests/oracle/test_runner.py)."""

from __future__ import annotations

from opendepin.oracle.agreement.service import AgreedBatch
from opendepin.oracle.stages.seal import _distinct_batches


def test_each_distinct_batch_is_read_once_in_decision_order() -> None:
    sealed = [
        AgreedBatch(origin="0xA", batch="0x22", reports=3, size=30),
        AgreedBatch(origin="0xB", batch="0x11", reports=2, size=20),
        AgreedBatch(origin="0xC", batch="0x22", reports=3, size=30),  # the same bytes as 0xA's
    ]
    assert _distinct_batches(sealed) == [("0x22", "0xA"), ("0x11", "0xB")]
    assert _distinct_batches([]) == []
