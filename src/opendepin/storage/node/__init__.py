"""The storage node (`depin storage node`): holds pieces, serves them against orders, proves them.

```
placer ──PUT/GET/DELETE + signed order──▶ server ──▶ ledger (orders.jsonl, fsynced first)
                                             │
                                             ▼
                                   store (pieces/, crash-safe) ──proof(piece, leaf)──┐
                                             │ placement / removal                  │ audit windows
                                             ▼                                      ▼ (chain entropy)
                                   reporter ──signed storage reports──▶ ingest(s)
```

`config` holds what the node runs with, `store` the pieces, `ledger` the served orders,
`server` the HTTP API, `reporter` the reports and audit proofs, `main` the process.
"""

from opendepin.storage.node.config import AuditParams, NodeConfig
from opendepin.storage.node.ledger import LedgerEntry, OrderLedger
from opendepin.storage.node.reporter import NodeReporter
from opendepin.storage.node.server import NodeApp, create_app
from opendepin.storage.node.store import PieceRecord, PieceStore

__all__ = [
    "AuditParams",
    "LedgerEntry",
    "NodeApp",
    "NodeConfig",
    "NodeReporter",
    "OrderLedger",
    "PieceRecord",
    "PieceStore",
    "create_app",
]
