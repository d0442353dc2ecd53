# SPDX-License-Identifier: AGPL-3.0-only
# Builds on snekmate 0.1.2 (https://github.com/pcaversaccio/snekmate, AGPL-3.0-only) by pcaversaccio.
# pragma version ~=0.4.3
# pragma nonreentrancy off
#
# Deviations from the agreed interface: the registration signature covers `kind` (the struct is
# `Register(address owner,string kind,uint256 nonce,uint256 deadline)`), and `assert_location`
# accepts only valid H3 cell indexes. Extras: `token()`, `onboarding_fee()`, `location_fee()`,
# `location_cooldown()`, `location_asserted_at(device)`, `is_h3_cell(cell)`, setters
# `set_onboarding_fee`, `set_location_fee`, `set_location_cooldown`, and the events
# `OnboardingFeeChanged`, `LocationFeeChanged`, `LocationCooldownChanged`. `device_info` of an
# unregistered device returns an all-zero `DeviceInfo` instead of reverting. The ERC-721
# permit of snekmate is not exported (its `nonces(uint256)` would clash with `nonces(address)`).
"""
@title opendepin device registry: one ERC-721 per device, proven by the device key
@custom:contract-name DeviceRegistry
@license GNU Affero General Public License v3.0 only
@notice Every device is an NFT whose token id is `uint256(device address)`;
        whoever holds the NFT owns the device and receives its rewards.
        Registration needs the DEVICE key's EIP-712 signature over
        `Register(address owner,string kind,uint256 nonce,uint256 deadline)`
        (`kind` hashed as an EIP-712 `string`: `keccak256(bytes(kind))`) in the
        domain {name: "DeviceRegistry", version: "1", chainId, verifyingContract},
        so only someone holding the device key can enrol it, and only for the
        owner and the kind the device chose. `nonce` is `nonces(device)`,
        incremented by each registration. The caller pays `onboarding_fee`, burned with
        `token.burn_from` (the caller must have approved this contract).
        The owner asserts the device's location (an H3 cell index, checked
        by `is_h3_cell`) for `location_fee` (burned), at most once per
        `location_cooldown` seconds, and can deactivate and reactivate the
        device.
@dev Built on snekmate's `erc721` (enumerable); minting is only possible
     through `register`.
@custom:security The registration signature covers owner, kind, nonce and
                 deadline, so a relayer can neither redirect the NFT nor
                 fix another kind by replaying a pending `register`.
                 Fees are burned from `msg.sender`, which need not be the
                 owner. `is_h3_cell` checks the bit layout of an H3 cell
                 (equivalent to H3's `isValidCell`); that the cell is where
                 the device really stands is for the off-chain verifiers.
"""


from snekmate.auth import ownable
initializes: ownable


from snekmate.utils import ecdsa


from snekmate.tokens import erc721
initializes: erc721[ownable := ownable]


# @dev Initialised by `erc721` (domain "DeviceRegistry", version "1");
# registration signatures use the same domain.
from snekmate.utils import eip712_domain_separator
uses: eip712_domain_separator


exports: (
    erc721.balanceOf,
    erc721.ownerOf,
    erc721.approve,
    erc721.getApproved,
    erc721.setApprovalForAll,
    erc721.isApprovedForAll,
    erc721.transferFrom,
    erc721.safeTransferFrom,
    erc721.tokenURI,
    erc721.totalSupply,
    erc721.tokenByIndex,
    erc721.tokenOfOwnerByIndex,
    erc721.name,
    erc721.symbol,
    erc721.DOMAIN_SEPARATOR,
    erc721.eip712Domain,
    erc721.owner,
    erc721.transfer_ownership,
    erc721.renounce_ownership,
)


# @dev The token function this contract calls to burn fees.
interface IFeeToken:
    def burn_from(owner: address, amount: uint256): nonpayable


# @dev The 32-byte EIP-712 type hash of a registration consent.
_REGISTER_TYPE_HASH: constant(bytes32) = keccak256(
    "Register(address owner,string kind,uint256 nonce,uint256 deadline)"
)


# @dev H3 cell index layout (64 bits): bit 63 reserved (0), bits 59..62
# mode (1 = cell), bits 56..58 mode-dependent reserved (0 for a cell),
# bits 52..55 resolution, bits 45..51 base cell, bits 0..44 fifteen 3-bit
# digits, digit r (1..15) at bits 3 * (15 - r) .. 3 * (15 - r) + 2.
# `_H3_CELL_HEADER` is bits 56..63 of every cell.
_H3_CELL_HEADER: constant(uint256) = 8
_H3_RESOLUTION_SHIFT: constant(uint256) = 52
_H3_BASE_CELL_SHIFT: constant(uint256) = 45
_H3_HEADER_SHIFT: constant(uint256) = 56
_H3_MAX_RESOLUTION: constant(uint256) = 15
_H3_BASE_CELLS: constant(uint256) = 122
_H3_DIGIT_BITS: constant(uint256) = 3
_H3_DIGITS_MASK: constant(uint256) = (1 << 45) - 1


# @dev The lowest bit of each of the 15 digits (bits 0, 3, ..., 42), 0x49249249249.
_H3_DIGIT_LOW_BITS: constant(uint256) = 5026338869833


# @dev Bit b set for each of the 12 pentagon base cells b.
_H3_PENTAGON_BASE_CELLS: constant(uint256) = (
    (1 << 4) | (1 << 14) | (1 << 24) | (1 << 38) | (1 << 49) | (1 << 58)
    | (1 << 63) | (1 << 72) | (1 << 83) | (1 << 97) | (1 << 107) | (1 << 117)
)


# @dev The digit H3 deletes below a pentagon (the K axis): a pentagon's
# first non-zero digit is never 1.
_H3_K_AXES_DIGIT: constant(uint256) = 1


# @dev ERC-165 ids: ERC-165, ERC-721, metadata and enumerable extensions.
_SUPPORTED_INTERFACES: constant(bytes4[4]) = [0x01FFC9A7, 0x80AC58CD, 0x5B5E139F, 0x780E9D63]


# @dev A device as returned by `device_info`.
struct DeviceInfo:
    owner: address
    kind: String[32]
    location: uint64
    active: bool


# @dev What is stored per device (the owner lives in the ERC-721 state).
struct DeviceRecord:
    kind: String[32]
    location: uint64
    location_asserted_at: uint64
    active: bool


# @dev The token in which fees are paid (and burned).
token: public(immutable(address))


# @dev Tokens burned per registration, in base units.
onboarding_fee: public(uint256)


# @dev Tokens burned per location assertion, in base units.
location_fee: public(uint256)


# @dev Seconds that must pass between two location assertions of a device.
location_cooldown: public(uint256)


# @dev The next registration nonce the device key must sign.
nonces: public(HashMap[address, uint256])


# @dev Per-device kind, location and status.
_devices: HashMap[address, DeviceRecord]


# @dev Emitted when a device is registered and its NFT minted to `owner`.
event DeviceRegistered:
    device: indexed(address)
    owner: indexed(address)
    kind: String[32]


# @dev Emitted when a device's location is asserted and `fee` burned.
event LocationAsserted:
    device: indexed(address)
    location: uint64
    fee: uint256


# @dev Emitted when the owner deactivates a device.
event DeviceDeactivated:
    device: indexed(address)


# @dev Emitted when the owner reactivates a device.
event DeviceReactivated:
    device: indexed(address)


# @dev Emitted when the onboarding fee changes.
event OnboardingFeeChanged:
    previous_fee: uint256
    new_fee: uint256


# @dev Emitted when the location fee changes.
event LocationFeeChanged:
    previous_fee: uint256
    new_fee: uint256


# @dev Emitted when the location cooldown changes.
event LocationCooldownChanged:
    previous_cooldown: uint256
    new_cooldown: uint256


@deploy
@payable
def __init__(token_: address, onboarding_fee_: uint256, location_fee_: uint256, location_cooldown_: uint256):
    """
    @dev The deployer becomes `owner`.
    @param token_ The fee token (must offer `burn_from`).
    @param onboarding_fee_ Base units burned per registration.
    @param location_fee_ Base units burned per location assertion.
    @param location_cooldown_ Seconds between two assertions of one device.
    """
    assert token_ != empty(address), "DeviceRegistry: zero token"
    token = token_
    ownable.__init__()
    erc721.__init__("opendepin device", "DEV", "", "DeviceRegistry", "1")
    self.onboarding_fee = onboarding_fee_
    self.location_fee = location_fee_
    self.location_cooldown = location_cooldown_


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @dev Returns `True` for ERC-165, ERC-721 and its metadata and
         enumerable extensions.
    @param interface_id The 4-byte interface identifier.
    @return bool Whether the interface is supported.
    """
    return interface_id in _SUPPORTED_INTERFACES


@external
def register(device: address, owner: address, kind: String[32], deadline: uint256, signature: Bytes[65]):
    """
    @dev Registers `device` for `owner`, burning `onboarding_fee`
         from the caller and minting the device NFT to `owner`.
    @param device The device address (its key signed the consent).
    @param owner The future owner of the device NFT.
    @param kind The device kind, e.g. "heartbeat" (up to 32 characters).
    @param deadline The last block timestamp the consent is valid for.
    @param signature The device's EIP-712 signature of
           `Register(owner, kind, nonces(device), deadline)`.
    """
    assert block.timestamp <= deadline, "DeviceRegistry: expired deadline"
    assert owner != empty(address), "DeviceRegistry: zero owner"
    assert device != empty(address), "DeviceRegistry: zero device"
    nonce: uint256 = self.nonces[device]
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(_REGISTER_TYPE_HASH, owner, keccak256(kind), nonce, deadline))
    )
    assert ecdsa._recover_sig(digest, signature) == device, "DeviceRegistry: invalid device signature"
    token_id: uint256 = convert(device, uint256)
    assert not erc721._exists(token_id), "DeviceRegistry: device already registered"

    self.nonces[device] = unsafe_add(nonce, 1)
    self._devices[device] = DeviceRecord(kind=kind, location=0, location_asserted_at=0, active=True)
    fee: uint256 = self.onboarding_fee
    if fee != empty(uint256):
        extcall IFeeToken(token).burn_from(msg.sender, fee)
    log DeviceRegistered(device=device, owner=owner, kind=kind)
    erc721._safe_mint(owner, token_id, b"")


@external
def assert_location(device: address, location: uint64):
    """
    @dev Records the device's location and burns `location_fee` from
         the caller. Only the NFT owner; the device must be active and
         `location_cooldown` seconds must have passed since its previous
         assertion.
    @param device The device address.
    @param location The H3 cell index; reverts with
           "DeviceRegistry: invalid H3 cell" unless `is_h3_cell(location)`.
    """
    self._check_device_owner(device)
    assert self._is_h3_cell(convert(location, uint256)), "DeviceRegistry: invalid H3 cell"
    record: DeviceRecord = self._devices[device]
    assert record.active, "DeviceRegistry: device inactive"
    if record.location_asserted_at != empty(uint64):
        assert (
            block.timestamp >= convert(record.location_asserted_at, uint256) + self.location_cooldown
        ), "DeviceRegistry: location cooldown"
    self._devices[device].location = location
    self._devices[device].location_asserted_at = convert(block.timestamp, uint64)
    fee: uint256 = self.location_fee
    if fee != empty(uint256):
        extcall IFeeToken(token).burn_from(msg.sender, fee)
    log LocationAsserted(device=device, location=location, fee=fee)


@external
def deactivate(device: address):
    """
    @dev Marks the device inactive (it earns nothing). Only the NFT owner.
    @param device The device address.
    """
    self._check_device_owner(device)
    assert self._devices[device].active, "DeviceRegistry: device inactive"
    self._devices[device].active = False
    log DeviceDeactivated(device=device)


@external
def reactivate(device: address):
    """
    @dev Marks the device active again. Only the NFT owner.
    @param device The device address.
    """
    self._check_device_owner(device)
    assert not self._devices[device].active, "DeviceRegistry: device active"
    self._devices[device].active = True
    log DeviceReactivated(device=device)


@external
@view
def device_info(device: address) -> DeviceInfo:
    """
    @dev Returns the device's owner, kind, location and status.
    @param device The device address.
    @return DeviceInfo All zero for an unregistered device.
    """
    record: DeviceRecord = self._devices[device]
    return DeviceInfo(
        owner=erc721._owners[convert(device, uint256)],
        kind=record.kind,
        location=record.location,
        active=record.active,
    )


@external
@pure
def is_h3_cell(cell: uint64) -> bool:
    """
    @dev Returns whether `cell` is a valid H3 cell index; the same answer
         as H3's `isValidCell` (h3 v4) for every 64-bit value.
    @notice Checked: bit 63 is 0; the mode (bits 59..62) is 1 (a cell,
            not an edge or vertex); bits 56..58 are 0; the base cell
            (bits 45..51) is below 122; every digit of a resolution finer
            than the cell's (bits 52..55, 0..15) is 7; every digit of
            resolutions 1..res is 0..6; for the 12 pentagon base cells the
            first non-zero digit is not 1 (H3's deleted K-axis subsequence).
            Not checked: anything about the place the cell stands for.
    @param cell The 64-bit H3 index.
    @return bool `True` for a valid cell.
    """
    return self._is_h3_cell(convert(cell, uint256))


@external
@view
def location_asserted_at(device: address) -> uint256:
    """
    @dev Returns when the device's location was last asserted.
    @param device The device address.
    @return uint256 The block timestamp, or 0 if never.
    """
    return convert(self._devices[device].location_asserted_at, uint256)


@external
def set_onboarding_fee(new_fee: uint256):
    """
    @dev Sets the registration fee. Only the owner.
    @param new_fee Base units burned per registration.
    """
    ownable._check_owner()
    log OnboardingFeeChanged(previous_fee=self.onboarding_fee, new_fee=new_fee)
    self.onboarding_fee = new_fee


@external
def set_location_fee(new_fee: uint256):
    """
    @dev Sets the location assertion fee. Only the owner.
    @param new_fee Base units burned per assertion.
    """
    ownable._check_owner()
    log LocationFeeChanged(previous_fee=self.location_fee, new_fee=new_fee)
    self.location_fee = new_fee


@external
def set_location_cooldown(new_cooldown: uint256):
    """
    @dev Sets the seconds between two assertions of one device. Only the owner.
    @param new_cooldown The cooldown in seconds.
    """
    ownable._check_owner()
    log LocationCooldownChanged(previous_cooldown=self.location_cooldown, new_cooldown=new_cooldown)
    self.location_cooldown = new_cooldown


@internal
@view
def _check_device_owner(device: address):
    """
    @dev Throws unless the caller holds the device NFT.
    @param device The device address.
    """
    owner: address = erc721._owners[convert(device, uint256)]
    assert owner != empty(address), "DeviceRegistry: unknown device"
    assert owner == msg.sender, "DeviceRegistry: caller is not the device owner"


@internal
@pure
def _is_h3_cell(cell: uint256) -> bool:
    """
    @dev The checks of `is_h3_cell`, on a value below 2**64.
    @param cell The H3 index.
    @return bool `True` for a valid cell.
    """
    # Reserved bit, mode and mode-dependent bits in one comparison.
    if cell >> _H3_HEADER_SHIFT != _H3_CELL_HEADER:
        return False
    base_cell: uint256 = (cell >> _H3_BASE_CELL_SHIFT) & 127
    if base_cell >= _H3_BASE_CELLS:
        return False
    # The digits of resolutions res+1..15 are the lowest 3 * (15 - res) bits: all ones.
    resolution: uint256 = (cell >> _H3_RESOLUTION_SHIFT) & _H3_MAX_RESOLUTION
    unused_bits: uint256 = unsafe_mul(unsafe_sub(_H3_MAX_RESOLUTION, resolution), _H3_DIGIT_BITS)
    unused: uint256 = unsafe_sub(convert(1, uint256) << unused_bits, 1)
    if cell & unused != unused:
        return False
    # A digit is 7 iff its three bits are set: AND the digit's bits onto its lowest bit.
    digits: uint256 = cell & _H3_DIGITS_MASK
    sevens: uint256 = digits & (digits >> 1) & (digits >> 2) & _H3_DIGIT_LOW_BITS
    if sevens >> unused_bits != 0:
        return False
    if (_H3_PENTAGON_BASE_CELLS >> base_cell) & 1 == 0:
        return True
    # Pentagon: the first non-zero digit (from resolution 1 down) must not be 1.
    used: uint256 = digits >> unused_bits
    for i: uint256 in range(resolution, bound=_H3_MAX_RESOLUTION):
        digit: uint256 = (
            used >> unsafe_mul(unsafe_sub(unsafe_sub(resolution, 1), i), _H3_DIGIT_BITS)
        ) & 7
        if digit != 0:
            return digit != _H3_K_AXES_DIGIT
    return True
