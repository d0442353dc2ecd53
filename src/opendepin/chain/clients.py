"""Typed clients over the four contracts, for any `Chain` backend.

Each client holds a chain and one address and turns the contract's functions into typed
Python methods: amounts are base units (`BaseUnits`), accounts checksummed `Address`es,
roots and hashes `bytes`. Anything that changes state takes the paying/acting account as
`sender` and returns the `Receipt`; a revert raises `TransactionReverted` with the
contract's revert string ("RewardDistributor: stale epoch").

Helpers that build signatures live with the function that needs them:
`RegistryClient.register` has the *device* key sign the EIP-712 `Register` struct (owner,
kind, nonce, deadline: the signature fixes the kind, so nobody can register the device
as another kind by replaying the transaction),
`DistributorClient.epoch_root_digest` is the digest each oracle signs, and
`DistributorClient.submit_root` orders signatures by recovered signer (the contract wants
them strictly ascending, which is how it checks they are distinct).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from eth_utils.address import to_checksum_address

from opendepin.chain import eip712
from opendepin.chain.accounts import AccountLike
from opendepin.chain.backend import Chain, Event, Receipt
from opendepin.crypto import keccak256
from opendepin.errors import InputError
from opendepin.identity.signatures import SIGNATURE_BYTES, recover_address
from opendepin.network.clock import EpochClock
from opendepin.records import DeviceRecord
from opendepin.types import Address, BaseUnits, DeviceId

ZERO_ADDRESS = Address("0x0000000000000000000000000000000000000000")


class DeviceSigner(Protocol):
    """A device key: its id (address) and digest signing (secp256k1 only on chain)."""

    @property
    def device_id(self) -> DeviceId: ...

    def sign_digest(self, digest32: bytes) -> bytes: ...


def _signer_order(digest: bytes, signature: bytes) -> int:
    """The recovered signer of `signature` as a number, the order the distributor wants."""
    signer = recover_address(digest, signature)
    if signer is None:
        raise InputError(f"not a recoverable {SIGNATURE_BYTES}-byte r‖s‖v signature")
    return int(signer, 16)


class _Client:
    def __init__(self, chain: Chain, address: Address, contract: str) -> None:
        self.chain = chain
        self.address = Address(to_checksum_address(address))
        chain.attach(contract, self.address)

    def _call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(self.address, fn, *args)

    def _send(self, fn: str, *args: Any, sender: AccountLike) -> Receipt:
        return self.chain.transact(self.address, fn, *args, sender=sender)

    def events(self, name: str, from_block: int = 0, to_block: int | None = None) -> list[Event]:
        """Decoded `name` events of this contract in a block range."""
        return self.chain.get_logs(self.address, name, from_block, to_block)

    def owner(self) -> Address:
        return Address(self._call("owner"))

    def transfer_ownership(self, new_owner: Address, *, sender: AccountLike) -> Receipt:
        return self._send("transfer_ownership", new_owner, sender=sender)


class TokenClient(_Client):
    """The capped ERC-20 reward and payment token (EIP-2612 permit)."""

    def __init__(self, chain: Chain, address: Address) -> None:
        super().__init__(chain, address, "Token")

    def balance_of(self, account: Address) -> BaseUnits:
        return BaseUnits(self._call("balanceOf", account))

    def total_supply(self) -> BaseUnits:
        return BaseUnits(self._call("totalSupply"))

    def cap(self) -> BaseUnits:
        return BaseUnits(self._call("cap"))

    def allowance(self, owner: Address, spender: Address) -> BaseUnits:
        return BaseUnits(self._call("allowance", owner, spender))

    def nonces(self, owner: Address) -> int:
        return int(self._call("nonces", owner))

    def is_minter(self, account: Address) -> bool:
        return bool(self._call("is_minter", account))

    def approve(self, spender: Address, amount: int, *, sender: AccountLike) -> Receipt:
        return self._send("approve", spender, amount, sender=sender)

    def transfer(self, to: Address, amount: int, *, sender: AccountLike) -> Receipt:
        return self._send("transfer", to, amount, sender=sender)

    def mint(self, to: Address, amount: int, *, sender: AccountLike) -> Receipt:
        """Mint (minters only; never above the cap)."""
        return self._send("mint", to, amount, sender=sender)

    def burn(self, amount: int, *, sender: AccountLike) -> Receipt:
        return self._send("burn", amount, sender=sender)

    def set_minter(self, minter: Address, status: bool, *, sender: AccountLike) -> Receipt:
        return self._send("set_minter", minter, status, sender=sender)

    def minted_and_burned(
        self, from_block: int = 0, to_block: int | None = None
    ) -> tuple[int, int]:
        """Base units minted (Transfer from the zero address) and burned (to it) in a range.

        Over the whole life of the token `totalSupply == minted - burned`; what was minted is
        the genesis allocation plus the distributor's rewards (see `opendepin.chain.deploy`).
        """
        minted = burned = 0
        for ev in self.events("Transfer", from_block, to_block):
            if ev.args["sender"] == ZERO_ADDRESS:
                minted += int(ev.args["value"])
            if ev.args["receiver"] == ZERO_ADDRESS:
                burned += int(ev.args["value"])
        return minted, burned

    def ensure_allowance(self, spender: Address, amount: int, *, sender: AccountLike) -> None:
        """Approve `spender` for `amount` unless it already may spend that much."""
        if self.allowance(sender.address, spender) < amount:
            self.approve(spender, amount, sender=sender)

    def permit_digest(
        self, owner: Address, spender: Address, value: int, nonce: int, deadline: int
    ) -> bytes:
        """EIP-2612 digest, in the domain the token reports through EIP-5267."""
        domain_info = self._call("eip712Domain")
        domain = eip712.Domain(domain_info[1], domain_info[2], int(domain_info[3]), domain_info[4])
        struct_hash = keccak256(
            eip712.encode_struct(
                b"Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)",
                ["address", "address", "uint256", "uint256", "uint256"],
                [owner, spender, value, nonce, deadline],
            )
        )
        return eip712.typed_digest(domain, struct_hash)

    def permit(
        self,
        owner: AccountLike,
        spender: Address,
        value: int,
        deadline: int,
        *,
        sender: AccountLike,
    ) -> Receipt:
        """Have `owner` sign an EIP-2612 permit and submit it from `sender` (gasless approve)."""
        digest = self.permit_digest(
            owner.address, spender, value, self.nonces(owner.address), deadline
        )
        sig = owner.sign_digest(digest)
        return self._send(
            "permit",
            owner.address,
            spender,
            value,
            deadline,
            sig[64],
            sig[:32],
            sig[32:64],
            sender=sender,
        )


class RegistryClient(_Client):
    """The DeviceRegistry: one ERC-721 per device, id = uint256(device address)."""

    def __init__(self, chain: Chain, address: Address) -> None:
        super().__init__(chain, address, "DeviceRegistry")

    def token(self) -> TokenClient:
        return TokenClient(self.chain, Address(self._call("token")))

    def onboarding_fee(self) -> BaseUnits:
        return BaseUnits(self._call("onboarding_fee"))

    def location_fee(self) -> BaseUnits:
        return BaseUnits(self._call("location_fee"))

    def nonces(self, device: DeviceId) -> int:
        return int(self._call("nonces", device))

    def register_digest(self, device: DeviceId, owner: Address, kind: str, deadline: int) -> bytes:
        """The EIP-712 `Register(owner, kind, nonce, deadline)` digest the device must sign."""
        return eip712.register_digest(
            self.chain.chain_id, self.address, owner, kind, self.nonces(device), deadline
        )

    def register_typed_data(
        self, device: DeviceId, owner: Address, kind: str, deadline: int
    ) -> dict[str, Any]:
        """The same consent as EIP-712 JSON, for a wallet or another signer to sign."""
        return eip712.register_typed_data(
            self.chain.chain_id, self.address, owner, kind, self.nonces(device), deadline
        )

    def register(
        self,
        device_key: DeviceSigner,
        owner_signer: AccountLike,
        kind: str,
        deadline: int,
        *,
        owner: Address | None = None,
    ) -> Receipt:
        """Register a device: the device key signs, `owner_signer` pays the fee and sends.

        The NFT goes to `owner` (default: `owner_signer`'s address). The onboarding fee is
        approved to the registry first when the current allowance is short.
        """
        if getattr(device_key, "type", "secp256k1") != "secp256k1":
            raise InputError("only secp256k1 device keys can sign an on-chain registration")
        eip712.kind_bytes(kind)
        nft_owner = owner if owner is not None else owner_signer.address
        fee = self.onboarding_fee()
        if fee:
            self.token().ensure_allowance(self.address, fee, sender=owner_signer)
        signature = device_key.sign_digest(
            self.register_digest(device_key.device_id, nft_owner, kind, deadline)
        )
        return self._send(
            "register",
            device_key.device_id,
            nft_owner,
            kind,
            deadline,
            signature,
            sender=owner_signer,
        )

    def is_h3_cell(self, cell: int) -> bool:
        """The registry's own check of an H3 cell index (what `assert_location` requires)."""
        return bool(self._call("is_h3_cell", cell))

    def assert_location(self, device: DeviceId, location: int, *, sender: AccountLike) -> Receipt:
        """Assert an H3 cell (uint64) for a device; the fee is approved when needed.

        The registry refuses anything but a valid H3 cell ("DeviceRegistry: invalid H3 cell").
        """
        fee = self.location_fee()
        if fee:
            self.token().ensure_allowance(self.address, fee, sender=sender)
        return self._send("assert_location", device, location, sender=sender)

    def deactivate(self, device: DeviceId, *, sender: AccountLike) -> Receipt:
        return self._send("deactivate", device, sender=sender)

    def reactivate(self, device: DeviceId, *, sender: AccountLike) -> Receipt:
        return self._send("reactivate", device, sender=sender)

    def device_info(self, device: DeviceId) -> DeviceRecord:
        """The device as the registry holds it now."""
        info = self._call("device_info", device)
        owner, kind, location, active = info
        return DeviceRecord(
            DeviceId(to_checksum_address(device)), Address(owner), kind, int(location), bool(active)
        )

    def snapshot(self, block: int, from_block: int = 0) -> dict[DeviceId, DeviceRecord]:
        """Every device with owner/kind/location/active as of `block`, rebuilt from events.

        Events rather than state so it works on nodes without historical state (anvil
        runs with `--prune-history`): registrations, NFT transfers (owner changes, burns),
        location assertions, deactivations and reactivations, applied in log order.
        """
        names = (
            "DeviceRegistered",
            "Transfer",
            "LocationAsserted",
            "DeviceDeactivated",
            "DeviceReactivated",
        )
        events = [e for n in names for e in self.events(n, from_block, block)]
        events.sort(key=lambda e: (e.block_number, e.log_index))
        devices: dict[DeviceId, DeviceRecord] = {}
        for ev in events:
            values = list(ev.args.values())
            if ev.name == "DeviceRegistered":
                dev = _device(values[0])
                devices[dev] = DeviceRecord(dev, Address(values[1]), str(values[2]), 0, True)
                continue
            if ev.name == "Transfer":
                dev = _device(to_checksum_address(int(values[2]).to_bytes(20, "big")))
                rec = devices.get(dev)
                if rec is None:
                    continue  # the mint precedes DeviceRegistered in the same tx
                if values[1] == ZERO_ADDRESS:
                    del devices[dev]
                else:
                    devices[dev] = replace(rec, owner=Address(values[1]))
                continue
            dev = _device(values[0])
            rec = devices.get(dev)
            if rec is None:
                continue
            if ev.name == "LocationAsserted":
                devices[dev] = replace(rec, location=int(values[1]))
            elif ev.name == "DeviceDeactivated":
                devices[dev] = replace(rec, active=False)
            else:
                devices[dev] = replace(rec, active=True)
        return devices


def _device(value: str) -> DeviceId:
    return DeviceId(to_checksum_address(value))


class DistributorClient(_Client):
    """The RewardDistributor: M-of-N signed cumulative roots and Merkle claims."""

    def __init__(self, chain: Chain, address: Address) -> None:
        super().__init__(chain, address, "RewardDistributor")

    def epoch_root_digest(
        self, epoch: int, root: bytes, cumulative_total: int, manifest_hash: bytes
    ) -> bytes:
        """The 32-byte EIP-712 `EpochRoot` digest each oracle signs."""
        return eip712.epoch_root_digest(
            self.chain.chain_id, self.address, epoch, root, cumulative_total, manifest_hash
        )

    def submit_root(
        self,
        epoch: int,
        root: bytes,
        cumulative_total: int,
        manifest_hash: bytes,
        signatures: Iterable[bytes],
        *,
        sender: AccountLike,
    ) -> Receipt:
        """Submit a root with oracle signatures (any order; sorted by signer here).

        The distributor refuses an epoch that has not ended by block time
        ("RewardDistributor: epoch not ended"; see `epoch_end`).
        """
        digest = self.epoch_root_digest(epoch, root, cumulative_total, manifest_hash)
        ordered = sorted(signatures, key=lambda s: _signer_order(digest, s))
        return self._send(
            "submit_root", epoch, root, cumulative_total, manifest_hash, ordered, sender=sender
        )

    def claim(
        self,
        account: Address,
        cumulative_amount: int,
        proof: Sequence[bytes],
        *,
        sender: AccountLike,
    ) -> Receipt:
        """Pay `account` its cumulative amount minus what it already claimed (anyone may send)."""
        return self._send("claim", account, cumulative_amount, list(proof), sender=sender)

    def claimed(self, account: Address) -> BaseUnits:
        return BaseUnits(self._call("claimed", account))

    def next_epoch(self) -> int:
        return int(self._call("next_epoch"))

    def roots(self, epoch: int) -> bytes:
        return bytes(self._call("roots", epoch))

    def latest_root(self) -> bytes:
        return bytes(self._call("latest_root"))

    def cumulative_total(self) -> BaseUnits:
        return BaseUnits(self._call("cumulative_total"))

    def threshold(self) -> int:
        return int(self._call("threshold"))

    def oracles(self) -> list[Address]:
        return [Address(a) for a in self._call("oracles")]

    def paused(self) -> bool:
        return bool(self._call("paused"))

    def epoch_cap(self, epoch: int) -> BaseUnits:
        return BaseUnits(self._call("epoch_cap", epoch))

    def genesis_unix(self) -> int:
        return int(self._call("genesis_unix"))

    def epoch_seconds(self) -> int:
        return int(self._call("epoch_seconds"))

    def epoch_end(self, epoch: int) -> int:
        """First second (block time) at which `submit_root(epoch, …)` is accepted."""
        return int(self._call("epoch_end", epoch))

    def clock(self) -> EpochClock:
        """The epoch clock the distributor enforces (should equal settings.network.clock)."""
        return EpochClock(self.genesis_unix(), self.epoch_seconds())

    def set_oracles(
        self, oracles: Sequence[Address], threshold: int, *, sender: AccountLike
    ) -> Receipt:
        return self._send("set_oracles", list(oracles), threshold, sender=sender)

    def pause(self, *, sender: AccountLike) -> Receipt:
        return self._send("pause", sender=sender)

    def unpause(self, *, sender: AccountLike) -> Receipt:
        return self._send("unpause", sender=sender)


@dataclass(frozen=True, slots=True)
class CreditsSpent:
    """One usage record: credits an authorised spender burned for verified usage."""

    account: Address
    """Whose credits were spent."""
    spender: Address
    """The authorised service that spent them."""
    amount: int
    """Credits spent."""
    usage_ref: bytes
    """32-byte reference to the usage record off chain."""
    block_number: int
    """Block the spend was mined in."""


@dataclass(frozen=True, slots=True)
class CreditsPurchased:
    """One purchase: tokens a payer burned for credits to a recipient."""

    payer: Address
    """Whose tokens were burned."""
    recipient: Address
    """Who received the credits."""
    tokens: int
    """Tokens burned, base units."""
    credits: int
    """Credits granted (`tokens * credits_per_token // 10**18`)."""
    block_number: int
    """Block the purchase was mined in."""


class CreditsClient(_Client):
    """Credits: burn tokens for non-transferable credits; spenders burn credits for usage."""

    def __init__(self, chain: Chain, address: Address) -> None:
        super().__init__(chain, address, "Credits")

    def token(self) -> TokenClient:
        return TokenClient(self.chain, Address(self._call("token")))

    def burn_for_credits(
        self, amount: int, recipient: Address | None = None, *, sender: AccountLike
    ) -> Receipt:
        """Burn `amount` of `sender`'s tokens for credits to `recipient` (default: sender).

        The token allowance is raised to `amount` first when it is short.
        """
        self.token().ensure_allowance(self.address, amount, sender=sender)
        to = recipient if recipient is not None else sender.address
        return self._send("burn_for_credits", amount, to, sender=sender)

    def credits(self, account: Address) -> int:
        return int(self._call("credits", account))

    def credits_per_token(self) -> int:
        return int(self._call("credits_per_token"))

    def is_spender(self, account: Address) -> bool:
        return bool(self._call("is_spender", account))

    def spend(
        self, account: Address, amount: int, usage_ref: bytes, *, sender: AccountLike
    ) -> Receipt:
        return self._send("spend", account, amount, usage_ref, sender=sender)

    def set_spender(self, spender: Address, allowed: bool, *, sender: AccountLike) -> Receipt:
        return self._send("set_spender", spender, allowed, sender=sender)

    def purchases(self, from_block: int = 0, to_block: int | None = None) -> list[CreditsPurchased]:
        """Every `CreditsPurchased` in a block range, as typed records."""
        return [
            CreditsPurchased(
                Address(ev.args["payer"]),
                Address(ev.args["recipient"]),
                int(ev.args["tokens"]),
                int(ev.args["credits"]),
                ev.block_number,
            )
            for ev in self.events("CreditsPurchased", from_block, to_block)
        ]

    def spenders(self, from_block: int = 0, to_block: int | None = None) -> list[Address]:
        """Accounts authorised to spend at `to_block`, from `SpenderChanged` events in order."""
        status: dict[Address, bool] = {}
        events = self.events("SpenderChanged", from_block, to_block)
        for ev in sorted(events, key=lambda e: (e.block_number, e.log_index)):
            status[Address(ev.args["spender"])] = bool(ev.args["status"])
        return [account for account, allowed in status.items() if allowed]

    def usage(self, from_block: int = 0, to_block: int | None = None) -> list[CreditsSpent]:
        """Every `CreditsSpent` in a block range, as typed records (feeds the usage pool)."""
        out = []
        for ev in self.events("CreditsSpent", from_block, to_block):
            account, spender, amount, ref = list(ev.args.values())
            out.append(
                CreditsSpent(
                    Address(account), Address(spender), int(amount), bytes(ref), ev.block_number
                )
            )
        return out
