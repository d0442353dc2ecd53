"""Package attributes imported on first use (PEP 562 module `__getattr__`).

A package that re-exports names from heavy modules (web3, Vyper, eth_keyfile …) lists them
as name -> module and sets `__getattr__ = lazy_exports(__name__, exports, globals())`: the
module is imported when the name is first read, and the value is then kept in the package's
namespace, so later reads cost nothing. Static type checkers see the names through
`if TYPE_CHECKING:` imports in the package itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: names of `exports` from their modules, others refused."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
