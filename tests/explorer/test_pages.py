"""The explorer's pages and API say what the published files say."""

from __future__ import annotations

import hashlib
import html

from eth_abi.abi import decode
from fastapi.testclient import TestClient

from opendepin.crypto import keccak256
from opendepin.explorer.devices import CLAIM_SIGNATURE
from opendepin.rewards.merkle import RewardTree, verify_proof

from .helpers import (
    Demo,
    amounts,
    explanations,
    invalid_rows,
    placed_devices,
    rewarded_and_unrewarded,
)


def test_network_lists_every_epoch_with_root_signers_emission_and_rejections(client: TestClient, demo: Demo) -> None:
    body = client.get("/api/network").json()
    assert body["sources"] == ["oracle-0", "oracle-1", "oracle-2"]
    rows = {row["epoch"]: row for row in body["epochs"]}
    assert sorted(rows) == list(range(len(demo.summary.epochs)))
    for summary in demo.summary.epochs:
        row = rows[summary.epoch]
        rewards = demo.file(summary.epoch, "rewards_v1.json")
        assert row["root"] == rewards["root"] == summary.root
        assert row["emission"] == rewards["totals"]["emission"]
        assert row["cumulative_total"] == rewards["totals"]["cumulative"]
        assert sorted(row["settlement"]["signers"]) == sorted(summary.signers)
        assert row["settlement"]["state"] == "submitted"
        verdicts = demo.file(summary.epoch, "verdicts_v1.json")["kinds"]
        expected: dict[str, int] = {}
        for kind in verdicts.values():
            for reason, n in kind["counts"].items():
                if reason != "valid":
                    expected[reason] = expected.get(reason, 0) + n
        assert row["rejected_by_reason"] == expected and expected
        assert row["rewarded_devices"] == sum(1 for a in amounts(demo, summary.epoch).values() if a > 0)
        assert row["on_chain"] is None  # no chain: whether the root is on chain is unknown
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for summary in demo.summary.epochs:
        assert f'href="/epochs/{summary.epoch}"' in page.text


def test_map_draws_every_placed_device_coloured_by_status(client: TestClient, demo: Demo) -> None:
    body = client.get("/api/map").json()
    assert body["epoch"] == demo.latest
    placed = placed_devices(demo, demo.latest)
    assert sorted(d["device"] for d in body["devices"]) == sorted(placed)
    paid = amounts(demo, demo.latest)
    for d in body["devices"]:
        assert (d["status"] == "rewarded") == (paid.get(d["device"].lower(), 0) > 0)
        assert 0 <= d["x"] <= body["width"] and 0 <= d["y"] <= body["height"]
        assert len(d["points"].split()) >= 5  # a hexagon (or pentagon)
    assert {"rewarded", "penalised"} <= {d["status"] for d in body["devices"]}
    page = client.get("/").text
    assert page.count('class="device"') == len(placed)
    assert page.count("<polygon") == len(placed)
    assert client.get("/api/map", params={"epoch": 0}).json()["epoch"] == 0


def test_why_sentence_of_a_rewarded_device_matches_the_files(client: TestClient, demo: Demo) -> None:
    rewarded, _ = rewarded_and_unrewarded(demo, demo.latest)
    body = client.get(f"/api/devices/{rewarded}").json()
    expl = explanations(demo, demo.latest)[rewarded.lower()]
    assert body["epoch"] == demo.latest and body["why"]["rewarded"] is True
    assert body["why"]["reasons"] == []
    assert body["why"]["sentence"].startswith(f"Rewarded in epoch {demo.latest}: ")
    assert f"for {expl['shares']} shares" in body["why"]["sentence"]
    history = {h["epoch"]: h for h in body["history"]}
    assert history[demo.latest]["amount"] == str(amounts(demo, demo.latest)[rewarded.lower()])
    snapshot = {d["device"]: d for d in demo.file(demo.latest, "snapshot_v1.json")["devices"]}
    assert body["owner"] == snapshot[rewarded]["owner"] and body["kind"] == snapshot[rewarded]["kind"]
    assert int(body["location"]["cell"], 16) == int(snapshot[rewarded]["location"])
    page = client.get(f"/devices/{rewarded}").text
    assert html.escape(body["why"]["sentence"], quote=False) in page


def test_why_sentence_of_an_unrewarded_device_names_its_reasons(client: TestClient, demo: Demo) -> None:
    _, unrewarded = rewarded_and_unrewarded(demo, demo.latest)
    body = client.get(f"/api/devices/{unrewarded}").json()
    expl = explanations(demo, demo.latest)[unrewarded.lower()]
    rows = invalid_rows(demo, demo.latest, unrewarded)
    expected = sorted(set(expl["reasons"]) | {r["reason"] for r in rows})
    assert body["why"]["rewarded"] is False and body["why"]["reasons"] == expected
    assert body["why"]["sentence"].startswith(f"Not rewarded in epoch {demo.latest} because of ")
    for code in expected:
        assert code in body["why"]["sentence"]
    invalid = [r for r in body["reports"] if r["verdict"] == "invalid"]
    assert sorted((r["seq"], r["reason"]) for r in invalid) == sorted((r["seq"], r["reason"]) for r in rows)
    page = client.get(f"/devices/{unrewarded}").text
    assert html.escape(body["why"]["sentence"], quote=False) in page


def test_device_reports_are_the_sealed_lines_with_their_verdicts(client: TestClient, demo: Demo) -> None:
    import json

    device = placed_devices(demo, demo.latest)[0]
    sealed = []
    for path in sorted((demo.epoch_dir(demo.latest) / "inputs").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            if obj["device"] == device:
                sealed.append((obj["kind"], obj["seq"]))
    body = client.get(f"/api/devices/{device}").json()
    bad = {(r["kind"] if "kind" in r else body["kind"], r["seq"]) for r in invalid_rows(demo, demo.latest, device)}
    listed = {(r["kind"], r["seq"]) for r in body["reports"] if r["timestamp_ms"] is not None}
    assert listed == set(sealed)
    for r in body["reports"]:
        assert (r["verdict"] == "invalid") == ((r["kind"], r["seq"]) in bad)


def test_every_reason_code_shown_has_an_operator_explanation(client: TestClient, demo: Demo) -> None:
    shown = set()
    for device in placed_devices(demo, demo.latest):
        for epoch in range(len(demo.summary.epochs)):
            body = client.get(f"/api/devices/{device}", params={"epoch": epoch}).json()
            codes = set(body["why"]["reasons"]) | {r["reason"] for r in body["reports"] if r["reason"]}
            explained = {r["code"]: r for r in body["reasons"]}
            assert codes <= set(explained), device
            for code in codes:
                assert explained[code]["documented"], code
                assert explained[code]["meaning"] and explained[code]["action"]
            shown |= codes
    assert {"location_untrusted", "insufficient_uptime", "max_distance_exceeded"} <= shown


def test_owner_page_gives_cumulative_and_claim_calldata_that_verifies(client: TestClient, demo: Demo) -> None:
    rewards = demo.file(demo.latest, "rewards_v1.json")
    owner = max(rewards["owners"], key=lambda o: int(o["cumulative"]))
    body = client.get(f"/api/owners/{owner['account'].lower()}").json()
    assert body["account"] == owner["account"] and body["cumulative"] == owner["cumulative"]
    assert body["claimed"] is None and body["claimable"] is None  # no chain to read claims from
    assert [h["cumulative"] for h in body["history"]][-1] == owner["cumulative"]
    assert {d["device"] for d in owner["devices"]} <= {d["device"] for d in body["devices"]}
    claim = body["claim"]
    assert claim["epoch"] == demo.latest and claim["root"] == rewards["root"]
    assert claim["command"].startswith("depin agent claim ")
    data = bytes.fromhex(claim["calldata"][2:])
    assert data[:4] == keccak256(CLAIM_SIGNATURE.encode())[:4]
    account, amount, proof = decode(["address", "uint256", "bytes32[]"], data[4:])
    assert account.lower() == owner["account"].lower() and amount == int(owner["cumulative"])
    leaf = RewardTree.leaf_hash(owner["account"], int(owner["cumulative"]))
    assert verify_proof(bytes.fromhex(rewards["root"][2:]), leaf, list(proof))
    assert ["0x" + p.hex() for p in proof] == claim["proof"]
    page = client.get(f"/owners/{owner['account']}").text
    assert claim["calldata"] in page and "unknown" in page


def test_claim_command_exists_in_the_cli() -> None:
    from typer.testing import CliRunner

    from opendepin.cli.app import app

    result = CliRunner().invoke(app, ["agent", "claim", "--help"])
    assert result.exit_code == 0
    for option in ("--dir", "--sender-keystore", "--sender-passphrase-env", "--account"):
        assert option in result.output


def test_epoch_page_lists_every_file_with_its_sha256_and_the_audit(client: TestClient, demo: Demo) -> None:
    manifest = demo.file(demo.latest, "manifest_v1.json")
    body = client.get(f"/api/epochs/{demo.latest}").json()
    names = {f["name"] for f in body["files"]}
    assert names == {"manifest_v1.json"} | {f["name"] for f in manifest["inputs"]} | {f["name"] for f in manifest["outputs"]}
    for f in body["files"]:
        got = client.get(f["url"])
        assert got.status_code == 200, f["url"]
        assert hashlib.sha256(got.content).hexdigest() == f["sha256"] and f["matches"]
    assert body["root"] == manifest["root"]
    assert all(a["agrees"] for a in body["agreement"]) and len(body["agreement"]) == 3
    audit = client.get(f"/api/epochs/{demo.latest}/audit").json()
    assert audit["ok"] is True and audit["recomputed_root"] == manifest["root"] and audit["problems"] == []
    page = client.get(f"/epochs/{demo.latest}").text
    assert "Audit OK" in page and all(f["sha256"] in page for f in body["files"])


def test_search_redirects_lists_or_says_none(client: TestClient, demo: Demo) -> None:
    device = placed_devices(demo, demo.latest)[0]
    one = client.get("/search", params={"q": device.lower()}, follow_redirects=False)
    assert one.status_code == 303 and one.headers["location"] == f"/devices/{device}"
    epoch = client.get("/search", params={"q": "1"}, follow_redirects=False)
    assert epoch.status_code == 303 and epoch.headers["location"] == "/epochs/1"
    owner = demo.file(demo.latest, "rewards_v1.json")["owners"][0]["account"]
    assert client.get("/search", params={"q": owner}, follow_redirects=False).headers["location"] == f"/owners/{owner}"
    many = client.get("/api/search", params={"q": "0x"}).json()
    assert many["hits"] == []  # too short to match a part of every address
    addresses = [d["device"] for d in demo.file(demo.latest, "snapshot_v1.json")["devices"]]
    digits = next(
        a[2:6].lower() for a in addresses if sum(a[2:].lower().count(a[2:6].lower()) for a in addresses) > 1
    )
    listed = client.get("/search", params={"q": digits}, follow_redirects=False)
    assert listed.status_code == 200 and listed.text.count('class="hit"') > 1
    none = client.get("/search", params={"q": "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef"})
    assert none.status_code == 200 and "Nothing matches" in none.text


def test_openapi_publishes_every_api_route_with_its_response_model(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    expected = {
        "/api/network": "NetworkOut",
        "/api/map": "MapOut",
        "/api/devices/{device}": "DeviceOut",
        "/api/owners/{address}": "OwnerOut",
        "/api/epochs/{epoch}": "EpochOut",
        "/api/epochs/{epoch}/audit": "AuditOut",
        "/api/search": "SearchOut",
    }
    for path, model in expected.items():
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(f"/{model}")
    assert "Problem" in schema["components"]["schemas"]
    assert not any(not p.startswith("/api/") for p in schema["paths"])
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
