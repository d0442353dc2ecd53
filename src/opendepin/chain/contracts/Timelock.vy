# SPDX-License-Identifier: AGPL-3.0-only
# Builds on snekmate 0.1.2 (https://github.com/pcaversaccio/snekmate, AGPL-3.0-only) by pcaversaccio.
# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title opendepin governance timelock
@custom:contract-name Timelock
@license GNU Affero General Public License v3.0 only
@notice Owns the Token, DeviceRegistry, RewardDistributor and Credits after
        deployment, so every parameter change is scheduled by a proposer,
        waits `get_minimum_delay()` seconds and is then executed by an executor.
        This is snekmate's `timelock_controller` deployed as is.
@dev `__init__(minimum_delay_, proposers_, executors_, admin_)`: proposers
     also become cancellers; `admin_` may be the zero address (the timelock
     then administers itself). opendepin's deployment passes the deployer
     as `admin_` and, once ownership is wired, has it renounce
     `DEFAULT_ADMIN_ROLE` (`renounceRole`), so the timelock administers
     itself from then on.
@custom:security A zero minimum delay (the demo setting) makes governance
                 immediate; the deployment tooling refuses it on every
                 node chain but the development id 31337.
"""


from snekmate.auth import access_control
initializes: access_control


from snekmate.governance import timelock_controller
initializes: timelock_controller[access_control := access_control]


exports: timelock_controller.__interface__


# @dev The maximum number of proposers or executors at construction.
_MAX_MEMBERS: constant(uint256) = 255


@deploy
@payable
def __init__(
    minimum_delay_: uint256,
    proposers_: DynArray[address, _MAX_MEMBERS],
    executors_: DynArray[address, _MAX_MEMBERS],
    admin_: address,
):
    """
    @dev Initialises access control and the timelock.
    @param minimum_delay_ The initial minimum delay in seconds.
    @param proposers_ The accounts granted the proposer and canceller roles.
    @param executors_ The accounts granted the executor role.
    @param admin_ The optional extra admin (zero address for none).
    """
    access_control.__init__()
    timelock_controller.__init__(minimum_delay_, proposers_, executors_, admin_)
