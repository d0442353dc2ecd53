# SPDX-License-Identifier: AGPL-3.0-only
# Builds on snekmate 0.1.2 (https://github.com/pcaversaccio/snekmate, AGPL-3.0-only) by pcaversaccio.
# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title opendepin network token: capped ERC-20 with EIP-2612 permit
@custom:contract-name Token
@license GNU Affero General Public License v3.0 only
@notice The network's reward and payment token. It is snekmate's
        `erc20` module (ERC-20, EIP-2612 `permit`, EIP-5267
        `eip712Domain`, minter roles, `burn`/`burn_from`) with two
        changes: `decimals` is fixed at 18 and `mint` never lets
        `totalSupply` exceed the immutable `cap`.
        In an opendepin deployment the only minter besides the owner
        is the `RewardDistributor`; the owner (a timelock after
        deployment) manages minters with `set_minter`.
@dev The snekmate `erc20` module makes its `owner` a minter, and
     its `transfer_ownership` moves that minter role to the new
     owner, so after ownership is handed to the timelock the
     deployer can no longer mint.
@custom:security The `owner` can add arbitrary minters; the cap
                 bounds what all minters together can ever create.
"""


from ethereum.ercs import IERC20
implements: IERC20


from ethereum.ercs import IERC20Detailed
implements: IERC20Detailed


from snekmate.auth import ownable
initializes: ownable


from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]


# @dev Every `erc20` function except `mint`, which is
# replaced below by a capped version.
exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.burn,
    erc20.burn_from,
    erc20.is_minter,
    erc20.set_minter,
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
    erc20.owner,
    erc20.transfer_ownership,
    erc20.renounce_ownership,
)


# @dev Token decimals; amounts are integer base units.
_DECIMALS: constant(uint8) = 18


# @dev The maximum `totalSupply`, in base units, that can
# ever exist. Burned tokens free room under the cap again.
cap: public(immutable(uint256))


@deploy
@payable
def __init__(
    name_: String[25], symbol_: String[5], cap_: uint256, name_eip712_: String[50], version_eip712_: String[20]
):
    """
    @dev The deployer becomes `owner` and a minter.
    @param name_ The maximum 25-character token name.
    @param symbol_ The maximum 5-character token symbol.
    @param cap_ The supply cap in base units; must be non-zero.
    @param name_eip712_ The EIP-712 domain name used by `permit`.
    @param version_eip712_ The EIP-712 domain version used by `permit`.
    """
    assert cap_ != empty(uint256), "Token: zero cap"
    cap = cap_
    ownable.__init__()
    erc20.__init__(name_, symbol_, _DECIMALS, name_eip712_, version_eip712_)


@external
def mint(owner: address, amount: uint256):
    """
    @dev Creates `amount` base units and assigns them to `owner`.
    @notice Only minters may call this; the resulting `totalSupply`
            must not exceed `cap`.
    @param owner The 20-byte receiver address (not the zero address).
    @param amount The amount to create, in base units.
    """
    assert erc20.is_minter[msg.sender], "Token: caller is not a minter"
    assert erc20.totalSupply + amount <= cap, "Token: cap exceeded"
    erc20._mint(owner, amount)
