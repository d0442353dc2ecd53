"""Why a usage report (or a gateway or node) earns nothing: stable codes, shared ones reused.

Report level (a verdict's reason):

- every report: the shared codes (`wrong_report_kind`, `unknown_device`, `inactive_device`,
  `wrong_device_kind`, `malformed_payload`, `wrong_epoch`, `duplicate`);
- usage and spend (from a gateway): `unauthorised_gateway`, `not_a_spender`,
  `too_many_reports`, `duplicate` (a second usage report for one node, or spend for one
  account); usage: `usage_unknown_node`; spend: `unpaid_spend`, `mixed_usage_ref`;
- egress (from a storage node): `usage_bad_order`, `order_reused`, `overserved`.

Device level (explanations only): `overclaimed` (a gateway claimed more credits than it
spent), `egress_unverified` (a node was credited less egress than a gateway claimed for it).
"""

from __future__ import annotations

from enum import StrEnum

from opendepin.reasons import SharedReason


class UsageReason(StrEnum):
    """Why a usage report, a gateway or a node earned less. Stable values."""

    WRONG_REPORT_KIND = SharedReason.WRONG_REPORT_KIND.value
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value
    INACTIVE_DEVICE = SharedReason.INACTIVE_DEVICE.value
    WRONG_DEVICE_KIND = SharedReason.WRONG_DEVICE_KIND.value
    MALFORMED_PAYLOAD = SharedReason.MALFORMED_PAYLOAD.value
    WRONG_EPOCH = SharedReason.WRONG_EPOCH.value
    DUPLICATE = SharedReason.DUPLICATE.value

    # -- gateway reports (usage, spend) --------------------------------------------------
    UNAUTHORISED_GATEWAY = "unauthorised_gateway"
    """The gateway is not in `[usage] gateways` (when that list is not empty)."""
    NOT_A_SPENDER = "not_a_spender"
    """The gateway is not an authorised Credits spender at the epoch's close block."""
    TOO_MANY_REPORTS = "too_many_reports"
    """The gateway filed more than `max_reports_per_gateway` usage and spend reports."""
    UNKNOWN_NODE = "usage_unknown_node"
    """The usage report names a node that is not an active storage device at the close block."""
    UNPAID_SPEND = "unpaid_spend"
    """No `CreditsSpent` event of the epoch matches the spend (account, spender, amount, ref)."""
    MIXED_USAGE_REF = "mixed_usage_ref"
    """The gateway's spends cite more than one usage file this epoch (one file per epoch)."""

    # -- node reports (egress) ------------------------------------------------------------
    BAD_ORDER = "usage_bad_order"
    """An order is not a GET order for this network and node signed by the named gateway, or
    expired outside the epoch's window."""
    ORDER_REUSED = "order_reused"
    """An order's serial was already counted this epoch (in this or an earlier report)."""
    OVERSERVED = "overserved"
    """More bytes claimed for an order than its `max_bytes`."""

    # -- device level -----------------------------------------------------------------------
    OVERCLAIMED = "overclaimed"
    """The gateway claimed more credits for its nodes than it spent on chain; every node's
    credits from it were scaled down to what it paid."""
    EGRESS_UNVERIFIED = "egress_unverified"
    """A gateway claimed more egress for the node than the node's served orders show."""


DEVICE_REASONS = frozenset({UsageReason.OVERCLAIMED, UsageReason.EGRESS_UNVERIFIED})
"""Reasons given only in explanations."""
