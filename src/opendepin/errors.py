"""One exception tree for the whole package.

```
DepinError                      base of everything opendepin raises on purpose
├── ConfigError                 settings or files a user wrote are wrong (fix the config)
├── InputError                  a user-supplied file or argument is malformed (names the line/field)
├── KeystoreError               a keystore cannot be read or decrypted
├── Rejected                    an expected, reasoned rejection of untrusted input
│   ├── InvalidReport           a device report failed a check (carries a RejectReason)
│   └── InvalidProof            a Merkle or storage proof does not verify
├── ChainError                  the chain refused or failed a call
│   └── TransactionReverted     a transaction reverted (carries the revert string)
├── StoreError                  the report log or index database failed
├── StageError                  an oracle stage cannot run (missing inputs, conflicting outputs)
├── PeerError                   a peer oracle's answer is unusable (unreachable, too slow, too big, malformed)
└── DeliveryError               a device agent got none of its reports accepted, or gave up on the ingest
```

Expected rejections (`Rejected`) are part of normal operation and are reported with a stable
reason code; everything else is either a user's mistake to fix (`ConfigError`, `InputError`)
or an operational failure. Bugs are not caught here: they surface as ordinary Python errors.
"""

from __future__ import annotations


class DepinError(Exception):
    """Base class of every error opendepin raises on purpose."""


class ConfigError(DepinError):
    """Settings (network.toml, DEPIN_* variables) or a network directory are wrong."""


class InputError(DepinError):
    """A user-supplied file or argument is malformed; the message names where."""


class KeystoreError(DepinError):
    """A keystore file cannot be read, parsed or decrypted."""


class Rejected(DepinError):
    """An expected rejection of untrusted input, with a stable machine-readable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidReport(Rejected):
    """A device report failed one of the ingest or verification checks."""


class InvalidProof(Rejected):
    """A Merkle proof or another cryptographic proof does not verify."""


class ChainError(DepinError):
    """The chain backend failed or refused a call."""


class TransactionReverted(ChainError):
    """A transaction or call reverted; `reason` holds the revert string if there was one."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"transaction reverted: {reason}")
        self.reason = reason


class StoreError(DepinError):
    """The report log, sealed files or the index database failed."""


class StageError(DepinError):
    """An oracle stage cannot run or found inconsistent inputs/outputs."""


class PeerError(DepinError):
    """A peer oracle could not be reached in time, or its answer was too big or malformed."""


class DeliveryError(DepinError):
    """A device agent's run ended without its reports delivered (ingest down, or all rejected)."""


class AgreementPending(StageError):
    """The oracles' input agreement for an epoch has not ended yet; call again later."""
