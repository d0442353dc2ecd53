"""The explorer's pieces: the reasons glossary, amounts, the map projection, the CLI, mounting."""

from __future__ import annotations

import math
from pathlib import Path

import h3
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException as StarletteHTTPException
from typer.testing import CliRunner

from opendepin.cli.app import app as cli_app
from opendepin.cli.explorer_cmd import check_tile_url
from opendepin.errors import ConfigError
from opendepin.explorer import explorer_router, glossary, mapview
from opendepin.explorer.devices import tokens
from opendepin.explorer.pages import csp
from opendepin.http.problems import (
    ProblemError,
    handle_http_exception,
    handle_problem,
    handle_validation_error,
)
from opendepin.reasons import all_reason_enums, every_code

from .helpers import Demo

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reasons.md"


def test_packaged_reasons_are_a_copy_of_the_docs_page() -> None:
    assert glossary.packaged_text() == DOCS.read_text(), (
        "copy docs/reasons.md to src/opendepin/explorer/data/reasons.md"
    )


def test_every_opendepin_reason_code_has_an_explanation() -> None:
    ours = [e for e in all_reason_enums() if e.__module__.startswith("opendepin.")]
    for code in every_code(ours):
        text = glossary.explain(code)
        assert text is not None and text.meaning and text.action and text.section, code
    assert glossary.explain("no_such_code") is None


def test_inline_markdown_escapes_and_renders_code_spans() -> None:
    out = glossary.inline_markdown("a `x<y>` <script>b</script>")
    assert str(out) == "a <code>x&lt;y&gt;</code> &lt;script&gt;b&lt;/script&gt;"
    row = glossary.parse_reasons("## Kind\n| `c_1` | means `m` | do it |\n")["c_1"]
    assert (row.section, row.meaning, row.action) == ("Kind", "means `m`", "do it")


def test_tokens_round_down_to_six_decimals() -> None:
    assert tokens(0, "DPIN") == "0 DPIN"
    assert tokens(40_000 * 10**18, "DPIN") == "40,000 DPIN"
    assert tokens(84_210_526_315_789_473_684, "T") == "84.210526 T"
    assert tokens(10**12 - 1, "T") == "0 T"


def test_web_mercator_matches_the_tile_grid() -> None:
    assert mapview.world_px(0.0, 0.0, 0) == pytest.approx((128.0, 128.0))
    assert mapview.world_px(0.0, -180.0, 1) == pytest.approx((0.0, 256.0))
    x, y = mapview.world_px(90.0, 180.0, 2)  # clamped to the Mercator limit
    assert x == pytest.approx(1024.0) and y == pytest.approx(0.0, abs=1e-6)


def test_fit_shows_every_point_at_the_deepest_zoom_and_tiles_cover_it() -> None:
    lisbon = h3.latlng_to_cell(38.72, -9.14, 12)
    boundary = mapview.cell_boundary(h3.str_to_int(lisbon))
    assert boundary is not None and len(boundary) == 6
    points = [(38.72, -9.14), (38.80, -9.00), (38.60, -9.30)]
    proj = mapview.fit(points)
    for lat, lon in points:
        x, y = proj.point(lat, lon)
        assert 0 <= x <= proj.width and 0 <= y <= proj.height
    xs, ys = zip(*(mapview.world_px(a, b, proj.zoom + 1) for a, b in points), strict=True)
    too_wide = max(xs) - min(xs) > mapview.CANVAS_WIDTH - 2 * mapview.PADDING_PX
    too_high = max(ys) - min(ys) > mapview.CANVAS_HEIGHT - 2 * mapview.PADDING_PX
    assert too_wide or too_high  # one zoom deeper would not fit
    tiles = mapview.tiles(proj, "https://t.example/{z}/{x}/{y}.png")
    assert tiles and all(t.url.startswith(f"https://t.example/{proj.zoom}/") for t in tiles)
    assert len(tiles) <= math.ceil(proj.width / 256 + 1) * math.ceil(proj.height / 256 + 1)
    assert mapview.tiles(proj, None) == []
    assert mapview.cell_boundary(0) is None and mapview.cell_boundary(12345) is None


def test_tile_url_is_checked_and_only_its_origin_is_allowed_for_images() -> None:
    assert check_tile_url(None) is None
    url = "https://tiles.example/{z}/{x}/{y}.png"
    assert check_tile_url(url) == url
    for bad in ["ftp://x/{z}/{x}/{y}", "https://x/{z}/{x}.png", "javascript:alert(1)//{z}{x}{y}"]:
        with pytest.raises(ConfigError):
            check_tile_url(bad)
    assert "img-src 'self' data: https://tiles.example;" in csp(url)
    assert "img-src 'self' data:;" in csp(None)


def test_cli_explorer_is_registered_and_refuses_a_directory_without_epochs(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["explorer", "--help"])
    assert result.exit_code == 0
    for option in ("--dir", "--port", "--host", "--tile-url"):
        assert option in result.output
    result = runner.invoke(cli_app, ["explorer", "--dir", str(tmp_path), "--port", "1"])
    assert isinstance(result.exception, ConfigError) and "epochs/" in str(result.exception)
    result = runner.invoke(cli_app, ["explorer", "--dir", str(tmp_path), "--tile-url", "nope"])
    assert isinstance(result.exception, ConfigError)


def test_router_mounts_under_a_prefix_on_another_app(demo: Demo) -> None:
    host = FastAPI(exception_handlers={
        ProblemError: handle_problem,
        StarletteHTTPException: handle_http_exception,
        RequestValidationError: handle_validation_error,
    })
    host.include_router(explorer_router(demo.primary, prefix="/explorer"))
    with TestClient(host) as c:
        page = c.get("/explorer/")
        assert page.status_code == 200
        assert 'href="/explorer/static/explorer.css"' in page.text and 'href="/explorer/devices/' in page.text
        assert c.get("/explorer/api/network").json()["sources"] == ["oracle-0"]
        assert c.get("/explorer/static/explorer.js").status_code == 200
        found = c.get("/explorer/search", params={"q": "0"}, follow_redirects=False)
        assert found.headers["location"] == "/explorer/epochs/0"
        assert c.get("/explorer/epochs/-1").headers["content-type"].startswith("application/problem+json")


def test_oracle_serve_mounts_the_explorer_over_its_epochs_as_they_appear(demo: Demo, tmp_path: Path) -> None:
    """`depin oracle serve --explorer`: the oracle's own app serves /explorer/, before any epoch
    exists and then with the epochs it publishes."""
    import shutil

    from opendepin.cli.oracle_cmd import EXPLORER_PREFIX, mount_explorer
    from opendepin.sim.network import build_network, make_oracle

    net = build_network(seed=3, devices=2)
    node = make_oracle(net, 0, tmp_path / "oracle")
    try:
        mount_explorer(node.oracle)
        with TestClient(node.oracle.app) as c:
            empty = c.get(EXPLORER_PREFIX + "/api/network")
            assert empty.status_code == 200 and empty.json()["epochs"] == []
            shutil.copytree(demo.primary / "epochs" / "0", tmp_path / "oracle" / "epochs" / "0")
            assert [e["epoch"] for e in c.get(EXPLORER_PREFIX + "/api/network").json()["epochs"]] == [0]
            assert c.get(EXPLORER_PREFIX + "/epochs/0").status_code == 200
            assert c.get("/healthz").status_code == 200  # ingest is still there
    finally:
        node.oracle.close()
