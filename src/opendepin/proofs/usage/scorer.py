"""Usage scoring: verified credits per node, and how much of the pool they are worth.

Per gateway g (its accepted reports, `verifier.Ledger`):

1. paid credits P_g = Σ of its matched spends; claimed credits C_g = Σ of its usage reports'
   credits;
2. per node n it claimed for: verified egress = min(claimed egress, bytes on n's valid egress
   reports of orders signed by g); credits'_n = min(claimed credits, charge(stored_byte_ms,
   verified egress)) — a gateway cannot credit a node more than it charged for it, nor for
   egress the node cannot show;
3. if C_g > P_g the gateway claims more than it paid: credits''_n = credits'_n × P_g // C_g
   (rounded down) and the gateway is `overclaimed`.

A node's shares are Σ_g credits''_n (credits). The pool **used** is their token value,
`min(pool, Σ shares × 10**18 // credits_per_token)`: credits are worth what was burnt for
them, so a gateway colluding with a node cannot take more from the pool than it burnt. The
rest of the pool is **unused** (`KindResult.pool_unused`) and flows to the proof pools.
Everything is integer maths; `score` is a pure function of its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opendepin.proofs.usage.chaininput import CreditsSpentInput
from opendepin.proofs.usage.reasons import UsageReason
from opendepin.proofs.usage.verifier import Ledger
from opendepin.records import Verdict
from opendepin.storage.pricing import Prices, charge
from opendepin.types import ONE_TOKEN, DeviceId

R = UsageReason


@dataclass(frozen=True, slots=True)
class DeviceScore:
    """One device's outcome (gateway or node)."""

    shares: int
    reasons: tuple[str, ...]
    invalid: Mapping[str, int]
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Scored:
    shares: dict[DeviceId, int]
    devices: dict[DeviceId, DeviceScore]
    pool_used: int
    notes: dict[str, Any] = field(default_factory=dict)


def token_value(credits: int, credits_per_token: int) -> int:
    """Base units of token burnt for `credits` at the price (0 when the price is unknown)."""
    if credits_per_token <= 0:
        return 0
    return credits * ONE_TOKEN // credits_per_token


def score(
    verdicts: list[Verdict], ledger: Ledger, chain: CreditsSpentInput, prices: Prices, pool: int
) -> Scored:
    """Shares, per-device explanations and the used part of `pool` (see the module docstring)."""
    node_credits: dict[DeviceId, int] = {}
    node_info: dict[DeviceId, dict[str, int]] = {}
    node_reasons: dict[DeviceId, set[str]] = {}
    gateway_info: dict[DeviceId, dict[str, Any]] = {}
    for g in sorted(set(ledger.claims) | set(ledger.spends) | ledger.gateways):
        claims = ledger.claims.get(g, {})
        spends = ledger.spends.get(g, [])
        paid = sum(p.credits for p, _ in spends)
        claimed = sum(u.credits for u in claims.values())
        over = claimed > paid
        gateway_info[g] = {
            "paid_credits": paid,
            "claimed_credits": claimed,
            "spends": len(spends),
            "nodes": len(claims),
            "usage_ref": "0x" + spends[0][0].usage_ref.hex() if spends else None,
            "overclaimed": over,
        }
        for n, u in sorted(claims.items()):
            shown = ledger.egress.get((g, n), 0)
            verified = min(u.egress_bytes, shown)
            credits = min(u.credits, charge(u.stored_byte_ms, verified, prices))
            if over:
                credits = credits * paid // claimed
            info = node_info.setdefault(
                n,
                {
                    "claimed_credits": 0,
                    "claimed_egress_bytes": 0,
                    "verified_egress_bytes": 0,
                    "stored_byte_ms": 0,
                },
            )
            info["claimed_credits"] += u.credits
            info["claimed_egress_bytes"] += u.egress_bytes
            info["verified_egress_bytes"] += verified
            info["stored_byte_ms"] += u.stored_byte_ms
            node_credits[n] = node_credits.get(n, 0) + credits
            why = node_reasons.setdefault(n, set())
            if verified < u.egress_bytes:
                why.add(R.EGRESS_UNVERIFIED.value)
            if over:
                why.add(R.OVERCLAIMED.value)
    shares = {n: c for n, c in sorted(node_credits.items()) if c > 0}
    verified_credits = sum(shares.values())
    used = min(pool, token_value(verified_credits, chain.credits_per_token))
    invalid: dict[DeviceId, dict[str, int]] = {}
    for v in verdicts:
        if v.reason is not None:
            counts = invalid.setdefault(v.device, {})
            counts[str(v.reason)] = counts.get(str(v.reason), 0) + 1
    devices: dict[DeviceId, DeviceScore] = {}
    everyone = (
        set(gateway_info)
        | set(node_info)
        | ledger.nodes
        | set(invalid)
        | {v.device for v in verdicts}
    )
    for d in sorted(everyone):
        details: dict[str, Any] = {}
        reasons: set[str] = set()
        if d in gateway_info:
            details["gateway"] = gateway_info[d]
            if gateway_info[d]["overclaimed"]:
                reasons.add(R.OVERCLAIMED.value)
        if d in node_info:
            details.update(node_info[d])
            details["credits"] = node_credits.get(d, 0)
            details["token_value"] = token_value(node_credits.get(d, 0), chain.credits_per_token)
            reasons |= node_reasons.get(d, set())
        shown = sum(b for (_, n), b in ledger.egress.items() if n == d)
        if d in ledger.nodes:
            details["egress_bytes_shown"] = shown
        devices[d] = DeviceScore(
            shares.get(d, 0), tuple(sorted(reasons)), invalid.get(d, {}), details
        )
    notes = {
        "credits_per_token": chain.credits_per_token,
        "from_block": chain.from_block,
        "to_block": chain.to_block,
        "paid_credits": sum(i["paid_credits"] for i in gateway_info.values()),
        "claimed_credits": sum(i["claimed_credits"] for i in gateway_info.values()),
        "verified_credits": verified_credits,
        "pool": pool,
        "pool_used": used,
    }
    return Scored(shares, devices, used, notes)
