"""The oracle's HTTP routes: attestations between oracles, and reward proofs for owners.

```
POST /v1/attestations              a peer oracle's signature over an epoch claim (see attestations)
GET  /v1/attestations/{epoch}      the signatures this oracle holds for an epoch
GET  /v1/rewards/{account}         cumulative amount + Merkle proof against the latest root on chain
```

`GET /v1/rewards/{account}` answers from the reward file of the latest epoch whose root is
on chain (`next_epoch - 1`), so the proof always verifies against the distributor's
`latest_root`; an owner (or anyone) sends it to `claim`. The routes are mounted on the
ingest app (`depin oracle serve`, the demo) or on a bare FastAPI app.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opendepin.epochdir import EpochFile, epoch_dir
from opendepin.http.problems import ProblemType, openapi_responses, problem_response
from opendepin.http.schema import ADDRESS_PATTERN, ChecksumAddress, Hash32Out, Uint256Decimal
from opendepin.identity.address import checksum
from opendepin.oracle.stages import latest_settled_epoch
from opendepin.rewards.files import RewardFile
from opendepin.rewards.merkle import RewardTree
from opendepin.store.ledger import StageLedger

BAD_ACCOUNT = ProblemType("bad_account", "bad_account", 422, "oracle")
NO_REWARDS_YET = ProblemType("no_rewards_yet", "no_rewards_yet", 404, "oracle")
NO_REWARDS = ProblemType("no_rewards", "no_rewards", 404, "oracle")
REWARDS_PROBLEMS = openapi_responses(NO_REWARDS_YET, NO_REWARDS, BAD_ACCOUNT)
"""The problems `GET /v1/rewards/{account}` answers with."""


class RewardProof(BaseModel):
    """What an owner sends to the distributor's `claim`: the cumulative amount and its proof.

    The proof verifies against `root`, the distributor's `latest_root` (epoch `epoch` is the
    latest settled one); claiming pays `cumulative_amount` minus what was already claimed.
    """

    model_config = ConfigDict(extra="forbid")

    account: ChecksumAddress = Field(description="The owner, checksummed.")
    epoch: int = Field(ge=0, description="Latest epoch whose root is on chain.")
    root: Hash32Out = Field(description="That epoch's Merkle root (the distributor's latest root).")
    cumulative_amount: Uint256Decimal = Field(description="Everything the owner earned up to `epoch`, base units.")
    proof: list[Hash32Out] = Field(description="Sibling hashes from the owner's leaf up to `root`.")


AccountParam = Annotated[
    str,
    PathParam(
        description="Owner address: 0x + 40 hex digits (mixed case must be a valid EIP-55 checksum).",
        # Documented, not validated by FastAPI: a bad account is answered as bad_account.
        json_schema_extra={"pattern": ADDRESS_PATTERN},
    ),
]


class _RewardCache:
    """The latest settled epoch's reward file and tree (rebuilt when the epoch changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch: int | None = None
        self._file: RewardFile | None = None
        self._tree: RewardTree | None = None

    def get(self, epoch: int, path: Path) -> tuple[RewardFile, RewardTree | None]:
        with self._lock:
            if self._epoch != epoch or self._file is None:
                self._file = RewardFile.from_bytes(path.read_bytes())
                self._tree = self._file.tree() if self._file.owners else None
                self._epoch = epoch
            return self._file, self._tree


def rewards_router(data_dir: Path, ledger: StageLedger) -> APIRouter:
    """`GET /v1/rewards/{account}` over the reward files published under `data_dir`."""
    router = APIRouter(tags=["oracle"])
    cache = _RewardCache()

    @router.get(
        "/v1/rewards/{account}",
        summary="An owner's cumulative reward and its Merkle proof",
        response_model=RewardProof,
        responses=REWARDS_PROBLEMS,
    )
    def get_rewards(account: AccountParam) -> JSONResponse:
        try:
            address = checksum(account)
        except ValueError as exc:
            return problem_response(BAD_ACCOUNT, str(exc))
        epoch = latest_settled_epoch(data_dir, ledger)
        if epoch is None:
            return problem_response(NO_REWARDS_YET, "no epoch has been settled on chain yet")
        reward_file, tree = cache.get(epoch, epoch_dir(data_dir, epoch) / EpochFile.REWARDS)
        owner = next((o for o in reward_file.owners if o.account == address), None)
        if owner is None or tree is None:
            return problem_response(
                NO_REWARDS, f"{address} has earned nothing up to epoch {epoch}"
            )
        body: dict[str, Any] = {
            "account": address,
            "epoch": epoch,
            "root": "0x" + reward_file.root.hex(),
            "cumulative_amount": str(owner.cumulative),
            "proof": ["0x" + p.hex() for p in tree.proof(address)],
        }
        return JSONResponse(body)

    return router
