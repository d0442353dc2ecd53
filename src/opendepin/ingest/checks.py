"""The order in which an untrusted report is checked: one list, for ingest and reconciliation.

```
INGEST_ORDER     decode → network → registry → signature → freshness → epoch open → replay → payload
RECONCILE_ORDER           network → registry → signature → in epoch             →          payload
```

Ingest (`ingest.pipeline`) runs `INGEST_ORDER`; the first failing check names the reason. A
report a peer oracle accepted is imported before sealing (`oracle.sync`) after the same
checks in the same order, derived from `INGEST_ORDER`, minus three: decoding (the peer's wire
line is decoded first), the clock checks (freshness, epoch open: they read the receiving
oracle's clock, which differs between oracles — reconciliation checks instead that the report
belongs to the epoch being reconciled, in their place) and replay (another version of a held
(device, seq) is equivocation evidence there, not a replay).

`run_checks` applies any such sequence to a batch: per-report checks one by one on the
survivors of the previous check, the signature check as one batch call (the CPU-heavy part,
which `CheckContext.signatures` may spread over worker processes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from opendepin.records import DeviceRecord
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import (
    PayloadRegistry,
    SignatureRunner,
    check_network,
    check_signatures,
    check_time,
)

Problem = tuple[StrEnum, str]
"""A failed check: its stable reason and a human message."""


class Check(StrEnum):
    """One check of an untrusted report."""

    DECODE = "decode"
    NETWORK = "network"
    REGISTRY = "registry"
    SIGNATURE = "signature"
    FRESHNESS = "freshness"
    EPOCH_OPEN = "epoch_open"
    REPLAY = "replay"
    PAYLOAD = "payload"
    IN_EPOCH = "in_epoch"
    """Reconciliation only: the report belongs to the epoch being reconciled."""


INGEST_ORDER: Final = (
    Check.DECODE,
    Check.NETWORK,
    Check.REGISTRY,
    Check.SIGNATURE,
    Check.FRESHNESS,
    Check.EPOCH_OPEN,
    Check.REPLAY,
    Check.PAYLOAD,
)
"""Every check ingest runs, in order."""
CLOCK_CHECKS: Final = frozenset({Check.FRESHNESS, Check.EPOCH_OPEN})
"""Checks that read the receiving oracle's clock."""


def _reconcile_order() -> tuple[Check, ...]:
    out: list[Check] = []
    for check in INGEST_ORDER:
        if check in CLOCK_CHECKS:
            if Check.IN_EPOCH not in out:
                out.append(Check.IN_EPOCH)
        elif check not in (Check.DECODE, Check.REPLAY):
            out.append(check)
    return tuple(out)


RECONCILE_ORDER: Final = _reconcile_order()
"""The checks a peer's report passes before it is imported, in order."""


@dataclass(frozen=True)
class CheckContext:
    """What the checks read. Only the fields the chosen checks need must be set."""

    network_id: str
    chain_id: int
    registry: Callable[[str], DeviceRecord | None]
    """Device id -> its registry record (ingest's mirror, or the snapshot at the close block)."""
    registry_name: str = "the DeviceRegistry"
    payloads: PayloadRegistry | None = None
    now_ms: int | None = None
    """The receiving oracle's clock (clock checks only)."""
    max_age_s: int = 0
    max_future_s: int = 0
    epoch_seconds: int = 1
    genesis_unix: int = 0
    epoch_open: Callable[[Report], Problem | None] | None = None
    in_epoch: Callable[[Report], Problem | None] | None = None
    epoch_overhang_ms: Mapping[str, int] = field(default_factory=dict)
    """Kind -> how far past its epoch's end a report's timestamp may lie (`Kind.epoch_overhang_ms`)."""
    signatures: SignatureRunner | None = None
    """Where the signature check's library calls run (`check_signatures`' `run`; default: in
    the caller). Ingest passes its worker processes (`ingest.workers`); verdicts are the same."""


def registry_problem(device: str, record: DeviceRecord | None, where: str) -> Problem | None:
    """UNKNOWN_DEVICE if not registered, INACTIVE_DEVICE if deactivated (by device id alone)."""
    if record is None:
        return RejectReason.UNKNOWN_DEVICE, f"device {device} is not registered in {where}"
    if not record.active:
        return RejectReason.INACTIVE_DEVICE, f"device {device} is deactivated in {where}"
    return None


def check_registry(report: Report, record: DeviceRecord | None, where: str) -> Problem | None:
    """UNKNOWN_DEVICE if not registered, INACTIVE_DEVICE if deactivated."""
    return registry_problem(report.device, record, where)


def _one(check: Check, report: Report, ctx: CheckContext) -> Problem | None:
    if check is Check.NETWORK:
        rej = check_network(report, ctx.network_id, ctx.chain_id)
    elif check is Check.REGISTRY:
        return check_registry(report, ctx.registry(report.device), ctx.registry_name)
    elif check is Check.FRESHNESS:
        assert ctx.now_ms is not None, "freshness needs the ingest clock"
        rej = check_time(
            report,
            ctx.now_ms,
            ctx.max_age_s,
            ctx.max_future_s,
            ctx.epoch_seconds,
            ctx.genesis_unix,
            ctx.epoch_overhang_ms.get(report.kind, 0),
        )
    elif check is Check.EPOCH_OPEN:
        assert ctx.epoch_open is not None
        return ctx.epoch_open(report)
    elif check is Check.IN_EPOCH:
        assert ctx.in_epoch is not None
        return ctx.in_epoch(report)
    elif check is Check.PAYLOAD:
        assert ctx.payloads is not None
        rej = ctx.payloads.check(report)
    else:
        raise ValueError(f"{check} is not a per-report check")
    return None if rej is None else (rej.reason, rej.message)


def run_checks(
    reports: Sequence[Report], checks: Sequence[Check], ctx: CheckContext
) -> list[Problem | None]:
    """Apply `checks` in order: per report, None (all passed) or the first failure."""
    out: list[Problem | None] = [None] * len(reports)
    alive = list(range(len(reports)))
    for check in checks:
        if check is Check.SIGNATURE:
            results = check_signatures([reports[i] for i in alive], ctx.signatures)
            for i, rej in zip(alive, results, strict=True):
                if rej is not None:
                    out[i] = (rej.reason, rej.message)
        else:
            for i in alive:
                out[i] = _one(check, reports[i], ctx)
        alive = [i for i in alive if out[i] is None]
    return out


def registry_lookup(records: Mapping[str, DeviceRecord]) -> Callable[[str], DeviceRecord | None]:
    """A registry lookup over a mapping of device id -> record."""
    return records.get
