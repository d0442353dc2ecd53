# SPDX-License-Identifier: AGPL-3.0-only
# Builds on snekmate 0.1.2 (https://github.com/pcaversaccio/snekmate, AGPL-3.0-only) by pcaversaccio.
# pragma version ~=0.4.3
# pragma nonreentrancy off
#
# DEVIATIONS FROM THE AGREED INTERFACE (docs/brief "contracts-abi"), made for gas and safety:
#  1. Pre-minting. `submit_root` mints the epoch's increase (cumulative_total - previous total)
#     to THIS contract, and `claim` TRANSFERS `cumulative_amount - claimed(account)` from this
#     contract's balance (the interface said `claim` mints). Consequences: the distributor
#     must be a token minter before the first `submit_root` (the deploy order already does
#     `token.set_minter(distributor, True)`); `token.balanceOf(distributor)` is the amount
#     still unclaimed; total claims can never exceed what was minted even if the oracles
#     publish a tree whose leaves add up to more than `cumulative_total` (the transfer then
#     reverts with "erc20: transfer amount exceeds balance"). It also saves a minter check
#     and a claimed-total counter on every claim.
#  2. Signatures in `submit_root` must be ordered by recovered signer address, strictly
#     ascending (that is how distinctness is enforced), and EVERY signature passed must be a
#     valid current-oracle signature; at least `threshold()` of them are required.
#  3. `cumulative_total` is stored packed with `next_epoch`, `threshold` and `paused` in one
#     storage slot, so it must stay below 2**160 base units (1.4e30 whole tokens at 18
#     decimals); `submit_root` rejects larger totals.
#  4. Extra functions: `guardian()`, `set_guardian(address)`, `is_oracle(address)`,
#     `token()`, `max_emission_per_epoch()`, `halving_epochs()`, `genesis_unix()`,
#     `epoch_seconds()`, `epoch_end(uint256)`, `DOMAIN_SEPARATOR()`, `eip712Domain()`;
#     events `OraclesChanged`, `GuardianChanged`, `Paused`, `Unpaused`.
#  5. The epoch clock is on chain: the constructor takes `genesis_unix_` and
#     `epoch_seconds_` (immutable), and `submit_root(epoch, ...)` reverts with
#     "RewardDistributor: epoch not ended" while `block.timestamp < epoch_end(epoch)`.
"""
@title opendepin reward distributor: M-of-N oracle roots, cumulative Merkle claims
@custom:contract-name RewardDistributor
@license GNU Affero General Public License v3.0 only
@notice Once per epoch the oracles publish a Merkle tree of CUMULATIVE
        rewards per account (what each account has earned since epoch 0).
        Anyone may submit its root together with at least `threshold`
        EIP-712 signatures of distinct current oracles over
        `EpochRoot(uint256 epoch,bytes32 root,uint256 cumulativeTotal,bytes32 manifestHash)`
        in the domain {name: "RewardDistributor", version: "1", chainId,
        verifyingContract}. Epochs are submitted in order (0, 1, 2, ...),
        the cumulative total never decreases and grows by at most the
        epoch's cap, `max_emission_per_epoch >> (epoch // halving_epochs)`.
        An epoch's root is accepted only once the epoch has ended by block
        time, `block.timestamp >= genesis_unix + (epoch + 1) * epoch_seconds`.
        The increase is minted to this contract. An account then claims
        with a proof against the latest root and receives the difference
        between its cumulative amount and what it already claimed, so a
        claim is always against the newest tree and never double-pays.
        Leaves follow OpenZeppelin's StandardMerkleTree:
        `keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))))`
        with sorted-pair internal nodes.
        The manifest hash (content address of the epoch's published files)
        is signed and emitted but not stored: only what claims need is
        stored, plus one slot per epoch for `roots(epoch)`.
@dev A guardian may pause `submit_root` and `claim`; every parameter
     setter is `owner`-only (a timelock after deployment).
@custom:security M colluding oracles can publish any tree, but can
                 never mint more than the epoch caps allow (and never
                 above the token cap); claims cannot exceed the
                 minted, unclaimed balance held by this contract.
                 Signatures are not marked as used: replay is prevented
                 by the epoch number inside the signed message, so
                 malleable signature encodings give nothing.
                 No root can be accepted for an epoch that is still
                 running, so no tree can pre-commit rewards for reports
                 not yet made. The ingest grace (`report_grace_seconds`,
                 how long after an epoch's end late reports are still
                 taken) is deliberately NOT on chain: it is an off-chain
                 latency policy, measured on the ingest clock, that honest
                 oracles already wait out (they seal only once the chain's
                 clock is past end + grace); an immutable copy here would
                 force a redeploy to tune it, and it would not stop M
                 colluding oracles, who can sign any tree anyway.
"""


from snekmate.auth import ownable
initializes: ownable


from snekmate.utils import ecdsa


from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator


exports: (
    ownable.owner,
    ownable.transfer_ownership,
    ownable.renounce_ownership,
    eip712_domain_separator.eip712Domain,
)


# @dev The two token functions this contract calls.
interface IRewardToken:
    def mint(owner: address, amount: uint256): nonpayable
    def transfer(to: address, amount: uint256) -> bool: nonpayable


# @dev The maximum number of oracles (and of signatures per root).
_MAX_ORACLES: constant(uint256) = 16


# @dev The maximum Merkle proof length (trees of up to 2**32 leaves).
_MAX_PROOF_LENGTH: constant(uint256) = 32


# @dev The 32-byte EIP-712 type hash of an epoch root attestation.
_EPOCH_ROOT_TYPE_HASH: constant(bytes32) = keccak256(
    "EpochRoot(uint256 epoch,bytes32 root,uint256 cumulativeTotal,bytes32 manifestHash)"
)


# @dev Packed-state layout: bits 0..159 cumulative total,
# 160..223 next epoch, 224..231 threshold, 232 paused.
_EPOCH_SHIFT: constant(uint256) = 160
_THRESHOLD_SHIFT: constant(uint256) = 224
_PAUSED_SHIFT: constant(uint256) = 232
_CUMULATIVE_MASK: constant(uint256) = (1 << 160) - 1
_EPOCH_MASK: constant(uint256) = (1 << 64) - 1
_THRESHOLD_MASK: constant(uint256) = (1 << 8) - 1


# @dev Bound of the epoch clock's genesis, epoch length and epoch number.
_MAX_UINT64: constant(uint256) = (1 << 64) - 1


# @dev The unpacked form of `_state`.
struct EpochState:
    cumulative_total: uint256
    next_epoch: uint256
    threshold: uint256
    paused: bool


# @dev The token paid out (must list this contract as a minter).
token: public(immutable(address))


# @dev The epoch-0 emission cap in base units.
max_emission_per_epoch: public(immutable(uint256))


# @dev The cap halves every `halving_epochs` epochs.
halving_epochs: public(immutable(uint256))


# @dev Unix time at which epoch 0 starts (below 2**64).
genesis_unix: public(immutable(uint256))


# @dev Length of one epoch in seconds (1 to 2**64 - 1).
epoch_seconds: public(immutable(uint256))


# @dev Packed `EpochState` (one slot, read once per `submit_root`).
_state: uint256


# @dev The root claims are checked against: the latest root,
# or zero while paused or before the first root.
_claim_root: bytes32


# @dev The root of each submitted epoch.
roots: public(HashMap[uint256, bytes32])


# @dev The cumulative amount already paid to each account.
claimed: public(HashMap[address, uint256])


# @dev `True` for every current oracle.
is_oracle: public(HashMap[address, bool])


# @dev The current oracle set, in the order it was set.
_oracles: DynArray[address, _MAX_ORACLES]


# @dev The account that may pause and unpause.
guardian: public(address)


# @dev Emitted when an epoch root is accepted.
event RootSubmitted:
    epoch: indexed(uint256)
    root: bytes32
    cumulative_total: uint256
    manifest_hash: bytes32


# @dev Emitted when an account claims `amount` more, reaching `cumulative_amount`.
event Claimed:
    account: indexed(address)
    amount: uint256
    cumulative_amount: uint256


# @dev Emitted when the oracle set or threshold is replaced.
event OraclesChanged:
    oracles: DynArray[address, _MAX_ORACLES]
    threshold: uint256


# @dev Emitted when the guardian changes.
event GuardianChanged:
    previous_guardian: indexed(address)
    new_guardian: indexed(address)


# @dev Emitted when the guardian pauses submissions and claims.
event Paused:
    account: indexed(address)


# @dev Emitted when the guardian lifts the pause.
event Unpaused:
    account: indexed(address)


@deploy
@payable
def __init__(
    token_: address,
    oracles_: DynArray[address, _MAX_ORACLES],
    threshold_: uint256,
    max_emission_per_epoch_: uint256,
    halving_epochs_: uint256,
    guardian_: address,
    genesis_unix_: uint256,
    epoch_seconds_: uint256,
):
    """
    @dev The deployer becomes `owner`.
    @param token_ The reward token (a `Token` with this contract as minter).
    @param oracles_ The initial oracle set (distinct, non-zero, up to 16).
    @param threshold_ The number of distinct oracle signatures a root needs.
    @param max_emission_per_epoch_ The epoch-0 cap in base units.
    @param halving_epochs_ The number of epochs after which the cap halves (non-zero).
    @param guardian_ The account allowed to pause (non-zero).
    @param genesis_unix_ Unix time at which epoch 0 starts (below 2**64).
    @param epoch_seconds_ Epoch length in seconds (1 to 2**64 - 1).
    """
    assert token_ != empty(address), "RewardDistributor: zero token"
    assert halving_epochs_ != empty(uint256), "RewardDistributor: zero halving epochs"
    assert guardian_ != empty(address), "RewardDistributor: zero guardian"
    assert genesis_unix_ <= _MAX_UINT64, "RewardDistributor: genesis too large"
    assert epoch_seconds_ != empty(uint256), "RewardDistributor: zero epoch seconds"
    assert epoch_seconds_ <= _MAX_UINT64, "RewardDistributor: epoch seconds too large"
    token = token_
    genesis_unix = genesis_unix_
    epoch_seconds = epoch_seconds_
    max_emission_per_epoch = max_emission_per_epoch_
    halving_epochs = halving_epochs_
    ownable.__init__()
    eip712_domain_separator.__init__("RewardDistributor", "1")
    self._set_oracles(oracles_, threshold_)
    self._set_guardian(guardian_)


@external
def submit_root(
    epoch: uint256,
    root: bytes32,
    cumulative_total: uint256,
    manifest_hash: bytes32,
    signatures: DynArray[Bytes[65], _MAX_ORACLES],
):
    """
    @dev Accepts the root of `epoch` and mints the increase of the
         cumulative total to this contract. Anyone may call.
    @notice `signatures` must be EIP-712 signatures of distinct current
            oracles, ordered by signer address strictly ascending, at
            least `threshold()` of them, and all of them valid.
            Malformed encodings revert with snekmate's `ecdsa:` reasons.
    @param epoch The epoch; must equal `next_epoch()` and have ended
           (`block.timestamp >= epoch_end(epoch)`).
    @param root The Merkle root of cumulative rewards (non-zero).
    @param cumulative_total The sum of all cumulative amounts in the tree.
    @param manifest_hash The content hash of the epoch's manifest (emitted only).
    @param signatures The 65-byte (or 64-byte EIP-2098) oracle signatures.
    """
    state: EpochState = self._load_state()
    assert not state.paused, "RewardDistributor: paused"
    assert epoch >= state.next_epoch, "RewardDistributor: stale epoch"
    assert epoch == state.next_epoch, "RewardDistributor: future epoch"
    assert block.timestamp >= self._epoch_end(epoch), "RewardDistributor: epoch not ended"
    assert root != empty(bytes32), "RewardDistributor: zero root"
    assert cumulative_total >= state.cumulative_total, "RewardDistributor: cumulative total decreased"
    increase: uint256 = cumulative_total - state.cumulative_total
    assert increase <= self._epoch_cap(epoch), "RewardDistributor: epoch cap exceeded"
    assert cumulative_total <= _CUMULATIVE_MASK, "RewardDistributor: cumulative total too large"
    assert len(signatures) >= state.threshold, "RewardDistributor: too few signatures"

    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(_EPOCH_ROOT_TYPE_HASH, epoch, root, cumulative_total, manifest_hash))
    )
    previous_signer: uint256 = empty(uint256)
    for signature: Bytes[65] in signatures:
        signer: address = ecdsa._recover_sig(digest, signature)
        assert self.is_oracle[signer], "RewardDistributor: signer is not an oracle"
        assert convert(signer, uint256) > previous_signer, "RewardDistributor: signers not strictly ascending"
        previous_signer = convert(signer, uint256)

    state.cumulative_total = cumulative_total
    state.next_epoch = unsafe_add(epoch, 1)
    self._store_state(state)
    self.roots[epoch] = root
    self._claim_root = root
    log RootSubmitted(epoch=epoch, root=root, cumulative_total=cumulative_total, manifest_hash=manifest_hash)
    if increase != empty(uint256):
        extcall IRewardToken(token).mint(self, increase)


@external
def claim(account: address, cumulative_amount: uint256, proof: DynArray[bytes32, _MAX_PROOF_LENGTH]):
    """
    @dev Pays `account` the difference between `cumulative_amount`
         and `claimed(account)`. Anyone may call; tokens always go
         to `account`.
    @param account The account whose leaf is proven.
    @param cumulative_amount The account's cumulative amount in the latest tree.
    @param proof The sorted-pair Merkle proof of the leaf against the latest root.
    """
    root: bytes32 = self._claim_root
    if root == empty(bytes32):
        assert not self._load_state().paused, "RewardDistributor: paused"
        raise "RewardDistributor: no root"

    # Sorted-pair hashing as in snekmate's `merkle_proof_verification._process_proof`,
    # inlined with `abi_encode` (~50 gas per level cheaper than `concat` plus the internal
    # call, and no copy of the proof into a 255-element array).
    computed: bytes32 = keccak256(keccak256(abi_encode(account, cumulative_amount)))
    for sibling: bytes32 in proof:
        if convert(computed, uint256) < convert(sibling, uint256):
            computed = keccak256(abi_encode(computed, sibling))
        else:
            computed = keccak256(abi_encode(sibling, computed))
    assert computed == root, "RewardDistributor: invalid proof"

    already: uint256 = self.claimed[account]
    assert cumulative_amount > already, "RewardDistributor: nothing to claim"
    amount: uint256 = unsafe_sub(cumulative_amount, already)
    self.claimed[account] = cumulative_amount
    log Claimed(account=account, amount=amount, cumulative_amount=cumulative_amount)
    assert extcall IRewardToken(token).transfer(account, amount), "RewardDistributor: transfer failed"


@external
def set_oracles(oracles: DynArray[address, _MAX_ORACLES], threshold: uint256):
    """
    @dev Replaces the oracle set and threshold. Only the owner.
    @param oracles The new oracles (distinct, non-zero, 1 to 16).
    @param threshold The signatures needed, 1 <= threshold <= len(oracles).
    """
    ownable._check_owner()
    self._set_oracles(oracles, threshold)


@external
def set_guardian(new_guardian: address):
    """
    @dev Replaces the guardian. Only the owner.
    @param new_guardian The new guardian (non-zero).
    """
    ownable._check_owner()
    assert new_guardian != empty(address), "RewardDistributor: zero guardian"
    self._set_guardian(new_guardian)


@external
def pause():
    """
    @dev Stops `submit_root` and `claim`. Only the guardian.
    """
    assert msg.sender == self.guardian, "RewardDistributor: caller is not the guardian"
    state: EpochState = self._load_state()
    assert not state.paused, "RewardDistributor: paused"
    state.paused = True
    self._store_state(state)
    self._claim_root = empty(bytes32)
    log Paused(account=msg.sender)


@external
def unpause():
    """
    @dev Resumes `submit_root` and `claim`. Only the guardian.
    """
    assert msg.sender == self.guardian, "RewardDistributor: caller is not the guardian"
    state: EpochState = self._load_state()
    assert state.paused, "RewardDistributor: not paused"
    state.paused = False
    self._store_state(state)
    if state.next_epoch != empty(uint256):
        self._claim_root = self.roots[unsafe_sub(state.next_epoch, 1)]
    log Unpaused(account=msg.sender)


@external
@view
def next_epoch() -> uint256:
    """
    @dev Returns the only epoch `submit_root` accepts next.
    @return uint256 The next epoch (0 before any root).
    """
    return self._load_state().next_epoch


@external
@view
def cumulative_total() -> uint256:
    """
    @dev Returns the cumulative total of the latest root.
    @return uint256 The total in base units (all ever minted by this contract).
    """
    return self._load_state().cumulative_total


@external
@view
def threshold() -> uint256:
    """
    @dev Returns the number of distinct oracle signatures a root needs.
    @return uint256 The threshold M.
    """
    return self._load_state().threshold


@external
@view
def paused() -> bool:
    """
    @dev Returns whether the guardian has paused the contract.
    @return bool `True` while paused.
    """
    return self._load_state().paused


@external
@view
def latest_root() -> bytes32:
    """
    @dev Returns the root of the latest submitted epoch (also while paused).
    @return bytes32 The root, or zero before the first submission.
    """
    state: EpochState = self._load_state()
    if state.next_epoch == empty(uint256):
        return empty(bytes32)
    return self.roots[unsafe_sub(state.next_epoch, 1)]


@external
@view
def oracles() -> DynArray[address, _MAX_ORACLES]:
    """
    @dev Returns the current oracle set.
    @return DynArray The oracle addresses.
    """
    return self._oracles


@external
@view
def epoch_cap(epoch: uint256) -> uint256:
    """
    @dev Returns the most the cumulative total may grow in `epoch`.
    @param epoch The epoch.
    @return uint256 `max_emission_per_epoch >> (epoch // halving_epochs)`.
    """
    return self._epoch_cap(epoch)


@external
@view
def epoch_end(epoch: uint256) -> uint256:
    """
    @dev Returns the first second after `epoch`, from which on its root
         may be submitted.
    @param epoch The epoch (below 2**64, else "RewardDistributor: epoch too large").
    @return uint256 `genesis_unix + (epoch + 1) * epoch_seconds`.
    """
    assert epoch <= _MAX_UINT64, "RewardDistributor: epoch too large"
    return self._epoch_end(epoch)


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @dev Returns the EIP-712 domain separator for the current chain.
    @return bytes32 The 32-byte domain separator.
    """
    return eip712_domain_separator._domain_separator_v4()


@internal
@view
def _epoch_cap(epoch: uint256) -> uint256:
    """
    @dev Returns the cap of `epoch` (0 once shifted past 255 bits).
    @param epoch The epoch.
    @return uint256 The cap in base units.
    """
    return max_emission_per_epoch >> (epoch // halving_epochs)


@internal
@view
def _epoch_end(epoch: uint256) -> uint256:
    """
    @dev Returns `genesis_unix + (epoch + 1) * epoch_seconds`; callers keep
         `epoch < 2**64` (as are genesis and epoch length, so the result
         stays below 2**129 and the unchecked arithmetic cannot overflow).
    @param epoch The epoch.
    @return uint256 The epoch's end in Unix seconds.
    """
    return unsafe_add(genesis_unix, unsafe_mul(unsafe_add(epoch, 1), epoch_seconds))


@internal
def _set_oracles(oracles: DynArray[address, _MAX_ORACLES], threshold: uint256):
    """
    @dev Replaces the oracle set and threshold (no access control).
    @param oracles The new oracles (distinct, non-zero).
    @param threshold The signatures needed, 1 <= threshold <= len(oracles).
    """
    assert threshold != empty(uint256), "RewardDistributor: zero threshold"
    assert threshold <= len(oracles), "RewardDistributor: threshold above oracle count"
    for old: address in self._oracles:
        self.is_oracle[old] = False
    for oracle: address in oracles:
        assert oracle != empty(address), "RewardDistributor: zero oracle"
        assert not self.is_oracle[oracle], "RewardDistributor: duplicate oracle"
        self.is_oracle[oracle] = True
    self._oracles = oracles
    state: EpochState = self._load_state()
    state.threshold = threshold
    self._store_state(state)
    log OraclesChanged(oracles=oracles, threshold=threshold)


@internal
def _set_guardian(new_guardian: address):
    """
    @dev Replaces the guardian (no access control).
    @param new_guardian The new guardian.
    """
    previous: address = self.guardian
    self.guardian = new_guardian
    log GuardianChanged(previous_guardian=previous, new_guardian=new_guardian)


@internal
@view
def _load_state() -> EpochState:
    """
    @dev Unpacks `_state`.
    @return EpochState The cumulative total, next epoch, threshold and pause flag.
    """
    packed: uint256 = self._state
    return EpochState(
        cumulative_total=packed & _CUMULATIVE_MASK,
        next_epoch=(packed >> _EPOCH_SHIFT) & _EPOCH_MASK,
        threshold=(packed >> _THRESHOLD_SHIFT) & _THRESHOLD_MASK,
        paused=((packed >> _PAUSED_SHIFT) & 1) == 1,
    )


@internal
def _store_state(state: EpochState):
    """
    @dev Packs `state` into `_state`; callers keep every field in range
         (cumulative total < 2**160, next epoch < 2**64, threshold <= 16).
    @param state The new state.
    """
    packed: uint256 = (
        state.cumulative_total
        | (state.next_epoch << _EPOCH_SHIFT)
        | (state.threshold << _THRESHOLD_SHIFT)
    )
    if state.paused:
        packed = packed | (1 << _PAUSED_SHIFT)
    self._state = packed
