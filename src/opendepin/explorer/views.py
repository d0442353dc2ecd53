"""Network-wide views: the epochs table, the map, one epoch's files and audit, search.

Each function turns the published files (`source.Network`) into one response model of
`models`; the routes render the same model as HTML or return it as JSON. Expected failures
are `NotFound` (no such epoch, device, owner or file) and `BadInput` (a malformed address);
the routes answer them with problem+json.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Final

import h3

from opendepin.canonical import sha256_hex
from opendepin.epochdir import EpochFile
from opendepin.errors import DepinError
from opendepin.explorer import mapview
from opendepin.explorer.models import (
    AgreementOut,
    AuditOut,
    ChainFactsOut,
    DeviceStatus,
    EpochOut,
    EpochRow,
    FileOut,
    MapDevice,
    MapOut,
    NetworkOut,
    SearchHit,
    SearchOut,
    SettlementOut,
    TileOut,
)
from opendepin.explorer.onchain import OnChain
from opendepin.explorer.source import (
    EpochData,
    EpochNotFound,
    EpochUnreadable,
    Network,
    Settlement,
)
from opendepin.geo import cell_centre

MAX_SEARCH_HITS: Final = 50
"""Search lists at most this many matches (and says it cut the list)."""
MIN_PARTIAL_HEX: Final = 4
"""Hex digits a partial address needs before it is matched against every address."""
_HEX_QUERY = re.compile(r"^(0x)?[0-9a-f]+$")


class NotFound(DepinError):
    """The epoch, device, owner or file asked for is not published here."""


class BadInput(DepinError):
    """A request parameter is malformed (beyond what the route's types already check)."""


def epoch_or_404(network: Network, epoch: int) -> EpochData:
    """The parsed epoch, or NotFound (unpublished and unreadable epochs alike)."""
    try:
        return network.epoch(epoch)
    except (EpochNotFound, EpochUnreadable) as exc:
        raise NotFound(str(exc)) from exc


def settlement_out(s: Settlement | None) -> SettlementOut | None:
    return None if s is None else SettlementOut(signers=list(s.signers), state=s.state, tx=s.tx)


def status_of(data: EpochData, device: str) -> DeviceStatus:
    """rewarded / penalised / idle in this epoch (see `models.DeviceStatus`)."""
    key = device.lower()
    if data.amount_of(key) > 0:
        return "rewarded"
    explained = data.explanations.get(key, {}).values()
    if data.invalid.get(key) or any(e.get("reasons") or e.get("invalid") for e in explained):
        return "penalised"
    return "idle"


def epoch_row(data: EpochData, settlement: Settlement | None, onchain: OnChain | None = None) -> EpochRow:
    on_chain = onchain.holds(data.epoch, data.rewards.root) if onchain is not None else None
    rejected: dict[str, int] = {}
    valid = 0
    for counts in data.counts.values():
        for reason, n in counts.items():
            if reason == "valid":
                valid += n
            else:
                rejected[reason] = rejected.get(reason, 0) + n
    rewards = data.rewards
    return EpochRow(
        epoch=data.epoch,
        root="0x" + rewards.root.hex(),
        manifest_sha256=data.manifest_sha256,
        settlement=settlement_out(settlement),
        emission=str(rewards.emission),
        allocated=str(rewards.allocated),
        unallocated=str(rewards.unallocated),
        cumulative_total=str(rewards.cumulative_total),
        paid_owners=sum(1 for o in rewards.owners if o.epoch_amount > 0),
        rewarded_devices=sum(1 for d in data.device_rewards if data.amount_of(d) > 0),
        registered_devices=len(data.devices),
        valid_verdicts=valid,
        rejected_by_reason=dict(sorted(rejected.items())),
        on_chain=on_chain,
    )


def chain_facts(onchain: OnChain | None) -> ChainFactsOut | None:
    if onchain is None:
        return None
    supply, burned = onchain.supply(), onchain.burned_for_credits()
    return ChainFactsOut(
        source=onchain.label,
        supply=None if supply is None else str(supply),
        burned_for_credits=None if burned is None else str(burned),
    )


def network_view(network: Network) -> NetworkOut:
    epochs, unreadable = network.readable_epochs()
    settled = network.settlements() if epochs else {}
    latest = epochs[-1] if epochs else None
    return NetworkOut(
        network=latest.manifest.network if latest else None,
        token_symbol=latest.token_symbol if latest else "tokens",
        sources=[s.name for s in network.sources],
        latest_epoch=latest.epoch if latest else None,
        chain=chain_facts(network.onchain),
        epochs=[epoch_row(d, settled.get(d.epoch), network.onchain) for d in reversed(epochs)],
        unreadable=unreadable,
    )


def latest_epoch(network: Network) -> EpochData | None:
    """The newest epoch that parses (None before any is published)."""
    for n in reversed(network.epoch_numbers()):
        try:
            return network.epoch(n)
        except (EpochNotFound, EpochUnreadable):
            continue
    return None


def map_view(network: Network, epoch: int | None, tile_url: str | None) -> MapOut:
    """Every device of the epoch's registry snapshot on its cell (the latest epoch by default)."""
    data = latest_epoch(network) if epoch is None else epoch_or_404(network, epoch)
    if data is None:
        return MapOut(epoch=None, zoom=0, width=mapview.CANVAS_WIDTH, height=mapview.CANVAS_HEIGHT,
                      kinds=[], devices=[], unplaced=[], tiles=[])
    placed: list[tuple[str, tuple[float, float], list[tuple[float, float]]]] = []
    unplaced: list[str] = []
    for key, rec in sorted(data.devices.items()):
        centre = cell_centre(rec.location)
        boundary = mapview.cell_boundary(rec.location)
        if centre is None or boundary is None:
            unplaced.append(rec.device)
        else:
            placed.append((key, centre, boundary))
    projection = mapview.fit(pt for _, _, boundary in placed for pt in boundary)
    devices = []
    for key, (lat, lon), boundary in placed:
        rec = data.devices[key]
        x, y = projection.point(lat, lon)
        points = " ".join(f"{px},{py}" for px, py in (projection.point(a, b) for a, b in boundary))
        devices.append(MapDevice(
            device=rec.device, kind=rec.kind, owner=rec.owner, status=status_of(data, key),
            amount=str(data.amount_of(key)), cell=h3.int_to_str(rec.location), lat=lat, lon=lon,
            x=x, y=y, points=points,
        ))
    return MapOut(
        epoch=data.epoch,
        zoom=projection.zoom,
        width=projection.width,
        height=projection.height,
        kinds=sorted({r.kind for r in data.devices.values()}),
        devices=devices,
        unplaced=unplaced,
        tiles=[TileOut(url=t.url, x=t.x, y=t.y) for t in mapview.tiles(projection, tile_url)],
    )


@lru_cache(maxsize=1024)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_hex(Path(path).read_bytes())


def _matches(path: Path, sha256: str) -> tuple[bool, int | None]:
    try:
        st = path.stat()
        return _file_sha256(str(path), st.st_mtime_ns, st.st_size) == sha256, st.st_size
    except OSError:
        return False, None


def epoch_view(network: Network, epoch: int, prefix: str) -> EpochOut:
    data = epoch_or_404(network, epoch)
    m = data.manifest
    base = f"{prefix}/epochs/{epoch}/files/"
    files = [FileOut(name=EpochFile.MANIFEST.value, role="manifest", sha256=data.manifest_sha256,
                     bytes=(data.directory / EpochFile.MANIFEST).stat().st_size, matches=True,
                     url=base + EpochFile.MANIFEST.value)]
    for f in m.inputs:
        ok, _ = _matches(data.directory / f.name, f.sha256)
        files.append(FileOut(name=f.name, role="input", sha256=f.sha256, bytes=f.size, matches=ok, url=base + f.name))
    for o in m.outputs:
        ok, size = _matches(data.directory / o.name, o.sha256)
        files.append(FileOut(name=o.name, role="output", sha256=o.sha256, bytes=size, matches=ok, url=base + o.name))
    return EpochOut(
        epoch=epoch,
        network=m.network,
        root="0x" + m.root.hex(),
        manifest_sha256=data.manifest_sha256,
        snapshot_block=m.snapshot_block,
        code_version=m.code_version,
        emission=str(m.emission),
        cumulative_total=str(m.cumulative_total),
        parameters=dict(m.parameters),
        files=files,
        counts=data.counts,
        settlement=settlement_out(network.settlements().get(epoch)),
        agreement=[AgreementOut(source=s, manifest_sha256=sha, agrees=sha == data.manifest_sha256)
                   for s, sha in network.agreement(epoch)],
    )


def epoch_file(network: Network, epoch: int, path: str) -> Path:
    """The file `path` of an epoch, if the manifest names it (or it is the manifest); else NotFound.

    Only names the manifest lists are served, and the resolved path must stay inside the
    epoch directory, so no `..`, absolute path or symlink reaches anything else.
    """
    data = epoch_or_404(network, epoch)
    listed = {EpochFile.MANIFEST.value, *(f.name for f in data.manifest.inputs), *(o.name for o in data.manifest.outputs)}
    if path not in listed:
        raise NotFound(f"epoch {epoch} publishes no file {path[:200]!r}")
    root = data.directory.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFound(f"epoch {epoch} publishes no file {path[:200]!r}")
    return target


@lru_cache(maxsize=64)
def _audit(directory: str, epoch: int, manifest_sha256: str) -> AuditOut:
    from opendepin.oracle.audit import (
        audit_epoch,  # the recomputation is heavy: loaded on first use
    )

    try:
        result = audit_epoch(Path(directory))
    except Exception as exc:  # files from anywhere: a failed audit is a result, never a crash
        return AuditOut(epoch=epoch, ok=False, published_root="", recomputed_root=None,
                        problems=[f"audit failed: {type(exc).__name__}: {exc}"])
    return AuditOut(
        epoch=result.epoch,
        ok=result.ok,
        published_root="0x" + result.published_root.hex(),
        recomputed_root=None if result.recomputed_root is None else "0x" + result.recomputed_root.hex(),
        problems=list(result.problems),
    )


def audit_view(network: Network, epoch: int) -> AuditOut:
    """`depin audit` of the epoch (recomputed once per manifest, then cached)."""
    data = epoch_or_404(network, epoch)
    return _audit(str(data.directory), epoch, data.manifest_sha256)


def _known_addresses(network: Network) -> dict[str, tuple[str, set[str]]]:
    """lower-cased address -> (display form, {"device", "owner"}) over every readable epoch."""
    out: dict[str, tuple[str, set[str]]] = {}
    epochs, _ = network.readable_epochs()
    for data in reversed(epochs):
        for key, rec in data.devices.items():
            out.setdefault(key, (rec.device, set()))[1].add("device")
            out.setdefault(rec.owner.lower(), (rec.owner, set()))[1].add("owner")
        for key, owner in data.owners.items():
            out.setdefault(key, (owner.account, set()))[1].add("owner")
    return out


def search(network: Network, query: str, prefix: str) -> SearchOut:
    """Devices, owners and epochs matching `query`: an epoch number, an address or part of one."""
    q = query.strip()
    hits: list[SearchHit] = []
    if q.isdigit() and len(q) <= 19 and int(q) in set(network.epoch_numbers()):
        hits.append(SearchHit(type="epoch", id=str(int(q)), url=f"{prefix}/epochs/{int(q)}"))
    low = q.lower()
    if _HEX_QUERY.match(low) and (len(low.removeprefix("0x")) >= MIN_PARTIAL_HEX or len(low) == 42):
        digits = low.removeprefix("0x")
        for key, (display, types) in sorted(_known_addresses(network).items()):
            matched = key == low if len(low) == 42 else digits in key[2:]
            if matched:
                for t in sorted(types):
                    path = "devices" if t == "device" else "owners"
                    hits.append(SearchHit(type="device" if t == "device" else "owner", id=display,
                                          url=f"{prefix}/{path}/{display}"))
    return SearchOut(query=q, hits=hits[:MAX_SEARCH_HITS], truncated=len(hits) > MAX_SEARCH_HITS)
