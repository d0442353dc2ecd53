"""Arbitrary payloads and states: verify/compute never raise; a corrupt state is an InputError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_world import World

from opendepin.errors import InputError
from opendepin.proofs.storage.kind import KIND
from opendepin.proofs.storage.payload import parse_payload
from opendepin.proofs.storage.state import parse_state

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**63, 2**64, -1, 10**40]), st.text(max_size=80),
    st.sampled_from(["ab" * 32, "AB" * 32, "", "delete", "placement", "proof", "removal"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)

WORLD = World.make(1)
PIECE = WORLD.new_piece(WORLD.nodes[0], 3_000)
TEMPLATES: list[dict[str, Any]] = [
    WORLD.place(PIECE).report.payload_obj(),
    WORLD.proof_payload(PIECE, 0),
    WORLD.remove(PIECE, WORLD.epoch_start_ms()).report.payload_obj(),
]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(VALUES)
    payload = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    target = payload
    inner = [k for k, v in payload.items() if isinstance(v, dict)]
    go_inside: bool = draw(st.booleans())
    if inner and go_inside:
        target = payload[inner[0]]
    key = draw(st.sampled_from(sorted(target)))
    if choice == 1:
        target.pop(key)
    else:
        target[key] = draw(VALUES)
    return payload


@FUZZ
@given(payloads=st.lists(mutated(), max_size=6))
def test_arbitrary_payloads_never_raise(payloads: list[Any]) -> None:
    reports = [WORLD.place(PIECE)]
    for i, payload in enumerate(payloads):
        if not isinstance(payload, dict):
            payload = {"value": payload}
        with contextlib.suppress(ValueError):
            parse_payload(payload)
        reports.append(WORLD.report(PIECE.node, payload, WORLD.window_start_ms(i % 24) + 1))
    result = KIND.compute(WORLD.job(reports))
    assert len(result.verdicts) == len(reports)
    assert all(v.valid or v.details for v in result.verdicts)
    assert all(isinstance(s, int) and s > 0 for s in result.shares.values())
    again = KIND.compute(WORLD.job(reports, snapshot=None))
    assert again.next_state == result.next_state


@FUZZ
@given(data=st.data())
def test_a_malformed_state_is_an_input_error(data: st.DataObject) -> None:
    w = World.make(1)
    piece = w.new_piece(w.nodes[0], 100)
    base = json.loads(w.run([w.place(piece), w.prove(piece, 0)]).next_state or b"")
    choice = data.draw(st.integers(0, 2))
    if choice == 0:
        raw = data.draw(st.binary(max_size=40))
    else:
        section = data.draw(st.sampled_from(["placements", "nodes", "pending", "format"]))
        if section == "format":
            base["format"] = data.draw(VALUES)
        elif section == "pending":
            base["pending"] = data.draw(VALUES)
        else:
            entry = next(iter(base[section].values()))
            entry[data.draw(st.sampled_from(sorted(entry)))] = data.draw(VALUES)
        raw = json.dumps(base).encode()
    try:
        parse_state(raw)
    except ValueError:
        w.state = raw
        with pytest.raises(InputError):
            w.run([])
        return
    w.state = raw
    w.run([])  # well formed: total


def test_the_initial_state_round_trips() -> None:
    raw = KIND.initial_state(WORLD.section)
    assert raw is not None and parse_state(raw).to_bytes() == raw
