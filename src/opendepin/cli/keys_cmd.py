"""`depin keys new` and `depin keys show`: device keys in encrypted keystores.

The passphrase never appears on the command line (where shell history and `ps` would see
it): pass `--passphrase-env VAR` to read it from the environment variable VAR, or type it at
the prompt (asked twice when creating a key). `keys show` prints the key type, device id and
public key — never the private key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from opendepin.cli.common import ask_passphrase
from opendepin.errors import InputError
from opendepin.identity import DEFAULT_SCRYPT_N, DeviceKey, KeyType, load_keystore, save_keystore

app = typer.Typer(
    help="Create and inspect device keys (encrypted keystores).", no_args_is_help=True
)

PassphraseEnvOption = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env",
        metavar="VAR",
        help="Name of the environment variable holding the passphrase (else you are prompted).",
    ),
]


@app.command("new")
def new(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Keystore file to write (must not exist).")
    ],
    key_type: Annotated[
        KeyType, typer.Option("--type", "-t", help="Key type.", case_sensitive=False)
    ] = KeyType.SECP256K1,
    passphrase_env: PassphraseEnvOption = None,
    scrypt_n: Annotated[
        int,
        typer.Option(
            "--scrypt-n",
            help="scrypt cost (power of two). The default needs ~256 MiB of RAM to unlock; "
            "lower it on small devices (2**16 = 64 MiB) at some cost to brute-force resistance.",
        ),
    ] = DEFAULT_SCRYPT_N,
) -> None:
    """Generate a device key and save it in an encrypted keystore."""
    if out.exists():
        raise InputError(f"{out} already exists; refusing to overwrite a keystore")
    passphrase = ask_passphrase(passphrase_env, f"keystore {out}", confirm=True)
    key = DeviceKey.generate(key_type)
    save_keystore(key, out, passphrase, scrypt_n=scrypt_n)
    typer.echo(f"type:      {key.type.value}")
    typer.echo(f"device id: {key.device_id}")
    typer.echo(f"keystore:  {out}")


@app.command("show")
def show(
    keystore: Annotated[Path, typer.Argument(help="Keystore file to read.")],
    passphrase_env: PassphraseEnvOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a keystore's key type, device id and public key (never the private key)."""
    passphrase = ask_passphrase(passphrase_env, f"keystore {keystore}")
    key = load_keystore(keystore, passphrase)
    info = {
        "type": key.type.value,
        "device_id": key.device_id,
        "public_key": "0x" + key.public_key.hex(),
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"type:       {info['type']}")
    typer.echo(f"device id:  {info['device_id']}")
    typer.echo(f"public key: {info['public_key']}")
