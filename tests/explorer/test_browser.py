"""The explorer in a real browser: Debian's headless Chromium driven by Playwright.

The server is the real one (uvicorn on a free port, in a thread). Each page must load with no
console error, no failed request and no uncaught exception (the Content-Security-Policy
reports any stray inline script or outside fetch as a console error). Screenshots are saved
in the test's tmp dir. Without /usr/bin/chromium the test skips — except in CI (`CI` set),
where `scripts/bootstrap.sh` installs it and a missing browser is a failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import Demo, placed_devices, rewarded_and_unrewarded

CHROMIUM = Path("/usr/bin/chromium")


def _need_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: scripts/bootstrap.sh installs chromium when CI is set")
    pytest.skip(f"{CHROMIUM} is not installed (OPENDEPIN_NEED_BROWSER=1 scripts/bootstrap.sh installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(demo: Demo) -> Iterator[str]:
    import uvicorn

    from opendepin.explorer import explorer_app

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(explorer_app(demo.root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the explorer server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


class Browser:
    """One Chromium page recording every console error, page error and failed request."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def open(self, url: str, shot: str) -> None:
        self.page.goto(url, wait_until="load")
        self.page.screenshot(path=str(self.shots / f"{shot}.png"), full_page=True)
        assert self.errors == [], self.errors


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    _need_browser()
    if os.environ.get("CI"):
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    shots = tmp_path_factory.mktemp("explorer-screenshots")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield Browser(chromium.new_page(viewport={"width": 1280, "height": 900}), shots)
        finally:
            chromium.close()


def test_network_page_draws_every_device_on_the_map(browser: Browser, server: str, demo: Demo) -> None:
    browser.open(server + "/", "network")
    page = browser.page
    placed = placed_devices(demo, demo.latest)
    assert page.locator("svg#map a.device").count() == len(placed)
    assert page.locator("svg#map polygon.cell").count() == len(placed)
    drawn = page.eval_on_selector_all("svg#map a.device", "els => els.map(e => e.dataset.device)")
    assert sorted(drawn) == sorted(placed)
    boxes = page.eval_on_selector_all("svg#map circle.marker", "els => els.map(e => e.getBBox().width)")
    assert all(w > 0 for w in boxes)  # really rendered, not just present
    epochs = page.locator("table.epochs tbody tr").count()
    assert epochs == len(demo.summary.epochs)


def test_map_zooms_and_filters(browser: Browser, server: str, demo: Demo) -> None:
    browser.open(server + "/", "map-before")
    page = browser.page
    before = page.get_attribute("svg#map", "viewBox")
    page.locator("svg#map").hover()
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"document.getElementById('map').getAttribute('viewBox') !== {before!r}")
    kind = demo.file(demo.latest, "snapshot_v1.json")["devices"][0]["kind"]
    page.locator(f'input[data-filter="kind"][value="{kind}"]').uncheck()
    hidden = page.locator(f'svg#map a.device.hidden[data-kind="{kind}"]').count()
    assert hidden == sum(1 for d in demo.file(demo.latest, "snapshot_v1.json")["devices"] if d["kind"] == kind)
    assert page.locator("svg#map a.device:not(.hidden)").count() == len(placed_devices(demo, demo.latest)) - hidden
    page.screenshot(path=str(browser.shots / "map-filtered.png"))
    assert browser.errors == []


def test_search_finds_a_device_and_its_why_sentence_matches_the_files(
    browser: Browser, server: str, demo: Demo
) -> None:
    from fastapi.testclient import TestClient

    from opendepin.explorer import explorer_app

    rewarded, unrewarded = rewarded_and_unrewarded(demo, demo.latest)
    with TestClient(explorer_app(demo.root)) as api:
        expected = {d: api.get(f"/api/devices/{d}").json()["why"] for d in (rewarded, unrewarded)}
    browser.open(server + "/", "search-start")
    page = browser.page
    page.fill("#q", unrewarded.lower())
    page.press("#q", "Enter")
    page.wait_for_url(f"**/devices/{unrewarded}")
    browser.open(page.url, "device-unrewarded")
    assert page.inner_text("#why") == expected[unrewarded]["sentence"]
    assert page.get_attribute("#why", "data-rewarded") == "false"
    assert sorted(page.get_attribute("#why", "data-reasons").split()) == expected[unrewarded]["reasons"]
    assert page.locator("tr.reason").count() >= len(expected[unrewarded]["reasons"])
    assert page.locator('tr.reason[data-documented="false"]').count() == 0
    browser.open(f"{server}/devices/{rewarded}", "device-rewarded")
    assert page.inner_text("#why") == expected[rewarded]["sentence"]
    assert page.locator("svg.chart .bar rect").count() == len(demo.summary.epochs)


def test_epoch_owner_and_search_pages_load_cleanly(browser: Browser, server: str, demo: Demo) -> None:
    browser.open(f"{server}/epochs/{demo.latest}", "epoch")
    assert browser.page.get_attribute("#audit", "data-ok") == "true"
    manifest = demo.file(demo.latest, "manifest_v1.json")
    assert browser.page.locator("tr.file").count() == 1 + len(manifest["inputs"]) + len(manifest["outputs"])
    owner = demo.file(demo.latest, "rewards_v1.json")["owners"][0]["account"]
    browser.open(f"{server}/owners/{owner}", "owner")
    assert browser.page.inner_text("#calldata").startswith("0x")
    browser.open(f"{server}/search?q=nothing-here", "search-none")
    assert browser.page.locator("#no-match").count() == 1
