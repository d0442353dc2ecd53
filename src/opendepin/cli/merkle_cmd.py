"""`depin merkle root FILE` and `depin merkle proof FILE ACCOUNT`: the reward tree from a CSV.

FILE is a CSV with the header `account,amount` (amount in base units, a non-negative
decimal integer below 2**256), one owner per row. The root is printed as 0x hex; a proof as a
JSON list of 0x hashes, exactly what OpenZeppelin's `MerkleProof.verify` and the
RewardDistributor's `claim` take. A bad row stops the command with one line naming the file
and line number.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from opendepin.errors import InputError
from opendepin.rewards.merkle import UINT256_LIMIT, EntryError, RewardTree, parse_address

app = typer.Typer(
    help="Build the reward Merkle tree (OpenZeppelin standard) from a CSV.", no_args_is_help=True
)

EXPECTED_HEADER = ["account", "amount"]

FileArgument = Annotated[
    Path, typer.Argument(help="CSV with header 'account,amount' (amounts in base units).")
]


def read_entries(path: Path) -> list[tuple[str, int]]:
    """Rows of an `account,amount` CSV, validated; InputError names the line of a bad row."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    reader = csv.reader(text.splitlines())
    entries: list[tuple[str, int]] = []
    seen: dict[bytes, int] = {}
    header_seen = False
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if not header_seen:
            if [c.lower() for c in cells] != EXPECTED_HEADER:
                raise InputError(
                    f"{path}:{line}: expected header 'account,amount', got {','.join(cells)!r}"
                )
            header_seen = True
            continue
        if len(cells) != 2:
            raise InputError(
                f"{path}:{line}: expected 2 columns (account,amount), got {len(cells)}"
            )
        account, amount_text = cells
        try:
            raw = parse_address(account)
        except EntryError as exc:
            raise InputError(f"{path}:{line}: {exc}") from None
        amount = _parse_amount(amount_text, f"{path}:{line}")
        if raw in seen:
            raise InputError(
                f"{path}:{line}: duplicate account {account} (first on line {seen[raw]})"
            )
        seen[raw] = line
        entries.append((account, amount))
    if not header_seen:
        raise InputError(f"{path}: empty file; expected header 'account,amount'")
    if not entries:
        raise InputError(f"{path}: no rows after the header")
    return entries


def _parse_amount(text: str, where: str) -> int:
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        raise InputError(f"{where}: amount is not an integer: {text!r}")
    amount = int(text)
    if amount < 0:
        raise InputError(f"{where}: negative amount {text}")
    if amount >= UINT256_LIMIT:
        raise InputError(f"{where}: amount {text} does not fit in uint256")
    return amount


@app.command("root")
def root(file: FileArgument) -> None:
    """Print the Merkle root of FILE as 0x hex."""
    tree = RewardTree.build(read_entries(file))
    typer.echo("0x" + tree.root.hex())


@app.command("proof")
def proof(
    file: FileArgument,
    account: Annotated[str, typer.Argument(help="Account (0x address) to prove.")],
) -> None:
    """Print the proof of ACCOUNT's leaf as a JSON list of 0x hashes."""
    tree = RewardTree.build(read_entries(file))
    typer.echo(json.dumps(["0x" + node.hex() for node in tree.proof(account)]))
