"""`depin merkle root|proof|dump`: the reward tree from a CSV, and its published dump.

`depin merkle root FILE` and `depin merkle proof FILE ACCOUNT` read a CSV. FILE is a CSV with the header `account,amount` (amount in base units, a non-negative
decimal integer below 2**256), one owner per row. The root is printed as 0x hex; a proof as a
JSON list of 0x hashes, exactly what OpenZeppelin's `MerkleProof.verify` and the
RewardDistributor's `claim` take. A bad row stops the command with one line naming the file
and line number.

`depin merkle dump FILE` prints the tree in `@openzeppelin/merkle-tree`'s StandardMerkleTree
dump format (`standard-v1`), for `StandardMerkleTree.load()` in JavaScript. FILE is either an
epoch's reward file (`rewards_v1.json`: checked — sums and root — before anything is
printed; values in the file's owner order) or an `account,amount` CSV as above.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from opendepin.errors import InputError
from opendepin.rewards.files import RewardFile
from opendepin.rewards.merkle import (
    UINT256_LIMIT,
    EntryError,
    RewardTree,
    parse_address,
    standard_dump,
)

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


def dump_of(path: Path) -> dict[str, object]:
    """The StandardMerkleTree dump of a reward file or an `account,amount` CSV.

    A file whose first non-blank character is `{` is read as a reward file (`rewards_v1`)
    and checked; anything else as a CSV. InputError (one line, naming the file) otherwise.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if data.lstrip()[:1] == b"{":
        try:
            rewards = RewardFile.from_bytes(data)
            rewards.check()
            return rewards.standard_tree_dump()
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return standard_dump(read_entries(path))


@app.command("dump")
def dump(
    file: Annotated[
        Path,
        typer.Argument(help="An epoch's rewards_v1.json, or a CSV with header 'account,amount'."),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the dump here instead of stdout.")
    ] = None,
) -> None:
    """Print FILE's tree as an OpenZeppelin StandardMerkleTree dump (standard-v1) JSON."""
    text = json.dumps(dump_of(file), separators=(",", ":")) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
