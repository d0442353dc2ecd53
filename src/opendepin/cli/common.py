"""What several `depin` commands share: reading a keystore passphrase.

A passphrase is never a command-line argument (shell history and `ps` would see it). A
command takes `--passphrase-env VAR`, the name of an environment variable holding it:
`read_passphrase` reads it, and refuses an unset or empty variable with one `ConfigError`
line naming the variable and what the passphrase unlocks. Commands that may also ask a
person use `ask_passphrase`, which prompts (hidden input) when no variable is named.
"""

from __future__ import annotations

import os

import typer

from opendepin.errors import ConfigError


def read_passphrase(env_name: str, what: str) -> str:
    """The passphrase of `what` (e.g. "keystore gov.json") from the variable `env_name`.

    Raises ConfigError if the variable is unset or empty.
    """
    value = os.environ.get(env_name)
    if not value:
        state = "not set" if value is None else "empty"
        raise ConfigError(f"${env_name} is {state}; set it to the passphrase of {what}")
    return value


def ask_passphrase(env_name: str | None, what: str, *, confirm: bool = False) -> str:
    """`read_passphrase(env_name, what)` when a variable is named, else a hidden prompt.

    With `confirm` the prompt asks twice (for a new keystore). The prompt does not accept
    an empty answer: it asks again.
    """
    if env_name is not None:
        return read_passphrase(env_name, what)
    return str(typer.prompt(f"Passphrase for {what}", hide_input=True, confirmation_prompt=confirm))
