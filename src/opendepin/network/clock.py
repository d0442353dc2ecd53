"""The epoch clock: the one place epoch boundaries are computed.

Epoch e covers the Unix seconds `[genesis + e·length, genesis + (e+1)·length)`. Everything that
asks "which epoch is this?" or "when does epoch e end?" — the device agent labelling a report,
ingest's freshness check, the verifiers, the oracle's sealing and snapshot stages — asks an
`EpochClock` (`NetworkSection` exposes its own as methods).
"""

from __future__ import annotations

from dataclasses import dataclass

MS_PER_SECOND = 1_000


@dataclass(frozen=True, slots=True)
class EpochClock:
    """A network's epochs: genesis and length in seconds."""

    genesis_unix: int
    epoch_seconds: int

    def start_unix(self, epoch: int) -> int:
        """First second of `epoch`."""
        return self.genesis_unix + epoch * self.epoch_seconds

    def end_unix(self, epoch: int) -> int:
        """First second after `epoch` (the next epoch's start)."""
        return self.start_unix(epoch + 1)

    def window_ms(self, epoch: int, overhang_ms: int = 0) -> tuple[int, int]:
        """[start, end) of `epoch` in Unix milliseconds; `overhang_ms` extends the end (the
        window in which a report of `epoch` may be stamped, `Kind.epoch_overhang_ms`)."""
        return self.start_unix(epoch) * MS_PER_SECOND, self.end_unix(epoch) * MS_PER_SECOND + overhang_ms

    def epoch_at_ms(self, unix_ms: int) -> int:
        """The epoch containing `unix_ms`; ValueError before genesis."""
        seconds = unix_ms // MS_PER_SECOND - self.genesis_unix
        if seconds < 0:
            raise ValueError(f"{unix_ms} ms is before the network's genesis ({self.genesis_unix})")
        return seconds // self.epoch_seconds
