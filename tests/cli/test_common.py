"""The passphrase helpers every `depin` command shares."""

from __future__ import annotations

import socket

import pytest

from opendepin.cli import common
from opendepin.cli.common import ask_passphrase, check_port, check_port_number, read_passphrase
from opendepin.errors import ConfigError, InputError

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


def test_ask_passphrase_without_variable_or_terminal_names_the_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: False)
    with pytest.raises(ConfigError) as info:
        ask_passphrase(None, "the owner", option="--owner-passphrase-env")
    assert str(info.value) == (
        "no passphrase for the owner: stdin is not a terminal, so it cannot be asked; "
        "put it in an environment variable and pass --owner-passphrase-env VAR"
    )


def test_ask_passphrase_prompts_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(common.typer, "prompt", lambda *a, **k: "typed ✓")
    assert ask_passphrase(None, "the device") == "typed ✓"


@pytest.mark.parametrize("port", [0, -1, 65_536, 10**6])
def test_check_port_number_refuses_out_of_range(port: int) -> None:
    with pytest.raises(InputError, match=f"^--port {port} is out of range: a TCP port is 1-65535$"):
        check_port_number(port)


def test_check_port_refuses_a_listening_port_and_accepts_a_free_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(InputError, match=f"port {port} on 127.0.0.1 is already in use"):
            check_port("127.0.0.1", port, "--listen")
    check_port("127.0.0.1", port)  # closed again: free
