"""CreditsLedger on the embedded chain: buy, spend as an authorised spender, read events."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from opendepin.chain import EmbeddedChain, Signer, deploy_network
from opendepin.chain.governance import GovernanceClient, Operation, Proposal
from opendepin.network.settings import Settings
from opendepin.storage.credits import CreditsLedger, CreditsRefused, format_tokens

ONE = 10**18
PRICE = 100_000
FUNDING_WEI = 10**21
USAGE_REF = bytes(range(32))


@dataclass
class Net:
    chain: EmbeddedChain
    ledger: CreditsLedger
    consumer: Signer
    spender: Signer
    gov: Signer


@pytest.fixture
def net() -> Net:
    chain = EmbeddedChain()
    gov, consumer, spender = Signer.generate(), Signer.generate(), Signer.generate()
    for account in (gov, consumer, spender):
        chain.fund(account.address, FUNDING_WEI)
    settings = Settings(
        chain={"genesis_allocations": {consumer.address: str(100 * ONE)}, "credit_price": PRICE}
    )
    d = deploy_network(
        chain, settings, gov, [Signer.generate().address for _ in range(2)], gov.address
    )
    timelock = GovernanceClient(chain, d.address("Timelock"))
    op = Operation.of(Proposal.set_spender(d.address("Credits"), spender.address, True))
    timelock.propose(op, sender=gov)  # the timelock delay is 0 here
    timelock.execute_operation(op, sender=gov)
    return Net(chain, CreditsLedger(chain, d), consumer, spender, gov)


def test_buy_then_spend_records_both_events(net: Net) -> None:
    ledger, consumer = net.ledger, net.consumer
    start = net.chain.block_number() + 1
    bought = ledger.buy(12 * ONE + ONE // 2, sender=consumer)
    assert bought.credits == 12 * PRICE + PRICE // 2 == ledger.balance(consumer.address)
    assert ledger.token_balance(consumer.address) == 100 * ONE - (12 * ONE + ONE // 2)
    assert ledger.spenders() == [net.spender.address]

    spent = ledger.spend(consumer.address, 1_000, USAGE_REF, net.spender)
    assert (spent.account, spent.spender, spent.amount, spent.usage_ref) == (
        consumer.address,
        net.spender.address,
        1_000,
        USAGE_REF,
    )
    assert ledger.balance(consumer.address) == bought.credits - 1_000
    assert ledger.purchases(start) == [bought]
    assert ledger.spends(start) == [spent]
    assert ledger.spends(spent.block_number + 1) == []
    assert ledger.purchases() == [bought]  # default range: from the deployment


def test_buy_for_another_recipient(net: Net) -> None:
    other = Signer.generate().address
    bought = net.ledger.buy(ONE, sender=net.consumer, recipient=other)
    assert (bought.payer, bought.recipient) == (net.consumer.address, other)
    assert net.ledger.balance(other) == PRICE and net.ledger.balance(net.consumer.address) == 0


def test_buy_more_than_held_is_refused_and_changes_nothing(net: Net) -> None:
    ledger, consumer = net.ledger, net.consumer
    block = net.chain.block_number()
    with pytest.raises(
        CreditsRefused, match=f"{consumer.address} holds 100 tokens, cannot burn 101"
    ) as err:
        ledger.buy(101 * ONE, sender=consumer)
    assert err.value.code == "insufficient_tokens" and err.value.balance == 100 * ONE
    assert net.chain.block_number() == block  # no approval was sent
    assert ledger.token.allowance(consumer.address, ledger.credits.address) == 0


def test_buy_too_small_for_one_credit_is_refused(net: Net) -> None:
    with pytest.raises(CreditsRefused, match="buy 0 credits") as err:
        net.ledger.buy(ONE // PRICE - 1, sender=net.consumer)
    assert err.value.code == "zero_credits"
    assert "0.00001 tokens" in str(err.value)  # the least that buys one credit


def test_buy_without_gas_is_refused() -> None:
    chain = EmbeddedChain()
    gov, poor = Signer.generate(), Signer.generate()
    chain.fund(gov.address, FUNDING_WEI)
    settings = Settings(chain={"genesis_allocations": {poor.address: str(ONE)}})
    d = deploy_network(chain, settings, gov, [gov.address, Signer.generate().address], gov.address)
    with pytest.raises(CreditsRefused, match="no native balance") as err:
        CreditsLedger(chain, d).buy(ONE, sender=poor)
    assert err.value.code == "no_gas"


def test_spend_refusals_name_the_account_and_balance(net: Net) -> None:
    ledger, consumer = net.ledger, net.consumer
    ledger.buy(ONE, sender=consumer)
    cases = [
        (
            net.spender,
            PRICE + 1,
            USAGE_REF,
            "insufficient_credits",
            f"{consumer.address} holds {PRICE} credits",
        ),
        (net.consumer, 1, USAGE_REF, "not_a_spender", "not an authorised credits spender"),
        (net.spender, 0, USAGE_REF, "zero_amount", "spend of 0 credits"),
        (net.spender, 1, b"short", "bad_usage_ref", "32 bytes"),
    ]
    for sender, amount, ref, code, message in cases:
        with pytest.raises(CreditsRefused, match=message) as err:
            ledger.spend(consumer.address, amount, ref, sender)
        assert err.value.code == code and err.value.account == consumer.address
        assert err.value.balance == PRICE
    assert ledger.spends() == []


def test_format_tokens_prints_only_needed_decimals() -> None:
    assert format_tokens(12 * ONE + ONE // 2) == "12.5"
    assert format_tokens(1_000 * ONE) == "1000"
    assert format_tokens(1) == "0.000000000000000001"
