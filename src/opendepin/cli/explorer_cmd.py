"""`depin explorer --dir D --port P`: serve the network explorer over published epoch files.

`D` is one oracle's data directory (it holds `epochs/`) or a `depin demo --dir` directory
(one data directory per oracle). The explorer only reads files; see `opendepin.explorer`.
`--tile-url` adds a background map layer from a `{z}/{x}/{y}` tile server — the visitor's
browser fetches those tiles; without it nothing is loaded from anywhere but the explorer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from opendepin.cli.common import check_port
from opendepin.errors import ConfigError
from opendepin.explorer.onchain import OnChain


def check_tile_url(url: str | None) -> str | None:
    """`url` if it is an http(s) `{z}/{x}/{y}` template; ConfigError saying what is wrong."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--tile-url must be an http(s) URL, got {url!r}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
    if missing:
        raise ConfigError(f"--tile-url must contain {', '.join(missing)} (e.g. https://tiles.example/{{z}}/{{x}}/{{y}}.png)")
    return url


def chain_view(rpc: str | None, netdir: Path | None) -> OnChain | None:
    """The explorer's chain reader for `--rpc` and `--netdir` (both or neither); ConfigError or
    ChainError (one line) when the deployment cannot be read or the node is not its chain."""
    if rpc is None and netdir is None:
        return None
    if rpc is None or netdir is None:
        raise ConfigError("--rpc and --netdir go together: the node to ask, and the deployment.json to ask about")
    from opendepin.chain.deploy import Deployment
    from opendepin.chain.rpc import RpcChain

    deployment = Deployment.load(netdir)
    chain = RpcChain(rpc)
    if chain.chain_id != deployment.chain_id:
        raise ConfigError(f"{rpc} is chain {chain.chain_id}; {netdir}/deployment.json is for chain {deployment.chain_id}")
    return OnChain(chain, deployment.addresses, label=rpc)


def explorer(
    data_dir: Annotated[Path, typer.Option("--dir", help="An oracle data directory or a `depin demo --dir` directory.")],
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on (1-65535).")] = 8780,
    host: Annotated[str, typer.Option("--host", help="Address to bind (default: this machine only).")] = "127.0.0.1",
    tile_url: Annotated[
        str | None, typer.Option("--tile-url", help="Background map tiles, e.g. https://…/{z}/{x}/{y}.png.")
    ] = None,
    rpc: Annotated[
        str | None,
        typer.Option("--rpc", help="JSON-RPC node to read supply, burns, claims and settled roots from (needs --netdir)."),
    ] = None,
    netdir: Annotated[
        Path | None, typer.Option("--netdir", help="Network directory holding deployment.json (with --rpc).")
    ] = None,
) -> None:
    """Serve the network explorer (web UI and JSON API) over published epoch files."""
    import uvicorn

    from opendepin.explorer import explorer_app

    check_port(host, port)
    tiles = check_tile_url(tile_url)
    onchain = chain_view(rpc, netdir)
    app = explorer_app(data_dir, tile_url=tiles, onchain=onchain)
    Console().print(f"explorer of {data_dir} at http://{host}:{port}/ (API schema: /openapi.json)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
