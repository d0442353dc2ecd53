"""The `[storage]` settings section (read from `[kinds.storage]` or `[storage]`).

Oracle side (what every oracle must agree on, part of the epoch's published parameters):

- `audit_window_seconds`: one audit window per this many seconds of the epoch, each with its
  own chain entropy block (the kind's `entropy_window_seconds`). Must divide the epoch.
- `audit_probability_ppm`: the chance a piece is challenged in a window (`challenge.is_challenged`).
- `proof_grace_seconds`: a proof signed by window end + this is on time; it is also the kind's
  epoch overhang (a proof for the last window of an epoch may be signed after the epoch ends),
  so it must not exceed `network.report_grace_seconds` — checked by `check_against_network`.
- `containment_windows`: a challenge not answered on time stays *pending* (the node is
  "contained", as Storj calls it) for this many further windows; a valid proof before that
  deadline is a contained pass, after it the challenge is `missing` (a failure).
- `placers`: the addresses allowed to sign placements and DELETE orders (empty: none).
- `max_piece_bytes`, `max_term_seconds`: bounds on one placement.
- Storj's beta reputation: `reputation_lambda_ppm` (forgetting factor λ), `reputation_weight`
  (w), `reputation_initial_alpha` (α₀; β₀ = 0), `disqualify_at_ppm` (score at or below which a
  node is disqualified for good), `vetting_audits` (passed audits before a node is vetted).
- Held-back earnings (Storj's): `held_back_bps[age]` of an age-`age` node's shares are held,
  released in full at age `held_back_release_epochs`, forfeited on disqualification.

Placer side (the gateway reads them; oracles ignore them): `redundancy` ("k/repair/success/n",
`redundancy_scheme`) and `segment_size`.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from opendepin.identity.address import checksum
from opendepin.network.settings import NetworkSection, Section, Settings
from opendepin.storage.erasure import Redundancy
from opendepin.types import DeviceId

PPM = 1_000_000
BPS = 10_000
MAX_PLACERS = 256


def parse_redundancy(text: str) -> Redundancy:
    """`"4/5/6/8"` -> Redundancy(4, 5, 6, 8); ValueError if it is not four valid integers."""
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        raise ValueError(f"redundancy must be 'required/repair/success/total', got {text!r}")
    return Redundancy(*(int(p) for p in parts))


class StorageSection(Section):
    """Storage proofs: placements, audits from chain entropy, reputation and held-back earnings."""

    audit_window_seconds: int = Field(
        3_600, gt=0, description="Length of one audit window (one entropy block each)."
    )
    audit_probability_ppm: int = Field(
        125_000, ge=0, le=PPM, description="Probability a piece is challenged in a window, ppm."
    )
    proof_grace_seconds: int = Field(
        600,
        ge=0,
        description="A proof signed by window end + this is on time (also the epoch overhang).",
    )
    containment_windows: int = Field(
        24,
        ge=0,
        le=10_000,
        description="Windows after its own a late challenge may still be answered (contained).",
    )
    placers: tuple[DeviceId, ...] = Field(
        (), description="Authorised placer addresses (empty: no placement is accepted)."
    )
    max_piece_bytes: int = Field(
        268_435_456, gt=0, lt=2**63, description="Largest piece one placement may name."
    )
    max_term_seconds: int = Field(
        315_360_000, gt=0, lt=2**40, description="Longest storage term of a placement."
    )
    reputation_lambda_ppm: int = Field(
        999_000, ge=0, le=PPM, description="Storj's forgetting factor λ, ppm."
    )
    reputation_weight: int = Field(
        1, ge=1, le=1_000_000, description="Storj's weight w of one audit."
    )
    reputation_initial_alpha: int = Field(
        1_000, ge=1, le=10**9, description="α before the first audit (β starts at 0)."
    )
    disqualify_at_ppm: int = Field(
        960_000,
        ge=0,
        le=PPM,
        description="A node whose score is at or below this is disqualified for good.",
    )
    vetting_audits: int = Field(100, ge=0, description="Passed audits before a node is vetted.")
    held_back_bps: tuple[int, ...] = Field(
        (7_500, 7_500, 7_500, 5_000, 5_000, 5_000, 2_500, 2_500, 2_500),
        max_length=1_000,
        description="Share of earnings held back by node age in epochs (index 0: first epoch), bps.",
    )
    held_back_release_epochs: int = Field(
        15, ge=0, le=100_000, description="At this age the held balance is paid out in full."
    )
    redundancy: str = Field(
        "4/5/6/8", description="Placer side: required/repair/success/total pieces."
    )
    segment_size: int = Field(
        8_388_608, gt=0, le=2**32, description="Placer side: bytes per erasure-coded segment."
    )

    @field_validator("placers", mode="before")
    @classmethod
    def _checksum_placers(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_PLACERS:
                raise ValueError(f"storage.placers: at most {MAX_PLACERS} placers")
            out = []
            for item in value:
                if not isinstance(item, str):
                    raise ValueError(f"storage.placers: {item!r} is not an address")
                out.append(checksum(item))
            return tuple(out)
        return value

    @field_validator("held_back_bps")
    @classmethod
    def _check_bps(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= v <= BPS for v in value):
            raise ValueError("storage.held_back_bps: each value must be in 0..10000")
        return value

    @field_validator("redundancy")
    @classmethod
    def _check_redundancy(cls, value: str) -> str:
        return str(parse_redundancy(value))

    @model_validator(mode="after")
    def _check(self) -> StorageSection:
        if self.proof_grace_seconds > self.audit_window_seconds * (self.containment_windows + 1):
            raise ValueError("storage.proof_grace_seconds must not exceed the containment period")
        return self

    @property
    def redundancy_scheme(self) -> Redundancy:
        """`redundancy` as an `erasure.Redundancy`."""
        return parse_redundancy(self.redundancy)

    @property
    def placer_set(self) -> frozenset[DeviceId]:
        """The authorised placers."""
        return frozenset(self.placers)

    @property
    def audit_window_ms(self) -> int:
        return self.audit_window_seconds * 1_000

    @property
    def proof_grace_ms(self) -> int:
        return self.proof_grace_seconds * 1_000


def check_against_network(section: StorageSection, network: NetworkSection) -> list[str]:
    """Problems between the section and the network clock (empty when consistent): the
    audit window must divide the epoch, and the proof grace (the kind's epoch overhang) must
    stay within `report_grace_seconds`, or ingest closes an epoch before its last window's
    proofs can arrive."""
    problems = []
    if network.epoch_seconds % section.audit_window_seconds:
        problems.append(
            f"storage.audit_window_seconds ({section.audit_window_seconds}) must divide "
            f"network.epoch_seconds ({network.epoch_seconds})"
        )
    if section.proof_grace_seconds > network.report_grace_seconds:
        problems.append(
            f"storage.proof_grace_seconds ({section.proof_grace_seconds}) exceeds "
            f"network.report_grace_seconds ({network.report_grace_seconds})"
        )
    return problems


def storage_section(settings: Settings) -> StorageSection:
    """The storage section of `settings` (its defaults when none is configured)."""
    section = settings.kind_section("storage")
    assert isinstance(section, StorageSection)
    return section
