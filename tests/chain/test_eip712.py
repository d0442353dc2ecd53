"""Python-side EIP-712 digests agree with the contracts, and signers recover correctly.

The published typed data (`register_typed_data`, `epoch_root_typed_data`) is also checked
against eth-account, an EIP-712 implementation written elsewhere: its digest must equal
ours, and the contracts must accept what it signs.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from opendepin.chain import EmbeddedChain, Signer
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.chain.eip712 import (
    DISTRIBUTOR_DOMAIN_NAME,
    DOMAIN_VERSION,
    REGISTER_TYPE,
    REGISTRY_DOMAIN_NAME,
    Domain,
    epoch_root_digest,
    epoch_root_typed_data,
    register_digest,
    register_struct_hash,
    register_typed_data,
)
from opendepin.errors import InputError, TransactionReverted
from opendepin.identity import DeviceKey, recover_address

CLOCK = (0, 3_600)
"""(genesis_unix, epoch_seconds) for distributors deployed here: every epoch has ended."""


def test_domain_separator_matches_contract() -> None:
    chain = EmbeddedChain(chain_id=4242)
    gov = Signer.generate()
    token = chain.deploy("Token", "T", "T", 10**30, "T", "1", sender=gov)
    oracle = Signer.generate().address
    address = chain.deploy(
        "RewardDistributor", token, [oracle], 1, 10**18, 10, gov.address, *CLOCK, sender=gov
    )
    expected = Domain(DISTRIBUTOR_DOMAIN_NAME, DOMAIN_VERSION, 4242, address).separator()
    assert chain.call(address, "DOMAIN_SEPARATOR") == expected


def test_epoch_root_digest_binds_every_field() -> None:
    base = (1, "0x" + "11" * 20, 3, b"\x01" * 32, 5, b"\x02" * 32)
    digests = {epoch_root_digest(*base)}
    for i, changed in enumerate((2, "0x" + "22" * 20, 4, b"\x03" * 32, 6, b"\x04" * 32)):
        args = list(base)
        args[i] = changed
        digests.add(epoch_root_digest(*args))  # type: ignore[arg-type]
    assert len(digests) == 7


def test_chain_signer_signatures_recover_to_its_address() -> None:
    signer = Signer.generate()
    digest = bytes(range(32))
    assert recover_address(digest, signer.sign_digest(digest)) == signer.address
    assert recover_address(bytes(32), signer.sign_digest(digest)) != signer.address


def test_distributor_client_digest_uses_chain_and_address() -> None:
    chain = EmbeddedChain(chain_id=7)
    gov = Signer.generate()
    token = chain.deploy("Token", "T", "T", 10**30, "T", "1", sender=gov)
    address = chain.deploy(
        "RewardDistributor", token, [gov.address], 1, 10**18, 10, gov.address, *CLOCK, sender=gov
    )
    client = DistributorClient(chain, address)
    assert client.epoch_root_digest(0, b"\x01" * 32, 9, b"\x00" * 32) == epoch_root_digest(
        7, address, 0, b"\x01" * 32, 9, b"\x00" * 32
    )


def _registry(chain: EmbeddedChain, gov: Signer) -> str:
    token = chain.deploy("Token", "T", "T", 10**30, "T", "1", sender=gov)
    return chain.deploy("DeviceRegistry", token, 0, 0, 0, sender=gov)


def test_register_type_string_names_kind_as_string() -> None:
    assert REGISTER_TYPE == b"Register(address owner,string kind,uint256 nonce,uint256 deadline)"


def test_register_digest_binds_every_field_and_hashes_kind_as_string() -> None:
    base = (1, "0x" + "11" * 20, "0x" + "22" * 20, "heartbeat", 0, 100)
    changed = (2, "0x" + "33" * 20, "0x" + "44" * 20, "coverage", 1, 101)
    digests = {register_digest(*base)}
    for i, value in enumerate(changed):
        args = list(base)
        args[i] = value
        digests.add(register_digest(*args))  # type: ignore[arg-type]
    assert len(digests) == 7
    with pytest.raises(InputError, match="32"):
        register_struct_hash("0x" + "11" * 20, "k" * 33, 0, 0)


def test_published_register_typed_data_matches_eth_account_digest_and_contract() -> None:
    chain = EmbeddedChain(chain_id=4242)
    gov, owner = Signer.generate(), Signer.generate()
    chain.fund(owner.address, 10**21)
    registry = _registry(chain, gov)
    device = Account.create()
    deadline = chain.timestamp() + 600
    typed = register_typed_data(4242, registry, owner.address, "heartbeat", 0, deadline)

    signable = encode_typed_data(full_message=typed)
    ours = register_digest(4242, registry, owner.address, "heartbeat", 0, deadline)
    assert (
        signable.header == Domain(REGISTRY_DOMAIN_NAME, DOMAIN_VERSION, 4242, registry).separator()
    )
    assert signable.body == register_struct_hash(owner.address, "heartbeat", 0, deadline)
    signed = Account.sign_typed_data(device.key, full_message=typed)
    assert bytes(signed.message_hash) == ours
    client = RegistryClient(chain, registry)
    assert client.register_digest(device.address, owner.address, "heartbeat", deadline) == ours
    assert client.register_typed_data(device.address, owner.address, "heartbeat", deadline) == typed

    ours_signed = Signer.from_private_bytes(bytes(device.key)).sign_digest(ours)
    assert recover_address(ours, bytes(signed.signature)) == device.address
    assert ours_signed[:64] == bytes(signed.signature)[:64]  # RFC 6979: the same r and s
    with pytest.raises(TransactionReverted, match="DeviceRegistry: invalid device signature"):
        chain.transact(
            registry,
            "register",
            device.address,
            owner.address,
            "coverage",
            deadline,
            bytes(signed.signature),
            sender=owner,
        )
    chain.transact(
        registry,
        "register",
        device.address,
        owner.address,
        "heartbeat",
        deadline,
        bytes(signed.signature),
        sender=owner,
    )
    assert client.device_info(device.address).kind == "heartbeat"


def test_registry_client_register_signs_the_kind() -> None:
    chain = EmbeddedChain()
    gov, owner = Signer.generate(), Signer.generate()
    chain.fund(owner.address, 10**21)
    client = RegistryClient(chain, _registry(chain, gov))
    device = DeviceKey.generate()
    client.register(device, owner, "coverage", chain.timestamp() + 60)
    assert client.device_info(device.device_id).kind == "coverage"
    with pytest.raises(InputError, match="at most 32"):
        client.register(DeviceKey.generate(), owner, "x" * 33, chain.timestamp() + 60)


def test_published_epoch_root_typed_data_matches_eth_account_and_contract() -> None:
    chain = EmbeddedChain(chain_id=4242)
    gov = Signer.generate()
    chain.fund(gov.address, 10**21)
    oracle = Account.create()
    token = chain.deploy("Token", "T", "T", 10**30, "T", "1", sender=gov)
    address = chain.deploy(
        "RewardDistributor",
        token,
        [oracle.address],
        1,
        10**18,
        10,
        gov.address,
        *CLOCK,
        sender=gov,
    )
    chain.transact(token, "set_minter", address, True, sender=gov)
    root, manifest = b"\x07" * 32, b"\x09" * 32
    typed = epoch_root_typed_data(4242, address, 0, root, 5, manifest)
    digest = epoch_root_digest(4242, address, 0, root, 5, manifest)
    signed = Account.sign_typed_data(oracle.key, full_message=typed)
    assert bytes(signed.message_hash) == digest
    DistributorClient(chain, address).submit_root(
        0, root, 5, manifest, [bytes(signed.signature)], sender=gov
    )
    assert chain.call(address, "next_epoch") == 1
