"""The rounds of input agreement as a pure state machine (Dolev–Strong over signed batches).

With N oracles of which at most f = N − M are faulty, there are f + 1 rounds, 0 … f. The
acceptance rule is the whole protocol:

    in round r, a chain is accepted if it carries at least r + 1 valid signatures by
    distinct oracles of the set, the first by the batch's origin, and its batch is new.

An oracle accepts its own batch in round 0 and publishes it as a one-signature chain; every
chain it accepts in round r < f it relays in round r + 1 with its own signature appended.
After round f it decides: the accepted batches, minus every batch of an origin that signed
two (equivocation; the two origin signatures are the evidence).

Why honest oracles decide the same set: if an honest oracle accepts batch b in round r < f,
it relays b in round r + 1 with r + 2 signatures and every honest oracle accepts b then (the
synchrony assumption: an honest record published for a round reaches every honest oracle
within it). If it accepts b only in round f, b's chain has f + 1 distinct signers, so one of
them is honest, and that one relayed b (or originated it) in a round ≤ f — every honest
oracle accepted b by then. So every honest oracle's accepted set is the same, and the
decision is a function of that set alone (`decide`). `docs/agreement.md` has the model.

This module holds no I/O and no clock: `service` feeds it records and ends rounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opendepin.oracle.agreement.messages import MAX_CHAINS_PER_ORIGIN, Domain, SignedChain
from opendepin.types import Address


@dataclass(frozen=True, slots=True)
class AcceptedBatch:
    """A batch this oracle accepted: the chain it accepted, the round, what the bytes held."""

    chain: SignedChain
    round: int
    reports: int
    size: int

    def to_obj(self) -> dict[str, Any]:
        return {"chain": self.chain.to_obj(), "round": self.round, "reports": self.reports, "bytes": self.size}

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> AcceptedBatch:
        c = obj["chain"]
        chain = SignedChain(str(c["batch"]), Address(str(c["origin"])), tuple(c["signatures"]), int(c["reports"]), int(c["bytes"]))
        return cls(chain, int(obj["round"]), int(obj["reports"]), int(obj["bytes"]))


@dataclass(frozen=True, slots=True)
class Decision:
    """What an oracle decided for an epoch; identical at every honest oracle."""

    epoch: int
    oracles: tuple[Address, ...]
    faulty: int
    batches: tuple[AcceptedBatch, ...]
    """Every accepted batch, by (origin, batch)."""
    equivocators: tuple[Address, ...]
    """Origins with two accepted batches: all their batches are left out."""

    @property
    def sealed(self) -> tuple[AcceptedBatch, ...]:
        """The batches whose reports are sealed (not by an equivocating origin)."""
        return tuple(b for b in self.batches if b.chain.origin not in self.equivocators)

    def summary(self) -> dict[str, Any]:
        """The canonical `agreement_v1` object: the same bytes at every honest oracle (no
        signatures, whose bytes an origin may vary; those are in `evidence`)."""
        return {
            "format": "agreement_v1",
            "epoch": self.epoch,
            "oracles": list(self.oracles),
            "faulty_tolerated": self.faulty,
            "rounds": self.faulty + 1,
            "batches": [
                {"origin": b.chain.origin, "batch": b.chain.batch, "reports": b.reports, "bytes": b.size}
                for b in self.batches
            ],
            "sealed": [b.chain.batch for b in self.sealed],
            "equivocating_oracles": list(self.equivocators),
        }

    def evidence(self, domain: Domain) -> dict[str, Any]:
        """`agreement_evidence_v1`: for each equivocating oracle, two of its batches with its
        origin signatures — anyone can check them against `Domain.origin_digest`."""
        return {
            "format": "agreement_evidence_v1",
            "network": domain.network_id,
            "chain_id": domain.chain_id,
            "epoch": self.epoch,
            "equivocations": [
                {
                    "oracle": o,
                    "signed": [
                        {"batch": b.chain.batch, "signature": b.chain.signatures[0]}
                        for b in self.batches
                        if b.chain.origin == o
                    ],
                }
                for o in self.equivocators
            ],
        }


@dataclass
class Rounds:
    """One oracle's agreement state for one epoch."""

    domain: Domain
    epoch: int
    oracles: tuple[Address, ...]
    faulty: int
    me: Address
    round: int = 0
    accepted: dict[tuple[Address, str], AcceptedBatch] = field(default_factory=dict)
    """(origin, batch) -> what was accepted: keyed by origin too, since faulty oracles may
    each sign the same batch as its origin, and each such origin counts on its own."""
    heard: dict[int, set[Address]] = field(default_factory=dict)
    """Round -> oracles whose record for it this oracle has."""

    @property
    def last_round(self) -> int:
        return self.faulty

    @property
    def done(self) -> bool:
        return self.round > self.last_round

    def check(self, chain: SignedChain, round_: int) -> str | None:
        """None if `chain` is acceptable in `round_` (content still to be fetched), else why not."""
        if (chain.origin, chain.batch) in self.accepted:
            return "already accepted"
        if sum(1 for b in self.accepted.values() if b.chain.origin == chain.origin) >= MAX_CHAINS_PER_ORIGIN:
            return f"already {MAX_CHAINS_PER_ORIGIN} batches of this origin"
        if chain.origin not in self.oracles:
            return "origin is not an oracle"
        if len(chain.signatures) < round_ + 1:
            return f"round {round_} needs at least {round_ + 1} signatures, the chain has {len(chain.signatures)}"
        signers = chain.signers(self.domain, self.epoch)
        if signers is None:
            return "a signature does not verify, or an oracle signed twice"
        if any(s not in self.oracles for s in signers):
            return "a signer is not an oracle"
        return None

    def accept(self, chain: SignedChain, round_: int, reports: int, size: int) -> None:
        self.accepted[(chain.origin, chain.batch)] = AcceptedBatch(chain, round_, reports, size)

    def hear(self, oracle: Address, round_: int) -> None:
        self.heard.setdefault(round_, set()).add(oracle)

    def heard_all(self, round_: int) -> bool:
        return self.heard.get(round_, set()) >= set(self.oracles)

    def relays(self, signer_round: int) -> list[SignedChain]:
        """Chains to publish in round `signer_round`: those accepted in the round before that
        this oracle has not signed yet (its own batch is sent once, in round 0)."""
        return [
            b.chain
            for b in sorted(self.accepted.values(), key=lambda b: (b.chain.origin, b.chain.batch))
            if b.round == signer_round - 1 and self.me not in self._signers(b.chain)
        ]

    def _signers(self, chain: SignedChain) -> Sequence[Address]:
        return chain.signers(self.domain, self.epoch) or ()

    def decide(self) -> Decision:
        batches = tuple(sorted(self.accepted.values(), key=lambda b: (b.chain.origin, b.chain.batch)))
        per_origin: dict[Address, int] = {}
        for b in batches:
            per_origin[b.chain.origin] = per_origin.get(b.chain.origin, 0) + 1
        equivocators = tuple(sorted(o for o, n in per_origin.items() if n > 1))
        return Decision(self.epoch, tuple(sorted(self.oracles)), self.faulty, batches, equivocators)

    def to_obj(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "accepted": [b.to_obj() for _, b in sorted(self.accepted.items())],
            "heard": {str(r): sorted(s) for r, s in sorted(self.heard.items())},
        }

    def load(self, obj: Mapping[str, Any]) -> None:
        self.round = int(obj["round"])
        self.accepted = {(a.chain.origin, a.chain.batch): a for a in (AcceptedBatch.from_obj(x) for x in obj["accepted"])}
        self.heard = {int(r): {Address(a) for a in s} for r, s in dict(obj["heard"]).items()}


def faulty_tolerated(oracles: Iterable[object], threshold: int) -> int:
    """f = N − M: how many oracles may be faulty while M honest ones can still settle."""
    return max(0, len(list(oracles)) - threshold)


__all__ = ["AcceptedBatch", "Decision", "Rounds", "faulty_tolerated"]
