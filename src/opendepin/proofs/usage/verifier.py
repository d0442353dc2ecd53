"""Usage verification: ordered rules per payload type; what passes goes to the scorer.

| # | rule | applies to | reason |
|---|------|------------|--------|
| 1 | report_kind — the report is a usage report | all | `wrong_report_kind` |
| 2 | registered — the device is in the registry at the close block | all | `unknown_device` |
| 3 | active — and not deactivated | all | `inactive_device` |
| 4 | payload — a well-formed usage, spend or egress payload | all | `malformed_payload` |
| 5 | device_kind — usage/spend from a `usage` device (a gateway), egress from a `storage` node | all | `wrong_device_kind` |
| 6 | in_epoch — timestamp inside its epoch | all | `wrong_epoch` |
| 7 | unique_seq — no earlier report with the same (device, seq) | all | `duplicate` |
| 8 | gateway_listed — in `[usage] gateways` when that list is not empty | usage, spend | `unauthorised_gateway` |
| 9 | spender — an authorised Credits spender at the close block | usage, spend | `not_a_spender` |
| 10 | bounded — at most `max_reports_per_gateway` counted reports | usage, spend | `too_many_reports` |
| 11 | node — names an active storage node of the registry | usage | `usage_unknown_node` |
| 12 | once — one usage report per (gateway, node), one spend per (gateway, account) | usage, spend | `duplicate` |
| 13 | paid — one unused `CreditsSpent` event has this account, spender, amount and ref | spend | `unpaid_spend` |
| 14 | one_file — all the gateway's spends cite one usage_ref | spend | `mixed_usage_ref` |
| 15 | orders — GET orders for this network and node, signed by the named gateway, expiring after the epoch's start − `order_lookback_seconds` and by its end + `max_order_ttl_seconds` | egress | `usage_bad_order` |
| 16 | within_order — bytes served ≤ the order's `max_bytes` | egress | `overserved` |
| 17 | fresh_serial — no order serial counted before this epoch (this or an earlier report) | egress | `order_reused` |

The payload comes before the device kind because which kind may send a report depends on its
payload type (ingest does not check device kinds). Rule 14 is judged after all of a gateway's
spends: if its otherwise valid spends cite two or more refs, every one of them is invalid
(no single usage file backs them), so it is paid nothing. An egress report is judged as a
whole: one bad order makes the report invalid.

**Which epoch.** A gateway settles epoch E after it ended: its spends are mined, and its usage
and spend reports signed, in a later epoch (normally E + 1), and both carry that epoch; a node
files the orders it served in E once E has ended, so in E + 1 too. The kind therefore matches
the reports of one epoch with the `CreditsSpent` events of the same epoch's blocks, and
accepts orders that expired up to `order_lookback_seconds` before the epoch began. A serial
counts once per epoch; a node that files one order again in a later epoch still gains nothing
beyond what its gateway claims (and paid) for it then. `verify` is a pure function of its
arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opendepin.network.settings import Settings
from opendepin.proofs import rules
from opendepin.proofs.rules import Invalid
from opendepin.proofs.usage.chaininput import CreditsSpentInput
from opendepin.proofs.usage.payload import (
    EgressPayload,
    SpendPayload,
    UsageKindPayload,
    UsagePayload,
    parse_payload,
)
from opendepin.proofs.usage.reasons import UsageReason
from opendepin.proofs.usage.settings import UsageSection
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport, Verdict
from opendepin.reports.envelope import Report
from opendepin.storage.orders import Action
from opendepin.types import DeviceId, Epoch, ProofKind

USAGE_KIND = ProofKind("usage")
GATEWAY_DEVICE_KIND = "usage"
"""Registry kind of a gateway (its placer key is registered as a `usage` device)."""
NODE_DEVICE_KIND = "storage"
"""Registry kind of a storage node."""
R = UsageReason


@dataclass
class Ledger:
    """What verification accepted this epoch, for the scorer."""

    claims: dict[DeviceId, dict[DeviceId, UsagePayload]] = field(default_factory=dict)
    """gateway -> node -> its valid usage report."""
    spends: dict[DeviceId, list[tuple[SpendPayload, int]]] = field(default_factory=dict)
    """gateway -> its valid spends, each with the index of its report in the epoch."""
    egress: dict[tuple[DeviceId, DeviceId], int] = field(default_factory=dict)
    """(gateway, node) -> bytes served on valid egress reports."""
    gateways: set[DeviceId] = field(default_factory=set)
    """Every device that filed a usage or spend report (valid or not)."""
    nodes: set[DeviceId] = field(default_factory=set)
    """Every device that filed an egress report (valid or not)."""


def _device_kind(report: Report, record: DeviceRecord, payload: UsageKindPayload) -> Invalid | None:
    wanted = NODE_DEVICE_KIND if isinstance(payload, EgressPayload) else GATEWAY_DEVICE_KIND
    if record.kind != wanted:
        return Invalid(
            R.WRONG_DEVICE_KIND,
            f"{report.device} is registered as {record.kind[:32]!r}; a {type(payload).__name__[:-7].lower()} "
            f"report comes from a {wanted!r} device",
        )
    return None


class _Verifier:
    def __init__(
        self,
        epoch: Epoch,
        snapshot: ChainSnapshot,
        settings: Settings,
        section: UsageSection,
        chain: CreditsSpentInput,
    ) -> None:
        self.epoch = epoch
        self.snapshot = snapshot
        self.settings = settings
        self.section = section
        self.chain = chain
        self.ledger = Ledger()
        self.seen: set[tuple[DeviceId, int]] = set()
        self.counted: dict[DeviceId, int] = {}
        self.spent_keys: set[tuple[DeviceId, DeviceId]] = set()
        self.unused_events = list(range(len(chain.spends)))
        self.serials: set[bytes] = set()

    def report(self, index: int, report: Report) -> Invalid | None:
        if (bad := rules.report_kind(report, USAGE_KIND, R)) is not None:
            return bad
        record = rules.registered(report, self.snapshot, R)
        if isinstance(record, Invalid):
            return record
        if (bad := rules.active(record, R)) is not None:
            return bad
        try:
            payload = parse_payload(report.payload_obj())
        except (ValueError, RecursionError) as exc:
            return Invalid(R.MALFORMED_PAYLOAD, str(exc)[:200])
        if (bad := _device_kind(report, record, payload)) is not None:
            return bad
        if (bad := rules.in_epoch(report, self.settings.network, R)) is not None:
            return bad
        if (bad := rules.unique_seq(report, self.seen, R)) is not None:
            return bad
        if isinstance(payload, EgressPayload):
            self.ledger.nodes.add(report.device)
            return self.egress(report, payload)
        self.ledger.gateways.add(report.device)
        return self.gateway(index, report, payload)

    # -- gateway reports ---------------------------------------------------------------

    def gateway(
        self, index: int, report: Report, payload: UsagePayload | SpendPayload
    ) -> Invalid | None:
        g = report.device
        if self.section.gateways and g not in self.section.gateway_set:
            return Invalid(R.UNAUTHORISED_GATEWAY, f"{g} is not in [usage] gateways")
        if g not in self.chain.spenders:
            return Invalid(
                R.NOT_A_SPENDER,
                f"{g} is not an authorised Credits spender at block {self.chain.to_block}",
            )
        count = self.counted.get(g, 0)
        if count >= self.section.max_reports_per_gateway:
            return Invalid(
                R.TOO_MANY_REPORTS, f"more than {self.section.max_reports_per_gateway} reports"
            )
        self.counted[g] = count + 1
        if isinstance(payload, UsagePayload):
            return self.usage(g, payload)
        return self.spend(index, g, payload)

    def usage(self, g: DeviceId, payload: UsagePayload) -> Invalid | None:
        node = self.snapshot.devices.get(payload.node)
        if node is None or node.kind != NODE_DEVICE_KIND or not node.active:
            return Invalid(R.UNKNOWN_NODE, f"{payload.node} is not an active storage node")
        claims = self.ledger.claims.setdefault(g, {})
        if payload.node in claims:
            return Invalid(R.DUPLICATE, f"a second usage report for node {payload.node}")
        claims[payload.node] = payload
        return None

    def spend(self, index: int, g: DeviceId, payload: SpendPayload) -> Invalid | None:
        key = (g, payload.account)
        if key in self.spent_keys:
            return Invalid(R.DUPLICATE, f"a second spend of account {payload.account}")
        self.spent_keys.add(key)
        for position, i in enumerate(self.unused_events):
            ev = self.chain.spends[i]
            if (ev.account, ev.spender, ev.amount, ev.usage_ref) == (
                payload.account,
                g,
                payload.credits,
                payload.usage_ref,
            ):
                del self.unused_events[position]
                self.ledger.spends.setdefault(g, []).append((payload, index))
                return None
        return Invalid(
            R.UNPAID_SPEND,
            f"no CreditsSpent event in blocks {self.chain.from_block}..{self.chain.to_block} spends "
            f"{payload.credits} credits of {payload.account} by {g} with ref 0x{payload.usage_ref.hex()}",
        )

    # -- node reports ---------------------------------------------------------------------

    def egress(self, report: Report, payload: EgressPayload) -> Invalid | None:
        net = self.settings.network
        start_ms, end_ms = net.epoch_window_ms(self.epoch)
        start_ms -= self.section.order_lookback_ms
        latest_ms = end_ms + self.section.max_order_ttl_ms
        for i, order in enumerate(payload.orders):
            problem = None
            if order.action != Action.GET:
                problem = f"is a {order.action.name} order, not GET"
            elif order.network != net.network_id or order.chain_id != net.chain_id:
                problem = f"is for {order.network[:64]!r}/{order.chain_id}"
            elif order.node != report.device:
                problem = f"is for node {order.node}"
            elif order.placer != payload.gateway or order.signer() != payload.gateway:
                problem = f"is not signed by gateway {payload.gateway}"
            elif not start_ms < order.expires_ms <= latest_ms:
                problem = f"expires at {order.expires_ms} ms, outside ({start_ms}, {latest_ms}]"
            if problem is not None:
                return Invalid(R.BAD_ORDER, f"order {i} {problem}")
            if payload.bytes_served[i] > order.max_bytes:
                return Invalid(
                    R.OVERSERVED,
                    f"order {i}: {payload.bytes_served[i]} bytes > max_bytes {order.max_bytes}",
                )
        serials = [o.serial for o in payload.orders]
        for i, serial in enumerate(serials):
            if serial in self.serials or serial in serials[:i]:
                return Invalid(
                    R.ORDER_REUSED, f"order {i}: serial {serial.hex()} was counted already"
                )
        self.serials.update(serials)
        key = (payload.gateway, report.device)
        self.ledger.egress[key] = self.ledger.egress.get(key, 0) + sum(payload.bytes_served)
        return None


def verify(
    epoch: Epoch,
    reports: Sequence[IngestedReport],
    snapshot: ChainSnapshot,
    settings: Settings,
    section: UsageSection,
    chain: CreditsSpentInput,
) -> tuple[list[Verdict], Ledger]:
    """One verdict per report (sealed order) and the accepted usage, spends and egress."""
    v = _Verifier(epoch, snapshot, settings, section, chain)
    results: list[Invalid | None] = [v.report(i, r.report) for i, r in enumerate(reports)]
    for g, spends in sorted(v.ledger.spends.items()):
        refs = {p.usage_ref for p, _ in spends}
        if len(refs) > 1:
            for _, index in spends:
                results[index] = Invalid(
                    R.MIXED_USAGE_REF, f"{g}'s spends cite {len(refs)} usage files; one per epoch"
                )
            v.ledger.spends[g] = []
    verdicts = [
        Verdict(r.report.device, r.report.seq)
        if bad is None
        else Verdict(r.report.device, r.report.seq, bad.reason, bad.details)
        for r, bad in zip(reports, results, strict=True)
    ]
    return verdicts, v.ledger
