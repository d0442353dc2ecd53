"""Deploying a network's contracts, and the record of where they are.

`deploy_network` deploys, in this order (the agreed one):

1. `Token(name, symbol, cap, name, "1")` — cap = `emission.supply_cap` (or the largest
   total the distributor can track when uncapped);
2. `DeviceRegistry(token, onboarding_fee, location_fee, location_cooldown)`;
3. `RewardDistributor(token, oracles, threshold, per_epoch, halving_epochs, guardian,
   genesis_unix, epoch_seconds)` — for the exponential schedule the per-epoch cap never
   halves (`per_epoch` already bounds every later, smaller emission); the epoch clock comes
   from `settings.network`, and the distributor refuses the root of an epoch that has not
   ended by block time;
4. `Credits(token, credit_price)`;
5. `token.set_minter(distributor, True)`;
6. `token.mint(account, amount)` for every `chain.genesis_allocations` entry, in the order
   written — the deployer is still the token's owner, and so a minter;
7. `Timelock(delay, [governance], [governance], governance)`;
8. `transfer_ownership(timelock)` on all four (snekmate moves the owner's minter role with
   it, so from here on nobody but the distributor can mint: the genesis mint is one-shot);
9. `timelock.renounceRole(DEFAULT_ADMIN_ROLE, governance)`: the roles are wired, so the
   deployer gives up the timelock's admin role; from then on only the timelock itself (that
   is, a delayed proposal) can grant or revoke roles. The governance account keeps the
   proposer, canceller and executor roles.

Timelock delay. `chain.timelock_delay_seconds` of 0 makes governance instant. That is
allowed only where it cannot matter: on the in-process `EmbeddedChain` (demo, simulation,
tests) and on a node that reports the development chain id 31337 (`DEVNET_CHAIN_ID`, anvil's
and hardhat's default). Any other chain is refused with a `ConfigError` before anything is
sent (`check_timelock_delay`). The rule keys on the chain id the *node* reports, not on a
flag, so a copied command line cannot turn it off for a real network.

Genesis allocation. A fresh network has no tokens until the first epoch pays out, so the
first registration could not pay its fee and no consumer could buy credits. The genesis
allocation mints a fixed amount to named accounts (a treasury, the first consumers and device
owners) exactly once, before ownership moves to the timelock, with no contract change. The
record keeps the allocation (`Deployment.genesis_allocations`), so anyone can reconcile the
supply: `totalSupply == genesis_total + distributor.cumulative_total - burned`, where the
distributor's rewards are `claimed + unclaimed` (its own balance). The token cap bounds
genesis and emission together; an allocation above the cap is refused before anything is sent.

The result is a `Deployment` record written as `deployment.json` in the network directory:
chain id, addresses, the block of the last deployment transaction, and the keccak-256 of
every contract's deployed runtime code, so anyone can check (`Deployment.verify_code`) that
the addresses hold exactly the audited code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain
from opendepin.chain.clients import CreditsClient, DistributorClient, RegistryClient, TokenClient
from opendepin.chain.embedded import EmbeddedChain
from opendepin.crypto import keccak256
from opendepin.errors import ChainError, ConfigError
from opendepin.network.settings import Settings
from opendepin.types import Address

DEPLOYMENT_FILE = "deployment.json"
DEPLOYMENT_FORMAT = "deployment_v1"
EIP712_VERSION = "1"
MAX_TRACKED_TOTAL = 2**160 - 1
"""RewardDistributor packs the cumulative total into 160 bits."""
NEVER_HALVES_EPOCHS = 2**64
"""`halving_epochs` for schedules that are not halvings: the cap stays `per_epoch`."""
OWNED_CONTRACTS = ("Token", "DeviceRegistry", "RewardDistributor", "Credits")
DEVNET_CHAIN_ID = 31337
"""The local development chain id (anvil, hardhat): the only node chain where a zero
timelock delay is accepted."""
DEFAULT_ADMIN_ROLE = bytes(32)
"""snekmate `access_control.DEFAULT_ADMIN_ROLE` (`empty(bytes32)`)."""
MAX_UINT64 = 2**64 - 1
"""RewardDistributor keeps the epoch clock's genesis and epoch length below 2**64."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where a network's contracts live and what code they run."""

    chain_id: int
    """EVM chain id the contracts were deployed on."""
    network_id: str
    """The network's name (settings.network.network_id)."""
    addresses: dict[str, Address] = field(default_factory=dict)
    """Contract name -> address (Token, DeviceRegistry, RewardDistributor, Credits, Timelock)."""
    deploy_block: int = 0
    """Block of the last deployment transaction (logs of interest start at or after the first)."""
    first_block: int = 0
    """Block of the first deployment transaction: where event scans start."""
    code_hashes: dict[str, str] = field(default_factory=dict)
    """Contract name -> 0x keccak-256 of its deployed runtime code."""
    deployer: Address | None = None
    """Governance account that deployed (proposer/canceller/executor of the timelock; its
    admin role is renounced at deployment)."""
    genesis_allocations: dict[Address, int] = field(default_factory=dict)
    """Account -> base units minted to it at deployment (`chain.genesis_allocations`)."""

    @property
    def genesis_total(self) -> int:
        """Base units minted at deployment, outside the reward distributor."""
        return sum(self.genesis_allocations.values())

    # -- files ------------------------------------------------------------------------

    def to_json(self) -> str:
        doc = {
            "format": DEPLOYMENT_FORMAT,
            "chain_id": self.chain_id,
            "network_id": self.network_id,
            "addresses": dict(sorted(self.addresses.items())),
            "first_block": self.first_block,
            "deploy_block": self.deploy_block,
            "code_hashes": dict(sorted(self.code_hashes.items())),
            "deployer": self.deployer,
            "genesis_allocations": {a: str(v) for a, v in self.genesis_allocations.items()},
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        try:
            doc: dict[str, Any] = json.loads(text)
            if doc.get("format") != DEPLOYMENT_FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, expected {DEPLOYMENT_FORMAT!r}")
            return cls(
                chain_id=int(doc["chain_id"]),
                network_id=str(doc["network_id"]),
                addresses={k: Address(to_checksum_address(v)) for k, v in doc["addresses"].items()},
                first_block=int(doc["first_block"]),
                deploy_block=int(doc["deploy_block"]),
                code_hashes={k: str(v) for k, v in doc["code_hashes"].items()},
                deployer=Address(doc["deployer"]) if doc.get("deployer") else None,
                genesis_allocations=_genesis_of(doc.get("genesis_allocations") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"invalid {DEPLOYMENT_FILE}: {exc}") from exc

    def save(self, network_dir: Path) -> Path:
        network_dir.mkdir(parents=True, exist_ok=True)
        path = network_dir / DEPLOYMENT_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, network_dir: Path) -> Deployment:
        path = network_dir / DEPLOYMENT_FILE
        if not path.is_file():
            raise ConfigError(f"no {DEPLOYMENT_FILE} in {network_dir}; run `depin chain deploy`")
        return cls.from_json(path.read_text())

    # -- talking to it ----------------------------------------------------------------

    def address(self, name: str) -> Address:
        try:
            return self.addresses[name]
        except KeyError:
            raise ConfigError(f"deployment has no {name} contract") from None

    def token(self, chain: Chain) -> TokenClient:
        return TokenClient(chain, self.address("Token"))

    def registry(self, chain: Chain) -> RegistryClient:
        return RegistryClient(chain, self.address("DeviceRegistry"))

    def distributor(self, chain: Chain) -> DistributorClient:
        return DistributorClient(chain, self.address("RewardDistributor"))

    def credits(self, chain: Chain) -> CreditsClient:
        return CreditsClient(chain, self.address("Credits"))

    def verify_code(self, chain: Chain) -> None:
        """Raise ChainError unless every address holds the recorded code (and the chain id matches)."""
        if chain.chain_id != self.chain_id:
            raise ChainError(
                f"deployment is for chain {self.chain_id}, connected to {chain.chain_id}"
            )
        for name, address in self.addresses.items():
            actual = "0x" + keccak256(chain.code(address)).hex()
            if actual != self.code_hashes.get(name):
                raise ChainError(f"{name} at {address} does not hold the recorded code")


def _genesis_of(doc: Any) -> dict[Address, int]:
    """`genesis_allocations` of deployment.json: checksummed account -> positive decimal string."""
    if not isinstance(doc, dict):
        raise TypeError("genesis_allocations must be an object")
    out: dict[Address, int] = {}
    for account, amount in doc.items():
        if not isinstance(amount, str | int) or isinstance(amount, bool):
            raise TypeError(f"genesis_allocations[{account}] must be a decimal string")
        value = int(amount)
        if value <= 0:
            raise ValueError(f"genesis_allocations[{account}] must be positive")
        out[Address(to_checksum_address(account))] = value
    return out


def instant_governance_allowed(chain: Chain) -> bool:
    """Whether a zero timelock delay is acceptable on `chain` (see the module docstring)."""
    return isinstance(chain, EmbeddedChain) or chain.chain_id == DEVNET_CHAIN_ID


def check_timelock_delay(chain: Chain, delay_seconds: int) -> None:
    """ConfigError if `delay_seconds` is 0 on a chain where governance must not be instant."""
    if delay_seconds == 0 and not instant_governance_allowed(chain):
        raise ConfigError(
            f"chain.timelock_delay_seconds is 0, which makes governance instant on chain "
            f"{chain.chain_id}; set a real delay (e.g. 172800 for two days). A zero delay is "
            f"accepted only on the development chain id {DEVNET_CHAIN_ID} or the embedded chain"
        )


def deploy_network(
    chain: Chain,
    settings: Settings,
    governance_signer: AccountLike,
    oracles: Sequence[Address],
    guardian: Address,
) -> Deployment:
    """Deploy and wire the four contracts plus the timelock; returns the record (not saved).

    Refuses (ConfigError, nothing sent) a zero `chain.timelock_delay_seconds` on a node chain
    other than `DEVNET_CHAIN_ID`, and an epoch clock the distributor cannot hold.
    """
    cs = settings.chain
    em = settings.emission
    net = settings.network
    if len(oracles) < cs.oracle_threshold:
        raise ConfigError(
            f"{len(oracles)} oracles cannot meet threshold {cs.oracle_threshold} (chain.oracle_threshold)"
        )
    check_timelock_delay(chain, cs.timelock_delay_seconds)
    if not 0 <= net.genesis_unix <= MAX_UINT64:
        raise ConfigError(f"network.genesis_unix {net.genesis_unix} must be in 0..2**64-1")
    if net.epoch_seconds > MAX_UINT64:
        raise ConfigError(f"network.epoch_seconds {net.epoch_seconds} must be below 2**64")
    gov = governance_signer
    first_block = chain.block_number() + 1
    cap = em.supply_cap if em.supply_cap is not None else MAX_TRACKED_TOTAL
    genesis = {Address(a): amount for a, amount in cs.genesis_allocations.items()}
    if cs.genesis_total > cap:
        raise ConfigError(
            f"chain.genesis_allocations mint {cs.genesis_total} base units, more than the token "
            f"cap {cap} (emission.supply_cap)"
        )
    halving = em.halving_epochs if em.schedule == "halving" else NEVER_HALVES_EPOCHS

    addresses: dict[str, Address] = {}
    addresses["Token"] = chain.deploy(
        "Token", cs.token_name, cs.token_symbol, cap, cs.token_name, EIP712_VERSION, sender=gov
    )
    addresses["DeviceRegistry"] = chain.deploy(
        "DeviceRegistry",
        addresses["Token"],
        cs.onboarding_fee,
        cs.location_fee,
        cs.location_cooldown_seconds,
        sender=gov,
    )
    addresses["RewardDistributor"] = chain.deploy(
        "RewardDistributor",
        addresses["Token"],
        list(oracles),
        cs.oracle_threshold,
        em.per_epoch,
        halving,
        guardian,
        net.genesis_unix,
        net.epoch_seconds,
        sender=gov,
    )
    addresses["Credits"] = chain.deploy("Credits", addresses["Token"], cs.credit_price, sender=gov)
    chain.transact(
        addresses["Token"], "set_minter", addresses["RewardDistributor"], True, sender=gov
    )
    for account, amount in genesis.items():  # the deployer is still owner, hence a minter
        chain.transact(addresses["Token"], "mint", account, amount, sender=gov)
    addresses["Timelock"] = chain.deploy(
        "Timelock", cs.timelock_delay_seconds, [gov.address], [gov.address], gov.address, sender=gov
    )
    for name in OWNED_CONTRACTS:
        chain.transact(addresses[name], "transfer_ownership", addresses["Timelock"], sender=gov)
    timelock = addresses["Timelock"]
    chain.transact(timelock, "renounceRole", DEFAULT_ADMIN_ROLE, gov.address, sender=gov)
    if chain.call(timelock, "hasRole", DEFAULT_ADMIN_ROLE, gov.address):
        raise ChainError(f"deployer {gov.address} still holds the timelock admin role")
    code_hashes = {}
    for name, address in addresses.items():
        code = chain.code(address)
        if not code:
            raise ChainError(f"{name} at {address} holds no code")
        code_hashes[name] = "0x" + keccak256(code).hex()
    return Deployment(
        chain_id=chain.chain_id,
        network_id=net.network_id,
        addresses=addresses,
        first_block=first_block,
        deploy_block=chain.block_number(),
        code_hashes=code_hashes,
        deployer=gov.address,
        genesis_allocations=genesis,
    )
