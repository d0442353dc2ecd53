"""The flat public API at `opendepin`: every name resolves, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import opendepin


@pytest.mark.parametrize("name", [n for n in opendepin.__all__ if n != "__version__"])
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(opendepin, name) is not None
    assert name in dir(opendepin)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = opendepin.nope  # type: ignore[attr-defined]


def test_import_opendepin_does_not_load_the_chain_or_web_stack() -> None:
    code = "import sys, opendepin; print(sorted(m for m in ('boa', 'fastapi', 'web3') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
