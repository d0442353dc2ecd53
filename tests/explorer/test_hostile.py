"""Hostile requests get 404 or 422 problem+json, never a 500 (the client re-raises server errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .helpers import Demo

UNKNOWN = "0x000000000000000000000000000000000000dEaD"
BAD_CHECKSUM = "0x000000000000000000000000000000000000DeaD"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/devices/0x123", 422),
        ("/devices/not-an-address", 422),
        (f"/devices/{BAD_CHECKSUM}", 422),
        ("/devices/" + "a" * 5000, 422),
        (f"/devices/{UNKNOWN}", 404),
        (f"/api/devices/{UNKNOWN}", 404),
        ("/api/devices/0x" + "g" * 40, 422),
        (f"/devices/{UNKNOWN}?epoch=abc", 422),
        (f"/owners/{UNKNOWN}", 404),
        ("/api/owners/0xZZ", 422),
        ("/epochs/99999999999999999999999999999999", 422),
        ("/epochs/9223372036854775808", 422),
        ("/epochs/-1", 422),
        ("/epochs/abc", 422),
        ("/epochs/1e3", 422),
        ("/epochs/77", 404),
        ("/api/epochs/77/audit", 404),
        ("/api/map?epoch=1000000000000000000000000", 422),
        ("/api/map?epoch=77", 404),
        ("/?epoch=-5", 422),
        ("/epochs/0/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404),
        ("/epochs/0/files/..%2F..%2F..%2Findex.db", 404),
        ("/epochs/0/files/%2Fetc%2Fpasswd", 404),
        ("/epochs/0/files/inputs", 404),
        ("/epochs/0/files/inputs/", 404),
        ("/epochs/0/files/" + "x" * 600, 422),
        ("/epochs/0/files/rewards_v1.json%00", 404),
        ("/epochs/77/files/rewards_v1.json", 404),
        ("/search?q=" + "x" * 1000, 422),
        ("/api/search?q=" + "0" * 1000, 422),
        ("/static/..%2Fsource.py", 404),
        ("/static/nope.css", 404),
        ("/nowhere", 404),
    ],
)
def test_hostile_request_is_a_problem(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:opendepin:") and body["detail"]


def test_search_with_odd_input_answers(client: TestClient) -> None:
    for q in ["", " ", "<script>alert(1)</script>", "0x", "99999999999999999999999", "-1", "%00", "ZZZZ"]:
        api = client.get("/api/search", params={"q": q})
        assert api.status_code == 200 and api.json()["hits"] == []
        page = client.get("/search", params={"q": q})
        assert page.status_code == 200 and "<script>alert" not in page.text


def test_files_outside_the_manifest_are_not_served_even_if_present(client: TestClient, demo: Demo) -> None:
    (demo.epoch_dir(0) / "secret.txt").write_text("not published")
    try:
        assert client.get("/epochs/0/files/secret.txt").status_code == 404
    finally:
        (demo.epoch_dir(0) / "secret.txt").unlink()


def test_an_unreadable_epoch_is_listed_not_fatal(demo: Demo, tmp_path: Path) -> None:
    import shutil

    from opendepin.explorer import explorer_app

    data = tmp_path / "oracle"
    shutil.copytree(demo.primary / "epochs", data / "epochs")
    (data / "epochs" / "1" / "verdicts_v1.json").write_text("[" * 5000)
    with TestClient(explorer_app(data)) as c:
        body = c.get("/api/network").json()
        assert [e["epoch"] for e in body["epochs"]] == [0]
        assert len(body["unreadable"]) == 1 and "verdicts_v1.json" in body["unreadable"][0]
        assert body["sources"] == ["oracle"]
        assert c.get("/epochs/1").status_code == 404
        assert c.get("/").status_code == 200
        assert c.get("/api/epochs/0").json()["settlement"] is None  # no ledger copied: unknown
