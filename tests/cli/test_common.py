"""The passphrase helpers every `depin` command shares."""

from __future__ import annotations

import pytest

from opendepin.cli.common import ask_passphrase, read_passphrase
from opendepin.errors import ConfigError

VAR = "DEPIN_TEST_COMMON_PASSPHRASE"


def test_read_passphrase_returns_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "pass ✓")
    assert read_passphrase(VAR, "keystore k.json") == "pass ✓"
    assert ask_passphrase(VAR, "keystore k.json") == "pass ✓"


@pytest.mark.parametrize(("value", "state"), [(None, "not set"), ("", "empty")])
def test_read_passphrase_refuses_unset_or_empty_with_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str | None, state: str
) -> None:
    if value is None:
        monkeypatch.delenv(VAR, raising=False)
    else:
        monkeypatch.setenv(VAR, value)
    with pytest.raises(ConfigError) as info:
        read_passphrase(VAR, "keystore k.json")
    message = str(info.value)
    assert message == f"${VAR} is {state}; set it to the passphrase of keystore k.json"
    assert "\n" not in message
