"""`depin storage put|get|ls|rm|repair`: a placer on the command line.

These commands place objects on storage nodes and read them back (`opendepin.storage.placer`),
keeping the object → piece map in a metadata database (`--db`, SQLite by default, or a
PostgreSQL URL). Options every command shares:

* `--node URL` (repeatable) and/or `--nodes FILE` (one URL per line, `#` comments): the nodes;
* `--key KEYFILE`: the placer's key, an encrypted keystore (passphrase from the variable named
  by `--passphrase-env`) or a file holding the raw 32-byte secp256k1 key as hex. The nodes
  must list its address as an authorised placer (`[storage] placers` or `--placer`);
* `--config network.toml`: the network (id, chain id, `[storage]` redundancy and segment size).

`register(app)` adds the commands to the `depin storage` group.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.table import Table

from opendepin.chain.accounts import Signer
from opendepin.cli.common import read_passphrase
from opendepin.errors import InputError
from opendepin.network.settings import load_settings
from opendepin.storage.directory import NodeDirectory, PlacerError
from opendepin.storage.metadata import Metadata
from opendepin.storage.orders import StorageError
from opendepin.storage.placer import Placer, PlacerConfig
from opendepin.storage.repair import DEFAULT_PROBE_PPM, run_repair

MAX_NODES_FILE_BYTES = 1 << 20

DbOption = Annotated[
    str, typer.Option("--db", metavar="URL", help="Metadata database URL (SQLite or PostgreSQL).")
]
NodeOption = Annotated[
    list[str] | None, typer.Option("--node", metavar="URL", help="A storage node (repeatable).")
]
NodesFileOption = Annotated[
    Path | None, typer.Option("--nodes", metavar="FILE", help="File of node URLs, one a line.")
]
KeyOption = Annotated[
    Path | None,
    typer.Option("--key", metavar="KEYFILE", help="Placer key: keystore JSON or raw hex key file."),
]
PassphraseOption = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env", metavar="VAR", help="Variable holding the keystore passphrase."
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", metavar="FILE", help="network.toml to read.")
]
DEFAULT_DB = "sqlite:///placer.db"


def read_node_urls(nodes: list[str] | None, nodes_file: Path | None) -> list[str]:
    """Node URLs from `--node` and `--nodes FILE`; InputError names a bad line."""
    urls = list(nodes or [])
    if nodes_file is not None:
        try:
            raw = nodes_file.read_bytes()[: MAX_NODES_FILE_BYTES + 1]
            text = raw.decode()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{nodes_file}: cannot read: {exc}") from exc
        if len(raw) > MAX_NODES_FILE_BYTES:
            raise InputError(f"{nodes_file}: larger than {MAX_NODES_FILE_BYTES} bytes")
        for number, line in enumerate(text.splitlines(), 1):
            url = line.split("#", 1)[0].strip()
            if url and not url.startswith(("http://", "https://")):
                raise InputError(f"{nodes_file}:{number}: {url[:80]!r} is not an http(s) URL")
            if url:
                urls.append(url)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--node {url[:80]!r} must start with http:// or https://")
    if not urls:
        raise InputError("no storage nodes: pass --node URL (repeatable) or --nodes FILE")
    return urls


def load_placer_key(path: Path | None, passphrase_env: str | None) -> Signer:
    """The placer's key from a keystore (needs `--passphrase-env`) or a raw hex key file."""
    if path is None:
        raise InputError("no placer key: pass --key KEYFILE")
    try:
        text = path.read_text(encoding="utf-8")[:10_000].strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if text.startswith("{"):
        from opendepin.identity import load_keystore

        if passphrase_env is None:
            raise InputError(f"{path} is a keystore: pass --passphrase-env VAR")
        key = load_keystore(path, read_passphrase(passphrase_env, f"keystore {path}"))
        return Signer.from_key(key)
    try:
        secret = bytes.fromhex(text.removeprefix("0x"))
        if len(secret) != 32:
            raise ValueError
        return Signer.from_private_bytes(secret)
    except ValueError:
        raise InputError(f"{path}: not a keystore nor a 32-byte hex key") from None


@contextmanager
def _placer(
    db: str,
    nodes: list[str] | None,
    nodes_file: Path | None,
    key: Path | None,
    passphrase_env: str | None,
    config: Path | None,
    *,
    need_key: bool = True,
) -> Iterator[Placer]:
    settings = load_settings(config)
    signer = load_placer_key(key, passphrase_env) if need_key or key else Signer.generate()
    cfg = PlacerConfig.from_settings(settings)
    urls = read_node_urls(nodes, nodes_file)
    directory = NodeDirectory(urls, network=cfg.network, chain_id=cfg.chain_id)
    try:
        metadata = Metadata(db)
    except Exception as exc:  # a bad URL or an unreachable server: one line, not a traceback
        raise InputError(f"--db {db}: cannot open: {type(exc).__name__}: {exc}") from exc
    placer = Placer(metadata, directory, signer, cfg)
    try:
        yield placer
    except StorageError as exc:
        raise PlacerError(exc.reason.value, exc.message) from exc
    finally:
        placer.close()
        metadata.close()


def register(app: typer.Typer) -> None:
    """Add put, get, ls, rm and repair to the `depin storage` group."""

    @app.command("put")
    def put(
        bucket: Annotated[str, typer.Argument(help="Bucket (created if missing).")],
        key: Annotated[str, typer.Argument(help="Object key.")],
        file: Annotated[Path, typer.Argument(help="File to upload ('-' for stdin).")],
        content_type: Annotated[str | None, typer.Option("--content-type", help="Content-Type recorded with the object.")] = None,
        db: DbOption = DEFAULT_DB,
        node: NodeOption = None,
        nodes: NodesFileOption = None,
        key_file: KeyOption = None,
        passphrase_env: PassphraseOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Upload FILE as BUCKET/KEY, erasure-coded across the nodes."""
        with _placer(db, node, nodes, key_file, passphrase_env, config) as placer:
            placer.metadata.create_bucket(bucket, placer.now_ms())
            stream: BinaryIO
            if str(file) == "-":
                stream = sys.stdin.buffer
                row = placer.put_object(bucket, key, stream, content_type=content_type)
            else:
                try:
                    handle = file.open("rb")
                except OSError as exc:
                    raise InputError(f"{file}: cannot read: {exc.strerror or exc}") from exc
                with handle:
                    row = placer.put_object(bucket, key, handle, content_type=content_type)
            segs = len(placer.metadata.segments(row.id))
            typer.echo(f"stored {bucket}/{key}: {row.size} bytes, {segs} segments, etag {row.etag}")

    @app.command("get")
    def get(
        bucket: Annotated[str, typer.Argument(help="Bucket.")],
        key: Annotated[str, typer.Argument(help="Object key.")],
        out: Annotated[
            Path, typer.Option("--out", "-o", help="File to write ('-' for stdout).")
        ] = Path("-"),
        offset: Annotated[int, typer.Option("--offset", min=0, help="First byte to read.")] = 0,
        length: Annotated[int | None, typer.Option("--length", min=0, help="Bytes to read (default: to the end).")] = None,
        db: DbOption = DEFAULT_DB,
        node: NodeOption = None,
        nodes: NodesFileOption = None,
        key_file: KeyOption = None,
        passphrase_env: PassphraseOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Download BUCKET/KEY (or a byte range of it)."""
        with _placer(db, node, nodes, key_file, passphrase_env, config) as placer:
            _, chunks = placer.get_object(bucket, key, offset, length)
            if str(out) == "-":
                for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                return
            tmp = out.with_name(out.name + ".part")
            with tmp.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            tmp.replace(out)

    @app.command("ls")
    def ls(
        bucket: Annotated[str | None, typer.Argument(help="Bucket (omit to list buckets).")] = None,
        prefix: Annotated[str, typer.Option("--prefix", help="Only keys that start with this.")] = "",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        db: DbOption = DEFAULT_DB,
    ) -> None:
        """List buckets, or the objects of BUCKET."""
        try:
            metadata = Metadata(db)
        except Exception as exc:
            raise InputError(f"--db {db}: cannot open: {type(exc).__name__}: {exc}") from exc
        console = Console()
        with metadata:
            if bucket is None:
                rows = metadata.list_buckets()
                if as_json:
                    typer.echo(json.dumps([{"bucket": n, "created_ms": c} for n, c in rows]))
                    return
                table = Table("bucket", "created_ms")
                for name, created in rows:
                    table.add_row(name, str(created))
                console.print(table)
                return
            if not metadata.bucket_exists(bucket):
                raise PlacerError("no_such_bucket", f"bucket {bucket!r} does not exist")
            objs = metadata.list_objects(bucket, prefix=prefix)
            if as_json:
                typer.echo(
                    json.dumps([{"key": o.key, "size": o.size, "etag": o.etag} for o in objs])
                )
                return
            table = Table("key", "size", "segments", "etag", "committed_ms")
            for o in objs:
                table.add_row(
                    o.key,
                    str(o.size),
                    str(len(metadata.segments(o.id))),
                    o.etag or "",
                    str(o.committed_ms),
                )
            console.print(table)

    @app.command("rm")
    def rm(
        bucket: Annotated[str, typer.Argument(help="Bucket.")],
        key: Annotated[str, typer.Argument(help="Object key.")],
        db: DbOption = DEFAULT_DB,
        node: NodeOption = None,
        nodes: NodesFileOption = None,
        key_file: KeyOption = None,
        passphrase_env: PassphraseOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Delete BUCKET/KEY and its pieces (nodes that are down are asked again later)."""
        with _placer(db, node, nodes, key_file, passphrase_env, config) as placer:
            done, pending = placer.delete_object(bucket, key)
            typer.echo(f"deleted {bucket}/{key}: {done} pieces removed, {pending} deletes pending")

    @app.command("repair")
    def repair(
        probe_ppm: Annotated[
            int,
            typer.Option("--probe-ppm", min=0, max=1_000_000, help="Share of pieces probed (ppm)."),
        ] = DEFAULT_PROBE_PPM,
        disqualified: Annotated[
            list[str] | None,
            typer.Option("--disqualified", metavar="ADDR", help="A disqualified node."),
        ] = None,
        full: Annotated[
            bool,
            typer.Option("--full", help="Repair every missing piece, not only below threshold."),
        ] = False,
        db: DbOption = DEFAULT_DB,
        node: NodeOption = None,
        nodes: NodesFileOption = None,
        key_file: KeyOption = None,
        passphrase_env: PassphraseOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Probe every segment's pieces and rebuild those below the repair threshold."""
        with _placer(db, node, nodes, key_file, passphrase_env, config) as placer:
            placer.flush_deletes()
            report = run_repair(
                placer, disqualified=disqualified or (), probe_ppm=probe_ppm, full=full
            )
            console = Console()
            console.print(
                f"checked {report.checked_segments} segments, probed {report.probed_pieces} pieces, "
                f"{report.unhealthy_pieces} unhealthy"
            )
            if report.results:
                table = Table(
                    "object", "segment", "healthy before", "rebuilt", "healthy after", "error"
                )
                for r in report.results:
                    table.add_row(
                        f"{r.bucket}/{r.key}", str(r.segment), str(r.healthy_before),
                        ",".join(map(str, r.rebuilt)), str(r.healthy_after), r.error or "",
                    )  # fmt: skip
                console.print(table)
            if any(r.error for r in report.results):
                raise typer.Exit(1)


__all__ = ["load_placer_key", "read_node_urls", "register"]
