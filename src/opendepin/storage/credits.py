"""Consumer credits: what storage users pay with, and what the gateway debits.

The demand side of burn-and-mint equilibrium (the `Credits` contract): a consumer **buys**
credits by burning network tokens — `tokens * credits_per_token // 10**18` credits, rounded
down, to any recipient — and an authorised **spender** (a gateway's or metering service's
account, authorised by governance) **spends** them for verified usage, citing a 32-byte
usage reference (the hash of the usage record). Credits cannot be transferred; spends are
the on-chain record the oracles count into the usage reward pool.

`CreditsLedger(chain, deployment)` is the Python face of it for the gateway, metering and
the `depin credits` commands. Every refusal it can see coming is checked *before* anything
is signed, and raised as `CreditsRefused` with a stable `code` and a message naming the
account and its balance — so a purchase that cannot succeed sends no approval and changes
nothing:

| code | when |
|---|---|
| `insufficient_tokens` | the payer holds fewer tokens than it wants to burn |
| `zero_credits` | the amount buys no whole credit at the current price |
| `no_gas` | the sending account has no native balance to pay gas |
| `approval_failed` | the token refused (or the node failed) the approval of the burn |
| `not_a_spender` | `spend` from an account governance has not authorised |
| `insufficient_credits` | `spend` of more credits than the account holds |
| `zero_amount` | `spend` of zero credits |
| `bad_usage_ref` | a usage reference that is not 32 bytes |
"""

from __future__ import annotations

from opendepin.chain.accounts import AccountLike, Signer
from opendepin.chain.backend import Chain, Receipt
from opendepin.chain.clients import CreditsClient, CreditsPurchased, CreditsSpent, TokenClient
from opendepin.chain.deploy import Deployment
from opendepin.chain.governance import GovernanceClient, Operation, Proposal
from opendepin.errors import ChainError, TransactionReverted
from opendepin.identity import DeviceKey
from opendepin.types import ONE_TOKEN, Address, BaseUnits

USAGE_REF_BYTES = 32
"""A usage reference is a bytes32 (e.g. the BLAKE2b-256 or keccak of the usage record)."""


class CreditsRefused(ChainError):
    """A purchase or spend the chain would refuse (or did), with a stable reason code."""

    def __init__(self, code: str, message: str, account: Address, balance: int) -> None:
        super().__init__(message)
        self.code = code
        """One of the codes in the module docstring."""
        self.account = account
        """The account whose tokens or credits were short (or who sent)."""
        self.balance = balance
        """Its token balance (purchases) or credit balance (spends) when refused."""


def format_tokens(base_units: int) -> str:
    """Base units as whole tokens with only the decimals needed (`12.5`, `1000`)."""
    whole, frac = divmod(base_units, ONE_TOKEN)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:018d}".rstrip("0")


class CreditsLedger:
    """Balances, purchases and spends of a deployment's `Credits` contract."""

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.deployment = deployment
        self.credits: CreditsClient = deployment.credits(chain)
        self.token: TokenClient = deployment.token(chain)

    # -- reading -------------------------------------------------------------------------

    def balance(self, account: Address) -> int:
        """Credits `account` holds now."""
        return self.credits.credits(account)

    def token_balance(self, account: Address) -> BaseUnits:
        """Tokens `account` holds now, base units."""
        return self.token.balance_of(account)

    def price(self) -> int:
        """Credits granted per whole token burned (`credits_per_token`)."""
        return self.credits.credits_per_token()

    def quote(self, tokens: int) -> int:
        """Credits that burning `tokens` base units buys now (rounded down, as the contract)."""
        return tokens * self.price() // ONE_TOKEN

    def is_spender(self, account: Address) -> bool:
        return self.credits.is_spender(account)

    def spenders(self) -> list[Address]:
        """The authorised spenders now (from `SpenderChanged` since deployment)."""
        return self.credits.spenders(self.deployment.first_block)

    def purchases(
        self, from_block: int | None = None, to_block: int | None = None
    ) -> list[CreditsPurchased]:
        """`CreditsPurchased` events in [from_block (default: deployment), to_block]."""
        start = self.deployment.first_block if from_block is None else from_block
        return self.credits.purchases(start, to_block)

    def spends(
        self, from_block: int | None = None, to_block: int | None = None
    ) -> list[CreditsSpent]:
        """`CreditsSpent` events in [from_block (default: deployment), to_block]."""
        start = self.deployment.first_block if from_block is None else from_block
        return self.credits.usage(start, to_block)

    # -- changing ------------------------------------------------------------------------

    def _require_gas(self, account: Address) -> None:
        if self.chain.balance(account) == 0:
            raise CreditsRefused(
                "no_gas",
                f"{account} has no native balance to pay gas; fund it first "
                "(`depin chain fund ADDRESS` on a development node)",
                account,
                self.token_balance(account),
            )

    def buy(
        self, tokens: int, *, sender: AccountLike, recipient: Address | None = None
    ) -> CreditsPurchased:
        """Burn `tokens` base units of `sender`'s for credits to `recipient` (default: sender).

        Checks balance, price and gas first (nothing is sent when one fails), raises the
        token allowance to `tokens` when it is short, then burns; returns the purchase.
        """
        payer = sender.address
        held = self.token_balance(payer)
        if tokens <= 0 or tokens > held:
            raise CreditsRefused(
                "insufficient_tokens",
                f"{payer} holds {format_tokens(held)} tokens, cannot burn {format_tokens(tokens)}",
                payer,
                held,
            )
        price = self.price()
        if tokens * price // ONE_TOKEN == 0:
            least = -(-ONE_TOKEN // price)
            raise CreditsRefused(
                "zero_credits",
                f"{format_tokens(tokens)} tokens buy 0 credits at {price} credits per token; "
                f"the least that buys one credit is {format_tokens(least)} tokens",
                payer,
                held,
            )
        self._require_gas(payer)
        credits_address = self.credits.address
        try:
            self.token.ensure_allowance(credits_address, tokens, sender=sender)
        except ChainError as exc:
            raise CreditsRefused(
                "approval_failed",
                f"could not approve Credits ({credits_address}) to burn {format_tokens(tokens)} "
                f"tokens of {payer}: {exc}",
                payer,
                held,
            ) from exc
        receipt = self.credits.burn_for_credits(tokens, recipient, sender=sender)
        (event,) = receipt.events_named("CreditsPurchased")
        return CreditsPurchased(
            Address(event.args["payer"]),
            Address(event.args["recipient"]),
            int(event.args["tokens"]),
            int(event.args["credits"]),
            receipt.block_number,
        )

    def spend(
        self, account: Address, amount: int, usage_ref: bytes, sender: AccountLike
    ) -> CreditsSpent:
        """Debit `amount` credits of `account` for the usage `usage_ref`, as spender `sender`.

        `CreditsRefused` (nothing sent) unless `sender` is an authorised spender, `amount`
        is positive and at most the balance, and `usage_ref` is 32 bytes; a spend that still
        reverts (a concurrent debit) is refused the same way with the balance read again.
        """
        if not isinstance(usage_ref, bytes) or len(usage_ref) != USAGE_REF_BYTES:
            raise CreditsRefused(
                "bad_usage_ref",
                f"a usage reference is {USAGE_REF_BYTES} bytes, got {len(usage_ref)}",
                account,
                self.balance(account),
            )
        balance = self.balance(account)
        if amount <= 0:
            raise CreditsRefused(
                "zero_amount", f"spend of {amount} credits of {account}", account, balance
            )
        if not self.is_spender(sender.address):
            raise CreditsRefused(
                "not_a_spender",
                f"{sender.address} is not an authorised credits spender (governance adds one: "
                f"`depin credits spenders --add`); {account} keeps its {balance} credits",
                account,
                balance,
            )
        if amount > balance:
            raise CreditsRefused(
                "insufficient_credits",
                f"{account} holds {balance} credits, cannot spend {amount}",
                account,
                balance,
            )
        try:
            receipt = self.credits.spend(account, amount, usage_ref, sender=sender)
        except TransactionReverted as exc:
            now = self.balance(account)
            raise CreditsRefused(
                "insufficient_credits" if "insufficient" in exc.reason else "not_a_spender",
                f"spend of {amount} credits of {account} refused ({exc.reason}); it holds {now}",
                account,
                now,
            ) from exc
        return _spent(receipt)


GATEWAY_KIND = "usage"
"""Device kind a gateway registers as: its usage and spend reports are of this kind."""


def onboard_gateway(
    chain: Chain,
    deployment: Deployment,
    key: DeviceKey,
    *,
    owner: Signer,
    governance: Signer,
    deadline: int,
    salt: bytes | None = None,
) -> None:
    """Register a gateway's key as a `usage` device (owned by `owner`) and make it a Credits
    spender through the governance timelock, on a network whose timelock delay is 0 (the
    demo's and the devnet's: propose and execute at once). `salt` fixes the operation's id
    (default: random)."""
    deployment.registry(chain).register(key, owner, GATEWAY_KIND, deadline)
    timelock = GovernanceClient(chain, deployment.address("Timelock"))
    call = Proposal.set_spender(deployment.address("Credits"), Address(key.device_id), True)
    operation = Operation.of(call, salt=salt)
    timelock.propose(operation, sender=governance)
    timelock.execute_operation(operation, sender=governance)


def _spent(receipt: Receipt) -> CreditsSpent:
    (event,) = receipt.events_named("CreditsSpent")
    return CreditsSpent(
        Address(event.args["account"]),
        Address(event.args["spender"]),
        int(event.args["amount"]),
        bytes(event.args["usage_ref"]),
        receipt.block_number,
    )
