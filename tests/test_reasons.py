"""One vocabulary of reasons: no collisions, and docs/reasons.md lists every code."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from opendepin.reasons import SharedReason, all_reason_enums, check_vocabulary, every_code

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reasons.md"


def test_no_code_is_used_by_two_enums_unless_it_is_shared() -> None:
    assert check_vocabulary(all_reason_enums()) == []


def test_check_vocabulary_catches_a_collision() -> None:
    class Mine(StrEnum):
        DUP = "stale"  # RejectReason's code with another meaning

    problems = check_vocabulary([*all_reason_enums(), Mine])
    assert len(problems) == 1 and "'stale'" in problems[0]


def test_kinds_reuse_shared_codes_for_shared_concepts() -> None:
    shared = {r.value for r in SharedReason}
    codes = every_code(all_reason_enums())
    for synonym in ("gateway_not_found", "duplicate_report", "wrong_kind", "outside_epoch", "not_asserted"):
        assert synonym not in codes, synonym
    assert {"unknown_device", "duplicate", "wrong_device_kind"} <= shared


def test_docs_list_every_code_of_opendepin_exactly_once() -> None:
    """Every code of the stages and of the kinds opendepin ships (plugins document their own)."""
    ours = [e for e in all_reason_enums() if e.__module__.startswith("opendepin.")]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    assert len(documented) == len(set(documented)), "a code is documented twice"
    assert set(documented) == set(every_code(ours))
