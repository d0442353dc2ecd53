"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    match = re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, flags=re.DOTALL)
    assert match is not None, "the README lost its example"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 12
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "'coverage'" in out and "'heartbeat'" in out
    assert "audit ok: True" in out
