"""The piece store: pieces on disk, each next to a metadata file, never half-written.

```
D/pieces/ab/ab12…ef          the piece's bytes (file name: the 64-hex piece id)
D/pieces/ab/ab12…ef.json     its metadata: placement, root, size, ack, received_ms, report
D/tmp/<random>               uploads in progress and metadata being rewritten
```

**Crash safety.** An upload streams into `D/tmp/`, computing the piece's Merkle root
(`merkle.RootBuilder`) as bytes arrive; only when size and root match the placement is the
file fsynced, renamed into `pieces/` and the directory fsynced; then the metadata is written
the same way (temporary file, fsync, rename, fsync the directory). A piece exists for the node
once its metadata does: startup recovery (`recover`) deletes every temporary file, every piece
without metadata and every metadata file without its piece, so a crash at any point leaves
either the whole piece or nothing. Deleting removes the metadata first for the same reason.

**Reading never serves bad bytes.** `verify` hashes the whole file against the stored root
(a corrupt piece is refused with corrupt_piece before any byte goes out); `stream` re-hashes
while it reads a whole piece and holds back the last chunk until the root matched, so a file
that rots between the check and the read is cut off rather than served complete.

**Audits.** `proof(piece, index)` reads the file once, hashing its leaves, and returns the
leaf and its path (`merkle.proof_from_leaf_hashes`): the proof of the bytes as they are on
disk, so a corrupted leaf gives a proof that fails `merkle.verify_proof` against the root.
Memory: the leaf hashes, 32 bytes per KiB of piece (8 MiB for the largest piece).

The store keeps an in-memory index (piece → record) and the used bytes; capacity counts
stored pieces plus space reserved by uploads in progress, and an upload is refused with
no_space before it writes anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Final

from opendepin.storage import merkle
from opendepin.storage.orders import OrderReason, Placement, StorageError, parse_placement

log = logging.getLogger("opendepin.storage.node")

META_VERSION: Final = 1
META_SUFFIX: Final = ".json"
MAX_META_BYTES: Final = 16 * 1024
"""A metadata file is a few hundred bytes; anything longer is not ours."""
READ_CHUNK_BYTES: Final = 1 << 20
"""Bytes per read when verifying, streaming and proving (a multiple of `merkle.LEAF_SIZE`)."""
PIECE_HEX_LEN: Final = 64


@dataclass(frozen=True, slots=True)
class ReportState:
    """Where the placement report of a piece stands with the ingest."""

    seq: int
    """Sequence number of the signed placement report."""
    timestamp_ms: int
    """Its timestamp: the piece is auditable in windows starting at or after it."""
    state: str = "queued"
    """"queued" (in node.db's spool), "accepted" (the ingest stored it) or "rejected"."""
    reason: str = ""
    """The ingest's reason when rejected."""


@dataclass(frozen=True, slots=True)
class PieceRecord:
    """One stored piece, as its metadata file says."""

    placement: Placement
    """The placer-signed placement record the bytes were checked against."""
    ack: bytes
    """The node's signature over `placement.digest()`."""
    received_ms: int
    """When the upload completed."""
    report: ReportState | None = None
    """The placement report (None until it is queued)."""

    @property
    def piece(self) -> bytes:
        return self.placement.piece

    @property
    def size(self) -> int:
        return self.placement.size

    @property
    def root(self) -> bytes:
        return self.placement.root

    @property
    def accepted_report_ms(self) -> int | None:
        """The placement report's timestamp once the ingest accepted it, else None."""
        if self.report is None or self.report.state != "accepted":
            return None
        return self.report.timestamp_ms

    def to_obj(self) -> dict[str, Any]:
        return {
            "version": META_VERSION,
            "placement": self.placement.to_obj(),
            "root": self.root.hex(),
            "size": self.size,
            "ack": self.ack.hex(),
            "received_ms": self.received_ms,
            "report": None
            if self.report is None
            else {
                "seq": self.report.seq,
                "timestamp_ms": self.report.timestamp_ms,
                "state": self.report.state,
                "reason": self.report.reason,
            },
        }


def parse_record(raw: bytes) -> PieceRecord:
    """A record from its metadata file; ValueError when it is not one."""
    if len(raw) > MAX_META_BYTES:
        raise ValueError("metadata file too long")
    obj = json.loads(raw)
    if not isinstance(obj, dict) or obj.get("version") != META_VERSION:
        raise ValueError("not a version-1 metadata object")
    if not isinstance(obj.get("placement"), dict):
        raise ValueError("placement is not an object")
    try:
        placement = parse_placement(obj["placement"])
    except StorageError as exc:
        raise ValueError(exc.message) from None
    if obj.get("root") != placement.root.hex() or obj.get("size") != placement.size:
        raise ValueError("root or size differ from the placement")
    ack, received = obj.get("ack"), obj.get("received_ms")
    if not isinstance(ack, str) or type(received) is not int:
        raise ValueError("ack or received_ms missing")
    report = obj.get("report")
    state: ReportState | None = None
    if report is not None:
        if not isinstance(report, dict):
            raise ValueError("report is not an object")
        seq, ts = report.get("seq"), report.get("timestamp_ms")
        st, reason = report.get("state"), report.get("reason", "")
        if (
            type(seq) is not int
            or type(ts) is not int
            or st not in ("queued", "accepted", "rejected")
        ):
            raise ValueError("malformed report state")
        state = ReportState(seq, ts, str(st), str(reason)[:200])
    return PieceRecord(placement, bytes.fromhex(ack), received, state)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_piece_name(name: str) -> bool:
    return len(name) == PIECE_HEX_LEN and all(c in "0123456789abcdef" for c in name)


class Upload:
    """One piece being received: bytes go to a temporary file and into the root builder."""

    def __init__(self, store: PieceStore, placement: Placement, ack: bytes, path: Path) -> None:
        self._store = store
        self.placement = placement
        self.ack = ack
        self.path = path
        self._file: BinaryIO | None = path.open("xb")
        self._builder = merkle.RootBuilder()

    @property
    def received(self) -> int:
        return self._builder.size

    def write(self, data: bytes) -> None:
        """Append bytes; StorageError(size_mismatch) once they exceed the placement's size."""
        if self._file is None:
            raise RuntimeError("upload already finished")
        if self._builder.size + len(data) > self.placement.size:
            raise StorageError(
                OrderReason.SIZE_MISMATCH, f"more than the placement's {self.placement.size} bytes"
            )
        self._file.write(data)
        self._builder.update(data)

    def commit(self, now_ms: int) -> PieceRecord:
        """Check size and root, then make the piece durable and visible (see the module docstring).

        Raises StorageError(size_mismatch or root_mismatch) after removing the temporary file.
        """
        if self._file is None:
            raise RuntimeError("upload already finished")
        try:
            if self._builder.size != self.placement.size:
                raise StorageError(
                    OrderReason.SIZE_MISMATCH,
                    f"received {self._builder.size} bytes, the placement says {self.placement.size}",
                )
            if self._builder.root() != self.placement.root:
                raise StorageError(
                    OrderReason.ROOT_MISMATCH, "the bytes do not have the placement's Merkle root"
                )
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            record = PieceRecord(self.placement, self.ack, now_ms)
            self._store._install(self.path, record)
            return record
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the temporary file and release the reservation (idempotent)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._store._release(self.placement)


class PieceStore:
    """Pieces under one directory, with a capacity limit (thread-safe)."""

    def __init__(self, directory: Path, capacity_bytes: int) -> None:
        self.directory = directory
        self.pieces_dir = directory / "pieces"
        self.tmp_dir = directory / "tmp"
        self.capacity_bytes = capacity_bytes
        self._lock = threading.Lock()
        self._index: dict[bytes, PieceRecord] = {}
        self._used = 0
        self._reserved = 0
        self._inflight: set[bytes] = set()
        self.pieces_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    # ---- startup -------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """Clean up after a crash and load the index; returns what was removed, by kind."""
        removed = {
            "tmp": 0,
            "orphan_pieces": 0,
            "orphan_metadata": 0,
            "bad_metadata": 0,
            "other": 0,
        }
        for entry in self.tmp_dir.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
            removed["tmp"] += 1
        index: dict[bytes, PieceRecord] = {}
        for sub in sorted(self.pieces_dir.iterdir()):
            if not sub.is_dir():
                sub.unlink(missing_ok=True)
                removed["other"] += 1
                continue
            names = {e.name for e in sub.iterdir()}
            for name in sorted(names):
                path = sub / name
                stem = name.removesuffix(META_SUFFIX)
                if not _is_piece_name(stem) or stem[:2] != sub.name or path.is_dir():
                    removed["other"] += _remove(path)
                elif name.endswith(META_SUFFIX):
                    if stem not in names:
                        removed["orphan_metadata"] += _remove(path)
                        continue
                    try:
                        record = parse_record(path.read_bytes())
                        if record.piece.hex() != stem:
                            raise ValueError("metadata names another piece")
                    except (ValueError, OSError) as exc:
                        log.warning("removing piece %s: unreadable metadata (%s)", stem, exc)
                        _remove(path)
                        _remove(sub / stem)
                        removed["bad_metadata"] += 1
                        continue
                    index[record.piece] = record
                elif stem + META_SUFFIX not in names:
                    removed["orphan_pieces"] += _remove(path)
            _fsync_dir(sub)
        with self._lock:
            self._index = index
            self._used = sum(r.size for r in index.values())
        return removed

    # ---- writing -------------------------------------------------------------------------

    def begin(self, placement: Placement, ack: bytes) -> Upload:
        """Start receiving `placement`'s piece: StorageError piece_exists (stored or being
        uploaded) or no_space (it would not fit), before anything is written."""
        with self._lock:
            if placement.piece in self._index or placement.piece in self._inflight:
                raise StorageError(
                    OrderReason.PIECE_EXISTS, "the node already holds (or is receiving) this piece"
                )
            free = self.capacity_bytes - self._used - self._reserved
            if placement.size > free:
                raise StorageError(
                    OrderReason.NO_SPACE,
                    f"{placement.size} B do not fit in the {max(free, 0)} B free",
                )
            self._reserved += placement.size
            self._inflight.add(placement.piece)
        try:
            return Upload(self, placement, ack, self.tmp_dir / secrets.token_hex(16))
        except OSError:
            self._release(placement)
            raise

    def _release(self, placement: Placement) -> None:
        with self._lock:
            if placement.piece in self._inflight:
                self._inflight.discard(placement.piece)
                self._reserved -= placement.size

    def _install(self, tmp_file: Path, record: PieceRecord) -> None:
        """Rename a verified, fsynced upload into place and write its metadata."""
        final = self.piece_path(record.piece)
        final.parent.mkdir(exist_ok=True)
        os.replace(tmp_file, final)
        _fsync_dir(final.parent)
        self._write_meta(record)
        with self._lock:
            self._inflight.discard(record.piece)
            self._reserved -= record.size
            self._index[record.piece] = record
            self._used += record.size

    def _write_meta(self, record: PieceRecord) -> None:
        tmp = self.tmp_dir / (secrets.token_hex(16) + META_SUFFIX)
        with tmp.open("xb") as fh:
            fh.write(json.dumps(record.to_obj(), sort_keys=True, separators=(",", ":")).encode())
            fh.flush()
            os.fsync(fh.fileno())
        final = self.meta_path(record.piece)
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def set_report(self, piece: bytes, report: ReportState) -> PieceRecord | None:
        """Record the placement report's state in the metadata (None: the piece is gone)."""
        with self._lock:
            record = self._index.get(piece)
        if record is None:
            return None
        updated = replace(record, report=report)
        self._write_meta(updated)
        with self._lock:
            if piece not in self._index:  # deleted meanwhile: leave no metadata behind
                _remove(self.meta_path(piece))
                return None
            self._index[piece] = updated
        return updated

    def delete(self, piece: bytes) -> PieceRecord:
        """Remove a piece (metadata first); StorageError(no_such_piece) if it is not here."""
        with self._lock:
            record = self._index.pop(piece, None)
            if record is None:
                raise StorageError(OrderReason.NO_SUCH_PIECE, "the node does not hold this piece")
            self._used -= record.size
        meta = self.meta_path(piece)
        _remove(meta)
        _fsync_dir(meta.parent)
        _remove(self.piece_path(piece))
        return record

    # ---- reading -------------------------------------------------------------------------

    def piece_path(self, piece: bytes) -> Path:
        h = piece.hex()
        return self.pieces_dir / h[:2] / h

    def meta_path(self, piece: bytes) -> Path:
        h = piece.hex()
        return self.pieces_dir / h[:2] / (h + META_SUFFIX)

    def get(self, piece: bytes) -> PieceRecord | None:
        with self._lock:
            return self._index.get(piece)

    def require(self, piece: bytes) -> PieceRecord:
        """The record of `piece`; StorageError(no_such_piece) if it is not here."""
        record = self.get(piece)
        if record is None:
            raise StorageError(OrderReason.NO_SUCH_PIECE, "the node does not hold this piece")
        return record

    def records(self) -> list[PieceRecord]:
        """Every stored piece, by piece id."""
        with self._lock:
            return [self._index[p] for p in sorted(self._index)]

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return self._used

    @property
    def piece_count(self) -> int:
        with self._lock:
            return len(self._index)

    def verify(self, piece: bytes) -> PieceRecord:
        """Hash the stored file; StorageError(corrupt_piece) unless size and root match."""
        record = self.require(piece)
        try:
            with self.piece_path(piece).open("rb") as fh:
                root, size = merkle.root_of_file(fh)
        except OSError as exc:
            raise StorageError(
                OrderReason.CORRUPT_PIECE, f"cannot read the piece: {exc.strerror}"
            ) from None
        if size != record.size or root != record.root:
            log.error(
                "piece %s is corrupt on disk (size %d of %d, root mismatch)",
                piece.hex(),
                size,
                record.size,
            )
            raise StorageError(
                OrderReason.CORRUPT_PIECE, "the stored piece does not match its root"
            )
        return record

    def stream(self, record: PieceRecord, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end) of the piece. For the whole piece the root is recomputed while
        reading and the last chunk is only yielded once it matched (else StorageError)."""
        whole = start == 0 and end == record.size
        builder = merkle.RootBuilder() if whole else None
        held: bytes | None = None
        with self.piece_path(record.piece).open("rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(READ_CHUNK_BYTES, left))
                if not chunk:
                    raise StorageError(
                        OrderReason.CORRUPT_PIECE, "the piece is shorter than its size"
                    )
                left -= len(chunk)
                if builder is None:
                    yield chunk
                    continue
                builder.update(chunk)
                if held is not None:
                    yield held
                held = chunk
        if builder is not None:
            if builder.root() != record.root or (record.size and held is None):
                log.error("piece %s changed on disk while being served", record.piece.hex())
                raise StorageError(OrderReason.CORRUPT_PIECE, "the piece changed while being read")
            if held is not None:
                yield held

    def proof(self, piece: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """(leaf, path) for leaf `index` of the piece as stored (see the module docstring)."""
        record = self.require(piece)
        hashes: list[bytes] = []
        leaf = b""
        first, last = index * merkle.LEAF_SIZE, (index + 1) * merkle.LEAF_SIZE
        offset = 0
        with self.piece_path(piece).open("rb") as fh:
            while offset < record.size and (chunk := fh.read(READ_CHUNK_BYTES)):
                if offset < last and offset + len(chunk) > first:
                    leaf += chunk[max(first - offset, 0) : last - offset]
                hashes.extend(merkle.leaf_hashes(chunk))  # chunks are whole leaves but the last
                offset += len(chunk)
        if not hashes:
            hashes.append(merkle.leaf_hash(b""))
        if not 0 <= index < len(hashes):
            raise StorageError(OrderReason.CORRUPT_PIECE, f"leaf {index} is beyond the stored file")
        return leaf, merkle.proof_from_leaf_hashes(hashes, index)


def _remove(path: Path) -> int:
    """Delete a file (1 if it existed)."""
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


__all__ = ["PieceRecord", "PieceStore", "ReportState", "Upload", "parse_record"]
