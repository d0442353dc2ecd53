"""Server-rendered HTML: the Jinja2 templates, their filters, and the small inline charts.

Templates (`explorer/templates/*.html`) are autoescaped and receive the response model of
the page (the same object the `/api/...` twin returns) plus `base`, the prefix the router is
mounted under, so every link works under `/` and under e.g. `/explorer`. Pages load only the
package's own `static/explorer.css` and `static/explorer.js`; the Content-Security-Policy
(`csp`) forbids everything else, background map tiles aside when a tile URL is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from opendepin.explorer.devices import tokens
from opendepin.explorer.glossary import inline_markdown
from opendepin.explorer.models import DeviceEpochOut

CHART_WIDTH: Final = 640
"""Width of a device's rewards chart, pixels."""
CHART_HEIGHT: Final = 160
"""Height of its plot area, pixels."""
KIND_COLOURS: Final = 8
"""Kinds get colours `kind-0` … `kind-7` (by sorted name, cycling)."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a rewards chart (SVG pixels)."""

    x: float
    y: float
    width: float
    height: float
    epoch: int
    title: str


def short(value: str, keep: int = 6) -> str:
    """`0x1234…cdef` for a long hex string (unchanged when short)."""
    if len(value) <= 2 * keep + 3:
        return value
    return f"{value[: keep + 2]}…{value[-keep + 2 :]}" if value.startswith("0x") else f"{value[:keep]}…{value[-keep:]}"


def utc_time(ms: int | None) -> str:
    if ms is None:
        return "—"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def reward_bars(history: list[DeviceEpochOut], symbol: str) -> list[Bar]:
    """Bars of base units per epoch, scaled to the largest (integer maths: amounts are huge)."""
    if not history:
        return []
    top = max(int(h.amount) for h in history) or 1
    step = CHART_WIDTH / len(history)
    bars = []
    for i, h in enumerate(history):
        height = round(int(h.amount) * CHART_HEIGHT / top, 1) if int(h.amount) else 0.0
        bars.append(Bar(
            x=round(i * step + step * 0.15, 1), y=round(CHART_HEIGHT - height, 1),
            width=round(step * 0.7, 1), height=height, epoch=h.epoch,
            title=f"epoch {h.epoch}: {tokens(int(h.amount), symbol)}",
        ))
    return bars


def csp(tile_url: str | None) -> str:
    """The pages' Content-Security-Policy: own scripts and styles only, tiles' origin for images."""
    images = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class Pages:
    """Renders the templates for one mounted explorer."""

    def __init__(self, base: str, tile_url: str | None) -> None:
        self.base = base
        self.csp = csp(tile_url)
        self.env = Environment(
            loader=PackageLoader("opendepin.explorer", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["short"] = short
        self.env.filters["utc"] = utc_time
        self.env.filters["md"] = inline_markdown
        self.env.filters["tokens"] = lambda amount, symbol: tokens(int(amount), symbol)
        self.env.globals["reward_bars"] = reward_bars
        self.env.globals["chart"] = {"width": CHART_WIDTH, "height": CHART_HEIGHT}
        self.env.globals["kind_colours"] = KIND_COLOURS

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(base=self.base, **context)
        headers = {"Content-Security-Policy": self.csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
        return HTMLResponse(html, status_code=status_code, headers=headers)
