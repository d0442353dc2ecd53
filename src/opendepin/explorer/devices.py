"""A device's and an owner's views: verdicts, why (not) rewarded, rewards over time, claiming.

**Why not rewarded.** An epoch's `explanations_v1.json` says, per kind and device, the shares
it earned and the reason codes it earned less than a perfect epoch (`reasons`, report and
device level) and its invalid reports by reason (`invalid`); `verdicts_v1.json` lists every
invalid verdict; `rewards_v1.json` what the device's owner was paid for it. `why` puts them in
one sentence: rewarded (amount, shares, and what was held against it if anything), or not
rewarded because of the listed codes — or, when the files name no reason, the fact that
explains it (nothing of the device was sealed, it is not in the registry snapshot, its shares
went to no owner). Each code on the page is explained with the text of `docs/reasons.md`.

**Claiming.** An owner claims its *cumulative* amount with a Merkle proof against the latest
root on chain; the distributor pays the difference to what it already claimed. The explorer
builds the proof from the newest reward file and the ABI calldata of
`RewardDistributor.claim(address,uint256,bytes32[])` (eth-abi), and names the CLI command
(`depin agent claim`). What was already claimed is on chain, not in the files: it is shown
as unknown.
"""

from __future__ import annotations

from typing import Any, Final

from eth_abi.abi import encode

from opendepin.crypto import keccak256
from opendepin.explorer import glossary
from opendepin.explorer.models import (
    ClaimOut,
    DeviceEpochOut,
    DeviceOut,
    LocationOut,
    OwnerDeviceOut,
    OwnerEpochOut,
    OwnerOut,
    ReasonOut,
    ReportOut,
    WhyOut,
)
from opendepin.explorer.source import EpochData, Network
from opendepin.explorer.views import BadInput, NotFound, epoch_or_404
from opendepin.geo import cell_centre
from opendepin.identity.address import checksum

CLAIM_SIGNATURE: Final = "claim(address,uint256,bytes32[])"
"""The RewardDistributor function an owner (or anyone on its behalf) calls."""
CLAIM_ARG_TYPES: Final = ("address", "uint256", "bytes32[]")
TOKEN_DECIMALS: Final = 18
"""Decimals of the network token (the Token contract's)."""
SHOWN_DECIMALS: Final = 6
"""Decimals shown in amounts on the pages (rounded down; the API gives base units)."""
MAX_REPORTS_LISTED: Final = 5_000
"""A device page lists at most this many reports of one epoch."""
CLAIM_COMMAND: Final = (
    "depin agent claim --dir AGENT_DIR --sender-keystore SENDER_KEYSTORE.json "
    "--sender-passphrase-env SENDER_PASS --account {account}"
)
_NOT_FIGURES: Final = frozenset({"device", "shares", "reasons", "invalid", "invalid_reports"})


def tokens(amount: int, symbol: str) -> str:
    """`amount` base units as tokens, rounded down to SHOWN_DECIMALS, e.g. `84.210526 DPIN`."""
    whole, frac = divmod(amount, 10**TOKEN_DECIMALS)
    shown = frac // 10 ** (TOKEN_DECIMALS - SHOWN_DECIMALS)
    text = f"{whole:,}.{shown:0{SHOWN_DECIMALS}d}".rstrip("0").rstrip(".")
    return f"{text} {symbol}"


def address_or_422(text: str, what: str) -> str:
    try:
        return checksum(text)
    except ValueError as exc:
        raise BadInput(f"{what}: {exc}") from exc


def _code_list(codes: list[str], counts: dict[str, int]) -> str:
    parts = [f"{c} ({counts[c]} invalid report{'s' if counts[c] != 1 else ''})" if counts.get(c) else c for c in codes]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def why(data: EpochData, device: str) -> WhyOut:
    """The one-sentence answer to "why (not) rewarded in this epoch" (see the module docstring)."""
    key, e = device.lower(), data.epoch
    explained = data.explanations.get(key, {})
    counts: dict[str, int] = {}
    for v in data.invalid.get(key, []):
        counts[v.reason] = counts.get(v.reason, 0) + 1
    codes = {str(r) for x in explained.values() for r in x.get("reasons", ())} | set(counts)
    reasons = sorted(codes)
    shares = sum(int(x.get("shares", 0)) for x in explained.values())
    amount = data.amount_of(key)
    if amount > 0:
        paid = f"Rewarded in epoch {e}: {tokens(amount, data.token_symbol)} for {shares} shares"
        tail = f", less than a perfect epoch because of {_code_list(reasons, counts)}." if reasons else "; nothing was held against it."
        return WhyOut(epoch=e, rewarded=True, reasons=reasons, sentence=paid + tail)
    if reasons:
        sentence = f"Not rewarded in epoch {e} because of {_code_list(reasons, counts)}."
    elif key not in data.devices and not explained:
        sentence = f"Not rewarded in epoch {e}: the device is not in the registry snapshot (block {data.snapshot_block})."
    elif not explained:
        sentence = f"Not rewarded in epoch {e}: no report of it was sealed for the epoch (it sent none, or none passed ingest)."
    elif shares > 0:
        sentence = f"Not rewarded in epoch {e}: its {shares} shares went to no one (the device has no owner in the snapshot)."
    else:
        sentence = f"Not rewarded in epoch {e}: it earned no shares, and the epoch's files name no reason."
    return WhyOut(epoch=e, rewarded=False, reasons=reasons, sentence=sentence)


def reason_out(code: str) -> ReasonOut:
    text = glossary.explain(code)
    if text is None:
        return ReasonOut(code=code, documented=False, section="",
                         meaning="A code of a plugin proof kind (not listed on docs/reasons.md).",
                         action="See the documentation of the kind that defines it.")
    return ReasonOut(code=code, documented=True, section=text.section, meaning=text.meaning, action=text.action)


def _reports(data: EpochData, key: str) -> list[ReportOut]:
    """Every sealed report of the device with its verdict, then verdicts of reports not sealed."""
    pending: dict[tuple[str, int], list[Any]] = {}
    for v in data.invalid.get(key, []):
        pending.setdefault((v.kind, v.seq), []).append(v)
    out: list[ReportOut] = []
    for r in data.reports_of(key)[:MAX_REPORTS_LISTED]:
        found = pending.pop((r.kind, r.seq), [])
        if not found:
            out.append(ReportOut(kind=r.kind, seq=r.seq, timestamp_ms=r.timestamp_ms, verdict="valid", reason=None, details=None))
        for v in found:
            out.append(ReportOut(kind=r.kind, seq=r.seq, timestamp_ms=r.timestamp_ms, verdict="invalid", reason=v.reason, details=v.details))
    for (kind, seq), verdicts in sorted(pending.items()):
        for v in verdicts:
            out.append(ReportOut(kind=kind, seq=seq, timestamp_ms=None, verdict="invalid", reason=v.reason, details=v.details))
    return out


def _history_row(data: EpochData, key: str) -> DeviceEpochOut:
    explained = data.explanations.get(key, {})
    invalid: dict[str, int] = {}
    for x in explained.values():
        for reason, n in dict(x.get("invalid", {})).items():
            invalid[str(reason)] = invalid.get(str(reason), 0) + int(n)
    return DeviceEpochOut(
        epoch=data.epoch,
        in_snapshot=key in data.devices,
        shares=str(sum(int(x.get("shares", 0)) for x in explained.values())) if explained else None,
        amount=str(data.amount_of(key)),
        reasons=sorted({str(r) for x in explained.values() for r in x.get("reasons", ())}),
        invalid=dict(sorted(invalid.items())),
    )


def _mentions(data: EpochData, key: str) -> bool:
    return key in data.devices or key in data.explanations or key in data.invalid or key in data.device_rewards


def device_view(network: Network, device: str, epoch: int | None) -> DeviceOut:
    """The device page: registry facts, why (not) rewarded, every verdict, rewards per epoch."""
    address = address_or_422(device, "device")
    key = address.lower()
    epochs, _ = network.readable_epochs()
    seen = [d for d in epochs if _mentions(d, key)]
    if not seen:
        raise NotFound(f"device {address} appears in no published epoch")
    data = seen[-1] if epoch is None else epoch_or_404(network, epoch)
    record = data.devices.get(key) or next((d.devices[key] for d in reversed(seen) if key in d.devices), None)
    location = None
    if record is not None and (centre := cell_centre(record.location)) is not None:
        location = LocationOut(cell=f"{record.location:x}", lat=centre[0], lon=centre[1])
    reports = _reports(data, key)
    answer = why(data, key)
    figures = {k: v for x in data.explanations.get(key, {}).values() for k, v in x.items() if k not in _NOT_FIGURES}
    history = [_history_row(d, key) for d in epochs]
    codes = set(answer.reasons) | {r.reason for r in reports if r.reason} | {c for h in history for c in (*h.reasons, *h.invalid)}
    return DeviceOut(
        device=record.device if record else address,
        kind=record.kind if record else None,
        owner=record.owner if record else data.device_owner.get(key),
        active=record.active if record else None,
        location=location,
        epoch=data.epoch,
        why=answer,
        figures=figures,
        reports=reports,
        reasons=[reason_out(c) for c in sorted(codes)],
        history=history,
    )


def claim_calldata(account: str, cumulative: int, proof: list[bytes]) -> str:
    """0x hex calldata of `RewardDistributor.claim(account, cumulative, proof)`."""
    selector = keccak256(CLAIM_SIGNATURE.encode("ascii"))[:4]
    return "0x" + (selector + encode(list(CLAIM_ARG_TYPES), [account, cumulative, proof])).hex()


def owner_view(network: Network, account: str) -> OwnerOut:
    """The owner page: cumulative rewards, history, devices, and how to claim."""
    address = address_or_422(account, "owner")
    key = address.lower()
    epochs, _ = network.readable_epochs()
    history: list[OwnerEpochOut] = []
    devices: dict[str, OwnerDeviceOut] = {}
    paid: EpochData | None = None
    for data in epochs:
        owner = data.owners.get(key)
        if owner is not None:
            paid = data
            history.append(OwnerEpochOut(epoch=data.epoch, epoch_amount=str(owner.epoch_amount), cumulative=str(owner.cumulative)))
            for d in owner.devices:
                devices[d.device.lower()] = OwnerDeviceOut(device=d.device, kind=d.kind)
        for dk, rec in data.devices.items():
            if rec.owner.lower() == key:
                devices[dk] = OwnerDeviceOut(device=rec.device, kind=rec.kind)
    if not history and not devices:
        raise NotFound(f"owner {address} appears in no published epoch")
    symbol = epochs[-1].token_symbol if epochs else "tokens"
    cumulative = paid.owners[key].cumulative if paid else 0
    claim = None
    if paid is not None and cumulative > 0:
        proof = paid.tree().proof(address)
        settled = network.onchain.holds(paid.epoch, paid.rewards.root) if network.onchain else None
        if settled is None and network.settlements().get(paid.epoch) is not None:
            settled = True  # no chain to ask: the oracle ledger records it as submitted
        claim = ClaimOut(
            epoch=paid.epoch,
            root="0x" + paid.rewards.root.hex(),
            cumulative_amount=str(cumulative),
            proof=["0x" + p.hex() for p in proof],
            function=CLAIM_SIGNATURE,
            calldata=claim_calldata(address, cumulative, proof),
            command=CLAIM_COMMAND.format(account=address),
            settled=settled,
        )
    claimed = network.onchain.claimed(address) if network.onchain is not None else None
    return OwnerOut(
        account=address,
        token_symbol=symbol,
        devices=sorted(devices.values(), key=lambda d: d.device.lower()),
        cumulative=str(cumulative),
        claimed=None if claimed is None else str(claimed),
        claimable=None if claimed is None else str(max(0, cumulative - claimed)),
        history=history,
        claim=claim,
    )
