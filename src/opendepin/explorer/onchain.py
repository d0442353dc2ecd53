"""What the explorer shows that only the chain knows: supply, burns, claims, settled roots.

Epoch files say what every owner is owed (cumulative amounts under a root); the chain says
what happened to it: the token's supply, the tokens burned for storage credits, what each
account already claimed, and which root the distributor holds for an epoch. With an RPC
node (`depin explorer --rpc URL --netdir D`, or the oracle's own chain under `depin oracle
serve --explorer`) the pages show those facts; without one they say "unknown".

Every read is total: a node that is down, slow or answering nonsense gives None (the page
says the chain could not be read), never an error page. Answers are cached for
`CACHE_SECONDS`, so a busy page costs the node a handful of calls, not one per visitor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from opendepin.chain.backend import Chain
from opendepin.chain.clients import CreditsClient, DistributorClient, TokenClient
from opendepin.errors import ConfigError
from opendepin.types import Address

log = logging.getLogger(__name__)

CACHE_SECONDS: Final = 5.0
T = TypeVar("T")


class OnChain:
    """Read-only views of one deployment's contracts, cached and total."""

    def __init__(
        self,
        chain: Chain,
        contracts: Mapping[str, Address],
        *,
        label: str,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        """`contracts`: the deployment's addresses by name (`Deployment.addresses`); it needs
        Token and RewardDistributor (ConfigError otherwise), Credits when there is one."""
        missing = [n for n in ("Token", "RewardDistributor") if n not in contracts]
        if missing:
            raise ConfigError(f"the explorer's chain view needs the {' and '.join(missing)} address")
        self.label = label
        """Where the facts come from (an RPC URL), shown on the pages."""
        self._token = TokenClient(chain, contracts["Token"])
        self._distributor = DistributorClient(chain, contracts["RewardDistributor"])
        credits = contracts.get("Credits")
        self._credits = CreditsClient(chain, credits) if credits is not None else None
        self._chain = chain
        self._burned_total = 0
        self._burned_through = -1
        """Blocks up to here are summed into `_burned_total` (-1: none yet)."""
        self._burned_lock = threading.Lock()
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, object]] = {}

    def _cached(self, key: tuple[str, str], read: Callable[[], T]) -> T | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._cache_seconds:
            return hit[1]  # type: ignore[return-value]
        try:
            value = read()
        except Exception as exc:  # a node's failure is "unknown" on a page, never an error
            log.warning("explorer: %s from %s failed: %s", key[0], self.label, exc)
            return None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def supply(self) -> int | None:
        """The token's total supply, base units."""
        return self._cached(("supply", ""), lambda: int(self._token.total_supply()))

    def burned_for_credits(self) -> int | None:
        """Tokens burned through `Credits.burnForCredits` since deployment, base units."""
        credits = self._credits
        if credits is None:
            return 0
        def burned_so_far() -> int:
            # Only the blocks since the last read are scanned: the total grows, it is never
            # re-summed from block 0 on every page view.
            with self._burned_lock:
                head = self._chain.block_number()
                start = self._burned_through + 1
                if head >= start:
                    events = credits.events("CreditsPurchased", start, head)
                    self._burned_total += sum(int(ev.args["tokens"]) for ev in events)
                    self._burned_through = head
                return self._burned_total

        return self._cached(("burned", ""), burned_so_far)

    def claimed(self, account: str) -> int | None:
        """What `account` has claimed from the distributor so far, base units."""
        return self._cached(
            ("claimed", account.lower()), lambda: int(self._distributor.claimed(Address(account)))
        )

    def root(self, epoch: int) -> bytes | None:
        """The root the distributor holds for `epoch` (32 zero bytes: none yet)."""
        return self._cached(("root", str(epoch)), lambda: bytes(self._distributor.roots(epoch)))

    def holds(self, epoch: int, root: bytes) -> bool | None:
        """Whether the distributor holds `root` for `epoch` (None: the node failed)."""
        held = self.root(epoch)
        return None if held is None else held == root
