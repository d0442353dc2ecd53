"""What several `depin` commands share: reading a keystore passphrase, checking a port.

A passphrase is never a command-line argument (shell history and `ps` would see it). A
command takes `--passphrase-env VAR`, the name of an environment variable holding it:
`read_passphrase` reads it, and refuses an unset or empty variable with one `ConfigError`
line naming the variable and what the passphrase unlocks. Commands that may also ask a
person use `ask_passphrase`, which prompts (hidden input) when no variable is named — and
only on a terminal: with stdin not a terminal (a pipe, a service, cron) nobody can answer,
and a passphrase read from a pipe would be echoed, so it refuses with one line saying which
option to use instead.

A server command (`depin oracle serve`, `depin explorer`, `depin chain anvil`) checks its
port with `check_port` before it starts anything, so a port out of range or already taken is
one line instead of a bind error deep inside uvicorn or a node that never comes up.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

import typer

from opendepin.errors import ConfigError, InputError

MAX_PORT = 65_535
"""Largest TCP port number."""


def read_passphrase(env_name: str, what: str) -> str:
    """The passphrase of `what` (e.g. "keystore gov.json") from the variable `env_name`.

    Raises ConfigError if the variable is unset or empty.
    """
    value = os.environ.get(env_name)
    if not value:
        state = "not set" if value is None else "empty"
        raise ConfigError(f"${env_name} is {state}; set it to the passphrase of {what}")
    return value


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def ask_passphrase(
    env_name: str | None, what: str, *, confirm: bool = False, option: str = "--passphrase-env"
) -> str:
    """`read_passphrase(env_name, what)` when a variable is named, else a hidden prompt.

    With `confirm` the prompt asks twice (for a new keystore). The prompt does not accept
    an empty answer: it asks again. Without a variable and without a terminal to ask on,
    ConfigError naming `option` (the command's option that names the variable).
    """
    if env_name is not None:
        return read_passphrase(env_name, what)
    if not stdin_is_terminal():
        raise ConfigError(
            f"no passphrase for {what}: stdin is not a terminal, so it cannot be asked; "
            f"put it in an environment variable and pass {option} VAR"
        )
    return str(typer.prompt(f"Passphrase for {what}", hide_input=True, confirmation_prompt=confirm))


def check_port_number(port: int, option: str = "--port") -> None:
    """InputError unless `port` is a TCP port number, 1-65535."""
    if not 1 <= port <= MAX_PORT:
        raise InputError(f"{option} {port} is out of range: a TCP port is 1-{MAX_PORT}")


def check_port(host: str, port: int, option: str = "--port") -> None:
    """InputError unless `port` is 1-65535 and nothing listens on `host:port` now.

    It binds the port for a moment (with SO_REUSEADDR, as uvicorn does, so a socket left
    in TIME_WAIT by a previous run does not count as taken). A server started right after
    can still lose a race for the port; this check is for the common mistake, not a lock.
    """
    check_port_number(port, option)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"cannot listen on {host}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"port {port} on {host} is already in use; stop what listens there "
                    f"or choose another {option}"
                ) from exc
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
