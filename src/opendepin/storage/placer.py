"""The placer: objects in, erasure-coded pieces out to storage nodes, and back.

```
put_object(bucket, key, stream)
  for each segment (segment_size bytes, one at a time: memory stays ~ 2 × segment):
    encode_segment → n pieces → per piece: fresh piece id, Merkle root,
      PUT order (expires in minutes) + Placement (term now .. now + term), both placer-signed
    select n nodes (directory.select) → PUT in parallel → check each ack (node's signature,
      size, root) → failed pieces retried once on spare nodes
    ≥ success placed? commit the segment's rows : abandon the object (placed pieces deleted)
  commit the object (visible from here on; a replaced version's pieces are deleted)

get_object(bucket, key, offset, length)
  only the segments overlapping the range; per segment: k pieces, preferring 0..k-1 (zfec is
  systematic: no decoding), each checked against its root before use; a missing, refused or
  corrupt piece is replaced by the next one; decode; yield the requested bytes
```

Deletes are recorded before they are sent (`Metadata.piece_deletes`) and retried by
`flush_deletes`, so a node that is down when an object is deleted still gets its DELETE later.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import BinaryIO, Final, Protocol

from opendepin.storage.client import NodeUnavailable
from opendepin.storage.directory import NodeDirectory, NodeEntry, PlacerError
from opendepin.storage.erasure import Redundancy, decode_segment, encode_segment
from opendepin.storage.merkle import merkle_root
from opendepin.storage.metadata import (
    Metadata,
    ObjectRow,
    PendingDelete,
    PieceRow,
    PieceState,
    SegmentRow,
)
from opendepin.storage.orders import (
    Action,
    DigestSigner,
    OrderLimit,
    OrderReason,
    Placement,
    StorageError,
    new_piece_id,
    new_serial,
)
from opendepin.types import DeviceId

DEFAULT_TERM_SECONDS: Final = 365 * 86_400
"""How long a node is asked to keep a piece (renewed by a later placement)."""
DEFAULT_ORDER_TTL_SECONDS: Final = 600
"""Orders expire soon: a leaked order is useless after this."""
DEFAULT_WORKERS: Final = 8
ABANDONED_AFTER_MS: Final = 3_600_000
"""A pending upload older than this is considered crashed (`clean_abandoned`)."""


DEFAULT_REDUNDANCY: Final = Redundancy()
"""4/5/6/8: read from 4, repair at 5, acknowledge at 6, upload 8."""


class PlacerKey(DigestSigner, Protocol):
    """The placer's signing key (a `Signer`)."""

    @property
    def address(self) -> str: ...


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


FetchHook = Callable[[str, bytes, int, int], None]
"""(node, GET order serial, bytes downloaded, time ms) of one verified piece download."""


@dataclass(frozen=True, slots=True)
class PlacerConfig:
    """What a placer needs to know about the network and its own policy."""

    network: str
    chain_id: int
    redundancy: Redundancy = DEFAULT_REDUNDANCY
    segment_size: int = 8_388_608
    term_seconds: int = DEFAULT_TERM_SECONDS
    order_ttl_seconds: int = DEFAULT_ORDER_TTL_SECONDS
    workers: int = DEFAULT_WORKERS

    @classmethod
    def from_settings(cls, settings: object, **overrides: object) -> PlacerConfig:
        """From a loaded `network.toml` (`opendepin.network.settings.Settings`)."""
        from opendepin.network.settings import Settings
        from opendepin.proofs.storage.settings import storage_section

        assert isinstance(settings, Settings)
        section = storage_section(settings)
        values: dict[str, object] = {
            "network": settings.network.network_id,
            "chain_id": settings.network.chain_id,
            "redundancy": section.redundancy_scheme,
            "segment_size": section.segment_size,
            "term_seconds": min(DEFAULT_TERM_SECONDS, section.max_term_seconds),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One piece's upload attempt: placed (ack checked) or why not."""

    piece: PieceRow
    error: str | None


def _read_exact(read: Callable[[int], bytes], size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        chunk = read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _chunk_reader(stream: BinaryIO | Iterable[bytes]) -> Callable[[int], bytes]:
    """A read(n) over a file-like object or an iterable of byte chunks."""
    if hasattr(stream, "read"):
        read: Callable[[int], bytes] = stream.read
        return read
    chunks = iter(stream)
    buffer = bytearray()

    def read_chunks(n: int) -> bytes:
        while len(buffer) < n:
            chunk = next(chunks, None)
            if chunk is None:
                break
            buffer.extend(chunk)
        out = bytes(buffer[:n])
        del buffer[:n]
        return out

    return read_chunks


class Placer:
    """Puts objects onto storage nodes and gets them back (see the module docstring)."""

    def __init__(
        self,
        metadata: Metadata,
        directory: NodeDirectory,
        key: PlacerKey,
        config: PlacerConfig,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        seed: int | None = None,
    ) -> None:
        self.metadata = metadata
        self.directory = directory
        self.key = key
        self.config = config
        self._clock_ms = clock_ms
        self._rng = random.Random(seed) if seed is not None else None
        self.pool = ThreadPoolExecutor(max_workers=config.workers)
        self.on_fetch: FetchHook | None = None
        """Told of every piece downloaded and verified (node, GET order serial, bytes, time):
        the metering of node egress (`opendepin.storage.metering.Metering.record_fetch`)."""

    def now_ms(self) -> int:
        """The placer's clock (Unix ms)."""
        return self._clock_ms()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.directory.close()

    def __enter__(self) -> Placer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- orders ----------------------------------------------------------------------------

    def order(self, node: str, piece: bytes, action: Action, max_bytes: int) -> OrderLimit:
        """A placer-signed order for `node` that expires soon."""
        return OrderLimit(
            network=self.config.network,
            chain_id=self.config.chain_id,
            placer=DeviceId(self.key.address),
            node=DeviceId(node),
            piece=piece,
            action=action,
            max_bytes=max_bytes,
            expires_ms=self._clock_ms() + self.config.order_ttl_seconds * 1000,
            serial=new_serial(),
        ).signed(self.key)

    def _seed(self) -> int:
        return self._rng.getrandbits(64) if self._rng is not None else secrets.randbits(64)

    def _ensure_directory(self) -> None:
        if not any(e.info is not None for e in self.directory.entries):
            self.directory.refresh()

    # ---- placing pieces --------------------------------------------------------------------

    def _put_one(
        self,
        segment: SegmentRow,
        number: int,
        data: bytes,
        root: bytes,
        entry: NodeEntry,
        state: PieceState,
    ) -> Attempt:
        assert entry.info is not None
        now = self._clock_ms()
        piece_id = new_piece_id()
        term_end = now + self.config.term_seconds * 1000
        placement = Placement(
            network=self.config.network,
            chain_id=self.config.chain_id,
            placer=DeviceId(self.key.address),
            node=entry.info.node,
            piece=piece_id,
            size=len(data),
            root=root,
            term_start_ms=now,
            term_end_ms=term_end,
        ).signed(self.key)
        row = PieceRow(
            segment.object_id, segment.idx, number, piece_id, entry.info.node, entry.url,
            len(data), root, state, now, term_end,
        )  # fmt: skip
        try:
            self.directory.client(entry.url).put(
                self.order(entry.info.node, piece_id, Action.PUT, len(data)), placement, data
            )
        except NodeUnavailable as exc:
            self.directory.note_failure(entry.url, str(exc))
            return Attempt(row, f"unreachable: {exc}")
        except StorageError as exc:
            return Attempt(row, str(exc))
        return Attempt(row, None)

    def place(
        self,
        segment: SegmentRow,
        data: Mapping[int, bytes],
        *,
        minimum: int,
        state: PieceState = PieceState.HEALTHY,
        exclude_nodes: Iterable[str] = (),
        exclude_owners: Iterable[str] = (),
    ) -> list[Attempt]:
        """Place the numbered pieces of `segment` on distinct nodes; one attempt per number.

        Nodes are selected for all numbers plus spares; a failed piece is retried once on a
        spare. PlacerError(not_enough_nodes) when fewer than `minimum` nodes qualify.
        """
        numbers = sorted(data)
        need = max((len(d) for d in data.values()), default=0)
        spares = max(1, len(numbers) // 2)
        chosen = self.directory.select(
            len(numbers) + spares,
            minimum=minimum,
            need_bytes=need,
            seed=self._seed(),
            exclude_nodes=exclude_nodes,
            exclude_owners=exclude_owners,
        )
        roots = {i: merkle_root(data[i]) for i in numbers}
        first, spare = chosen[: len(numbers)], chosen[len(numbers) :]
        jobs = list(zip(numbers, first, strict=False))
        results = list(
            self.pool.map(
                lambda job: self._put_one(
                    segment, job[0], data[job[0]], roots[job[0]], job[1], state
                ),
                jobs,
            )
        )
        failed = [a for a in results if a.error is not None]
        unassigned = numbers[len(first) :]
        retry = [a.piece.number for a in failed] + unassigned
        if retry and spare:
            again = list(zip(retry, spare, strict=False))
            second = list(
                self.pool.map(
                    lambda job: self._put_one(
                        segment, job[0], data[job[0]], roots[job[0]], job[1], state
                    ),
                    again,
                )
            )
            retried = {a.piece.number for a in second}
            results = [
                a for a in results if a.error is None or a.piece.number not in retried
            ] + second
        return sorted(results, key=lambda a: (a.piece.number, a.error is None))

    # ---- upload ----------------------------------------------------------------------------

    def put_object(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO | Iterable[bytes],
        *,
        content_type: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
    ) -> ObjectRow:
        """Store an object (streamed, one segment in memory at a time); the committed row."""
        if not self.metadata.bucket_exists(bucket):
            raise PlacerError("no_such_bucket", f"bucket {bucket!r} does not exist")
        try:
            object_id = self.metadata.begin_object(
                bucket,
                key,
                self._clock_ms(),
                content_type=content_type,
                user_metadata=user_metadata,
            )
        except ValueError as exc:
            raise PlacerError("bad_metadata", str(exc)) from None
        try:
            size, etag = self._upload(object_id, _chunk_reader(stream))
        except BaseException:
            self.metadata.abandon_object(object_id, self._clock_ms())
            self.flush_deletes()
            raise
        self.metadata.commit_object(object_id, size, etag, self._clock_ms())
        self.flush_deletes()
        row = self.metadata.object_by_id(object_id)
        assert row is not None
        return row

    def _upload(self, object_id: int, read: Callable[[int], bytes]) -> tuple[int, str]:
        self._ensure_directory()
        r, seg_size = self.config.redundancy, self.config.segment_size
        md5 = hashlib.md5(usedforsecurity=False)
        offset, idx = 0, 0
        while True:
            chunk = _read_exact(read, seg_size)
            if not chunk and idx > 0:
                break
            md5.update(chunk)
            segment = SegmentRow(object_id, idx, offset, len(chunk), r.required, r.total)
            pieces = encode_segment(chunk, r.required, r.total)
            attempts = self.place(segment, dict(enumerate(pieces)), minimum=r.success)
            placed = [a for a in attempts if a.error is None]
            if len(placed) < r.success:
                self.metadata.queue_deletes([a.piece for a in placed], self._clock_ms())
                errors = sorted({(a.error or "")[:120] for a in attempts if a.error})
                raise PlacerError(
                    "upload_failed",
                    f"segment {idx}: {len(placed)} of {r.total} pieces placed, {r.success} needed ({'; '.join(errors)})",
                )
            unplaced = [
                _with_state(a.piece, PieceState.UNPLACED) for a in attempts if a.error is not None
            ]
            self.metadata.add_segment(segment, [a.piece for a in placed] + unplaced)
            offset += len(chunk)
            idx += 1
            if len(chunk) < seg_size:
                break
        return offset, md5.hexdigest()

    # ---- download --------------------------------------------------------------------------

    def fetch_piece(self, piece: PieceRow) -> bytes:
        """A piece's bytes, checked against its size and root; StorageError/NodeUnavailable otherwise."""
        entry = self.directory.by_node(piece.node)
        url = entry.url if entry is not None else piece.url
        order = self.order(piece.node, piece.piece_id, Action.GET, piece.size)
        data = self.directory.client(url).get(order)
        if len(data) != piece.size:
            raise StorageError(
                OrderReason.SIZE_MISMATCH, f"{url}: {len(data)} B served, {piece.size} B placed"
            )
        if merkle_root(data) != piece.root:
            raise StorageError(
                OrderReason.ROOT_MISMATCH, f"{url}: the piece's root differs from the placement"
            )
        if self.on_fetch is not None:
            self.on_fetch(piece.node, order.serial, len(data), self._clock_ms())
        return data

    def _try_fetch(self, piece: PieceRow) -> tuple[PieceRow, bytes | None, str | None]:
        try:
            return piece, self.fetch_piece(piece), None
        except (StorageError, NodeUnavailable) as exc:
            return piece, None, str(exc)

    def read_segment(
        self, segment: SegmentRow, pieces: list[PieceRow] | None = None
    ) -> dict[int, bytes]:
        """k verified pieces of `segment` (number -> bytes), preferring 0..k-1."""
        rows = (
            pieces if pieces is not None else self.metadata.pieces(segment.object_id, segment.idx)
        )
        live = sorted((p for p in rows if p.live), key=lambda p: p.number)
        queue = [p for p in live if p.number < segment.k] + [
            p for p in live if p.number >= segment.k
        ]
        got: dict[int, bytes] = {}
        errors: list[str] = []
        while len(got) < segment.k and queue:
            batch, queue = queue[: segment.k - len(got)], queue[segment.k - len(got) :]
            for piece, data, error in self.pool.map(self._try_fetch, batch):
                if data is not None and piece.number not in got:
                    got[piece.number] = data
                elif error is not None:
                    errors.append(error[:160])
        if len(got) < segment.k:
            raise PlacerError(
                "segment_unavailable",
                f"segment {segment.idx}: {len(got)} of {segment.k} needed pieces readable ({'; '.join(errors[:4])})",
            )
        return got

    def get_object(
        self, bucket: str, key: str, offset: int = 0, length: int | None = None
    ) -> tuple[ObjectRow, Iterator[bytes]]:
        """The object's row and an iterator over bytes [offset, offset + length) of it."""
        row = self.metadata.get_object(bucket, key)
        if row is None:
            raise PlacerError("no_such_object", f"{bucket}/{key} does not exist")
        if offset < 0 or (length is not None and length < 0) or (offset > row.size):
            raise PlacerError(
                "invalid_range", f"range {offset}+{length} outside an object of {row.size} B"
            )
        end = row.size if length is None else min(row.size, offset + length)
        self._ensure_directory()
        return row, self._stream(row, offset, end)

    def _stream(self, row: ObjectRow, start: int, end: int) -> Iterator[bytes]:
        if start >= end:
            return
        for segment in self.metadata.segments(row.id):
            seg_end = segment.offset + segment.length
            if seg_end <= start or segment.offset >= end:
                continue
            pieces = self.read_segment(segment)
            data = decode_segment(pieces, segment.k, segment.n, segment.length)
            yield data[max(0, start - segment.offset) : min(segment.length, end - segment.offset)]

    def read_object(
        self, bucket: str, key: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        """The whole (range of the) object in memory; for small objects and tests."""
        return b"".join(self.get_object(bucket, key, offset, length)[1])

    # ---- delete ----------------------------------------------------------------------------

    def delete_object(self, bucket: str, key: str) -> tuple[int, int]:
        """Forget bucket/key and delete its pieces: (pieces deleted now, deletes still pending)."""
        if self.metadata.delete_object(bucket, key, self._clock_ms()) is None:
            raise PlacerError("no_such_object", f"{bucket}/{key} does not exist")
        return self.flush_deletes()

    def flush_deletes(self) -> tuple[int, int]:
        """Send every queued DELETE order: (confirmed, still pending)."""
        pending = self.metadata.pending_deletes()
        if not pending:
            return 0, 0

        def send(item: PendingDelete) -> str | None:
            entry = self.directory.by_node(item.node)
            url = entry.url if entry is not None else item.url
            try:
                self.directory.client(url).delete(
                    self.order(item.node, item.piece_id, Action.DELETE, 0)
                )
            except StorageError as exc:
                if exc.reason is not OrderReason.NO_SUCH_PIECE:
                    return str(exc)
            except NodeUnavailable as exc:
                return str(exc)
            return None

        done = 0
        for item, error in zip(pending, self.pool.map(send, pending), strict=True):
            if error is None:
                self.metadata.delete_done(item.piece_id)
                done += 1
            else:
                self.metadata.delete_failed(item.piece_id, error)
        return done, len(pending) - done

    def clean_abandoned(self, older_than_ms: int = ABANDONED_AFTER_MS) -> int:
        """Drop uploads that never committed (a crashed placer); how many."""
        ids = self.metadata.abandoned_uploads(self._clock_ms() - older_than_ms)
        for object_id in ids:
            self.metadata.abandon_object(object_id, self._clock_ms())
        if ids:
            self.flush_deletes()
        return len(ids)


def _with_state(piece: PieceRow, state: PieceState) -> PieceRow:
    return replace(piece, state=state)


__all__ = ["Attempt", "FetchHook", "Placer", "PlacerConfig", "PlacerKey", "wall_clock_ms"]
