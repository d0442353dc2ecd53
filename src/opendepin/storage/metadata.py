"""The placer's metadata: which bytes of which object are in which piece on which node.

A placer (the uploader, the S3 gateway, the repair worker) is the only party that knows how an
object maps onto pieces; the nodes only hold opaque pieces. This module keeps that map in SQL
(SQLAlchemy 2): SQLite in WAL mode by default, PostgreSQL by URL, the same engine set-up as
the oracle's index database (`opendepin.store.db.make_engine`).

```
buckets        name PK · created_ms · owner (account id; NULL: no owner)
objects        id PK · bucket · key · state (pending|committed) · size · created_ms ·
               committed_ms · etag · content_type · user_metadata (JSON text)
segments       (object_id, idx) PK · offset · length · k · n
pieces         id PK · object_id · segment_idx · number · piece_id (64 hex, unique) · node ·
               url · size · root (64 hex) · state (healthy|repaired|lost|unplaced) ·
               placed_ms · term_end_ms
piece_deletes  piece_id PK · node · url · queued_ms · attempts · last_error
uploads        upload_id PK · bucket · key · owner · created_ms · content_type · user_metadata
```

**Multipart uploads.** An upload's parts are ordinary objects in the internal bucket
`PARTS_BUCKET` (a name S3 refuses, so no user bucket can collide), keyed
`<upload_id>/<part number, 5 digits>`: uploading a part is `Placer.put_object`, and a part
uploaded again replaces the previous one like any object. `complete_upload` composes the
final object in ONE transaction without moving a byte: the chosen parts' segments and pieces
are re-attributed to the new object (segment indexes and offsets shifted part by part), the
unused parts are dropped (their pieces queued for deletion), the replaced version retired
and the upload row removed.

**Visibility and crash safety.** An upload first writes a `pending` object row; each segment's
rows are committed once the segment reached the success threshold; the last transaction turns
the object `committed` and, in the same transaction, retires the object it replaces (its
pieces move to `piece_deletes`). Readers only ever see committed objects, so a crash mid-upload
leaves an invisible pending object whose pieces `abandoned_uploads` finds for clean-up.

**Piece states.** `healthy` (placed by the upload), `repaired` (placed by the repair worker;
equally live), `lost` (found missing, corrupt or on a bad node, and superseded by a repaired
piece), `unplaced` (the upload to its node failed; kept as a record, never read).
Deleting a node's piece is asynchronous and recorded: the metadata forgets the object at
once and the DELETE orders are retried from `piece_deletes` until the nodes confirmed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)

from opendepin.store.db import DEVICE_ID_MAX_CHARS, make_engine
from opendepin.types import DeviceId

BUCKET_MAX_CHARS: Final = 63
"""S3's bucket name limit."""
KEY_MAX_CHARS: Final = 1024
"""S3's object key limit (bytes of UTF-8; characters here)."""
_KEY_TYPE: Final = String(KEY_MAX_CHARS).with_variant(String(KEY_MAX_CHARS, collation="C"), "postgresql")
"""Object keys sort by their bytes, as S3 lists them: SQLite's default BINARY collation does,
PostgreSQL needs the "C" collation whatever the database's default is."""
URL_MAX_CHARS: Final = 512
USER_METADATA_MAX_BYTES: Final = 2048
"""S3 allows 2 KiB of user metadata per object."""
ACCOUNT_MAX_CHARS: Final = 128
UPLOAD_ID_CHARS: Final = 32
PARTS_BUCKET: Final = ".multipart-parts"
"""Internal bucket holding multipart parts (a leading dot: not a valid S3 bucket name)."""


class ObjectState(StrEnum):
    PENDING = "pending"
    COMMITTED = "committed"


class PieceState(StrEnum):
    HEALTHY = "healthy"
    REPAIRED = "repaired"
    LOST = "lost"
    UNPLACED = "unplaced"


LIVE_STATES: Final = (PieceState.HEALTHY.value, PieceState.REPAIRED.value)
"""States of pieces that count towards a segment's redundancy."""

schema = MetaData()

buckets = Table(
    "buckets",
    schema,
    Column("name", String(BUCKET_MAX_CHARS), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("owner", String(ACCOUNT_MAX_CHARS), nullable=True),
)

objects = Table(
    "objects",
    schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bucket", String(BUCKET_MAX_CHARS), ForeignKey("buckets.name"), nullable=False),
    Column("key", _KEY_TYPE, nullable=False),
    Column("state", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("committed_ms", BigInteger, nullable=True),
    Column("etag", String(64), nullable=True),
    Column("content_type", String(255), nullable=True),
    Column("user_metadata", Text, nullable=False),
)
Index("objects_bucket_key", objects.c.bucket, objects.c.key, objects.c.state)

segments = Table(
    "segments",
    schema,
    Column("object_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("k", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    PrimaryKeyConstraint("object_id", "idx", name="segments_pk"),
)

pieces = Table(
    "pieces",
    schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("object_id", Integer, nullable=False),
    Column("segment_idx", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("piece_id", String(64), nullable=False),
    Column("node", String(DEVICE_ID_MAX_CHARS), nullable=False),
    Column("url", String(URL_MAX_CHARS), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("placed_ms", BigInteger, nullable=False),
    Column("term_end_ms", BigInteger, nullable=False),
    UniqueConstraint("piece_id", name="pieces_piece_id"),
)
Index("pieces_segment", pieces.c.object_id, pieces.c.segment_idx)
Index("pieces_node", pieces.c.node)

piece_deletes = Table(
    "piece_deletes",
    schema,
    Column("piece_id", String(64), primary_key=True),
    Column("node", String(DEVICE_ID_MAX_CHARS), nullable=False),
    Column("url", String(URL_MAX_CHARS), nullable=False),
    Column("queued_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
)

uploads = Table(
    "uploads",
    schema,
    Column("upload_id", String(UPLOAD_ID_CHARS), primary_key=True),
    Column("bucket", String(BUCKET_MAX_CHARS), ForeignKey("buckets.name"), nullable=False),
    Column("key", _KEY_TYPE, nullable=False),
    Column("owner", String(ACCOUNT_MAX_CHARS), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=True),
    Column("user_metadata", Text, nullable=False),
)
Index("uploads_bucket_key", uploads.c.bucket, uploads.c.key)


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One object version."""

    id: int
    bucket: str
    key: str
    state: ObjectState
    size: int
    created_ms: int
    committed_ms: int | None
    etag: str | None
    content_type: str | None
    user_metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class BucketRow:
    """A bucket and the account that owns it (None: no owner, e.g. the internal parts bucket)."""

    name: str
    created_ms: int
    owner: str | None


@dataclass(frozen=True, slots=True)
class UploadRow:
    """A multipart upload in progress: where the object goes and what it will carry."""

    upload_id: str
    bucket: str
    key: str
    owner: str | None
    created_ms: int
    content_type: str | None
    user_metadata: dict[str, str]


def part_key(upload_id: str, number: int) -> str:
    """The internal key of part `number` of an upload (zero-padded: keys sort by number)."""
    return f"{upload_id}/{number:05d}"


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """Bytes [offset, offset + length) of an object, erasure-coded k of n."""

    object_id: int
    idx: int
    offset: int
    length: int
    k: int
    n: int


@dataclass(frozen=True, slots=True)
class PieceRow:
    """Piece `number` (0..n-1) of a segment, held by `node` (reached at `url`)."""

    object_id: int
    segment_idx: int
    number: int
    piece_id: bytes
    node: DeviceId
    url: str
    size: int
    root: bytes
    state: PieceState
    placed_ms: int
    term_end_ms: int

    @property
    def live(self) -> bool:
        return self.state.value in LIVE_STATES


@dataclass(frozen=True, slots=True)
class PendingDelete:
    """A piece whose node has not yet confirmed a DELETE."""

    piece_id: bytes
    node: DeviceId
    url: str
    attempts: int
    last_error: str | None


def _object(row: Any) -> ObjectRow:
    return ObjectRow(
        id=row.id,
        bucket=row.bucket,
        key=row.key,
        state=ObjectState(row.state),
        size=row.size,
        created_ms=row.created_ms,
        committed_ms=row.committed_ms,
        etag=row.etag,
        content_type=row.content_type,
        user_metadata=json.loads(row.user_metadata),
    )


def _upload(row: Any) -> UploadRow:
    return UploadRow(
        upload_id=row.upload_id,
        bucket=row.bucket,
        key=row.key,
        owner=row.owner,
        created_ms=row.created_ms,
        content_type=row.content_type,
        user_metadata=json.loads(row.user_metadata),
    )


def _piece(row: Any) -> PieceRow:
    return PieceRow(
        object_id=row.object_id,
        segment_idx=row.segment_idx,
        number=row.number,
        piece_id=bytes.fromhex(row.piece_id),
        node=DeviceId(row.node),
        url=row.url,
        size=row.size,
        root=bytes.fromhex(row.root),
        state=PieceState(row.state),
        placed_ms=row.placed_ms,
        term_end_ms=row.term_end_ms,
    )


def _segment(row: Any) -> SegmentRow:
    return SegmentRow(row.object_id, row.idx, row.offset, row.length, row.k, row.n)


def _piece_values(piece: PieceRow) -> dict[str, Any]:
    return {
        "object_id": piece.object_id,
        "segment_idx": piece.segment_idx,
        "number": piece.number,
        "piece_id": piece.piece_id.hex(),
        "node": piece.node,
        "url": piece.url,
        "size": piece.size,
        "root": piece.root.hex(),
        "state": piece.state.value,
        "placed_ms": piece.placed_ms,
        "term_end_ms": piece.term_end_ms,
    }


def encode_user_metadata(meta: Mapping[str, str]) -> str:
    """User metadata as stored: sorted compact JSON, ValueError above 2 KiB or on non-strings."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError("user metadata keys and values must be strings")
    text = json.dumps(dict(sorted(meta.items())), separators=(",", ":"))
    if len(text.encode()) > USER_METADATA_MAX_BYTES:
        raise ValueError(f"user metadata is larger than {USER_METADATA_MAX_BYTES} bytes")
    return text


class Metadata:
    """The placer's metadata database (open by URL; the schema is created on open)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        schema.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Metadata:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as conn:
            yield conn

    # ---- buckets ---------------------------------------------------------------------------

    def create_bucket(self, name: str, now_ms: int, owner: str | None = None) -> bool:
        """Create bucket `name` (owned by `owner`); False if it already existed."""
        with self.transaction() as conn:
            if conn.execute(select(buckets.c.name).where(buckets.c.name == name)).first():
                return False
            conn.execute(insert(buckets).values(name=name, created_ms=now_ms, owner=owner))
            return True

    def bucket(self, name: str) -> BucketRow | None:
        """The bucket `name` with its owner, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(buckets).where(buckets.c.name == name)).first()
            return None if row is None else BucketRow(row.name, row.created_ms, row.owner)

    def buckets_of(self, owner: str) -> list[BucketRow]:
        """The buckets `owner` owns, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(buckets).where(buckets.c.owner == owner).order_by(buckets.c.name)
            )
            return [BucketRow(r.name, r.created_ms, r.owner) for r in rows]

    def bucket_exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(buckets.c.name).where(buckets.c.name == name)).first()
                is not None
            )

    def list_buckets(self) -> list[tuple[str, int]]:
        """(name, created_ms) of every user bucket, by name (not the internal `PARTS_BUCKET`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(buckets.c.name, buckets.c.created_ms)
                .where(buckets.c.name != PARTS_BUCKET)
                .order_by(buckets.c.name)
            )
            return [(r.name, r.created_ms) for r in rows]

    def delete_bucket(self, name: str) -> bool:
        """Remove an empty bucket; False if it does not exist; ValueError if it holds objects
        (or multipart uploads in progress)."""
        with self.transaction() as conn:
            held = conn.execute(
                select(func.count()).select_from(objects).where(objects.c.bucket == name)
            )
            started = conn.execute(
                select(func.count()).select_from(uploads).where(uploads.c.bucket == name)
            )
            if held.scalar_one() or started.scalar_one():
                raise ValueError(f"bucket {name!r} is not empty")
            return conn.execute(delete(buckets).where(buckets.c.name == name)).rowcount > 0

    # ---- objects ---------------------------------------------------------------------------

    def begin_object(
        self,
        bucket: str,
        key: str,
        now_ms: int,
        *,
        content_type: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
    ) -> int:
        """A new pending (invisible) object version; its id."""
        meta = encode_user_metadata(user_metadata or {})
        with self.transaction() as conn:
            result = conn.execute(
                insert(objects).values(
                    bucket=bucket,
                    key=key,
                    state=ObjectState.PENDING.value,
                    size=0,
                    created_ms=now_ms,
                    content_type=content_type,
                    user_metadata=meta,
                )
            )
            key_row = result.inserted_primary_key
            assert key_row is not None
            return int(key_row[0])

    def add_segment(self, segment: SegmentRow, placed: Iterable[PieceRow]) -> None:
        """Record one uploaded segment and its pieces in one transaction."""
        rows = [_piece_values(p) for p in placed]
        with self.transaction() as conn:
            conn.execute(
                insert(segments).values(
                    object_id=segment.object_id,
                    idx=segment.idx,
                    offset=segment.offset,
                    length=segment.length,
                    k=segment.k,
                    n=segment.n,
                )
            )
            if rows:
                conn.execute(insert(pieces), rows)

    def commit_object(self, object_id: int, size: int, etag: str, now_ms: int) -> ObjectRow | None:
        """Make a pending object visible; retire the committed version it replaces.

        Returns the replaced version (its pieces are already queued for deletion), or None.
        """
        with self.transaction() as conn:
            row = conn.execute(select(objects).where(objects.c.id == object_id)).one()
            replaced = conn.execute(
                select(objects).where(
                    objects.c.bucket == row.bucket,
                    objects.c.key == row.key,
                    objects.c.state == ObjectState.COMMITTED.value,
                )
            ).first()
            if replaced is not None:
                self._drop_object(conn, replaced.id, now_ms)
            conn.execute(
                update(objects)
                .where(objects.c.id == object_id)
                .values(
                    state=ObjectState.COMMITTED.value, size=size, etag=etag, committed_ms=now_ms
                )
            )
        return None if replaced is None else _object(replaced)

    def get_object(self, bucket: str, key: str) -> ObjectRow | None:
        """The committed version of bucket/key, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(objects).where(
                    objects.c.bucket == bucket,
                    objects.c.key == key,
                    objects.c.state == ObjectState.COMMITTED.value,
                )
            ).first()
            return None if row is None else _object(row)

    def object_by_id(self, object_id: int) -> ObjectRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(objects).where(objects.c.id == object_id)).first()
            return None if row is None else _object(row)

    def list_objects(
        self, bucket: str, prefix: str = "", after: str = "", limit: int = 1000
    ) -> list[ObjectRow]:
        """Committed objects of `bucket` with keys starting with `prefix`, after `after`, by key."""
        query = select(objects).where(
            objects.c.bucket == bucket,
            objects.c.state == ObjectState.COMMITTED.value,
            objects.c.key > after,
        )
        if prefix:
            # a range instead of LIKE, so '%' and '_' in keys mean themselves
            query = query.where(objects.c.key >= prefix, objects.c.key < prefix + "\U0010ffff")
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(objects.c.key).limit(limit))
            return [_object(r) for r in rows]

    def committed_object_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(objects.c.id)
                .where(objects.c.state == ObjectState.COMMITTED.value)
                .order_by(objects.c.id)
            )
            return [r.id for r in rows]

    def delete_object(self, bucket: str, key: str, now_ms: int) -> ObjectRow | None:
        """Forget the committed bucket/key (its pieces queued for deletion); the row, or None."""
        with self.transaction() as conn:
            row = conn.execute(
                select(objects).where(
                    objects.c.bucket == bucket,
                    objects.c.key == key,
                    objects.c.state == ObjectState.COMMITTED.value,
                )
            ).first()
            if row is None:
                return None
            self._drop_object(conn, row.id, now_ms)
            return _object(row)

    def abandon_object(self, object_id: int, now_ms: int) -> None:
        """Drop a (pending) object version and queue its placed pieces for deletion."""
        with self.transaction() as conn:
            self._drop_object(conn, object_id, now_ms)

    def abandoned_uploads(self, older_than_ms: int) -> list[int]:
        """Ids of pending objects created before `older_than_ms` (crashed or failed uploads)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(objects.c.id).where(
                    objects.c.state == ObjectState.PENDING.value,
                    objects.c.created_ms < older_than_ms,
                )
            )
            return [r.id for r in rows]

    def _drop_object(self, conn: Connection, object_id: int, now_ms: int) -> None:
        held = conn.execute(
            select(pieces).where(pieces.c.object_id == object_id, pieces.c.state.in_(LIVE_STATES))
        ).all()
        self._queue_deletes(conn, [_piece(r) for r in held], now_ms)
        conn.execute(delete(pieces).where(pieces.c.object_id == object_id))
        conn.execute(delete(segments).where(segments.c.object_id == object_id))
        conn.execute(delete(objects).where(objects.c.id == object_id))

    # ---- segments and pieces ---------------------------------------------------------------

    def segments(self, object_id: int) -> list[SegmentRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(segments).where(segments.c.object_id == object_id).order_by(segments.c.idx)
            )
            return [_segment(r) for r in rows]

    def segment(self, object_id: int, idx: int) -> SegmentRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(segments).where(segments.c.object_id == object_id, segments.c.idx == idx)
            ).first()
            return None if row is None else _segment(row)

    def pieces(self, object_id: int, segment_idx: int | None = None) -> list[PieceRow]:
        """Every piece row of an object (or one segment), by segment then number."""
        query = select(pieces).where(pieces.c.object_id == object_id)
        if segment_idx is not None:
            query = query.where(pieces.c.segment_idx == segment_idx)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(pieces.c.segment_idx, pieces.c.number, pieces.c.id))
            return [_piece(r) for r in rows]

    def replace_pieces(
        self, segment: SegmentRow, lost: Iterable[PieceRow], placed: Iterable[PieceRow], now_ms: int
    ) -> bool:
        """Repair's one transaction: mark `lost` pieces lost (queued for deletion), add `placed`.

        False (and nothing changed) if the segment no longer exists (object deleted or
        overwritten meanwhile): the caller then deletes the new pieces.
        """
        lost = list(lost)
        lost_hex = [p.piece_id.hex() for p in lost]
        rows = [_piece_values(p) for p in placed]
        with self.transaction() as conn:
            exists = conn.execute(
                select(segments.c.idx).where(
                    segments.c.object_id == segment.object_id, segments.c.idx == segment.idx
                )
            ).first()
            if exists is None:
                return False
            if lost_hex:
                conn.execute(
                    update(pieces)
                    .where(pieces.c.piece_id.in_(lost_hex), pieces.c.object_id == segment.object_id)
                    .values(state=PieceState.LOST.value)
                )
                self._queue_deletes(conn, lost, now_ms)
            if rows:
                conn.execute(insert(pieces), rows)
            return True

    # ---- multipart uploads -----------------------------------------------------------------

    def begin_upload(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        now_ms: int,
        *,
        owner: str | None = None,
        content_type: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
    ) -> UploadRow:
        """Record a new multipart upload (and make sure the internal parts bucket exists)."""
        meta = encode_user_metadata(user_metadata or {})
        self.create_bucket(PARTS_BUCKET, now_ms)
        with self.transaction() as conn:
            conn.execute(
                insert(uploads).values(
                    upload_id=upload_id,
                    bucket=bucket,
                    key=key,
                    owner=owner,
                    created_ms=now_ms,
                    content_type=content_type,
                    user_metadata=meta,
                )
            )
        return UploadRow(upload_id, bucket, key, owner, now_ms, content_type, json.loads(meta))

    def upload(self, upload_id: str) -> UploadRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(uploads).where(uploads.c.upload_id == upload_id)).first()
            return None if row is None else _upload(row)

    def uploads_of(self, bucket: str, limit: int = 1000) -> list[UploadRow]:
        """Uploads in progress into `bucket`, by key then start time."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(uploads)
                .where(uploads.c.bucket == bucket)
                .order_by(uploads.c.key, uploads.c.created_ms)
                .limit(limit)
            )
            return [_upload(r) for r in rows]

    def upload_parts(self, upload_id: str) -> list[tuple[int, ObjectRow]]:
        """(part number, committed part object) of an upload, by part number."""
        start = upload_id + "/"
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(objects)
                .where(
                    objects.c.bucket == PARTS_BUCKET,
                    objects.c.state == ObjectState.COMMITTED.value,
                    objects.c.key.like(start + "%"),  # upload ids are hex: no wildcard in them
                )
                .order_by(objects.c.key)
            )
            out = []
            for r in rows:
                tail = r.key[len(start) :]
                if r.key.startswith(start) and tail.isdigit():
                    out.append((int(tail), _object(r)))
            return sorted(out, key=lambda item: item[0])

    def complete_upload(
        self,
        upload_id: str,
        chosen: list[tuple[int, int]],
        size: int,
        etag: str,
        now_ms: int,
    ) -> ObjectRow | None:
        """Compose the object of an upload from the part objects `chosen` ((number, object id),
        in order); None if the upload no longer exists. One transaction (module docstring)."""
        with self.transaction() as conn:
            up = conn.execute(
                select(uploads).where(uploads.c.upload_id == upload_id).with_for_update()
            ).first()
            if up is None:
                return None
            result = conn.execute(
                insert(objects).values(
                    bucket=up.bucket,
                    key=up.key,
                    state=ObjectState.PENDING.value,
                    size=size,
                    created_ms=up.created_ms,
                    etag=etag,
                    content_type=up.content_type,
                    user_metadata=up.user_metadata,
                )
            )
            key_row = result.inserted_primary_key
            assert key_row is not None
            new_id = int(key_row[0])
            idx_base, offset_base = 0, 0
            for _number, part_id in chosen:
                segs = conn.execute(
                    select(func.count(), func.coalesce(func.sum(segments.c.length), 0)).where(
                        segments.c.object_id == part_id
                    )
                ).one()
                conn.execute(
                    update(segments)
                    .where(segments.c.object_id == part_id)
                    .values(
                        object_id=new_id,
                        idx=segments.c.idx + idx_base,
                        offset=segments.c.offset + offset_base,
                    )
                )
                conn.execute(
                    update(pieces)
                    .where(pieces.c.object_id == part_id)
                    .values(object_id=new_id, segment_idx=pieces.c.segment_idx + idx_base)
                )
                conn.execute(delete(objects).where(objects.c.id == part_id))
                idx_base += int(segs[0])
                offset_base += int(segs[1])
            self._drop_parts(conn, upload_id, now_ms)
            replaced = conn.execute(
                select(objects.c.id).where(
                    objects.c.bucket == up.bucket,
                    objects.c.key == up.key,
                    objects.c.state == ObjectState.COMMITTED.value,
                )
            ).first()
            if replaced is not None:
                self._drop_object(conn, replaced.id, now_ms)
            conn.execute(
                update(objects)
                .where(objects.c.id == new_id)
                .values(state=ObjectState.COMMITTED.value, committed_ms=now_ms)
            )
            conn.execute(delete(uploads).where(uploads.c.upload_id == upload_id))
            row = conn.execute(select(objects).where(objects.c.id == new_id)).one()
            return _object(row)

    def abort_upload(self, upload_id: str, now_ms: int) -> bool:
        """Forget an upload and queue its parts' pieces for deletion; False if unknown."""
        with self.transaction() as conn:
            gone = conn.execute(delete(uploads).where(uploads.c.upload_id == upload_id))
            self._drop_parts(conn, upload_id, now_ms)
            return gone.rowcount > 0

    def _drop_parts(self, conn: Connection, upload_id: str, now_ms: int) -> None:
        start = upload_id + "/"
        rows = conn.execute(
            select(objects.c.id, objects.c.key).where(
                objects.c.bucket == PARTS_BUCKET,
                objects.c.key.like(start + "%"),
            )
        ).all()
        for r in rows:
            if r.key.startswith(start):
                self._drop_object(conn, r.id, now_ms)

    # ---- deletes ---------------------------------------------------------------------------

    def _queue_deletes(self, conn: Connection, held: Iterable[PieceRow], now_ms: int) -> None:
        rows = [
            {
                "piece_id": p.piece_id.hex(),
                "node": p.node,
                "url": p.url,
                "queued_ms": now_ms,
                "attempts": 0,
            }
            for p in held
        ]
        if rows:
            conn.execute(insert(piece_deletes), rows)

    def queue_deletes(self, held: Iterable[PieceRow], now_ms: int) -> None:
        """Remember that these pieces must be deleted from their nodes."""
        with self.transaction() as conn:
            self._queue_deletes(conn, held, now_ms)

    def pending_deletes(self, limit: int = 10_000) -> list[PendingDelete]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(piece_deletes).order_by(piece_deletes.c.queued_ms).limit(limit)
            )
            return [
                PendingDelete(
                    bytes.fromhex(r.piece_id), DeviceId(r.node), r.url, r.attempts, r.last_error
                )
                for r in rows
            ]

    def delete_done(self, piece_id: bytes) -> None:
        with self.transaction() as conn:
            conn.execute(delete(piece_deletes).where(piece_deletes.c.piece_id == piece_id.hex()))

    def delete_failed(self, piece_id: bytes, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(piece_deletes)
                .where(piece_deletes.c.piece_id == piece_id.hex())
                .values(attempts=piece_deletes.c.attempts + 1, last_error=error[:500])
            )


__all__ = [
    "LIVE_STATES",
    "PARTS_BUCKET",
    "BucketRow",
    "Metadata",
    "ObjectRow",
    "ObjectState",
    "PendingDelete",
    "PieceRow",
    "PieceState",
    "SegmentRow",
    "UploadRow",
    "encode_user_metadata",
    "part_key",
    "schema",
]
