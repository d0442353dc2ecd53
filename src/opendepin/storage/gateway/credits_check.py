"""The credit check: an `Authoriser` that refuses accounts that cannot pay any more.

An account pays for storage with the credits it bought on chain (`Credits`); the gateway
spends them once per epoch (`opendepin.storage.settlement`). Between two settlements the
account keeps using the network, so what it can still afford is

    available = on-chain balance − unsettled charges (usage since the last settled epoch,
                plus what a settlement could not collect)

and a request is refused — S3 AccessDenied, "account 0x… has no credits left" — when
`available <= 0`, before anything changes. Balances and charges are cached for `ttl_ms`
(a chain read per request would be slow); the cost is that an account may overrun its
credits by what it uses within one cache period, which the next settlement charges (and,
if it cannot pay, records as unpaid, which keeps the account refused).

An account that is not a chain address cannot hold credits and is refused too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from opendepin.identity.address import checksum
from opendepin.storage.gateway.hooks import Access
from opendepin.types import Address

DEFAULT_TTL_MS: Final = 10_000
"""How long a balance and a charge are trusted before they are read again."""


def wall_clock_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


class CreditsCheck:
    """Refuse accounts whose credits minus unsettled charges are ≤ 0 (see the module docstring)."""

    def __init__(
        self,
        balance: Callable[[Address], int],
        owed: Callable[[str], int],
        *,
        ttl_ms: int = DEFAULT_TTL_MS,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._balance = balance
        self._owed = owed
        self.ttl_ms = ttl_ms
        self.clock_ms = clock_ms
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, int]] = {}

    def available(self, account: str) -> int:
        """Credits `account` (as the access key names it) can still use (cached for `ttl_ms`);
        ValueError if it is not a chain address."""
        now = self.clock_ms()
        with self._lock:
            hit = self._cache.get(account)
        if hit is not None and now - hit[1] < self.ttl_ms:
            return hit[0]
        value = self._balance(Address(checksum(account))) - self._owed(account)
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[account] = (value, now)
        return value

    def forget(self, account: str | None = None) -> None:
        """Drop the cached value of `account` (all accounts: None), e.g. after a settlement."""
        with self._lock:
            if account is None:
                self._cache.clear()
            else:
                self._cache.pop(account, None)

    def check(self, access: Access) -> str | None:
        try:
            account = checksum(access.account)
            available = self.available(access.account)
        except ValueError:
            return (
                f"account {access.account[:64]} is not a chain address, so it cannot hold "
                "credits; bind the access key to the address that bought them"
            )
        if available <= 0:
            return (
                f"account {account} has no credits left ({-available} owed); "
                "buy credits with `depin credits buy`"
            )
        return None


__all__ = ["DEFAULT_TTL_MS", "CreditsCheck"]
