"""The usage kind's rules, one by one: each passing and failing, on real signed reports."""

from __future__ import annotations

from dataclasses import replace

from usage_world import EPOCH, GB, OWNER, POOL, PRICE, World, reasons

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.records import DeviceRecord
from opendepin.storage.orders import Action
from opendepin.storage.pricing import charge
from opendepin.types import ONE_TOKEN

HOUR_MS = 3_600_000
MONTH_MS = 30 * 24 * HOUR_MS


def test_an_honest_epoch_pays_the_node_the_token_value_of_what_consumers_paid() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    credits = charge(GB * MONTH_MS, GB, w.prices)  # 1 GB for a month + 1 GB egress = 11,000
    w.spent_on_chain(credits)
    order = w.order(node, GB)
    result = w.compute(
        [w.usage(node, GB * MONTH_MS, GB), w.spend(credits), w.egress(node, [(order, GB)])]
    )
    assert reasons(result) == [None, None, None]
    assert result.shares == {node.device_id: credits}
    value = credits * ONE_TOKEN // PRICE
    assert result.pool_unused == POOL - value
    assert result.notes["pool_used"] == value
    e = result.explanations[node.device_id]
    assert e.reasons == () and e.details["verified_egress_bytes"] == GB
    g = result.explanations[w.gateway.device_id]
    assert g.shares == 0 and g.details["gateway"]["paid_credits"] == credits


def test_the_pool_pays_at_most_itself() -> None:
    w = World.make(nodes=1)
    stored = GB * MONTH_MS * 10**8
    credits = charge(stored, 0, w.prices)  # worth 4 * 10**6 tokens, far more than the pool
    w.spent_on_chain(credits)
    result = w.compute([w.usage(w.nodes[0], stored, 0), w.spend(credits)], pool=5)
    assert result.pool_unused == 0
    assert result.notes["pool_used"] == 5


def test_reports_of_another_kind_unknown_inactive_and_malformed_are_invalid() -> None:
    w = World.make(nodes=1)
    stranger = DeviceKey.generate()
    w.extra_records.append(DeviceRecord(stranger.device_id, OWNER, "usage", 0, False))
    good = w.spend(5)
    other_kind = w.report(w.gateway, {"type": "spend"})
    other_kind = type(other_kind)(replace(other_kind.report, kind="storage"))
    unknown = w.report(DeviceKey.generate(), {"type": "spend"})
    inactive = w.report(
        stranger,
        {"type": "spend", "account": w.account, "credits": 1, "usage_ref": "0x" + "00" * 32},
    )
    malformed = w.report(
        w.gateway, {"type": "spend", "account": w.account, "credits": 0, "usage_ref": "0x00"}
    )
    extra_key = w.report(w.gateway, {"type": "usage", "node": w.nodes[0].device_id, "egress_bytes": 0,
                                     "stored_byte_ms": 0, "credits": 0, "bonus": 1})  # fmt: skip
    result = w.compute([good, other_kind, unknown, inactive, malformed, extra_key])
    assert reasons(result)[1:] == [
        "wrong_report_kind",
        "unknown_device",
        "inactive_device",
        "malformed_payload",
        "malformed_payload",
    ]


def test_device_kind_gateway_payloads_from_usage_devices_egress_from_storage_nodes() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    w.spent_on_chain(7)
    node_spend = w.report(
        node,
        {
            "type": "spend",
            "account": w.account,
            "credits": 7,
            "usage_ref": "0x" + w.usage_ref.hex(),
        },
    )
    gateway_egress = w.egress(w.gateway, [(w.order(node, 10), 5)])
    result = w.compute([node_spend, gateway_egress])
    assert reasons(result) == ["wrong_device_kind", "wrong_device_kind"]


def test_in_epoch_and_unique_seq() -> None:
    w = World.make(nodes=1)
    late = w.report(w.gateway, {"type": "spend", "account": w.account, "credits": 1, "usage_ref": "0x" + "11" * 32},
                    at_ms=w.at_ms(10**10))  # fmt: skip
    first = w.usage(w.nodes[0], 0, 0, credits=0)
    again = w.report(w.gateway, {"type": "usage", "node": w.nodes[1 - 1].device_id, "egress_bytes": 1,
                                 "stored_byte_ms": 0, "credits": 0}, seq=first.report.seq)  # fmt: skip
    assert reasons(w.compute([late, first, again])) == ["wrong_epoch", None, "duplicate"]


def test_gateway_allow_list_and_spender_rights() -> None:
    w = World.make(nodes=1, gateways=[DeviceKey.generate().device_id])
    assert reasons(w.compute([w.spend(3)])) == ["unauthorised_gateway"]
    w = World.make(nodes=1, gateways=[])
    w.spenders = set()
    assert reasons(w.compute([w.spend(3), w.usage(w.nodes[0], 0, 0)])) == [
        "not_a_spender",
        "not_a_spender",
    ]


def test_too_many_reports_per_gateway() -> None:
    w = World.make(nodes=3, max_reports_per_gateway=2)
    got = reasons(w.compute([w.usage(n, HOUR_MS, 0) for n in w.nodes]))
    assert got == [None, None, "too_many_reports"]


def test_usage_must_name_an_active_storage_node_once() -> None:
    w = World.make(nodes=1)
    inactive = DeviceKey.generate()
    w.extra_records.append(DeviceRecord(inactive.device_id, OWNER, "storage", 0, False))
    result = w.compute(
        [
            w.usage(w.gateway.device_id, 0, 0),  # a usage device, not a node
            w.usage(inactive.device_id, 0, 0),
            w.usage(DeviceKey.generate().device_id, 0, 0),
            w.usage(w.nodes[0], HOUR_MS, 0),
            w.usage(w.nodes[0], HOUR_MS, 0),
        ]
    )
    assert reasons(result) == [
        "usage_unknown_node",
        "usage_unknown_node",
        "usage_unknown_node",
        None,
        "duplicate",
    ]


def test_a_spend_needs_its_event_exactly_once() -> None:
    w = World.make(nodes=1)
    other = DeviceKey.generate().device_id
    w.spent_on_chain(10)
    w.spent_on_chain(10, account=other)
    result = w.compute(
        [
            w.spend(10),  # matches event 0
            w.spend(10),  # second spend of one account
            w.spend(11, account=other),  # wrong amount
            w.spend(10, account=DeviceKey.generate().device_id),  # no event for that account
        ]
    )
    assert reasons(result) == [None, "duplicate", "unpaid_spend", "unpaid_spend"]


def test_an_event_of_another_spender_does_not_pay_the_gateway() -> None:
    w = World.make(nodes=1)
    w.spent_on_chain(10)
    w.events[0] = replace(w.events[0], spender=DeviceKey.generate().device_id)
    assert reasons(w.compute([w.spend(10)])) == ["unpaid_spend"]


def test_spends_citing_two_usage_files_are_all_invalid() -> None:
    w = World.make(nodes=1)
    other = DeviceKey.generate().device_id
    second_ref = keccak256(b"another file")
    w.spent_on_chain(10)
    w.spent_on_chain(10, account=other, ref=second_ref)
    result = w.compute(
        [
            w.usage(w.nodes[0], 0, 0, credits=20),
            w.spend(10),
            w.spend(10, account=other, ref=second_ref),
        ]
    )
    assert reasons(result) == [None, "mixed_usage_ref", "mixed_usage_ref"]
    assert result.shares == {}  # nothing paid: the claim is scaled to 0
    assert "overclaimed" in result.explanations[w.gateway.device_id].reasons


def test_egress_orders_must_be_the_gateways_get_orders_for_the_node_in_the_window() -> None:
    w = World.make(nodes=2)
    node, other = w.nodes
    start_ms, end_ms = w.settings.network.epoch_window_ms(EPOCH)
    bad_orders = [
        w.order(node, 10, action=Action.PUT),
        w.order(node, 10, network="elsewhere"),
        w.order(node, 10, chain_id=12345),
        w.order(other, 10),  # another node's order
        w.order(node, 10, signer=DeviceKey.generate()),  # not signed by the gateway
        w.order(node, 10, expires_ms=start_ms - w.section.order_lookback_ms),  # expired long before
        w.order(node, 10, expires_ms=end_ms + w.section.max_order_ttl_ms + 1),  # too long-lived
    ]
    reports = [w.egress(node, [(o, 1)]) for o in bad_orders]
    good = w.order(node, 10, expires_ms=start_ms - w.section.order_lookback_ms + 1)
    reports.append(w.egress(node, [(good, 10)]))
    assert reasons(w.compute(reports)) == ["usage_bad_order"] * len(bad_orders) + [None]


def test_egress_beyond_an_order_and_reused_serials_are_invalid() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    a, b = w.order(node, 100), w.order(node, 100)
    result = w.compute(
        [
            w.egress(node, [(a, 101)]),
            w.egress(node, [(a, 100)]),
            w.egress(node, [(a, 50)]),  # serial counted already
            w.egress(node, [(b, 1), (b, 1)]),  # twice in one report
        ]
    )
    assert reasons(result) == ["overserved", None, "order_reused", "order_reused"]


def test_egress_payload_bounds() -> None:
    w = World.make(nodes=1)
    node = w.nodes[0]
    too_many = [(w.order(node, 1), 1) for _ in range(65)]
    mismatched = w.report(
        node,
        {
            "type": "egress",
            "gateway": w.gateway.device_id,
            "orders": [w.order(node, 1).to_obj()],
            "bytes": [],
        },
    )
    assert reasons(w.compute([w.egress(node, too_many), mismatched])) == ["malformed_payload"] * 2
