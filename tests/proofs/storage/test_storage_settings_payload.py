"""The [storage] section and the three payloads: validation, bounds, schemas, builders."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError
from storage_world import World

from opendepin.network.settings import NetworkSection, Settings
from opendepin.proofs.storage.kind import KIND
from opendepin.proofs.storage.payload import (
    PAYLOAD_SCHEMAS,
    PlacementPayload,
    ProofPayload,
    RemovalPayload,
    parse_payload,
    proof_payload,
)
from opendepin.proofs.storage.settings import StorageSection, check_against_network, storage_section
from opendepin.storage.erasure import Redundancy
from opendepin.storage.merkle import LEAF_SIZE


def test_defaults_match_the_design() -> None:
    s = StorageSection()
    assert (s.audit_window_seconds, s.audit_probability_ppm, s.proof_grace_seconds) == (
        3600,
        125_000,
        600,
    )
    assert s.redundancy_scheme == Redundancy(4, 5, 6, 8)
    assert s.held_back_bps[0] == 7_500 and s.held_back_release_epochs == 15
    assert KIND.entropy_window_seconds(s) == 3600
    assert KIND.epoch_overhang_ms(s) == 600_000
    assert check_against_network(s, NetworkSection()) == []


def test_placers_are_checksummed_and_bad_ones_refused() -> None:
    lower = "0x" + "ab" * 20
    s = StorageSection(placers=[lower])
    assert s.placers[0] != lower and s.placers[0].lower() == lower
    with pytest.raises(ValidationError):
        StorageSection(placers=["0x1234"])


@pytest.mark.parametrize(
    "field,value",
    [
        ("audit_probability_ppm", 1_000_001),
        ("audit_probability_ppm", -1),
        ("held_back_bps", [10_001]),
        ("held_back_bps", [-1]),
        ("redundancy", "4/5/6"),
        ("redundancy", "6/5/4/8"),
        ("redundancy", "a/b/c/d"),
        ("disqualify_at_ppm", 2_000_000),
    ],
)
def test_invalid_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        StorageSection(**{field: value})


def test_the_section_parses_from_network_settings() -> None:
    settings = Settings.model_validate(
        {"storage": {"audit_window_seconds": 1800, "redundancy": "29/35/80/110"}}
    )
    section = storage_section(settings)
    assert section.audit_window_seconds == 1800
    assert section.redundancy_scheme.total == 110


def test_a_grace_beyond_the_report_grace_is_reported() -> None:
    problems = check_against_network(
        StorageSection(proof_grace_seconds=900), NetworkSection(report_grace_seconds=600)
    )
    assert any("report_grace_seconds" in p for p in problems)
    problems = check_against_network(StorageSection(audit_window_seconds=7000), NetworkSection())
    assert any("divide" in p for p in problems)


def test_builders_round_trip_through_the_parser() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 3000)
    placed = parse_payload(w.place(piece).report.payload_obj())
    assert isinstance(placed, PlacementPayload) and placed.placement == piece.placement
    proof = parse_payload(w.proof_payload(piece, 0))
    assert isinstance(proof, ProofPayload) and proof.piece == piece.piece
    removal = parse_payload(w.remove(piece, w.epoch_start_ms()).report.payload_obj())
    assert isinstance(removal, RemovalPayload) and removal.order.piece == piece.piece
    assert set(PAYLOAD_SCHEMAS) == {"placement", "proof", "removal"}
    for payload in (w.proof_payload(piece, 1),):
        KIND.validate_payload(payload)


def _proof(**over: Any) -> dict[str, Any]:
    base = proof_payload(5, b"\x01" * 32, 0, b"x" * 10, [b"\x02" * 32])
    base.update(over)
    return base


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"type": "nope"},
        {"type": "proof"},
        _proof(extra=1),
        _proof(block=-1),
        _proof(block=True),
        _proof(block=2**63),
        _proof(leaf_index="0"),
        _proof(piece="AB" * 32),
        _proof(piece="ab" * 31),
        _proof(leaf="not base64!"),
        _proof(leaf=base64.b64encode(b"x" * (LEAF_SIZE + 1)).decode()),
        _proof(leaf="eA"),  # unpadded: not canonical
        _proof(path=["00" * 32] * 65),
        _proof(path="00" * 32),
        _proof(path=[1]),
        {"type": "placement", "placement": {}},
        {"type": "placement", "placement": "x"},
        {"type": "removal", "order": {"action": "delete"}},
    ],
)
def test_malformed_payloads_are_value_errors(payload: Any) -> None:
    with pytest.raises(ValueError):
        parse_payload(payload)


def test_an_inverted_term_parses_and_is_left_to_the_rule() -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 100, term_start_ms=2_000, term_end_ms=1_000)
    parsed = parse_payload(w.place(piece).report.payload_obj())
    assert isinstance(parsed, PlacementPayload) and parsed.placement.term_end_ms == 1_000


def test_a_full_leaf_and_a_64_hash_path_are_accepted() -> None:
    parsed = parse_payload(
        _proof(leaf=base64.b64encode(b"y" * LEAF_SIZE).decode(), path=["00" * 32] * 64)
    )
    assert (
        isinstance(parsed, ProofPayload)
        and len(parsed.leaf) == LEAF_SIZE
        and len(parsed.path) == 64
    )
