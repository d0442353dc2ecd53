"""Signed device reports: envelope, EIP-712 signing, wire codec and verification checks.

* `envelope` — the `Report` dataclass and canonical payload bytes.
* `eip712` — the digest a device signs (`report_digest`), `sign_report`, `typed_data`, `schema`.
* `codec` — wire JSON (`to_json`/`from_json`) and JSON Lines (`encode_many`/`decode_many`).
* `reasons` — `RejectReason` (stable codes) and `Rejection`.
* `verify` — composable checks (network, batch signatures, time, replay, payload); the order
  they run in is `ingest.checks.INGEST_ORDER`.
"""

from opendepin.reports.envelope import REPORT_VERSION, Report, canonical_payload
from opendepin.reports.reasons import Rejection, RejectReason

__all__ = ["REPORT_VERSION", "RejectReason", "Rejection", "Report", "canonical_payload"]
