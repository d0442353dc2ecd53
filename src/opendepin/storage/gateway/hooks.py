"""Where credits and metering plug in: an authoriser asked before, a usage sink told after.

The gateway knows *who* (the account an access key is bound to) and *what* (operation,
bucket, key, bytes). Whether that account may do it — has it credits left? — is the
`Authoriser`'s decision, made before anything changes; a refusal is S3's `AccessDenied`
with the authoriser's message. What the request used — bytes received, bytes served
(egress), change of bytes stored — goes to the `UsageSink` once the request succeeded,
one `UsageEvent` per request, for the metering to aggregate per account and epoch.

The defaults allow everything and keep no record (`ALLOW_ALL`, `NO_USAGE`); `UsageLog`
keeps events in memory (tests, and a simple meter to build on).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Access:
    """A request about to be served."""

    account: str
    access_key_id: str
    operation: str
    """S3's operation name: PutObject, GetObject, CreateBucket, UploadPart, …"""
    bucket: str | None
    key: str | None
    declared_bytes: int
    """Body length the client declared (0 without a body)."""


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """What one successful request used."""

    account: str
    operation: str
    bucket: str | None
    key: str | None
    bytes_in: int
    """Payload bytes received (ingress)."""
    bytes_out: int
    """Payload bytes served (egress)."""
    stored_delta: int
    """Change in bytes stored for the account (negative on delete or overwrite)."""
    time_ms: int
    request_id: str


class Authoriser(Protocol):
    def check(self, access: Access) -> str | None:
        """None to allow; otherwise the reason the request is refused (AccessDenied)."""
        ...


class UsageSink(Protocol):
    def record(self, event: UsageEvent) -> None:
        """Take one request's usage (must not block for long; called on the request path)."""
        ...


class AllowAll:
    def check(self, access: Access) -> str | None:
        return None


class NoUsage:
    def record(self, event: UsageEvent) -> None:
        return None


class UsageLog:
    """Usage events kept in memory, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[UsageEvent] = []

    def record(self, event: UsageEvent) -> None:
        with self._lock:
            self.events.append(event)


ALLOW_ALL = AllowAll()
NO_USAGE = NoUsage()

__all__ = [
    "ALLOW_ALL",
    "NO_USAGE",
    "Access",
    "AllowAll",
    "Authoriser",
    "NoUsage",
    "UsageEvent",
    "UsageLog",
    "UsageSink",
]
