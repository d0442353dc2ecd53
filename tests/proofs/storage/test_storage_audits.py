"""Audits of pieces of many sizes, containment within and across epochs, and missing proofs."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from storage_world import EPOCH, World, reasons_of

from opendepin.proofs.storage.challenge import challenged_leaf
from opendepin.proofs.storage.payload import proof_payload
from opendepin.proofs.storage.state import parse_state
from opendepin.storage import merkle


@pytest.mark.parametrize("leaves", [1, 2, 3, 64])
def test_pieces_of_real_bytes_pass_every_audit(leaves: int) -> None:
    w = World.make(1)
    size = (leaves - 1) * merkle.LEAF_SIZE + 17  # a short last leaf
    piece = w.new_piece(w.nodes[0], size)
    result = w.run([w.place(piece), *w.prove_all(piece)])
    assert all(v.valid for v in result.verdicts)
    details = result.explanations[piece.node.device_id].details
    assert details["audits"]["pass"] == 24
    assert details["audited_byte_windows"] == 24 * size


@pytest.mark.parametrize("leaves", [1, 2, 3, 64])
def test_corrupted_bytes_fail_with_wrong_root(leaves: int) -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], leaves * merkle.LEAF_SIZE)
    corrupt = bytearray(piece.data)
    corrupt[w.challenge(piece, 0)[1] * merkle.LEAF_SIZE] ^= 1
    liar = replace(piece, data=bytes(corrupt))
    result = w.run([w.place(piece), w.prove(liar, 0)])
    assert reasons_of(result) == [None, "wrong_root"]


def test_a_million_leaf_piece_is_audited_by_the_verifier() -> None:
    leaves = 1_000_000
    w = World.make(1, max_piece_bytes=2**40)
    node = w.nodes[0]
    piece = w.new_piece(node, 1)
    size = leaves * merkle.LEAF_SIZE
    block = w.block(0)
    index = challenged_leaf(block.hash, piece.piece, leaves)
    leaf = hashlib.shake_256(b"leaf").digest(merkle.LEAF_SIZE)
    hashes = [hashlib.blake2b(i.to_bytes(4, "big"), digest_size=32).digest() for i in range(leaves)]
    hashes[index] = merkle.leaf_hash(leaf)
    root = merkle.root_of_leaf_hashes(hashes)
    path = merkle.proof_from_leaf_hashes(hashes, index)
    placement = replace(piece.placement, size=size, root=root).signed(w.placer)
    piece = replace(piece, placement=placement)
    good = proof_payload(block.number, piece.piece, index, leaf, path)
    bad = proof_payload(block.number, piece.piece, index, bytes(merkle.LEAF_SIZE), path)
    result = w.run(
        [w.place(piece), w.prove(piece, 0, payload=good), w.prove(piece, 0, payload=bad)],
        advance=False,
    )
    assert reasons_of(result) == [None, None, "duplicate_proof"]
    result = w.run([w.place(piece), w.prove(piece, 0, payload=bad)], advance=False)
    assert reasons_of(result) == [None, "wrong_root"]
    short = proof_payload(block.number, piece.piece, index, leaf, path[:-1])
    assert reasons_of(w.run([w.place(piece), w.prove(piece, 0, payload=short)], advance=False)) == [
        None,
        "bad_path",
    ]


def test_a_contained_proof_passes_but_its_window_does_not_count() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 2_000)
    late = w.prove(piece, 3, at_ms=w.window_start_ms(10))  # 6 windows late, within 24
    result = w.run([w.place(piece), *w.prove_all(piece, skip=frozenset({3})), late])
    assert all(v.valid for v in result.verdicts)
    details = result.explanations[piece.node.device_id].details
    assert details["audits"]["contained"] == 1 and details["audits"]["pass"] == 23
    assert details["audited_byte_windows"] == 23 * 2_000
    assert details["reputation"]["score_ppm"] == 1_000_000


def test_a_proof_just_inside_the_grace_is_on_time() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 100)
    edge = w.window_start_ms(4) + w.section.proof_grace_ms  # window 3 ends at window 4's start
    result = w.run(
        [
            w.place(piece),
            w.prove(piece, 3, at_ms=edge),
            w.prove(piece, 5, at_ms=w.window_start_ms(7) + 1),
        ]
    )
    audits = result.explanations[piece.node.device_id].details["audits"]
    assert audits["pass"] == 1 and audits["contained"] == 1


def test_pending_challenges_cross_the_epoch_boundary_and_are_answered_later() -> None:
    w = World.make(1, containment_windows=30)
    piece = w.new_piece(w.nodes[0], 100)
    first = w.run([w.place(piece), *w.prove_all(piece, skip=frozenset({20, 21}))])
    details = first.explanations[piece.node.device_id].details
    assert details["audits"]["pending"] == 2
    assert details["audited_byte_windows"] == 22 * 100
    state = parse_state(first.next_state or b"")
    assert [c.window_start_ms for c in state.pending] == [
        w.window_start_ms(20),
        w.window_start_ms(21),
    ]
    # next epoch: window 20's proof arrives (contained); window 21's never does
    answer = w.prove(piece, 20, at_ms=w.window_start_ms(2, EPOCH + 1), report_epoch=EPOCH + 1)
    second = w.run([answer, *w.prove_all(piece, epoch=EPOCH + 1)], epoch=EPOCH + 1)
    assert all(v.valid for v in second.verdicts)
    audits = second.explanations[piece.node.device_id].details["audits"]
    assert audits["contained"] == 1 and audits["missing"] == 0 and audits["pending"] == 1
    # the epoch after: window 21's deadline (its end + 30 windows) has passed → missing
    third = w.run(w.prove_all(piece, epoch=EPOCH + 2), epoch=EPOCH + 2)
    e = third.explanations[piece.node.device_id]
    assert e.details["audits"]["missing"] == 1 and "missing" in e.reasons
    assert e.details["reputation"]["score_ppm"] < 1_000_000


def test_a_proof_after_the_deadline_across_epochs_is_refused() -> None:
    w = World.make(1, containment_windows=1)
    piece = w.new_piece(w.nodes[0], 100)
    w.run([w.place(piece), *w.prove_all(piece, skip=frozenset({23}))])
    deadline = w.window_start_ms(1, EPOCH + 1)  # window 23 ends at the epoch's end, + 1 window
    late = w.prove(piece, 23, at_ms=deadline + 1, report_epoch=EPOCH + 1)
    result = w.run([late], epoch=EPOCH + 1)
    assert reasons_of(result) == ["late"]
    assert result.explanations[piece.node.device_id].details["audits"]["fail"] == 1


def test_an_unanswered_challenge_with_no_containment_is_missing_at_the_epoch_end() -> None:
    w = World.make(1, containment_windows=0)
    piece = w.new_piece(w.nodes[0], 100)
    result = w.run([w.place(piece), *w.prove_all(piece, skip=frozenset({5}))])
    details = result.explanations[piece.node.device_id].details
    assert details["audits"]["missing"] == 1
    assert details["audited_byte_windows"] == 23 * 100
