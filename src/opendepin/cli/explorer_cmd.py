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


def explorer(
    data_dir: Annotated[Path, typer.Option("--dir", help="An oracle data directory or a `depin demo --dir` directory.")],
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on (1-65535).")] = 8780,
    host: Annotated[str, typer.Option("--host", help="Address to bind (default: this machine only).")] = "127.0.0.1",
    tile_url: Annotated[
        str | None, typer.Option("--tile-url", help="Background map tiles, e.g. https://…/{z}/{x}/{y}.png.")
    ] = None,
) -> None:
    """Serve the network explorer (web UI and JSON API) over published epoch files."""
    import uvicorn

    from opendepin.explorer import explorer_app

    check_port(host, port)
    app = explorer_app(data_dir, tile_url=check_tile_url(tile_url))
    Console().print(f"explorer of {data_dir} at http://{host}:{port}/ (API schema: /openapi.json)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
