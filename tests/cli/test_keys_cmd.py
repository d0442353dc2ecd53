"""`depin keys new/show` through typer's CliRunner, in temporary directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendepin.cli import common
from opendepin.cli.app import app
from opendepin.errors import ConfigError, InputError, KeystoreError
from opendepin.identity import KeyType, load_keystore

PASS_ENV = "DEPIN_TEST_KEY_PASSPHRASE"
PASS = "cli passphrase ✓"
FAST = ["--scrypt-n", str(2**12)]  # all but one test use a small scrypt cost to stay fast


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("key_type", list(KeyType))
def test_keys_new_then_show_prints_id_and_public_key_only(
    runner: CliRunner, tmp_path: Path, key_type: KeyType
) -> None:
    out = tmp_path / "device.json"
    env = {PASS_ENV: PASS}
    new = runner.invoke(
        app,
        [
            *("keys", "new", "--type", key_type.value, "--out", str(out)),
            *("--passphrase-env", PASS_ENV),
            *([] if key_type is KeyType.SECP256K1 else FAST),  # one run at the default cost
        ],
        env=env,
    )
    assert new.exit_code == 0, new.output
    key = load_keystore(out, PASS)
    assert key.type is key_type and key.device_id in new.output

    show = runner.invoke(app, ["keys", "show", str(out), "--passphrase-env", PASS_ENV], env=env)
    assert show.exit_code == 0, show.output
    assert key.device_id in show.output and key.public_key.hex() in show.output
    assert key_type.value in show.output
    for text in (new.output, show.output):
        assert key.private_bytes().hex() not in text


def test_keys_new_prompts_with_confirmation(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)  # as a person at a terminal
    out = tmp_path / "device.json"
    result = runner.invoke(
        app, ["keys", "new", "--out", str(out), *FAST], input=f"{PASS}\n{PASS}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASS not in result.output
    assert load_keystore(out, PASS).type is KeyType.SECP256K1
    assert json.loads(out.read_text())["crypto"]["kdfparams"]["n"] == 2**12


def test_keys_new_without_a_terminal_or_variable_refuses(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "device.json"
    result = runner.invoke(app, ["keys", "new", "--out", str(out), *FAST], input=f"{PASS}\n{PASS}\n")
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "stdin is not a terminal" in str(result.exception)
    assert "--passphrase-env VAR" in str(result.exception)
    assert not out.exists()


def test_keys_show_json_has_no_private_key(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "device.json"
    env = {PASS_ENV: PASS}
    runner.invoke(
        app, ["keys", "new", "--out", str(out), "--passphrase-env", PASS_ENV, *FAST], env=env
    )
    result = runner.invoke(
        app, ["keys", "show", str(out), "--json", "--passphrase-env", PASS_ENV], env=env
    )
    assert result.exit_code == 0
    assert '"device_id"' in result.output and "private" not in result.output


def test_keys_new_refuses_existing_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "device.json"
    out.write_text("precious")
    result = runner.invoke(
        app, ["keys", "new", "--out", str(out), "--passphrase-env", PASS_ENV], env={PASS_ENV: PASS}
    )
    assert result.exit_code != 0 and isinstance(result.exception, InputError)
    assert out.read_text() == "precious"


def test_keys_new_fails_when_passphrase_variable_unset(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "device.json"
    result = runner.invoke(
        app, ["keys", "new", "--out", str(out), "--passphrase-env", "DEPIN_UNSET_VAR_X"]
    )
    assert isinstance(result.exception, ConfigError) and "DEPIN_UNSET_VAR_X" in str(result.exception)
    assert not out.exists()


def test_keys_show_wrong_passphrase_fails(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "device.json"
    runner.invoke(
        app,
        ["keys", "new", "--out", str(out), "--passphrase-env", PASS_ENV, *FAST],
        env={PASS_ENV: PASS},
    )
    result = runner.invoke(
        app, ["keys", "show", str(out), "--passphrase-env", PASS_ENV], env={PASS_ENV: "wrong"}
    )
    assert isinstance(result.exception, KeystoreError)


def test_keys_has_no_plain_passphrase_option(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["keys", "new", "--out", str(tmp_path / "k.json"), "--passphrase", "x"]
    )
    assert result.exit_code == 2  # usage error: no such option
