"""Every storage rule: a passing and a failing case, through `KIND.compute` on signed reports."""

from __future__ import annotations

import base64
from dataclasses import replace

from storage_world import EPOCH, OWNER, World, reasons_of

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey
from opendepin.proofs.storage.kind import KIND, RULES
from opendepin.proofs.storage.reasons import StorageReason
from opendepin.records import DeviceRecord
from opendepin.storage import merkle
from opendepin.storage.orders import Action
from opendepin.types import DeviceId


def test_rules_list_every_reason_once_per_payload_type() -> None:
    codes = {r for rule in RULES for r in rule.reasons}
    assert codes == {m.value for m in StorageReason}
    assert KIND.rules is RULES


# -- shared rules ---------------------------------------------------------------------------


def test_shared_rules() -> None:
    w = World.make(2)
    a, b = w.nodes
    piece = w.new_piece(a, 100)
    good = w.place(piece)
    stranger = DeviceKey.generate()
    records = [
        DeviceRecord(a.device_id, OWNER, "storage", 0, True),
        DeviceRecord(b.device_id, OWNER, "heartbeat", 0, True),
    ]
    inactive = w.snapshot(records=[DeviceRecord(a.device_id, OWNER, "storage", 0, False)])
    assert reasons_of(w.run([good], advance=False)) == [None]
    assert reasons_of(w.run([good], snapshot=inactive, advance=False)) == ["inactive_device"]
    other = w.new_piece(b, 100)
    reports = [
        w.place(other),
        w.report(stranger, {"type": "placement"}, w.epoch_start_ms()),
        w.report(a, {"type": "proof", "block": 1}, w.epoch_start_ms()),
        w.report(a, {"x": 1}, w.epoch_start_ms() - 1),
    ]
    result = w.run(reports, snapshot=w.snapshot(records=records), advance=False)
    assert reasons_of(result) == [
        "wrong_device_kind",
        "unknown_device",
        "malformed_payload",
        "malformed_payload",
    ]


def test_in_epoch_allows_the_proof_grace_past_the_end() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 100)
    end = w.epoch_start_ms(EPOCH + 1)
    within = w.prove(piece, 23, at_ms=end + w.section.proof_grace_ms - 1)
    beyond = w.prove(piece, 22, at_ms=end + w.section.proof_grace_ms)
    result = w.run([w.place(piece), within, beyond], advance=False)
    assert reasons_of(result) == [None, None, "wrong_epoch"]


def test_duplicate_seq() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 100)
    first = w.place(piece)
    again = w.report(
        piece.node, w.proof_payload(piece, 0), w.epoch_start_ms() + 1, seq=first.report.seq
    )
    assert reasons_of(w.run([first, again], advance=False)) == [None, "duplicate"]


# -- placement ------------------------------------------------------------------------------


def test_placement_rules() -> None:
    w = World.make(2)
    a, b = w.nodes
    start = w.epoch_start_ms()
    stranger = Signer.generate()
    cases = {
        "storage_wrong_network": w.new_piece(a, 10, network="another"),
        "storage_wrong_node": w.new_piece(b, 10),
        "bad_term": w.new_piece(a, 10, term_start_ms=start, term_end_ms=start),
    }
    reports = [w.place(cases["storage_wrong_network"])]
    wrong_node = cases["storage_wrong_node"]
    reports.append(
        w.report(a, {"type": "placement", "placement": wrong_node.placement.to_obj()}, start)
    )
    reports.append(w.place(cases["bad_term"]))
    forged = w.new_piece(a, 10)
    forged_obj = forged.placement.to_obj() | {"size": 11}  # placer signed another size
    reports.append(w.report(a, {"type": "placement", "placement": forged_obj}, start))
    foreign = w.new_piece(a, 10)
    foreign = replace(
        foreign,
        placement=replace(foreign.placement, placer=DeviceId(stranger.address)).signed(stranger),
    )
    reports.append(w.place(foreign))
    too_long = w.new_piece(
        a, 10, term_end_ms=w.epoch_start_ms(0) + w.section.max_term_seconds * 1000 + 1
    )
    reports.append(w.place(too_long))
    ended = w.new_piece(a, 10, term_end_ms=start)
    reports.append(w.place(ended))
    big = w.new_piece(a, 10)
    big = replace(
        big, placement=replace(big.placement, size=w.section.max_piece_bytes + 1).signed(w.placer)
    )
    reports.append(w.place(big))
    good = w.new_piece(a, 10)
    reports += [w.place(good), w.place(good)]
    result = w.run(reports, advance=False)
    assert reasons_of(result) == [
        "storage_wrong_network",
        "storage_wrong_node",
        "bad_term",
        "bad_placer_signature",
        "unauthorised_placer",
        "bad_term",
        "bad_term",
        "piece_too_large",
        None,
        "duplicate_piece",
    ]


def test_a_piece_placed_in_an_earlier_epoch_is_a_duplicate() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 10)
    assert reasons_of(w.run([w.place(piece)])) == [None]
    assert reasons_of(w.run([w.place(piece, epoch=EPOCH + 1)], epoch=EPOCH + 1)) == [
        "duplicate_piece"
    ]


# -- removal --------------------------------------------------------------------------------


def test_removal_rules() -> None:
    w = World.make(2)
    a, b = w.nodes
    piece = w.new_piece(a, 10)
    other = w.new_piece(b, 10)
    at = w.window_start_ms(3)
    stranger = Signer.generate()
    foreign_order = replace(w.delete_order(piece), placer=DeviceId(stranger.address)).signed(
        stranger
    )
    reports = [
        w.place(piece),
        w.place(other),
        w.report(
            a, {"type": "removal", "order": w.delete_order(piece, action=Action.GET).to_obj()}, at
        ),
        w.report(
            a, {"type": "removal", "order": w.delete_order(other).to_obj()}, at
        ),  # order for node b
        w.report(a, {"type": "removal", "order": foreign_order.to_obj()}, at),
        w.remove(piece, at, expires_ms=at - 1),
        w.remove(piece, at, network="elsewhere"),
        w.report(
            a, {"type": "removal", "order": w.delete_order(piece).to_obj() | {"max_bytes": 1}}, at
        ),  # bad sig
        w.report(
            a, {"type": "removal", "order": w.delete_order(other, node=a.device_id).to_obj()}, at
        ),
        w.remove(piece, at),
        w.remove(piece, at + 1),
    ]
    result = w.run(reports, advance=False)
    assert reasons_of(result) == [None, None] + ["bad_order"] * 5 + [
        "bad_order",
        "unknown_piece",
        None,
        "unknown_piece",
    ]


def test_a_removed_piece_is_not_audited_from_its_removal_on() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 10)
    at = w.window_start_ms(3) - 1
    result = w.run([w.place(piece), w.remove(piece, at), w.prove(piece, 2), w.prove(piece, 3)])
    assert reasons_of(result) == [None, None, None, "expired_term"]


# -- proof ----------------------------------------------------------------------------------


def test_proof_rules_in_order() -> None:
    w = World.make(2, containment_windows=2)
    a, b = w.nodes
    piece = w.new_piece(a, 5_000)
    other = w.new_piece(b, 100)
    late_piece = w.new_piece(a, 100)
    never = w.new_piece(a, 100)
    short = w.new_piece(a, 100, term_end_ms=w.window_start_ms(4))
    unknown = w.new_piece(a, 100)
    proof = w.proof_payload(piece, 1)
    wrong_index = (w.challenge(piece, 2)[1] + 1) % merkle.leaf_count(5_000)
    leaf7 = base64.b64decode(w.proof_payload(piece, 7)["leaf"])
    corrupt_leaf = base64.b64encode(bytes(len(leaf7))).decode()  # right length, wrong bytes
    reports = [
        w.place(piece),
        w.place(other),
        w.place(late_piece, at_ms=w.window_start_ms(5) + 1),
        w.place(short),
        w.prove(unknown, 1),  # never placed
        w.report(a, w.proof_payload(other, 1), w.window_start_ms(1) + 1),  # another node's piece
        w.prove(piece, 1, payload=proof | {"block": 12345}),
        w.prove(short, 4),  # window 4 starts at the term's end
        w.prove(late_piece, 5),  # placed after window 5 began
        w.prove(piece, 2, payload=w.proof_payload(piece, 2, index=wrong_index)),
        w.prove(piece, 3, at_ms=w.block(3).timestamp * 1000 - 1),
        w.prove(piece, 4, at_ms=w.window_start_ms(4 + 3) + 1),  # after window end + 2 windows
        w.prove(
            piece,
            6,
            payload=w.proof_payload(piece, 6) | {"path": w.proof_payload(piece, 6)["path"][:-1]},
        ),
        w.prove(piece, 7, payload=w.proof_payload(piece, 7) | {"leaf": corrupt_leaf}),
        w.prove(piece, 8),
        w.prove(piece, 8),
        w.prove(never, 9),  # placed never: unknown
        w.prove(piece, 9),
    ]
    reports[-2] = w.prove(
        piece, 9, payload=w.proof_payload(piece, 9) | {"piece": never.piece.hex()}
    )
    result = w.run(reports, advance=False)
    got = reasons_of(result)
    assert got[:4] == [None] * 4
    assert got[4:] == [
        "unknown_piece",
        "unknown_piece",
        "bad_block",
        "expired_term",
        "not_challenged",
        "wrong_leaf",
        "early_proof",
        "late",
        "bad_path",
        "wrong_root",
        None,
        "duplicate_proof",
        "unknown_piece",
        None,
    ]
    assert (
        result.explanations[a.device_id].details["audits"]["fail"] == 4
    )  # wrong_leaf, late, bad_path, wrong_root


def test_a_disqualified_node_cannot_prove() -> None:
    w = World.make(1, disqualify_at_ppm=999_999)
    piece = w.new_piece(w.nodes[0], 100)
    bad = w.prove(
        piece,
        0,
        payload=w.proof_payload(piece, 0) | {"leaf": base64.b64encode(bytes(100)).decode()},
    )
    result = w.run([w.place(piece), bad])
    assert result.explanations[w.nodes[0].device_id].details["disqualified"] == EPOCH
    next_epoch = w.run([w.prove(piece, 0, epoch=EPOCH + 1)], epoch=EPOCH + 1)
    assert reasons_of(next_epoch) == ["node_disqualified"]


def test_not_challenged_when_not_drawn() -> None:
    w = World.make(1, audit_probability_ppm=0)
    piece = w.new_piece(w.nodes[0], 100)
    assert reasons_of(w.run([w.place(piece), w.prove(piece, 0)])) == [None, "not_challenged"]
