"""The network explorer: a read-only web UI and JSON API over published epoch files.

Anyone holding an oracle's data directory (or a `depin demo --dir` directory) can see what
the network did, epoch by epoch, from the files alone: the roots and who signed them, what
was paid and why each device was or was not rewarded (every verdict, with the operator
text of `docs/reasons.md`), every device on its H3 cell, each owner's cumulative amount and
the calldata to claim it, every file of an epoch by sha256 and the result of re-running it
(`depin audit`). It never writes, and never imports the oracle runner.

```
source     the data directories, published epochs parsed and cached, the ledgers' signers
glossary   docs/reasons.md (a packaged copy) parsed: code -> meaning, what to do
mapview    H3 cell boundaries projected with Web Mercator, optional background tiles
views      network, map, epoch, files, audit, search   (one response model each: models)
devices    device (why not rewarded) and owner (claim calldata) views
pages      Jinja2 templates, CSP; routes: the APIRouter and the app factory
```

`depin explorer --dir D --port P` serves `explorer_app(D)`; `explorer_router(D, prefix=…)`
mounts the same routes on another FastAPI app (e.g. an oracle's, which has the problem+json
handlers installed).
"""

from __future__ import annotations

from opendepin.explorer.routes import explorer_app, explorer_router

__all__ = ["explorer_app", "explorer_router"]
