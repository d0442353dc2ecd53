"""`depin credits …`: buy storage credits with tokens, read balances, manage spenders.

- `depin credits buy AMOUNT --keystore PAYER [--to ACCOUNT]` burns AMOUNT whole tokens
  (decimals allowed: `12.5`; at most 18 places) from the payer's account for credits to
  ACCOUNT (default: the payer): it approves the Credits contract for the amount when the
  allowance is short, then calls `burn_for_credits`. Balance, price and gas are checked
  first, so a purchase that cannot succeed is one error line and sends nothing.
- `depin credits balance [ACCOUNT]` prints an account's credits and token balance (without
  ACCOUNT: the `--keystore` account's).
- `depin credits spenders` lists the authorised spenders; `--add ADDR` / `--remove ADDR`
  propose `Credits.set_spender` through the governance timelock with the governance keystore
  (recorded in NETDIR/proposals.json like `depin chain gov propose set-spender`), and execute
  it at once when the timelock's delay is 0 (a development network).

The embedded chain lives only inside one process, so these commands talk to a node over
JSON-RPC (`--rpc`, default `chain.rpc_url`) and check that it holds the deployment in NETDIR
(`--dir`, its deployment.json). Passphrases come from the environment variable named by
`--passphrase-env` (or a prompt on a terminal), never from an argument.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opendepin.chain.accounts import Signer
from opendepin.chain.deploy import Deployment
from opendepin.chain.governance import (
    GovernanceClient,
    Operation,
    Proposal,
    ProposalRecord,
    format_unix,
    load_proposals,
    save_proposals,
)
from opendepin.chain.rpc import RpcChain
from opendepin.cli.common import ask_passphrase
from opendepin.errors import ConfigError, InputError
from opendepin.network.settings import load_settings
from opendepin.storage.credits import CreditsLedger, format_tokens
from opendepin.types import ONE_TOKEN, TOKEN_DECIMALS, Address

app = typer.Typer(
    help="Buy storage credits with tokens; balances and spenders.", no_args_is_help=True
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="network.toml to read (default ./network.toml)."),
]
NetDirOption = Annotated[Path, typer.Option("--dir", help="Network directory (deployment.json).")]
RpcOption = Annotated[
    str | None, typer.Option("--rpc", help="JSON-RPC URL (default: chain.rpc_url).")
]
KeystoreOption = Annotated[
    Path | None, typer.Option("--keystore", help="The acting account's keystore.")
]
PassphraseEnvOption = Annotated[
    str | None,
    typer.Option("--passphrase-env", help="Env variable holding the keystore passphrase."),
]
MAX_AMOUNT_CHARS = 80
"""Longest AMOUNT text accepted (far more digits than any token supply)."""
_AMOUNT = re.compile(r"(\d+)(?:\.(\d+))?")


def parse_tokens(text: str) -> int:
    """Whole tokens as typed (`12`, `12.5`, `0.000001`) -> base units; InputError otherwise.

    Plain decimal notation only (no sign, exponent or separators), at most 18 decimals.
    """
    found = _AMOUNT.fullmatch(text.strip()) if len(text) <= MAX_AMOUNT_CHARS else None
    if found is None:
        raise InputError(f"amount {text!r} is not a number of tokens like 12 or 12.5")
    whole, frac = found.group(1), found.group(2) or ""
    if len(frac) > TOKEN_DECIMALS:
        raise InputError(f"amount {text!r} has more than {TOKEN_DECIMALS} decimals")
    value = int(whole) * ONE_TOKEN + int(frac.ljust(TOKEN_DECIMALS, "0") or "0")
    if value == 0:
        raise InputError("amount must be more than 0 tokens")
    return value


def parse_account(text: str, what: str = "account") -> Address:
    """A typed account: `0x` and 40 hex digits, strict EIP-55; InputError otherwise."""
    from opendepin.identity.address import checksum

    try:
        return Address(checksum(text))
    except ValueError as exc:
        raise InputError(f"unknown {what} format: {exc}") from None


def _signer(keystore: Path, passphrase_env: str | None, what: str) -> Signer:
    from opendepin.identity import KeyType, load_keystore

    key = load_keystore(keystore, ask_passphrase(passphrase_env, f"{what} keystore {keystore}"))
    if key.type is not KeyType.SECP256K1:
        raise InputError(f"{keystore}: {what} account must be a secp256k1 key")
    return Signer.from_key(key)


def _connect(config: Path | None, netdir: Path, rpc: str | None) -> tuple[RpcChain, CreditsLedger]:
    settings = load_settings(config)
    deployment = Deployment.load(netdir)
    chain = RpcChain(rpc or settings.chain.rpc_url)
    deployment.verify_code(chain)
    return chain, CreditsLedger(chain, deployment)


def _console() -> Console:
    return Console(soft_wrap=True, highlight=False)


@app.command("buy")
def buy(
    amount: Annotated[str, typer.Argument(help="Whole tokens to burn, e.g. 12 or 12.5.")],
    keystore: Annotated[
        Path, typer.Option("--keystore", help="The payer's keystore (burns its tokens).")
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="Account receiving the credits (default: the payer).")
    ] = None,
    passphrase_env: PassphraseEnvOption = None,
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcOption = None,
) -> None:
    """Burn AMOUNT tokens from the payer for credits (approve + burn_for_credits)."""
    tokens = parse_tokens(amount)
    recipient = parse_account(to, "--to account") if to is not None else None
    _, ledger = _connect(config, netdir, rpc)
    payer = _signer(keystore, passphrase_env, "the payer's")
    bought = ledger.buy(tokens, sender=payer, recipient=recipient)
    _console().print(
        f"burned {format_tokens(bought.tokens)} tokens of {bought.payer} for {bought.credits} credits "
        f"to {bought.recipient} (block {bought.block_number}); it now holds "
        f"{ledger.balance(bought.recipient)} credits"
    )


@app.command("balance")
def balance(
    account: Annotated[
        str | None, typer.Argument(help="Account (default: the --keystore account).")
    ] = None,
    keystore: KeystoreOption = None,
    passphrase_env: PassphraseEnvOption = None,
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcOption = None,
) -> None:
    """Print an account's credits and token balance."""
    if account is not None:
        who = parse_account(account)
    elif keystore is not None:
        who = _signer(keystore, passphrase_env, "the account's").address
    else:
        raise InputError("name the ACCOUNT, or give --keystore to use its account")
    _, ledger = _connect(config, netdir, rpc)
    table = Table()
    table.add_column("account")
    table.add_column("credits", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("credits per token", justify="right")
    table.add_row(
        who, str(ledger.balance(who)), format_tokens(ledger.token_balance(who)), str(ledger.price())
    )
    Console(width=200).print(table)


@app.command("spenders")
def spenders(
    add: Annotated[
        str | None, typer.Option("--add", help="Propose authorising this spender.")
    ] = None,
    remove: Annotated[
        str | None, typer.Option("--remove", help="Propose revoking this spender.")
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option("--keystore", help="Governance keystore (default chain.deployer_keystore)."),
    ] = None,
    passphrase_env: PassphraseEnvOption = None,
    netdir: NetDirOption = Path("."),
    config: ConfigOption = None,
    rpc: RpcOption = None,
) -> None:
    """List the authorised spenders, or change one through governance (--add / --remove)."""
    console = _console()
    if add is not None and remove is not None:
        raise InputError("give --add or --remove, not both")
    change = (parse_account(add, "--add spender"), True) if add is not None else None
    if remove is not None:
        change = (parse_account(remove, "--remove spender"), False)
    chain, ledger = _connect(config, netdir, rpc)
    if change is None:
        listed = ledger.spenders()
        for spender in listed:
            console.print(spender)
        if not listed:
            console.print("no authorised spenders")
        return
    spender, allowed = change
    settings = load_settings(config)
    path = keystore if keystore is not None else settings.chain.deployer_keystore
    if path is None:
        raise ConfigError(
            "changing spenders needs the governance --keystore (or chain.deployer_keystore)"
        )
    gov_signer = _signer(path, passphrase_env or settings.chain.passphrase_env, "the governance")
    deployment = ledger.deployment
    gov = GovernanceClient(chain, deployment.address("Timelock"))
    operation = Operation.of(Proposal.set_spender(deployment.address("Credits"), spender, allowed))
    delay = gov.min_delay()
    receipt = gov.propose(operation, delay=delay, sender=gov_signer)
    record = ProposalRecord(
        operation,
        "set-spender",
        (spender, "true" if allowed else "false"),
        delay,
        gov.ready_at(operation.id),
        receipt.block_number,
        gov_signer.address,
    )
    verb = "authorise" if allowed else "revoke"
    if delay == 0:
        done = gov.execute_operation(operation, sender=gov_signer)
        record = replace(record, executed_block=done.block_number)
        console.print(f"{verb}d spender {spender} (timelock delay 0; block {done.block_number})")
    else:
        console.print(
            f"proposed to {verb} spender {spender}: operation 0x{operation.id.hex()}, ready at "
            f"{format_unix(record.ready_at)}; then `depin chain gov execute 0x{operation.id.hex()}`"
        )
    save_proposals(netdir, [*load_proposals(netdir), record])
