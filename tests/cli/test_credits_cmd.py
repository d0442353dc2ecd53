"""`depin credits buy|balance|spenders` against a real anvil node (fails without anvil).

A fresh network is deployed with `depin chain deploy` and a genesis allocation to a consumer;
the consumer buys credits with `depin credits buy`, `depin credits balance` shows them,
governance authorises a spender with `depin credits spenders --add`, and that spender debits
credits through `CreditsLedger.spend` with a usage reference the `CreditsSpent` event carries.
A purchase larger than the balance fails with one error line and changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendepin.chain import AnvilProcess, Deployment, RpcChain, Signer
from opendepin.cli.app import app
from opendepin.errors import InputError
from opendepin.identity import DeviceKey, save_keystore
from opendepin.storage.credits import CreditsLedger, CreditsRefused

LOW_SCRYPT_N = 2**10
"""Keystore work factor for tests only (fast; never use outside tests)."""
PASS_ENV = "CREDITS_TEST_PASS"
PASSPHRASE = "credits test passphrase"
ONE = 10**18
GENESIS_TOKENS = 100
PRICE = 100_000
FUNDING_WEI = 10**21
USAGE_REF = bytes.fromhex("ab" * 32)


@dataclass
class Net:
    node: AnvilProcess
    dir: Path
    consumer: Signer
    gov: Signer

    def args(self, *extra: str) -> list[str]:
        return [*extra, "--dir", str(self.dir / "net"), "-c", str(self.dir / "network.toml")]


def _keystore(path: Path) -> Signer:
    key = DeviceKey.generate()
    save_keystore(key, path, PASSPHRASE, scrypt_n=LOW_SCRYPT_N)
    return Signer.from_key(key)


@pytest.fixture
def net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Net]:
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)
    for name in [k for k in os.environ if k.startswith("DEPIN_") and k != "DEPIN_ANVIL"]:
        monkeypatch.delenv(name)
    with AnvilProcess(chain_id=31337) as node:
        gov = _keystore(tmp_path / "gov.json")
        consumer = _keystore(tmp_path / "consumer.json")
        chain = RpcChain(node.url)
        for account in (gov, consumer):
            chain.fund(account.address, FUNDING_WEI)
        (tmp_path / "network.toml").write_text(
            "[chain]\n"
            'backend = "rpc"\n'
            f'rpc_url = "{node.url}"\n'
            f"credit_price = {PRICE}\n"
            f'genesis_allocations = {{ "{consumer.address}" = "{GENESIS_TOKENS * ONE}" }}\n'
        )
        oracles = [Signer.generate().address for _ in range(2)]
        deployed = CliRunner().invoke(
            app,
            [
                "chain",
                "deploy",
                "-c",
                str(tmp_path / "network.toml"),
                "--dir",
                str(tmp_path / "net"),
                "--keystore",
                str(tmp_path / "gov.json"),
                "--passphrase-env",
                PASS_ENV,
                "--oracle",
                oracles[0],
                "--oracle",
                oracles[1],
            ],
        )
        assert deployed.exit_code == 0, deployed.output
        yield Net(node, tmp_path, consumer, gov)


@pytest.mark.anvil
def test_genesis_tokens_buy_credits_and_a_spender_spends_them(net: Net) -> None:
    runner = CliRunner()
    deployment = Deployment.load(net.dir / "net")
    assert deployment.genesis_allocations == {net.consumer.address: GENESIS_TOKENS * ONE}
    chain = RpcChain(net.node.url)
    ledger = CreditsLedger(chain, deployment)
    assert ledger.token_balance(net.consumer.address) == GENESIS_TOKENS * ONE

    keystore = ["--keystore", str(net.dir / "consumer.json"), "--passphrase-env", PASS_ENV]
    bought = runner.invoke(app, ["credits", *net.args("buy", "12.5", *keystore)])
    assert bought.exit_code == 0, bought.output
    credits = 12 * PRICE + PRICE // 2
    assert f"for {credits} credits" in bought.output
    assert ledger.balance(net.consumer.address) == credits

    shown = runner.invoke(app, ["credits", *net.args("balance", net.consumer.address.lower())])
    assert shown.exit_code == 0, shown.output
    assert str(credits) in shown.output and "87.5" in shown.output  # credits, then tokens left
    own = runner.invoke(app, ["credits", *net.args("balance", *keystore)])
    assert own.exit_code == 0 and str(credits) in own.output

    spender = Signer.generate()
    chain.fund(spender.address, FUNDING_WEI)
    gov = ["--keystore", str(net.dir / "gov.json"), "--passphrase-env", PASS_ENV]
    added = runner.invoke(app, ["credits", *net.args("spenders", "--add", spender.address, *gov)])
    assert added.exit_code == 0, added.output
    assert f"authorised spender {spender.address}" in added.output
    listed = runner.invoke(app, ["credits", *net.args("spenders")])
    assert listed.exit_code == 0 and spender.address in listed.output

    spent = ledger.spend(net.consumer.address, 2_500, USAGE_REF, spender)
    assert spent.usage_ref == USAGE_REF and spent.amount == 2_500
    (event,) = ledger.spends(spent.block_number, spent.block_number)
    assert event.usage_ref == USAGE_REF and event.account == net.consumer.address
    assert ledger.balance(net.consumer.address) == credits - 2_500
    with pytest.raises(CreditsRefused, match=f"holds {credits - 2_500} credits"):
        ledger.spend(net.consumer.address, credits, USAGE_REF, spender)


@pytest.mark.anvil
def test_purchase_above_the_balance_is_one_line_and_changes_nothing(net: Net) -> None:
    chain = RpcChain(net.node.url)
    ledger = CreditsLedger(chain, Deployment.load(net.dir / "net"))
    block = chain.block_number()
    keystore = ["--keystore", str(net.dir / "consumer.json"), "--passphrase-env", PASS_ENV]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPIN_") or k == "DEPIN_ANVIL"}
    done = subprocess.run(
        [sys.executable, "-m", "opendepin", "credits", *net.args("buy", "1000", *keystore)],
        capture_output=True,
        text=True,
        env={**env, PASS_ENV: PASSPHRASE},
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"{net.consumer.address} holds {GENESIS_TOKENS} tokens, cannot burn 1000" in lines[0]
    assert chain.block_number() == block  # no approval, no burn
    assert ledger.token_balance(net.consumer.address) == GENESIS_TOKENS * ONE
    assert ledger.token.allowance(net.consumer.address, ledger.credits.address) == 0


@pytest.mark.anvil
def test_user_mistakes_are_clear_errors(net: Net) -> None:
    runner = CliRunner()
    keystore = ["--keystore", str(net.dir / "consumer.json"), "--passphrase-env", PASS_ENV]
    cases = [
        (["balance", "0x1234"], InputError, "unknown account format"),
        (["buy", "12,5", *keystore], InputError, "not a number of tokens"),
        (["buy", "0.0000000000000000001", *keystore], InputError, "more than 18 decimals"),
        (["buy", "1", "--to", "alice", *keystore], InputError, "unknown --to account format"),
        (["buy", "0.000000000001", *keystore], CreditsRefused, "buy 0 credits"),
    ]
    for args, error, message in cases:
        result = runner.invoke(app, ["credits", *net.args(*args)])
        assert isinstance(result.exception, error), (args, result.output)
        assert message in str(result.exception), args
