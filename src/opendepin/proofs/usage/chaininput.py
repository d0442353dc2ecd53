"""The usage kind's chain input: the epoch's credit spends, frozen at the snapshot.

The snapshot stage calls `UsageKind.chain_inputs`, which reads the deployment's `Credits`
contract and writes one file, `kinds/usage/credits_spent_v1.json` (canonical JSON):

```
{"format": "credits_spent_v1", "from_block": int, "to_block": int,
 "credits_per_token": int,            # the price at the close block
 "spenders": [address, ...],          # authorised spenders at the close block, sorted
 "spends": [{"block", "log_index", "account", "spender", "amount", "usage_ref"}, ...]}
```

`spends` are the `CreditsSpent` events in blocks [from_block, to_block] (after the previous
epoch's close block, up to this epoch's), in chain order. The spender set is replayed from
`SpenderChanged` events up to the close block; the price at the close block is the current
`credits_per_token`, unless a later `PriceChanged` says what it was before (its
`previous_credits_per_token`). So every oracle writes the same bytes whenever it runs, and
`depin audit` recomputes from the file, never from the chain.

`parse_credits_spent` is total: a malformed file is an `InputError` (the oracle froze it; a
bad one means a corrupted or tampered epoch directory).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opendepin import jsonlimits
from opendepin.canonical import canonical_json
from opendepin.chain.clients import CreditsClient
from opendepin.errors import InputError
from opendepin.identity.address import checksum
from opendepin.proofs.kind import ChainView
from opendepin.types import DeviceId

CREDITS_SPENT_FILE: Final = "credits_spent_v1.json"
CREDITS_SPENT_FORMAT: Final = "credits_spent_v1"
MAX_UINT256: Final = 2**256 - 1
_REF = re.compile(r"0x[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class SpendEvent:
    """One `CreditsSpent` event."""

    block: int
    log_index: int
    account: DeviceId
    spender: DeviceId
    amount: int
    usage_ref: bytes

    def to_obj(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "log_index": self.log_index,
            "account": self.account,
            "spender": self.spender,
            "amount": self.amount,
            "usage_ref": "0x" + self.usage_ref.hex(),
        }


@dataclass(frozen=True, slots=True)
class CreditsSpentInput:
    """The frozen chain facts of one epoch (empty: no usage can be verified)."""

    from_block: int = 0
    to_block: int = 0
    credits_per_token: int = 0
    """Credits one whole token bought at the close block (0: unknown, nothing is worth anything)."""
    spenders: frozenset[DeviceId] = frozenset()
    spends: tuple[SpendEvent, ...] = field(default_factory=tuple)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": CREDITS_SPENT_FORMAT,
                "from_block": self.from_block,
                "to_block": self.to_block,
                "credits_per_token": self.credits_per_token,
                "spenders": sorted(self.spenders),
                "spends": [s.to_obj() for s in self.spends],
            }
        )


def _uint(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or not 0 <= value <= MAX_UINT256:
        raise InputError(f"{CREDITS_SPENT_FILE}: {name} must be an unsigned integer")
    return value


def _addr(value: object) -> DeviceId:
    if not isinstance(value, str) or len(value) != 42:
        raise InputError(f"{CREDITS_SPENT_FILE}: {str(value)[:50]!r} is not an address")
    try:
        return checksum(value)
    except ValueError:
        raise InputError(f"{CREDITS_SPENT_FILE}: {value!r} is not an address") from None


def parse_credits_spent(data: bytes | None) -> CreditsSpentInput:
    """The frozen input (None: the empty one); InputError if the bytes are not one."""
    if data is None:
        return CreditsSpentInput()
    try:
        obj = jsonlimits.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{CREDITS_SPENT_FILE}: not JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != CREDITS_SPENT_FORMAT:
        raise InputError(f"{CREDITS_SPENT_FILE}: not a {CREDITS_SPENT_FORMAT} object")
    spenders, spends = obj.get("spenders"), obj.get("spends")
    if not isinstance(spenders, list) or not isinstance(spends, list):
        raise InputError(f"{CREDITS_SPENT_FILE}: spenders and spends must be lists")
    events = []
    for item in spends:
        if not isinstance(item, dict):
            raise InputError(f"{CREDITS_SPENT_FILE}: a spend is not an object")
        ref = item.get("usage_ref")
        if not isinstance(ref, str) or not _REF.fullmatch(ref):
            raise InputError(f"{CREDITS_SPENT_FILE}: usage_ref must be 0x and 64 hex digits")
        events.append(
            SpendEvent(
                _uint(item, "block"),
                _uint(item, "log_index"),
                _addr(item.get("account")),
                _addr(item.get("spender")),
                _uint(item, "amount"),
                bytes.fromhex(ref[2:]),
            )
        )
    return CreditsSpentInput(
        from_block=_uint(obj, "from_block"),
        to_block=_uint(obj, "to_block"),
        credits_per_token=_uint(obj, "credits_per_token"),
        spenders=frozenset(_addr(s) for s in spenders),
        spends=tuple(events),
    )


def read_credits_spent(view: ChainView) -> CreditsSpentInput:
    """The epoch's spends, spender set and price at the close block, read from the chain."""
    client = CreditsClient(view.chain, view.contract("Credits"))
    spends = []
    for ev in sorted(
        client.events("CreditsSpent", view.from_block, view.to_block),
        key=lambda e: (e.block_number, e.log_index),
    ):
        spends.append(
            SpendEvent(
                ev.block_number,
                ev.log_index,
                checksum(str(ev.args["account"])),
                checksum(str(ev.args["spender"])),
                int(ev.args["amount"]),
                bytes(ev.args["usage_ref"]),
            )
        )
    spenders = frozenset(checksum(a) for a in client.spenders(view.first_block, view.to_block))
    price = client.credits_per_token()
    if view.chain.block_number() > view.to_block:
        later = client.events("PriceChanged", view.to_block + 1, None)
        if later:
            first = min(later, key=lambda e: (e.block_number, e.log_index))
            price = int(first.args["previous_credits_per_token"])
    return CreditsSpentInput(view.from_block, view.to_block, price, spenders, tuple(spends))
