"""The acceptance rule of input agreement, and honest oracles deciding alike whatever f
faulty ones send (a seeded model of the synchronous rounds, content always available)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.chain.accounts import Signer
from opendepin.identity.signatures import recover_address
from opendepin.oracle.agreement.messages import (
    Domain,
    RoundRecord,
    SignedChain,
    origin_chain,
    parse_record,
)
from opendepin.oracle.agreement.protocol import Rounds
from opendepin.types import Address

DOMAIN = Domain("test-net", 31337)
EPOCH = 4


def _batch(i: int) -> str:
    return "0x" + f"{i:064x}"


def _signers(n: int) -> list[Signer]:
    return sorted((Signer.generate() for _ in range(n)), key=lambda s: s.address)


def _rounds(signers: list[Signer], me: Signer, faulty: int) -> Rounds:
    return Rounds(DOMAIN, EPOCH, tuple(Address(s.address) for s in signers), faulty, Address(me.address))


def test_a_chain_needs_one_more_signature_each_round() -> None:
    a, b, c = _signers(3)
    r = _rounds([a, b, c], c, faulty=1)
    own = origin_chain(DOMAIN, EPOCH, _batch(1), 1, 10, a)
    assert r.check(own, 0) is None
    assert "needs at least 2" in str(r.check(own, 1))  # a late origin, alone, comes too late
    relayed = own.extended(DOMAIN, EPOCH, b)
    assert r.check(relayed, 1) is None
    assert relayed.signers(DOMAIN, EPOCH) == (a.address, b.address)


def test_forged_swapped_repeated_and_foreign_signatures_are_refused() -> None:
    a, b, c = _signers(3)
    stranger = Signer.generate()
    r = _rounds([a, b, c], c, faulty=1)
    own = origin_chain(DOMAIN, EPOCH, _batch(2), 1, 10, a)
    relayed = own.extended(DOMAIN, EPOCH, b)
    # b's RELAY signature presented as b's origin signature: b never originated this batch.
    swapped = SignedChain(own.batch, Address(b.address), (relayed.signatures[1],))
    assert r.check(swapped, 0) is not None
    twice = SignedChain(own.batch, own.origin, (own.signatures[0], own.signatures[0]))
    assert r.check(twice, 1) is not None
    foreign = own.extended(DOMAIN, EPOCH, stranger)
    assert r.check(foreign, 1) == "a signer is not an oracle"
    other_epoch = origin_chain(Domain("test-net", 31337), EPOCH + 1, _batch(2), 1, 10, a)
    assert r.check(SignedChain(own.batch, own.origin, other_epoch.signatures), 0) is not None
    other_net = origin_chain(Domain("other-net", 31337), EPOCH, _batch(2), 1, 10, a)
    assert r.check(SignedChain(own.batch, own.origin, other_net.signatures), 0) is not None


def test_an_origin_that_signs_two_batches_is_excluded_with_verifiable_evidence() -> None:
    a, b, c = _signers(3)
    r = _rounds([a, b, c], c, faulty=1)
    for i in (1, 2):
        chain = origin_chain(DOMAIN, EPOCH, _batch(i), 1, 10, a)
        assert r.check(chain, 0) is None
        r.accept(chain, 0, 1, 10)
    third = origin_chain(DOMAIN, EPOCH, _batch(3), 1, 10, a)
    assert "already 2" in str(r.check(third, 0))
    mine = origin_chain(DOMAIN, EPOCH, _batch(9), 1, 10, c)
    r.accept(mine, 0, 1, 10)
    decision = r.decide()
    assert decision.equivocators == (a.address,)
    assert [b.chain.batch for b in decision.sealed] == [_batch(9)]
    evidence = decision.evidence(DOMAIN)["equivocations"]
    assert [e["oracle"] for e in evidence] == [a.address]
    for signed in evidence[0]["signed"]:
        digest = DOMAIN.origin_digest(EPOCH, signed["batch"])
        assert recover_address(digest, bytes.fromhex(signed["signature"][2:])) == a.address


# -- the model: honest oracles decide the same set against random faulty strategies ------------


def _run(n: int, faulty: int, seed: int) -> tuple[list[frozenset[str]], set[str]]:
    """One epoch of agreement among n oracles, the last `faulty` of them byzantine (they may
    rush: they see honest records of a round before sending theirs). Returns each honest
    oracle's sealed batches, and the honest oracles' own batches."""
    rng = random.Random(seed)
    signers = _signers(n)
    bad = signers[n - faulty :]
    honest = signers[: n - faulty]
    states = {s.address: _rounds(signers, s, faulty) for s in honest}
    published: list[SignedChain] = []  # every chain honest oracles published so far
    for s in honest:
        chain = origin_chain(DOMAIN, EPOCH, _batch(int(s.address, 16) % 10_000), 1, 10, s)
        states[s.address].accept(chain, 0, 1, 10)
    bad_batches = [_batch(100_000 + i) for i in range(3 * faulty)]
    for q in range(faulty + 1):
        honest_out = {}
        for s in honest:
            st_ = states[s.address]
            if q == 0:
                honest_out[s.address] = [b.chain for b in st_.accepted.values()]
            else:
                honest_out[s.address] = [c.extended(DOMAIN, EPOCH, s) for c in st_.relays(q)]
        published.extend(c for out in honest_out.values() for c in out)

        def forge() -> SignedChain:
            """A chain the faulty oracles can make: their own batch, or one an honest oracle
            published, extended with some of their own signatures."""
            if published and rng.random() < 0.4:
                chain = rng.choice(published)
            else:
                origin = rng.choice(bad)
                chain = origin_chain(DOMAIN, EPOCH, rng.choice(bad_batches), 1, 10, origin)
            have = set(chain.signers(DOMAIN, EPOCH) or ())
            for b in rng.sample(bad, rng.randint(0, faulty)):
                if b.address not in have:
                    chain = chain.extended(DOMAIN, EPOCH, b)
                    have.add(b.address)
            return chain

        for s in honest:
            st_ = states[s.address]
            incoming = [c for out in honest_out.values() for c in out]
            incoming += [forge() for _ in range(rng.randint(0, 4))]  # chosen per receiver
            rng.shuffle(incoming)
            for chain in incoming:
                if st_.check(chain, q) is None:
                    st_.accept(chain, q, 1, 10)
    own = {_batch(int(s.address, 16) % 10_000) for s in honest}
    return [frozenset(b.chain.batch for b in states[s.address].decide().sealed) for s in honest], own


@pytest.mark.parametrize(("n", "faulty"), [(3, 1), (4, 1), (5, 2), (7, 3)])
def test_honest_oracles_decide_the_same_batches_whatever_the_faulty_ones_send(n: int, faulty: int) -> None:
    for seed in range(60):
        decisions, own = _run(n, faulty, seed * 31 + n)
        assert len(set(decisions)) == 1, (seed, decisions)
        assert own <= decisions[0]  # every honest oracle's own batch is sealed by all


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=20,
)))
def test_parse_record_answers_a_reason_for_anything(value: object) -> None:
    import json

    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    signer = Signer.generate()
    result = parse_record(data, DOMAIN, EPOCH, 0, [signer.address])
    assert isinstance(result, str)


def test_parse_record_reads_back_a_signed_record_and_refuses_an_altered_one() -> None:
    a, b = _signers(2)
    chain = origin_chain(DOMAIN, EPOCH, _batch(5), 3, 99, a)
    record = RoundRecord(EPOCH, 0, Address(a.address), (chain,)).signed(DOMAIN, a)
    data = record.to_bytes(DOMAIN)
    parsed = parse_record(data, DOMAIN, EPOCH, 0, [a.address, b.address])
    assert isinstance(parsed, RoundRecord) and parsed.chains == (chain,)
    assert isinstance(parse_record(data, DOMAIN, EPOCH, 1, [a.address]), str)  # another round
    altered = data.replace(b'"reports":3', b'"reports":4')
    assert parse_record(altered, DOMAIN, EPOCH, 0, [a.address]) == "record signature does not recover to its oracle"
    assert parse_record(b"[" * 5000, DOMAIN, EPOCH, 0, [a.address]) is not None
