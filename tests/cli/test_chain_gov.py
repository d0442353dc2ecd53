"""`depin chain gov propose|status|execute` against a real anvil node (fails without anvil).

The embedded chain lives inside one process, so governance across commands needs a node:
the network is deployed to anvil, then each command runs through typer's CliRunner with
`--rpc` and the governance keystore, exactly as a builder types them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendepin.chain import AnvilProcess, Deployment, RpcChain, Signer, deploy_network
from opendepin.chain.governance import PROPOSALS_FILE, OperationNotReady, load_proposals
from opendepin.cli.app import app
from opendepin.errors import InputError, TransactionReverted
from opendepin.identity import DeviceKey, save_keystore
from opendepin.network.settings import Settings
from opendepin.types import Address

LOW_SCRYPT_N = 2**10
"""Keystore work factor for tests only (fast; never use outside tests)."""
PASSPHRASE_ENV = "GOV_TEST_PASS"
DELAY_S = 600
FUNDING_WEI = 10**21


@pytest.fixture
def anvil_node() -> Iterator[AnvilProcess]:
    with AnvilProcess(chain_id=31337) as node:
        yield node


@pytest.mark.anvil
def test_gov_propose_status_execute_over_rpc(
    anvil_node: AnvilProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = DeviceKey.generate()
    keystore = tmp_path / "gov.json"
    save_keystore(key, keystore, "test passphrase", scrypt_n=LOW_SCRYPT_N)
    monkeypatch.setenv(PASSPHRASE_ENV, "test passphrase")
    chain = RpcChain(anvil_node.url)
    gov = Signer.from_key(key)
    chain.fund(gov.address, FUNDING_WEI)
    settings = Settings(chain={"timelock_delay_seconds": DELAY_S})
    oracles = [Signer.generate().address for _ in range(2)]
    netdir = tmp_path / "net"
    deploy_network(chain, settings, gov, oracles, gov.address).save(netdir)
    deployment = Deployment.load(netdir)
    credits = deployment.credits(chain)
    spender = Signer.generate().address
    common = ["--dir", str(netdir), "--rpc", anvil_node.url]
    signing = ["--keystore", str(keystore), "--passphrase-env", PASSPHRASE_ENV]
    runner = CliRunner()

    proposed = runner.invoke(
        app, ["chain", "gov", "propose", "set-spender", spender, "true", *common, *signing]
    )
    assert proposed.exit_code == 0, proposed.output
    (record,) = load_proposals(netdir)
    op_id = "0x" + record.id.hex()
    assert op_id in proposed.output and "ready at" in proposed.output
    assert record.ready_at == chain.timestamp(record.scheduled_block) + DELAY_S
    stored = json.loads((netdir / PROPOSALS_FILE).read_text())["proposals"][0]
    assert set(stored) >= {"id", "calls", "salt", "predecessor"}

    price = runner.invoke(app, ["chain", "gov", "propose", "set-price", "42", *common, *signing])
    assert price.exit_code == 0, price.output

    status = runner.invoke(app, ["chain", "gov", "status", *common])
    assert status.exit_code == 0, status.output
    assert op_id in status.output and "waiting" in status.output
    assert f"Credits.set_spender({spender}, True)" in status.output

    early = runner.invoke(app, ["chain", "gov", "execute", op_id, *common, *signing])
    assert isinstance(early.exception, OperationNotReady)
    assert "is not ready until" in str(early.exception)
    assert not credits.chain.call(credits.address, "is_spender", spender)

    chain.w3.provider.make_request("evm_increaseTime", [DELAY_S])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    by_id = runner.invoke(app, ["chain", "gov", "execute", op_id, *common, *signing])
    assert by_id.exit_code == 0, by_id.output
    assert chain.call(credits.address, "is_spender", spender) is True
    by_args = runner.invoke(app, ["chain", "gov", "execute", "set-price", "42", *common, *signing])
    assert by_args.exit_code == 0, by_args.output
    assert credits.credits_per_token() == 42
    assert all(r.executed_block is not None for r in load_proposals(netdir))

    again = runner.invoke(app, ["chain", "gov", "execute", op_id, *common, *signing])
    assert isinstance(again.exception, OperationNotReady)
    assert "already executed" in str(again.exception)
    done = runner.invoke(app, ["chain", "gov", "status", *common])
    assert done.output.count("done") == 2, done.output

    doomed = runner.invoke(app, ["chain", "gov", "propose", "set-price", "7", *common, *signing])
    assert doomed.exit_code == 0, doomed.output
    cancelled = runner.invoke(app, ["chain", "gov", "cancel", "set-price", "7", *common, *signing])
    assert cancelled.exit_code == 0, cancelled.output
    after = runner.invoke(app, ["chain", "gov", "status", *common])
    assert "unset" in after.output, after.output

    unknown = runner.invoke(app, ["chain", "gov", "propose", "set-colour", "red", *common])
    assert isinstance(unknown.exception, InputError)

    outsider = DeviceKey.generate()
    chain.fund(Address(outsider.device_id), FUNDING_WEI)
    other_store = tmp_path / "outsider.json"
    save_keystore(outsider, other_store, "test passphrase", scrypt_n=LOW_SCRYPT_N)
    refused = runner.invoke(
        app,
        [
            *("chain", "gov", "propose", "set-price", "1", *common),
            *("--keystore", str(other_store), "--passphrase-env", PASSPHRASE_ENV),
        ],
    )
    assert isinstance(refused.exception, TransactionReverted)
    assert "missing role" in str(refused.exception)
    assert len(load_proposals(netdir)) == 3
