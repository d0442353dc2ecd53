# SPDX-License-Identifier: AGPL-3.0-only
# Builds on snekmate 0.1.2 (https://github.com/pcaversaccio/snekmate, AGPL-3.0-only) by pcaversaccio.
# pragma version ~=0.4.3
# pragma nonreentrancy off
#
# Deviations from the agreed interface: none in the listed functions. Extras: `token()`,
# `credits_per_token()`, `is_spender(address)`, events `SpenderChanged`, `PriceChanged`.
"""
@title opendepin credits: burn tokens for non-transferable service credits
@custom:contract-name Credits
@license GNU Affero General Public License v3.0 only
@notice Burn-and-mint equilibrium, demand side. A consumer burns network
        tokens and `recipient` receives `amount * credits_per_token // 10**18`
        credits (rounded down; zero-credit purchases are rejected). Credits
        cannot be transferred. Authorised spenders (the service operators'
        metering accounts) debit credits for verified usage, citing a usage
        reference, which the oracles count into the usage reward pool.
@dev The payer must have approved this contract for `amount` on the
     token, which burns it with `burn_from`.
@custom:security Spenders are trusted to debit only real usage; the owner
                 (a timelock) authorises them.
"""


from snekmate.auth import ownable
initializes: ownable


exports: (
    ownable.owner,
    ownable.transfer_ownership,
    ownable.renounce_ownership,
)


# @dev The token function this contract calls to burn payments.
interface IBurnableToken:
    def burn_from(owner: address, amount: uint256): nonpayable


# @dev One whole token in base units (18 decimals).
_ONE_TOKEN: constant(uint256) = 10**18


# @dev The token burned to buy credits.
token: public(immutable(address))


# @dev Credits granted per whole token burned.
credits_per_token: public(uint256)


# @dev The credit balance of each account.
credits: public(HashMap[address, uint256])


# @dev `True` for accounts allowed to spend credits.
is_spender: public(HashMap[address, bool])


# @dev Emitted when `payer` burns `tokens` and `recipient` receives `credits`.
event CreditsPurchased:
    payer: indexed(address)
    recipient: indexed(address)
    tokens: uint256
    credits: uint256


# @dev Emitted when `spender` debits `amount` credits of `account`.
event CreditsSpent:
    account: indexed(address)
    spender: indexed(address)
    amount: uint256
    usage_ref: bytes32


# @dev Emitted when a spender is authorised or revoked.
event SpenderChanged:
    spender: indexed(address)
    status: bool


# @dev Emitted when the credit price changes.
event PriceChanged:
    previous_credits_per_token: uint256
    new_credits_per_token: uint256


@deploy
@payable
def __init__(token_: address, credits_per_token_: uint256):
    """
    @dev The deployer becomes `owner`.
    @param token_ The token burned for credits (must offer `burn_from`).
    @param credits_per_token_ Credits per whole token (non-zero).
    """
    assert token_ != empty(address), "Credits: zero token"
    assert credits_per_token_ != empty(uint256), "Credits: zero price"
    token = token_
    ownable.__init__()
    self.credits_per_token = credits_per_token_


@external
def burn_for_credits(amount: uint256, recipient: address):
    """
    @dev Burns `amount` base units from the caller and credits `recipient`.
    @param amount The tokens to burn, in base units.
    @param recipient The account receiving the credits (non-zero).
    """
    assert recipient != empty(address), "Credits: zero recipient"
    granted: uint256 = amount * self.credits_per_token // _ONE_TOKEN
    assert granted != empty(uint256), "Credits: amount too small"
    self.credits[recipient] += granted
    log CreditsPurchased(payer=msg.sender, recipient=recipient, tokens=amount, credits=granted)
    extcall IBurnableToken(token).burn_from(msg.sender, amount)


@external
def spend(account: address, amount: uint256, usage_ref: bytes32):
    """
    @dev Debits `amount` credits of `account` for the usage `usage_ref`.
         Only authorised spenders.
    @param account The account whose credits are used.
    @param amount The credits to debit (non-zero, at most the balance).
    @param usage_ref A reference to the verified usage record.
    """
    assert self.is_spender[msg.sender], "Credits: caller is not a spender"
    assert amount != empty(uint256), "Credits: zero amount"
    balance: uint256 = self.credits[account]
    assert balance >= amount, "Credits: insufficient credits"
    self.credits[account] = unsafe_sub(balance, amount)
    log CreditsSpent(account=account, spender=msg.sender, amount=amount, usage_ref=usage_ref)


@external
def set_spender(spender: address, status: bool):
    """
    @dev Authorises or revokes a spender. Only the owner.
    @param spender The spender (non-zero).
    @param status `True` to authorise, `False` to revoke.
    """
    ownable._check_owner()
    assert spender != empty(address), "Credits: zero spender"
    self.is_spender[spender] = status
    log SpenderChanged(spender=spender, status=status)


@external
def set_price(credits_per_token: uint256):
    """
    @dev Sets the credits granted per whole token. Only the owner.
    @param credits_per_token The new price (non-zero).
    """
    ownable._check_owner()
    assert credits_per_token != empty(uint256), "Credits: zero price"
    log PriceChanged(previous_credits_per_token=self.credits_per_token, new_credits_per_token=credits_per_token)
    self.credits_per_token = credits_per_token
