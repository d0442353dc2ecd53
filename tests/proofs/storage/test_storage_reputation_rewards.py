"""Storj's reputation formula, disqualification, held-back earnings, and determinism."""

from __future__ import annotations

import base64
import math
from fractions import Fraction

import pytest
from storage_world import EPOCH, Piece, World, reasons_of

from opendepin.proofs.storage import reputation
from opendepin.proofs.storage.reputation import SCALE
from opendepin.proofs.storage.scorer import hold_bps
from opendepin.proofs.storage.settings import StorageSection
from opendepin.proofs.storage.state import parse_state
from opendepin.records import IngestedReport

SECTION = StorageSection()
LAMBDA = Fraction(999, 1000)


def test_failures_from_steady_state_follow_lambda_to_the_k() -> None:
    rep = reputation.initial(SECTION)
    for k in range(1, 60):
        rep = reputation.updated(rep, False, SECTION)
        exact = LAMBDA**k  # alpha + beta stays w / (1 - λ) = 1000, so score = λ^k
        assert abs(Fraction(rep.score_ppm, 1_000_000) - exact) < Fraction(2, 1_000_000)


def test_successes_follow_the_closed_form() -> None:
    rep = reputation.Reputation(alpha=200 * SCALE, beta=300 * SCALE)
    n = 500
    for _ in range(n):
        rep = reputation.updated(rep, True, SECTION)
    alpha = LAMBDA**n * 200 + (1 - LAMBDA**n) / (1 - LAMBDA)  # α ← λⁿα + w(1−λⁿ)/(1−λ)
    beta = LAMBDA**n * 300
    assert abs(Fraction(rep.alpha, SCALE) - alpha) < Fraction(n, SCALE)
    assert abs(Fraction(rep.beta, SCALE) - beta) < Fraction(n, SCALE)
    assert rep.passed == n


def test_disqualification_comes_at_the_expected_failure() -> None:
    expected = math.ceil(math.log(0.96) / math.log(0.999))  # first k with λ^k <= 0.96
    rep = reputation.initial(SECTION)
    for k in range(1, expected + 1):
        rep = reputation.updated(rep, False, SECTION)
        assert reputation.is_disqualifying(rep, SECTION) == (k == expected)
    assert expected == 41


def _corrupt(w: World, piece: Piece, window: int, epoch: int = EPOCH) -> IngestedReport:
    payload = w.proof_payload(piece, window, epoch)
    payload["leaf"] = base64.b64encode(bytes(len(base64.b64decode(payload["leaf"])))).decode()
    return w.prove(piece, window, epoch=epoch, payload=payload)


def test_a_node_failing_every_audit_is_disqualified_after_41_failures_and_forfeits() -> None:
    w = World.make(1, held_back_bps=[5_000])
    node = w.nodes[0]
    good = w.new_piece(node, 100)
    first = w.run([w.place(good), *w.prove_all(good)])
    assert first.explanations[node.device_id].details["held_total"] == first.shares[node.device_id]
    pieces = [w.new_piece(node, 100) for _ in range(2)]
    reports = [w.place(p, epoch=EPOCH + 1) for p in pieces]
    reports += [_corrupt(w, p, win, EPOCH + 1) for win in range(24) for p in pieces]
    result = w.run(reports, epoch=EPOCH + 1)
    e = result.explanations[node.device_id]
    assert e.details["disqualified"] == EPOCH + 1
    assert e.details["audits"]["fail"] == 48
    assert e.shares == 0 and node.device_id not in result.shares
    assert {"disqualified", "held_back_forfeited"} <= set(e.reasons)
    assert e.details["forfeited"] > 0 and e.details["held_total"] == 0
    state = parse_state(result.next_state or b"")
    assert state.nodes[node.device_id].failed == 41  # outcomes after the 41st are not counted
    later = w.run(w.prove_all(good, epoch=EPOCH + 2), epoch=EPOCH + 2)
    assert set(reasons_of(later)) == {"node_disqualified"}


def test_held_back_accrues_then_is_released_in_full() -> None:
    w = World.make(1, held_back_bps=[7_500, 5_000], held_back_release_epochs=3)
    node = w.nodes[0]
    piece = w.new_piece(node, 1_000)
    epochs = [EPOCH, EPOCH + 1, EPOCH + 2, EPOCH + 3]
    rows = []
    for i, epoch in enumerate(epochs):
        reports = ([w.place(piece)] if i == 0 else []) + w.prove_all(piece, epoch=epoch)
        result = w.run(reports, epoch=epoch)
        d = result.explanations[node.device_id]
        assert result.withheld_shares == d.details["held_back"]  # withheld from the pool
        rows.append(
            (
                d.details["earned"],
                d.details["held_back"],
                d.details["released"],
                d.shares,
                d.details["held_total"],
            )
        )
    earned = 24 * 1_000  # score stays 1.0
    assert rows[0] == (earned, earned * 3 // 4, 0, earned // 4, earned * 3 // 4)
    assert rows[1] == (earned, earned // 2, 0, earned // 2, earned * 5 // 4)
    assert rows[2] == (
        earned,
        0,
        0,
        earned,
        earned * 5 // 4,
    )  # age 2: past the list, not yet released
    assert rows[3] == (earned, 0, earned * 5 // 4, earned + earned * 5 // 4, 0)
    for earned_, held, released, paid, _ in rows:
        assert paid + held == earned_ + released


def test_hold_rate_by_age() -> None:
    s = StorageSection()
    assert [hold_bps(a, s) for a in (0, 3, 6, 8, 9, 15)] == [7_500, 5_000, 2_500, 2_500, 0, 0]


def test_vetting_is_published_until_enough_audits_passed() -> None:
    w = World.make(1, vetting_audits=30)
    piece = w.new_piece(w.nodes[0], 10)
    first = w.run([w.place(piece), *w.prove_all(piece)]).explanations[w.nodes[0].device_id]
    second = w.run(w.prove_all(piece, epoch=EPOCH + 1), epoch=EPOCH + 1).explanations[
        w.nodes[0].device_id
    ]
    assert first.details["vetting"] is True and "vetting" in first.reasons
    assert second.details["vetting"] is False and "vetting" not in second.reasons


def test_shares_scale_with_bytes_and_failures_spoil_only_their_window() -> None:
    w = World.make(2, held_back_bps=[])
    a, b = w.nodes
    big, small = w.new_piece(a, 4_000), w.new_piece(b, 1_000)
    reports = [
        w.place(big),
        w.place(small),
        *w.prove_all(big),
        *w.prove_all(small, skip=frozenset({7})),
    ]
    reports.append(_corrupt(w, small, 7))
    result = w.run(reports)
    assert result.shares[a.device_id] == 24 * 4_000
    score = result.explanations[b.device_id].details["reputation"]["score_ppm"]
    assert score < 1_000_000
    assert result.shares[b.device_id] == 23 * 1_000 * score // 1_000_000


def test_every_zero_share_device_has_a_reason() -> None:
    w = World.make(2)
    a, b = w.nodes
    piece = w.new_piece(a, 10)
    result = w.run([w.place(piece), w.report(b, {"type": "x"}, w.epoch_start_ms())])
    for e in result.explanations.values():
        if e.shares == 0:
            assert e.reasons
    assert "no_pieces" in result.explanations[b.device_id].reasons
    assert "no_audited_bytes" in result.explanations[a.device_id].reasons  # every window pending


@pytest.mark.parametrize("seed", range(3))
def test_compute_is_deterministic(seed: int) -> None:
    w = World.make(3, audit_probability_ppm=400_000, containment_windows=3)
    pieces = [w.new_piece(w.nodes[i % 3], 500 + 1_000 * i) for i in range(6)]
    reports = [w.place(p) for p in pieces]
    for i, p in enumerate(pieces):
        reports += w.prove_all(p, skip=frozenset({i + seed, 20 - i}))
    reports.append(w.remove(pieces[0], w.window_start_ms(12)))
    one = w.run(reports, advance=False)
    two = w.run(list(reports), advance=False)
    assert one.next_state == two.next_state and one.shares == two.shares
    assert [v.reason for v in one.verdicts] == [v.reason for v in two.verdicts]
    state = parse_state(one.next_state or b"")
    assert state.to_bytes() == one.next_state  # canonical round trip
    shuffled = list(reversed(reports))
    three = w.run(shuffled, advance=False)
    assert three.shares == one.shares and three.next_state == one.next_state


def test_expired_placements_leave_the_state() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 10, term_end_ms=w.window_start_ms(12))
    result = w.run([w.place(piece), *w.prove_all(piece)])
    assert reasons_of(result) == [None] * 13 + ["expired_term"] * 12
    assert result.explanations[w.nodes[0].device_id].details["audited_byte_windows"] == 12 * 10
    assert parse_state(result.next_state or b"").placements == {}


def test_held_back_shares_are_withheld_from_the_pool() -> None:
    """Held-back earnings take their part of the pool and go to nobody (not minted now)."""
    from opendepin.rewards.pools import allocate

    shares = {"a": 25, "b": 25}
    full = allocate(1_000, shares)
    held = allocate(1_000, shares, withheld=150)
    assert full.amounts == {"a": 500, "b": 500} and full.unallocated == 0
    assert held.amounts == {"a": 125, "b": 125} and held.unallocated == 750
