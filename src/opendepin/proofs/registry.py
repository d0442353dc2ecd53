"""The registry of proof kinds: every kind installed, discovered through entry points.

A kind is published by its distribution under the entry-point group `opendepin.proof_kinds`:

```toml
[project.entry-points."opendepin.proof_kinds"]
airquality = "depin_airquality:KIND"      # name = "module:object", the object satisfies `Kind`
```

opendepin's own kinds (heartbeat, coverage) are published the same way, so there is no list
of kinds anywhere in the code. Which kinds an epoch runs is decided by the `[pools]` settings:
a kind is verified and paid only if it is named there (basis points per kind), so a network
that does not use a kind never runs its code; a kind with a pool but no installed package
leaves its pool unallocated, visibly.

A broken plugin (import error, an object that is not a `Kind`, a name that differs from its
entry point's) is a configuration error naming the distribution, raised when the registry is
first read — never a silent omission, which would make two oracles pay different kinds.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Final

from opendepin.errors import ConfigError
from opendepin.proofs.kind import Kind

if TYPE_CHECKING:
    from opendepin.network.settings import Settings

ENTRY_POINT_GROUP: Final = "opendepin.proof_kinds"
"""Entry-point group every proof kind is published under."""
KIND_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""What a kind name may look like (it becomes a file path and a settings table)."""

_lock = threading.Lock()
_cache: dict[str, Kind] | None = None


def _load(ep: EntryPoint) -> Kind:
    where = f"entry point {ep.name!r} ({ep.value}) of {ENTRY_POINT_GROUP}"
    if not KIND_NAME.match(ep.name):
        raise ConfigError(f"{where}: kind names are lower-case letters, digits and '_'")
    try:
        obj = ep.load()
    except Exception as exc:  # any import-time failure of a plugin is a configuration error
        raise ConfigError(f"{where} failed to import: {exc}") from exc
    if not isinstance(obj, Kind):
        raise ConfigError(f"{where} is not a proof kind (see opendepin.proofs.Kind)")
    if str(obj.name) != ep.name:
        raise ConfigError(f"{where} names itself {obj.name!r}")
    return obj


def installed_kinds() -> Mapping[str, Kind]:
    """Every installed kind by name (read once per process, sorted by name)."""
    global _cache
    with _lock:
        if _cache is None:
            found: dict[str, Kind] = {}
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
                if ep.name in found:
                    raise ConfigError(f"two installed packages publish the proof kind {ep.name!r}")
                found[ep.name] = _load(ep)
            _cache = found
        return dict(_cache)


def get_kind(name: str) -> Kind:
    """The installed kind `name` (ConfigError listing the installed ones otherwise)."""
    kinds = installed_kinds()
    kind = kinds.get(name)
    if kind is None:
        raise ConfigError(f"no proof kind {name!r} is installed (installed: {', '.join(kinds) or 'none'})")
    return kind


def kinds_for(settings: Settings) -> dict[str, Kind]:
    """The installed kinds the network pays (named in `[pools]`), by name."""
    kinds = installed_kinds()
    return {name: kinds[name] for name in sorted(settings.pools.bps) if name in kinds}


def register_for_tests(kind: Kind) -> None:
    """Add a kind to this process's registry without installing it (tests only)."""
    installed_kinds()
    with _lock:
        assert _cache is not None
        _cache[str(kind.name)] = kind


def forget_for_tests(name: str) -> None:
    """Remove a kind `register_for_tests` added."""
    with _lock:
        if _cache is not None:
            _cache.pop(name, None)
