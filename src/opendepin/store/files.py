"""Crash-safe file writes: write to a temporary file, fsync, rename, fsync the directory.

A reader therefore sees either the old file or the complete new one, never a torn write,
and once `atomic_write` returns the new file survives a power loss. Oracle stages with file
outputs write them this way and only then record the stage in the ledger.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from opendepin.canonical import sha256_hex

TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or a new file) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> str:
    """Atomically replace `path` with `data`; returns the sha256 hex digest of `data`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return sha256_hex(data)


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
