"""The explorer with a chain: supply, burns, claims and settled roots read from the contracts.

The session demo's published roots are settled on a fresh embedded chain (deployed here,
with oracles whose keys the test holds), one owner claims with the calldata the explorer
itself shows, and the pages must then say what the chain says. A chain that fails is
"unknown" on the pages, never an error page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opendepin.chain import EmbeddedChain, Signer, deploy_network
from opendepin.errors import ChainError
from opendepin.explorer import explorer_app
from opendepin.explorer.onchain import OnChain
from opendepin.network.settings import load_settings
from opendepin.rewards.merkle import RewardTree
from opendepin.types import Address

from .helpers import Demo

GENESIS_TOKENS = 5_000 * 10**18
BURNED_TOKENS = 7 * 10**18


@pytest.fixture(scope="module")
def settled(demo: Demo) -> Iterator[tuple[TestClient, Any, dict[str, Any]]]:
    chain = EmbeddedChain()
    gov, holder = Signer.generate(), Signer.generate()
    oracles = [Signer.generate() for _ in range(3)]
    chain.fund(gov.address, 10**22)
    chain.fund(holder.address, 10**22)
    epoch_seconds = 86_400
    settings = load_settings(
        None,
        network={"genesis_unix": chain.timestamp() - (demo.latest + 2) * epoch_seconds, "epoch_seconds": epoch_seconds},
        chain={"oracle_threshold": 2, "genesis_allocations": {holder.address: str(GENESIS_TOKENS)}},
    )
    deployment = deploy_network(chain, settings, gov, [o.address for o in oracles], gov.address)
    dist, token, credits = deployment.distributor(chain), deployment.token(chain), deployment.credits(chain)
    token.approve(credits.address, BURNED_TOKENS, sender=holder)
    credits.burn_for_credits(BURNED_TOKENS, holder.address, sender=holder)
    onchain = OnChain(chain, deployment.addresses, label="embedded", cache_seconds=0.0)
    with TestClient(explorer_app(demo.root, onchain=onchain)) as client:
        rows = {r["epoch"]: r for r in client.get("/api/network").json()["epochs"]}
        for epoch in sorted(rows)[:-1]:  # every published epoch but the last settles
            row = rows[epoch]
            root, total = bytes.fromhex(row["root"][2:]), int(row["cumulative_total"])
            manifest = bytes.fromhex(row["manifest_sha256"])
            digest = dist.epoch_root_digest(epoch, root, total, manifest)
            dist.submit_root(epoch, root, total, manifest, [o.sign_digest(digest) for o in oracles[:2]], sender=gov)
        yield client, chain, {"dist": dist, "token": token, "credits": credits, "rows": rows, "holder": holder}


def _richest_owner_of(client: TestClient, demo: Demo, epoch: int) -> dict[str, Any]:
    owners = demo.file(epoch, "rewards_v1.json")["owners"]
    return max(owners, key=lambda o: int(o["cumulative"]))


def test_network_page_shows_supply_and_burns_and_which_roots_are_on_chain(
    settled: tuple[TestClient, Any, dict[str, Any]], demo: Demo
) -> None:
    client, _, ctx = settled
    body = client.get("/api/network").json()
    assert body["chain"] == {
        "source": "embedded",
        "supply": str(ctx["token"].total_supply()),
        "burned_for_credits": str(BURNED_TOKENS),
    }
    # The distributor mints each settled epoch's new cumulative total when its root is submitted.
    minted = int(ctx["rows"][demo.latest - 1]["cumulative_total"])
    assert int(body["chain"]["supply"]) == GENESIS_TOKENS - BURNED_TOKENS + minted
    on_chain = {r["epoch"]: r["on_chain"] for r in body["epochs"]}
    assert on_chain == {e: e < demo.latest for e in range(demo.latest + 1)}
    page = client.get("/").text
    assert "burned for credits" in page and "start the explorer with" not in page
    # A later burn adds to the total (the explorer scans only the blocks since its last read).
    holder, credits = ctx["holder"], ctx["credits"]
    ctx["token"].approve(credits.address, BURNED_TOKENS, sender=holder)
    credits.burn_for_credits(BURNED_TOKENS, holder.address, sender=holder)
    again = client.get("/api/network").json()["chain"]
    assert again["burned_for_credits"] == str(2 * BURNED_TOKENS)


def test_owner_page_reads_claimed_and_claimable_after_a_claim_with_its_own_calldata(
    settled: tuple[TestClient, Any, dict[str, Any]], demo: Demo
) -> None:
    client, _, ctx = settled
    settled_epoch = demo.latest - 1
    owner = _richest_owner_of(client, demo, settled_epoch)
    account = owner["account"]
    before = client.get(f"/api/owners/{account}").json()
    assert before["claimed"] == "0" and before["claimable"] == before["cumulative"]
    assert before["claim"]["epoch"] == demo.latest and before["claim"]["settled"] is False  # not on chain yet
    # Claim against the settled epoch with its proof (what the page showed back then).
    rows = ctx["rows"]
    root_row = rows[settled_epoch]
    entries = [(Address(o["account"]), int(o["cumulative"])) for o in demo.file(settled_epoch, "rewards_v1.json")["owners"]]
    tree = RewardTree.build(entries)
    assert "0x" + tree.root.hex() == root_row["root"]
    amount = int(owner["cumulative"])
    ctx["dist"].claim(Address(account), amount, tree.proof(Address(account)), sender=ctx["holder"])
    after = client.get(f"/api/owners/{account}").json()
    assert after["claimed"] == str(amount)
    assert after["claimable"] == str(int(after["cumulative"]) - amount)
    assert "claimable" in client.get(f"/owners/{account}").text


def test_a_chain_that_fails_is_unknown_on_the_pages(demo: Demo) -> None:
    class Gone(EmbeddedChain):
        """A chain whose node went away: every read fails as RpcChain's do (ChainError)."""

        def call(self, *args: Any, **kwargs: Any) -> Any:
            raise ChainError("cannot reach the JSON-RPC node at http://gone:8545")

        def get_logs(self, *args: Any, **kwargs: Any) -> Any:
            raise ChainError("cannot reach the JSON-RPC node at http://gone:8545")

    addresses = {name: Address("0x" + c * 20) for name, c in (("Token", "11"), ("RewardDistributor", "22"), ("Credits", "33"))}
    onchain = OnChain(Gone(), addresses, label="http://gone:8545")
    with TestClient(explorer_app(demo.root, onchain=onchain)) as client:
        body = client.get("/api/network").json()
        assert body["chain"] == {"source": "http://gone:8545", "supply": None, "burned_for_credits": None}
        assert all(r["on_chain"] is None for r in body["epochs"])
        assert client.get("/").status_code == 200 and "did not answer" in client.get("/").text
        owner = _richest_owner_of(client, demo, demo.latest)["account"]
        answer = client.get(f"/api/owners/{owner}").json()
        assert answer["claimed"] is None and answer["claimable"] is None


def test_chain_view_needs_token_and_distributor() -> None:
    from opendepin.errors import ConfigError

    with pytest.raises(ConfigError, match="Token and RewardDistributor"):
        OnChain(EmbeddedChain(), {}, label="x")
