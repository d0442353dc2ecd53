"""Proof kinds: one package per resource, each published as a plugin.

A kind is an object satisfying `Kind` (see `proofs.kind` for what it declares), published
under the entry-point group `opendepin.proof_kinds` (`proofs.registry`). opendepin ships
`heartbeat` and `coverage`; any installed distribution can add more without touching
opendepin.
"""

from opendepin.proofs.kind import (
    DeviceBehaviour,
    Explanation,
    Kind,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    SimDevice,
    SimHour,
    SimModel,
    SimSpec,
)
from opendepin.proofs.registry import ENTRY_POINT_GROUP, get_kind, installed_kinds, kinds_for
from opendepin.records import (
    ChainSnapshot,
    DeviceRecord,
    EntropyBlock,
    IngestedReport,
    Shares,
    Verdict,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ChainSnapshot",
    "DeviceBehaviour",
    "DeviceRecord",
    "EntropyBlock",
    "Explanation",
    "IngestedReport",
    "Kind",
    "KindBase",
    "KindJob",
    "KindResult",
    "Rule",
    "Shares",
    "SimDevice",
    "SimHour",
    "SimModel",
    "SimSpec",
    "Verdict",
    "get_kind",
    "installed_kinds",
    "kinds_for",
]
