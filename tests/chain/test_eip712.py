"""Python-side EIP-712 digests agree with the contracts, and signers recover correctly."""

from __future__ import annotations

from opendepin.chain import EmbeddedChain, Signer
from opendepin.chain.clients import DistributorClient
from opendepin.chain.eip712 import (
    DISTRIBUTOR_DOMAIN_NAME,
    DOMAIN_VERSION,
    Domain,
    epoch_root_digest,
)
from opendepin.identity import recover_address


def test_domain_separator_matches_contract() -> None:
    chain = EmbeddedChain(chain_id=4242)
    gov = Signer.generate()
    token = chain.deploy("Token", "T", "T", 10**30, "T", "1", sender=gov)
    oracle = Signer.generate().address
    address = chain.deploy(
        "RewardDistributor", token, [oracle], 1, 10**18, 10, gov.address, sender=gov
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
        "RewardDistributor", token, [gov.address], 1, 10**18, 10, gov.address, sender=gov
    )
    client = DistributorClient(chain, address)
    assert client.epoch_root_digest(0, b"\x01" * 32, 9, b"\x00" * 32) == epoch_root_digest(
        7, address, 0, b"\x01" * 32, 9, b"\x00" * 32
    )
