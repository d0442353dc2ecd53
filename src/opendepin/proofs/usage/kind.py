"""The usage kind as the registry sees it: one object declaring everything about it.

```
payloads  usage | spend (gateway) | egress (node)       payload.parse_payload, PAYLOAD_SCHEMAS
rules     verifier.verify (ordered, UsageReason)        settings  [kinds.usage] / [usage]
shares    verified credits per node (scorer)            state     none (serials count per epoch)
pool      used = token value of the verified credits;   chain     kinds/usage/credits_spent_v1.json
          the rest is `pool_unused` (→ proof pools)               (CreditsSpent, spenders, price)
device    none: the gateway and `depin storage node`    simulation sim.consumers (the demo)
```

`compute` is pure: the sealed reports, the snapshot and the frozen chain input in; verdicts,
shares, explanations and the unused part of the pool out. See `docs/usage.md`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from opendepin.errors import ConfigError
from opendepin.proofs.kind import (
    ChainView,
    DeviceBehaviour,
    Explanation,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    SimModel,
    SimSpec,
)
from opendepin.proofs.usage.chaininput import (
    CREDITS_SPENT_FILE,
    parse_credits_spent,
    read_credits_spent,
)
from opendepin.proofs.usage.payload import PAYLOAD_SCHEMAS, validate_payload
from opendepin.proofs.usage.reasons import UsageReason
from opendepin.proofs.usage.scorer import score
from opendepin.proofs.usage.settings import UsageSection
from opendepin.proofs.usage.verifier import USAGE_KIND, verify
from opendepin.storage.pricing import Prices
from opendepin.types import ProofKind

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig

RULES: Final = (
    Rule("report_kind", ("wrong_report_kind",), "the report is a usage report"),
    Rule("registered", ("unknown_device",), "the device is in the registry at the close block"),
    Rule("active", ("inactive_device",), "and not deactivated"),
    Rule("payload", ("malformed_payload",), "a well-formed usage, spend or egress payload"),
    Rule(
        "device_kind",
        ("wrong_device_kind",),
        "usage and spend from a gateway (kind usage), egress from a storage node",
    ),
    Rule("in_epoch", ("wrong_epoch",), "its timestamp lies in its epoch"),
    Rule("unique_seq", ("duplicate",), "no earlier report in the input has the same (device, seq)"),
    Rule(
        "gateway_listed",
        ("unauthorised_gateway",),
        "the gateway is in [usage] gateways (if set)",
        "gateway",
    ),
    Rule(
        "spender", ("not_a_spender",), "an authorised Credits spender at the close block", "gateway"
    ),
    Rule("bounded", ("too_many_reports",), "at most max_reports_per_gateway reports", "gateway"),
    Rule("node", ("usage_unknown_node",), "names an active storage node", "usage"),
    Rule("once", ("duplicate",), "one usage report per node, one spend per account", "gateway"),
    Rule("paid", ("unpaid_spend",), "a CreditsSpent event of the epoch matches it", "spend"),
    Rule("one_file", ("mixed_usage_ref",), "all the gateway's spends cite one usage_ref", "spend"),
    Rule(
        "orders",
        ("usage_bad_order",),
        "GET orders for this network and node, signed by the gateway, expiring in the epoch's window",
        "egress",
    ),
    Rule("within_order", ("overserved",), "bytes served ≤ the order's max_bytes", "egress"),
    Rule("fresh_serial", ("order_reused",), "each order serial counts once per epoch", "egress"),
    Rule(
        "paid_for", ("overclaimed",), "the gateway claimed no more credits than it spent", "device"
    ),
    Rule(
        "egress_shown",
        ("egress_unverified",),
        "a node's claimed egress is backed by served orders",
        "device",
    ),
)
"""The usage rules in order (`verifier` implements the report rules, `scorer` the device ones)."""


class UsageKind(KindBase):
    """Usage: a provider is paid for the service consumers paid for."""

    name: ProofKind = USAGE_KIND
    reasons: type[StrEnum] = UsageReason
    rules: Sequence[Rule] = RULES
    settings_model: type[BaseModel] = UsageSection
    payload_schemas: Mapping[str, Mapping[str, Any]] = PAYLOAD_SCHEMAS

    def validate_payload(self, payload: dict[str, Any]) -> None:
        validate_payload(payload)

    def chain_inputs(self, section: Any, view: ChainView) -> Mapping[str, bytes]:
        """The epoch's `CreditsSpent` events, spender set and price (`chaininput`)."""
        return {CREDITS_SPENT_FILE: read_credits_spent(view).to_bytes()}

    def compute(self, job: KindJob) -> KindResult:
        section = job.section
        assert isinstance(section, UsageSection)
        chain = parse_credits_spent(job.inputs.get(CREDITS_SPENT_FILE))
        verdicts, ledger = verify(
            job.epoch, job.reports, job.snapshot, job.settings, section, chain
        )
        pool = max(0, job.pool)
        scored = score(verdicts, ledger, chain, Prices.from_settings(job.settings), pool)
        explanations = {
            d: Explanation(d, s.shares, s.reasons, s.invalid, s.details)
            for d, s in scored.devices.items()
        }
        return KindResult(
            verdicts=tuple(verdicts),
            shares=scored.shares,
            explanations=explanations,
            notes=scored.notes,
            pool_unused=pool - scored.pool_used,
        )

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        raise ConfigError(
            "usage is reported by the storage gateway and `depin storage node`, not `depin agent`"
        )

    def simulation(self, spec: SimSpec) -> SimModel:
        raise ConfigError(
            "the usage kind has no simulation model of its own: the demo's consumers and their "
            "gateway (opendepin.sim.consumers) file its reports when storage nodes run"
        )


KIND: Final = UsageKind()
"""The usage kind (entry point `opendepin.proof_kinds: usage`)."""
