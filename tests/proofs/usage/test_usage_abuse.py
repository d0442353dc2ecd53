"""The three abuse cases of usage settlement, the pool's used part, and determinism.

- a gateway that over-reports (for a node it colludes with, or overall) is paid out at most
  what it burnt: credits are scaled to what it spent, and the pool pays their token value;
- a consumer that never pays cannot be charged: a spend without its `CreditsSpent` event is
  `unpaid_spend`, and the node's credits from that gateway scale to zero;
- a node claiming egress it did not serve needs gateway-signed orders, and is paid no more
  than its gateway claims for it.
"""

from __future__ import annotations

import random

from usage_world import GB, OWNER, POOL, PRICE, World, reasons

from opendepin.identity import DeviceKey
from opendepin.proofs.usage.kind import KIND
from opendepin.records import DeviceRecord
from opendepin.storage.pricing import charge
from opendepin.types import ONE_TOKEN

MONTH_MS = 30 * 24 * 3_600_000


def test_an_overclaiming_gateway_is_scaled_to_what_it_paid() -> None:
    w = World.make(nodes=2)
    a, b = w.nodes
    claim_a = charge(2 * GB * MONTH_MS, 0, w.prices)  # 8,000
    claim_b = charge(GB * MONTH_MS, 0, w.prices)  # 4,000
    paid = (claim_a + claim_b) // 3  # 4,000: a third of the claim
    w.spent_on_chain(paid)
    result = w.compute(
        [w.usage(a, 2 * GB * MONTH_MS, 0), w.usage(b, GB * MONTH_MS, 0), w.spend(paid)]
    )
    assert reasons(result) == [None, None, None]
    total = claim_a + claim_b
    assert result.shares == {
        a.device_id: claim_a * paid // total,
        b.device_id: claim_b * paid // total,
    }
    assert sum(result.shares.values()) <= paid
    assert "overclaimed" in result.explanations[w.gateway.device_id].reasons
    assert "overclaimed" in result.explanations[a.device_id].reasons
    assert result.notes["pool_used"] == sum(result.shares.values()) * ONE_TOKEN // PRICE


def test_a_colluding_gateway_gets_no_more_out_of_the_pool_than_it_burnt() -> None:
    w = World.make(nodes=1)
    friend = w.nodes[0]
    egress = 1_000 * GB
    claim = charge(0, egress, w.prices)
    # the gateway signs orders for its friend, who "serves" them, and burns real credits
    orders = [(w.order(friend, 20 * GB), 20 * GB) for _ in range(50)]
    burnt_credits = claim // 10
    w.spent_on_chain(burnt_credits)
    result = w.compute(
        [w.usage(friend, 0, egress), w.spend(burnt_credits), w.egress(friend, orders)]
    )
    assert reasons(result) == [None, None, None]
    tokens_burnt = burnt_credits * ONE_TOKEN // PRICE
    paid_from_pool = result.notes["pool_used"]
    assert paid_from_pool <= tokens_burnt  # no profit: the pool pays what was burnt, at most
    assert result.pool_unused == POOL - paid_from_pool


def test_a_spend_without_its_event_is_unpaid_and_earns_the_node_nothing() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    credits = charge(GB * MONTH_MS, 0, w.prices)
    result = w.compute([w.usage(node, GB * MONTH_MS, 0), w.spend(credits)])  # nothing on chain
    assert reasons(result) == [None, "unpaid_spend"]
    assert result.shares == {}
    assert result.pool_unused == POOL
    assert result.explanations[w.gateway.device_id].invalid == {"unpaid_spend": 1}


def test_egress_without_gateway_signed_orders_is_not_paid() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    stored = GB * MONTH_MS
    claimed = charge(stored, 10 * GB, w.prices)
    w.spent_on_chain(claimed)
    forged = w.order(node, 10 * GB, signer=DeviceKey.generate())
    result = w.compute(
        [w.usage(node, stored, 10 * GB), w.spend(claimed), w.egress(node, [(forged, 10 * GB)])]
    )
    assert reasons(result) == [None, None, "usage_bad_order"]
    assert result.shares == {node.device_id: charge(stored, 0, w.prices)}  # storage only
    e = result.explanations[node.device_id]
    assert "egress_unverified" in e.reasons and e.details["verified_egress_bytes"] == 0


def test_egress_beyond_the_gateways_claim_is_not_paid() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    claimed = charge(0, GB, w.prices)
    w.spent_on_chain(claimed)
    served = [(w.order(node, 5 * GB), 5 * GB) for _ in range(2)]  # shows 10 GB
    result = w.compute([w.usage(node, 0, GB), w.spend(claimed), w.egress(node, served)])
    assert reasons(result) == [None, None, None]
    assert result.shares == {node.device_id: claimed}
    e = result.explanations[node.device_id]
    assert e.details["verified_egress_bytes"] == GB and e.details["egress_bytes_shown"] == 10 * GB


def test_partial_egress_is_paid_for_what_the_orders_show() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    claimed = charge(0, 4 * GB, w.prices)
    w.spent_on_chain(claimed)
    result = w.compute(
        [w.usage(node, 0, 4 * GB), w.spend(claimed), w.egress(node, [(w.order(node, GB), GB)])]
    )
    assert result.shares == {node.device_id: charge(0, GB, w.prices)}


def test_a_node_is_credited_no_more_than_its_gateway_charged_for_it() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    w.spent_on_chain(10)
    result = w.compute([w.usage(node, GB * MONTH_MS, 0, credits=3), w.spend(10)])
    assert result.shares == {node.device_id: 3}


def test_used_pool_is_the_token_value_of_verified_credits_and_two_gateways_add_up() -> None:
    w = World.make(nodes=2)
    a, b = w.nodes
    second = DeviceKey.generate()
    w2 = World(section=w.section, gateway=second, nodes=w.nodes, account=w.account)
    w2.extra_records = []
    ca, cb = charge(GB * MONTH_MS, 0, w.prices), charge(3 * GB * MONTH_MS, 0, w.prices)
    w.spent_on_chain(ca)
    w2.spent_on_chain(cb)
    w.spenders.add(second.device_id)
    w.events.extend(w2.events)
    w.extra_records.append(DeviceRecord(second.device_id, OWNER, "usage", 0, True))
    reports = [
        w.usage(a, GB * MONTH_MS, 0),
        w.spend(ca),
        w2.usage(a, 3 * GB * MONTH_MS, 0),
        w2.spend(cb),
    ]
    reports += [w2.usage(b, 0, 0, credits=0)]
    result = w.compute(reports)
    assert reasons(result) == [None] * 5
    assert result.shares == {a.device_id: ca + cb}
    assert result.notes["verified_credits"] == ca + cb
    assert result.pool_unused == POOL - (ca + cb) * ONE_TOKEN // PRICE


def test_no_price_means_nothing_is_used() -> None:
    w = World.make(nodes=1)
    w.price = 0
    w.spent_on_chain(10)
    result = w.compute([w.usage(w.nodes[0], GB * MONTH_MS, 0, credits=10), w.spend(10)])
    assert result.shares == {w.nodes[0].device_id: 10}
    assert result.pool_unused == POOL


def test_no_chain_input_file_verifies_no_spend() -> None:
    w = World.make(nodes=1)
    w.spent_on_chain(10)
    result = KIND.compute(w.job([w.spend(10)], inputs={}))
    assert reasons(result) == ["not_a_spender"]
    assert result.pool_unused == POOL


def test_compute_is_deterministic_and_shares_do_not_depend_on_report_order() -> None:
    w = World.make(nodes=3)
    reports = []
    total = 0
    for i, node in enumerate(w.nodes):
        stored = (i + 1) * GB * MONTH_MS
        reports.append(w.usage(node, stored, GB))
        reports.append(w.egress(node, [(w.order(node, GB), GB)]))
        total += charge(stored, GB, w.prices)
    w.spent_on_chain(total)
    reports.append(w.spend(total))
    first = w.compute(reports)
    assert first == w.compute(reports)
    shuffled = list(reports)
    random.Random(7).shuffle(shuffled)
    again = w.compute(shuffled)
    assert again.shares == first.shares and again.pool_unused == first.pool_unused
    assert all(v.reason is None for v in first.verdicts)
