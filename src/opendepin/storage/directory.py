"""Which nodes a placer knows, and which of them get the pieces of a segment.

**The directory** is a list of node URLs. `refresh` asks each `GET /v1/node` (in parallel) for
its id, capacity and use; a node that does not answer, or belongs to another network, is
kept but marked unusable. Two optional sources add what the node cannot be trusted to say
about itself:

* the chain registry snapshot (`opendepin.records.DeviceRecord` by device id): the node's
  owner and asserted location (H3 cell). With a registry given, a node that is not
  registered, inactive, or registered for another kind is not used;
* the oracles' published reputation: `disqualified` (never used) and `vetting` (new nodes
  still proving themselves; they get only a small share of new pieces).

**Selection for one segment** (`select`) picks up to `count` distinct nodes:

1. candidates: usable, not disqualified, not excluded (nodes that already hold a piece of
   the segment, for repair), with at least `need_bytes` free;
2. order: a seeded shuffle (deterministic given the seed, so tests can pin it), vetted nodes
   first except for a quota of `vetting_quota` vetting nodes per segment (Storj gives ~5 %
   of new pieces to unvetted nodes); vetting nodes beyond the quota only when the vetted
   ones run out;
3. spread: three passes over that order — first nodes whose owner *and* location are not
   yet used, then nodes whose owner is new, then anything — so one operator (or one
   building) holds as few pieces of a segment as the directory allows. A node without a
   registry entry is its own owner and has no known location.

Fewer than `minimum` candidates is `PlacerError(not_enough_nodes)` with the reason each
rejected node was skipped.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Final

from opendepin.errors import DepinError
from opendepin.records import DeviceRecord
from opendepin.storage.client import NodeClient, NodeInfo, NodeUnavailable
from opendepin.storage.orders import StorageError
from opendepin.types import DeviceId

STORAGE_KIND: Final = "storage"
DEFAULT_VETTING_FRACTION_BPS: Final = 500
"""At most 5 % of a segment's pieces (at least one) go to vetting nodes while vetted ones suffice."""
REFRESH_WORKERS: Final = 16


class PlacerError(DepinError):
    """A placer operation cannot be done; `code` is a stable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class NodeEntry:
    """A node the placer knows: where it is, who it says it is, who owns it."""

    url: str
    info: NodeInfo | None = None
    """Its last `GET /v1/node` answer (None: never reached)."""
    error: str | None = None
    """Why it is unusable now (unreachable, wrong network), or None."""
    owner: str | None = None
    location: int = 0
    """H3 cell from the registry (0: unknown)."""

    @property
    def node(self) -> DeviceId | None:
        return None if self.info is None else self.info.node

    @property
    def usable(self) -> bool:
        return self.info is not None and self.error is None

    @property
    def owner_key(self) -> str:
        return self.owner or str(self.node)


class NodeDirectory:
    """The placer's view of the network's storage nodes."""

    def __init__(
        self,
        urls: Iterable[str],
        *,
        network: str,
        chain_id: int,
        registry: Mapping[DeviceId, DeviceRecord] | None = None,
        disqualified: Iterable[str] = (),
        vetting: Iterable[str] = (),
        vetting_fraction_bps: int = DEFAULT_VETTING_FRACTION_BPS,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.network = network
        self.chain_id = chain_id
        self.registry = registry
        self.disqualified = frozenset(disqualified)
        self.vetting = frozenset(vetting)
        self.vetting_fraction_bps = vetting_fraction_bps
        self._timeout = timeout_seconds
        self._entries: dict[str, NodeEntry] = {}
        for url in urls:
            clean = url.rstrip("/")
            self._entries.setdefault(clean, NodeEntry(clean))
        self._clients: dict[str, NodeClient] = {}

    def client(self, url: str) -> NodeClient:
        """The (cached) client of the node at `url`."""
        clean = url.rstrip("/")
        found = self._clients.get(clean)
        if found is None:
            found = self._clients[clean] = NodeClient(clean, timeout_seconds=self._timeout)
        return found

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    @property
    def entries(self) -> list[NodeEntry]:
        return list(self._entries.values())

    def by_node(self, node: str) -> NodeEntry | None:
        for entry in self._entries.values():
            if entry.node == node:
                return entry
        return None

    def reachable(self, node: str) -> bool:
        entry = self.by_node(node)
        return entry is not None and entry.usable

    def refresh(self) -> list[NodeEntry]:
        """Ask every node for its info (in parallel); the updated entries."""

        def ask(entry: NodeEntry) -> NodeEntry:
            try:
                info = self.client(entry.url).info()
            except (NodeUnavailable, StorageError) as exc:
                return replace(entry, error=f"unreachable: {exc}")
            if (info.network, info.chain_id) != (self.network, self.chain_id):
                return replace(
                    entry, info=info, error=f"wrong_network: {info.network}/{info.chain_id}"
                )
            return self._with_registry(replace(entry, info=info, error=None))

        entries = list(self._entries.values())
        with ThreadPoolExecutor(max_workers=min(REFRESH_WORKERS, max(1, len(entries)))) as pool:
            updated = list(pool.map(ask, entries))
        self._entries = {e.url: e for e in updated}
        dup = [n for n, c in Counter(e.node for e in updated if e.usable).items() if c > 1]
        for (
            url,
            e,
        ) in self._entries.items():  # one key behind two URLs: keep neither (it is one disk)
            if e.node in dup:
                self._entries[url] = replace(
                    e, error="duplicate_node: the same node id answers at two URLs"
                )
        return self.entries

    def _with_registry(self, entry: NodeEntry) -> NodeEntry:
        if self.registry is None or entry.info is None:
            return entry
        record = self.registry.get(entry.info.node)
        if record is None:
            return replace(entry, error="unregistered: not in the device registry")
        if not record.active:
            return replace(entry, error="inactive: deactivated in the registry")
        if record.kind != STORAGE_KIND:
            return replace(entry, error=f"wrong_kind: registered for {record.kind!r}")
        return replace(entry, owner=record.owner, location=record.location)

    def vetting_quota(self, count: int) -> int:
        """Most pieces of a `count`-piece segment given to vetting nodes while vetted ones suffice."""
        return max(1, count * self.vetting_fraction_bps // 10_000)

    def select(
        self,
        count: int,
        *,
        minimum: int,
        need_bytes: int,
        seed: int | bytes | None = None,
        exclude_nodes: Iterable[str] = (),
        exclude_owners: Iterable[str] = (),
    ) -> list[NodeEntry]:
        """Up to `count` distinct nodes for one segment (see the module docstring)."""
        excluded, owners_taken = set(exclude_nodes), set(exclude_owners)
        skipped: Counter[str] = Counter()
        vetted: list[NodeEntry] = []
        new: list[NodeEntry] = []
        for entry in sorted(self._entries.values(), key=lambda e: e.url):
            if not entry.usable or entry.info is None:
                skipped[(entry.error or "unreachable").split(":")[0]] += 1
            elif entry.info.node in self.disqualified:
                skipped["disqualified"] += 1
            elif entry.info.node in excluded:
                skipped["holds_a_piece"] += 1
            elif entry.info.free_bytes < need_bytes:
                skipped["no_space"] += 1
            else:
                (new if entry.info.node in self.vetting else vetted).append(entry)
        rng = random.Random(seed)
        rng.shuffle(vetted)
        rng.shuffle(new)
        quota = min(self.vetting_quota(count), len(new))
        order = new[:quota] + vetted + new[quota:]
        chosen = _spread(order, count, owners_taken)
        if len(chosen) < minimum:
            why = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items())) or "no nodes known"
            raise PlacerError(
                "not_enough_nodes",
                f"{len(chosen)} nodes qualify, {minimum} needed (skipped: {why})",
            )
        return chosen

    def note_failure(self, url: str, error: str) -> None:
        """Mark a node unusable after a failed request (until the next `refresh`)."""
        entry = self._entries.get(url.rstrip("/"))
        if entry is not None:
            self._entries[entry.url] = replace(entry, error=f"unreachable: {error[:200]}")


def _spread(order: list[NodeEntry], count: int, owners_taken: set[str]) -> list[NodeEntry]:
    chosen: list[NodeEntry] = []
    owners, places = set(owners_taken), set[int]()
    for strictness in (2, 1, 0):
        for entry in order:
            if len(chosen) >= count:
                return chosen
            if entry in chosen:
                continue
            new_owner = entry.owner_key not in owners
            new_place = entry.location == 0 or entry.location not in places
            if (strictness == 2 and not (new_owner and new_place)) or (
                strictness == 1 and not new_owner
            ):
                continue
            chosen.append(entry)
            owners.add(entry.owner_key)
            if entry.location:
                places.add(entry.location)
    return chosen


__all__ = ["NodeDirectory", "NodeEntry", "PlacerError"]
