"""`lazy_exports`: a name is imported from its module on first read and kept; others refused."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from opendepin.lazy import lazy_exports


def test_a_name_is_imported_on_first_read_and_then_kept() -> None:
    sys.modules.pop("colorsys", None)
    namespace: dict[str, Any] = {}
    getattr_ = lazy_exports("pkg", {"rgb_to_hsv": "colorsys"}, namespace)
    assert "colorsys" not in sys.modules
    value = getattr_("rgb_to_hsv")
    assert "colorsys" in sys.modules
    assert value is sys.modules["colorsys"].rgb_to_hsv and namespace == {"rgb_to_hsv": value}


def test_an_unknown_name_is_the_usual_attribute_error() -> None:
    getattr_ = lazy_exports("pkg", {}, {})
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        getattr_("nope")


def test_the_packages_export_lazily() -> None:
    import opendepin
    import opendepin.chain
    import opendepin.identity

    assert opendepin.Settings.__name__ == "Settings"
    assert opendepin.chain.Signer.__module__ == "opendepin.chain.accounts"
    assert callable(opendepin.identity.load_keystore)
    with pytest.raises(AttributeError, match=r"module 'opendepin\.chain' has no attribute 'nope'"):
        _ = opendepin.chain.nope  # type: ignore[attr-defined]


def test_every_oracle_export_resolves_and_a_shard_worker_loads_no_http_stack() -> None:
    import subprocess

    import opendepin.oracle

    for name in opendepin.oracle.__all__:
        assert getattr(opendepin.oracle, name) is not None
    # a fresh interpreter importing what a shard worker imports
    code = "import sys, opendepin.oracle.shards; print('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
