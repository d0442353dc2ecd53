"""The agent's on-chain and oracle errands: register the device, read rewards, claim.

- **Register.** The device proves possession of its key by signing the DeviceRegistry's
  EIP-712 `Register(owner, kind, nonce, deadline)` (the kind is signed too, so a relayer
  cannot register it as another kind); the *owner's* account sends the transaction
  and pays the onboarding fee (`RegistryClient.register`). A stationary heartbeat device
  then asserts its H3 cell (resolution `ASSERT_RESOLUTION`) from the position in agent.toml.
- **Rewards.** An oracle serves `GET /v1/rewards/{account}`: the owner's cumulative amount
  in the latest settled epoch and its Merkle proof. Claimable = cumulative − `claimed` on
  the distributor.
- **Claim.** Anyone may send `claim(account, cumulative, proof)`; the distributor pays the
  difference to the account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import h3.api.basic_int as h3
import httpx

from opendepin import geo, jsonlimits
from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain, Receipt
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.errors import ConfigError, DepinError, InputError
from opendepin.identity import DeviceKey
from opendepin.identity.address import checksum
from opendepin.types import Address, BaseUnits

ASSERT_RESOLUTION = 12
"""H3 resolution asserted for a stationary device (cells ~10 m across)."""
REGISTER_DEADLINE_SECONDS = 3_600
"""How long the device's registration signature stays valid."""
REWARDS_PATH = "/v1/rewards/"


@dataclass(frozen=True, slots=True)
class RewardStatement:
    """An oracle's answer for one account."""

    account: Address
    epoch: int
    """Latest settled epoch the amount covers."""
    cumulative_amount: BaseUnits
    """Everything the account earned up to `epoch`, base units."""
    proof: tuple[bytes, ...]
    """Merkle proof of (account, cumulative_amount) against that epoch's root."""


def cell_of(lat_e7: int, lon_e7: int, resolution: int = ASSERT_RESOLUTION) -> int:
    """The H3 cell (as an int) containing a position (resolution 12 by default)."""
    return geo.cell_of(lat_e7, lon_e7, resolution)


def register_device(
    chain: Chain,
    registry: Address,
    device_key: DeviceKey,
    owner_signer: AccountLike,
    kind: str,
    *,
    location: int | None = None,
) -> list[Receipt]:
    """Register `device_key` to `owner_signer`'s account, then assert `location` if given.

    `location` must be a valid H3 cell (the registry refuses anything else); it is checked
    here first, so a bad cell fails before the registration fee is paid.
    """
    if location is not None and not (0 <= location < 2**64 and h3.is_valid_cell(location)):
        raise InputError(f"location {location:#x} is not a valid H3 cell index")
    client = RegistryClient(chain, registry)
    deadline = chain.timestamp() + REGISTER_DEADLINE_SECONDS
    receipts = [client.register(device_key, owner_signer, kind, deadline)]
    if location is not None:
        receipts.append(client.assert_location(device_key.device_id, location, sender=owner_signer))
    return receipts


async def fetch_rewards(
    oracle_url: str, account: str, client: httpx.AsyncClient | None = None
) -> RewardStatement | None:
    """The oracle's statement for `account`; None if it has earned nothing yet (404)."""
    url = oracle_url.rstrip("/") + REWARDS_PATH + checksum(account)
    own = client is None
    http = client or httpx.AsyncClient(timeout=30.0)
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        raise DepinError(f"oracle at {oracle_url} unreachable: {exc}") from exc
    finally:
        if own:
            await http.aclose()
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise DepinError(f"oracle answered HTTP {response.status_code}: {response.text[:200]}")
    data = jsonlimits.loads(response.content)
    try:
        return RewardStatement(
            account=Address(checksum(data["account"])),
            epoch=int(data["epoch"]),
            cumulative_amount=BaseUnits(int(data["cumulative_amount"])),
            proof=tuple(bytes.fromhex(p.removeprefix("0x")) for p in data["proof"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DepinError(f"oracle answer not understood: {exc}") from exc


def claimed(chain: Chain, distributor: Address, account: Address) -> BaseUnits:
    """What `account` has already claimed."""
    return DistributorClient(chain, distributor).claimed(account)


def claim(
    chain: Chain, distributor: Address, statement: RewardStatement, sender: AccountLike
) -> Receipt:
    """Send the claim for `statement` (anyone may send it; the account is paid)."""
    proof: Sequence[bytes] = statement.proof
    return DistributorClient(chain, distributor).claim(
        statement.account, statement.cumulative_amount, proof, sender=sender
    )


def require_address(value: str, what: str) -> Address:
    """`value` as a checksummed address, or ConfigError saying how to set it."""
    if not value:
        raise ConfigError(f"no {what} address: pass --{what} or set it in agent.toml")
    try:
        return Address(checksum(value))
    except ValueError as exc:
        raise ConfigError(f"bad {what} address {value!r}: {exc}") from exc
