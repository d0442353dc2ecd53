"""The explorer's JSON API: one response model per page, published in the OpenAPI schema.

Every HTML page is rendered from the same model its `/api/...` twin returns, so what a
browser shows and what a script reads cannot drift apart. Token amounts are decimal strings
of base units (as in the epoch files: JSON numbers lose precision above 2**53); `None` means
"not known from the published files" (claims and supply live on chain).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DeviceStatus = Literal["rewarded", "penalised", "idle"]
"""rewarded: earned base units this epoch; penalised: earned nothing and has reasons or invalid
reports; idle: earned nothing and nothing is held against it (it sent nothing that was sealed)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SettlementOut(_Model):
    signers: list[str] = Field(description="Oracles whose signatures went on chain with the root.")
    state: str = Field(description="The submit stage's state in the oracle ledger (e.g. settled_by_peer).")
    tx: str | None = Field(description="Submission transaction hash, when recorded.")


class EpochRow(_Model):
    epoch: int
    root: str = Field(description="Merkle root of cumulative rewards (0x hex).")
    manifest_sha256: str
    settlement: SettlementOut | None = Field(description="None: no oracle ledger readable here.")
    emission: str
    allocated: str
    unallocated: str
    cumulative_total: str = Field(description="Sum of every owner's cumulative amount after the epoch.")
    paid_owners: int = Field(description="Owners with a positive amount this epoch.")
    rewarded_devices: int = Field(description="Devices with a positive amount this epoch.")
    registered_devices: int = Field(description="Devices in the registry snapshot.")
    valid_verdicts: int
    rejected_by_reason: dict[str, int] = Field(description="Invalid verdicts by reason code, all kinds.")
    on_chain: bool | None = Field(
        description="Whether the distributor holds this root for the epoch (None: no chain to ask)."
    )


class ChainFactsOut(_Model):
    source: str = Field(description="The JSON-RPC node the facts were read from.")
    supply: str | None = Field(description="Token total supply, base units (None: the node failed).")
    burned_for_credits: str | None = Field(
        description="Tokens burned for storage credits since deployment, base units (None: the node failed)."
    )


class NetworkOut(_Model):
    network: str | None
    token_symbol: str
    chain: ChainFactsOut | None = Field(description="On-chain facts; None: the explorer runs without a chain.")
    sources: list[str] = Field(description="Oracle data directories read (the first is primary).")
    latest_epoch: int | None
    epochs: list[EpochRow]
    unreadable: list[str] = Field(description="Published epochs whose files do not parse, and why.")


class MapDevice(_Model):
    device: str
    kind: str
    owner: str
    status: DeviceStatus
    amount: str = Field(description="Base units earned in the map's epoch.")
    cell: str = Field(description="H3 cell (hex string).")
    lat: float
    lon: float
    x: float = Field(description="Marker position on the canvas, pixels.")
    y: float
    points: str = Field(description="The cell's boundary as SVG polygon points, pixels.")


class TileOut(_Model):
    url: str
    x: float
    y: float


class MapOut(_Model):
    epoch: int | None
    zoom: int
    width: float
    height: float
    kinds: list[str]
    devices: list[MapDevice]
    unplaced: list[str] = Field(description="Devices without a valid asserted cell (not drawn).")
    tiles: list[TileOut]


class ReasonOut(_Model):
    code: str
    documented: bool = Field(description="False: a plugin kind's code, not on docs/reasons.md.")
    section: str
    meaning: str
    action: str


class ReportOut(_Model):
    kind: str
    seq: int
    timestamp_ms: int | None = Field(description="None: excluded before sealing (e.g. equivocated).")
    verdict: Literal["valid", "invalid"]
    reason: str | None
    details: str | None


class WhyOut(_Model):
    epoch: int
    rewarded: bool
    reasons: list[str] = Field(description="Reason codes the sentence names.")
    sentence: str


class DeviceEpochOut(_Model):
    epoch: int
    in_snapshot: bool
    shares: str | None = Field(description="Shares of its kind's pool; None: no explanation (nothing sealed).")
    amount: str
    reasons: list[str]
    invalid: dict[str, int]


class LocationOut(_Model):
    cell: str
    lat: float
    lon: float


class DeviceOut(_Model):
    device: str
    kind: str | None
    owner: str | None
    active: bool | None
    location: LocationOut | None
    epoch: int = Field(description="The epoch the verdicts, reports and why-sentence are for.")
    why: WhyOut
    figures: dict[str, Any] = Field(description="The kind's own figures from explanations_v1.json.")
    reports: list[ReportOut]
    reasons: list[ReasonOut] = Field(description="Every reason code on this page, explained.")
    history: list[DeviceEpochOut]


class OwnerDeviceOut(_Model):
    device: str
    kind: str


class OwnerEpochOut(_Model):
    epoch: int
    epoch_amount: str
    cumulative: str


class ClaimOut(_Model):
    epoch: int = Field(description="Epoch whose root the proof is against.")
    root: str
    cumulative_amount: str
    proof: list[str]
    function: str = Field(description="The RewardDistributor function the calldata calls.")
    calldata: str = Field(description="ABI-encoded call, 0x hex: send it to the RewardDistributor.")
    command: str = Field(description="The depin CLI command that claims.")
    settled: bool | None = Field(
        description="Whether this epoch's root is on chain: read on chain when the explorer has one, "
        "else from the oracle ledger (None: unknown)."
    )


class OwnerOut(_Model):
    account: str
    token_symbol: str
    devices: list[OwnerDeviceOut]
    cumulative: str
    claimed: str | None = Field(description="Claimed so far, read on chain; None without a chain (or the node failed).")
    claimable: str | None = Field(description="cumulative − claimed; None when claimed is unknown.")
    history: list[OwnerEpochOut]
    claim: ClaimOut | None = Field(description="None: nothing to claim yet.")


class FileOut(_Model):
    name: str
    role: Literal["input", "output", "manifest"]
    sha256: str = Field(description="Digest the manifest lists (for the manifest: of its bytes).")
    bytes: int | None
    matches: bool = Field(description="The file on disk has that digest.")
    url: str


class AgreementOut(_Model):
    source: str
    manifest_sha256: str | None
    agrees: bool


class EpochOut(_Model):
    epoch: int
    network: str
    root: str
    manifest_sha256: str
    snapshot_block: int
    code_version: str
    emission: str
    cumulative_total: str
    parameters: dict[str, Any]
    files: list[FileOut]
    counts: dict[str, dict[str, int]] = Field(description="Verdicts by reason per kind (valid included).")
    settlement: SettlementOut | None
    agreement: list[AgreementOut]


class AuditOut(_Model):
    epoch: int
    ok: bool
    published_root: str
    recomputed_root: str | None
    problems: list[str]


class SearchHit(_Model):
    type: Literal["device", "owner", "epoch"]
    id: str
    url: str


class SearchOut(_Model):
    query: str
    hits: list[SearchHit]
    truncated: bool
