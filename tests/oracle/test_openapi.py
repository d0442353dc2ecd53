"""The oracle's published OpenAPI document tells the truth about the running oracle.

One simulated network of three served oracles settles epoch 0 over real HTTP (devices POST
their reports to every oracle, the oracles agree, sign, exchange and submit). Then every
route is asked — for its answer and for its problems — and each answer is held to the schema
the document publishes for that route, status and media type. The request schemas are held
to the server the other way round: a body the schema refuses (an unknown field, a non-hex
id or signature) is refused by the server too.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from opendepin.chain.accounts import Signer
from opendepin.http.peerauth import signed_headers
from opendepin.http.problems import PROBLEM_MEDIA_TYPE
from opendepin.oracle.agreement.delta import DIGEST_BYTES
from opendepin.oracle.runner import SubmitState
from opendepin.reports import codec
from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    register_devices,
)

from .helpers import served_oracles

DEVICES = 6
EPOCH = 0
SPEC_VERSION = "3.1"


@dataclass
class Settled:
    """Three served oracles that settled epoch 0 from reports POSTed over HTTP."""

    net: SimNetwork
    nodes: list[OracleNode]
    spec: dict[str, Any]
    ingest_answers: list[httpx.Response]
    """Every answer to the epoch's POST /v1/reports."""


def _settle(nodes: list[OracleNode], epoch: int) -> None:
    states: list[SubmitState] = []
    give_up = time.monotonic() + 180.0  # wall time: how many passes fit depends on the machine
    while time.monotonic() < give_up:
        states = [node.runner.advance(epoch).state for node in nodes]
        if all(s in (SubmitState.SUBMITTED, SubmitState.SETTLED_BY_PEER) for s in states):
            return
        time.sleep(0.1)
    raise AssertionError(f"epoch {epoch} did not settle: {states}")


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settled]:
    tmp = tmp_path_factory.mktemp("openapi")
    net = build_network(seed=23, devices=DEVICES)
    register_devices(net)
    with ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=30.0))
        nodes = served_oracles(stack, net, tmp, http)
        answers = []
        for hour in range(24):
            sim_hour = net.sim_hour(EPOCH, hour)  # the hour's entropy block, which the devices sign
            reports = net.models["heartbeat"].hour_reports(sim_hour)
            net.advance_to(sim_hour.hour_start_unix + 1_800)
            net.chain.mine()
            body = json.dumps({"reports": [codec.to_json(r) for r in reports]})
            for node in nodes:
                answers.append(
                    http.post(f"{node.url}/v1/reports", content=body, headers={"content-type": "application/json"})
                )
        replayed = http.post(f"{nodes[0].url}/v1/reports", content=body, headers={"content-type": "application/json"})
        answers.append(replayed)  # the last hour again: every report a rejected replay
        net.advance_to(nodes[0].runner.ingest_close_unix(EPOCH) + 1)
        net.chain.mine()
        _settle(nodes, EPOCH)
        spec = http.get(f"{nodes[0].url}/openapi.json").json()
        yield Settled(net, nodes, spec, answers)


# -- holding answers to the document -------------------------------------------------------


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) for `schema`, whose
    `#/components/...` references resolve into `spec`."""
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def _component(spec: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    return _validator(spec, {"$ref": f"#/components/schemas/{name}"})


def _operation(spec: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = spec["paths"][template][method.lower()]
    return op


def check_answer(spec: dict[str, Any], method: str, template: str, resp: httpx.Response) -> Any:
    """Assert that `resp` is documented for the operation (status and media type) and that
    a JSON body validates against the published schema; returns the parsed body (or text)."""
    op = _operation(spec, method, template)
    documented = op["responses"]
    assert str(resp.status_code) in documented, (method, template, resp.status_code, resp.text[:300])
    content = documented[str(resp.status_code)].get("content", {})
    media = resp.headers["content-type"].split(";")[0].strip()
    assert media in content, (method, template, resp.status_code, media, list(content))
    if media in ("application/json", PROBLEM_MEDIA_TYPE):
        body = resp.json()
        _validator(spec, content[media]["schema"]).validate(body)
        return body
    return resp.content


def _signed(node: OracleNode, asker: OracleNode, method: str, path: str, **kwargs: Any) -> httpx.Response:
    url = node.url + path
    return httpx.request(method, url, headers=signed_headers(asker.signer, method, url), **kwargs)


# -- the document itself ------------------------------------------------------------------


def test_schema_is_valid_openapi_3_1(settled: Settled) -> None:
    spec = settled.spec
    assert spec["openapi"].startswith(SPEC_VERSION)
    validate_openapi(spec)
    # FastAPI's own 422 (a JSON list of pydantic errors) is never what the server answers.
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_operation_documents_its_answer_and_problems(settled: Settled) -> None:
    for template, ops in settled.spec["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            ok = [s for s in responses if s.startswith("2")]
            assert ok, (method, template)
            for status in ok:
                for media, body in responses[status]["content"].items():
                    assert body["schema"], (method, template, media)  # never the empty schema
            for status, entry in responses.items():
                if status.startswith(("4", "5")):
                    assert list(entry["content"]) == [PROBLEM_MEDIA_TYPE], (method, template, status)
            if template != "/metrics" and template != "/healthz":
                assert any(s.startswith("4") for s in responses), (method, template)


def test_request_bodies_refuse_unknown_fields(settled: Settled) -> None:
    spec = settled.spec
    schemas = spec["components"]["schemas"]
    assert schemas["WireReport"]["additionalProperties"] is False
    assert schemas["ReportBatch"]["additionalProperties"] is False
    assert schemas["ReportBatch"]["properties"]["reports"]["maxItems"] == settled.net.settings.ingest.max_batch
    body = _operation(spec, "post", "/v1/attestations")["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"epoch", "root", "cumulative_total", "manifest_hash", "signer", "signature"}


# -- real answers against the document ----------------------------------------------------


def test_report_answers_match_the_schema(settled: Settled) -> None:
    spec = settled.spec
    statuses: set[str] = set()
    for resp in settled.ingest_answers:
        body = check_answer(spec, "POST", "/v1/reports", resp)
        statuses.update(r["status"] for r in body["results"])
    assert statuses == {"accepted", "rejected"}
    node = settled.nodes[0]
    reports = _signed(node, settled.nodes[1], "GET", f"/v1/epochs/{EPOCH}/reports")
    lines = check_answer(spec, "GET", "/v1/epochs/{epoch}/reports", reports).splitlines()
    assert lines
    wire = _component(spec, "WireReport")
    for line in lines:
        wire.validate(json.loads(line))  # what an oracle stores is what the schema describes
    conflicts = _signed(node, settled.nodes[1], "GET", f"/v1/epochs/{EPOCH}/conflicts")
    assert check_answer(spec, "GET", "/v1/epochs/{epoch}/conflicts", conflicts) == b""


def test_oracle_answers_match_the_schema(settled: Settled) -> None:
    spec, nodes = settled.spec, settled.nodes
    node, peer = nodes[0], nodes[1]
    health = check_answer(spec, "GET", "/healthz", httpx.get(node.url + "/healthz"))
    assert health["devices"] == DEVICES
    metrics = httpx.get(node.url + "/metrics")
    assert b"depin_ingest_reports_accepted_total" in check_answer(spec, "GET", "/metrics", metrics)

    held = check_answer(spec, "GET", "/v1/attestations/{epoch}", httpx.get(f"{node.url}/v1/attestations/{EPOCH}"))
    assert node.signer.address in {a["signer"] for a in held["attestations"]}
    posted = httpx.post(f"{node.url}/v1/attestations", json=peer.book.collected(EPOCH)[0].to_json())
    assert check_answer(spec, "POST", "/v1/attestations", posted) == {"status": "accepted", "epoch": EPOCH}

    owner = settled.net.owners[0].address
    proof = check_answer(spec, "GET", "/v1/rewards/{account}", httpx.get(f"{node.url}/v1/rewards/{owner}"))
    assert proof["root"] == held["root"] and int(proof["cumulative_amount"]) > 0

    decision = check_answer(
        spec, "GET", "/v1/epochs/{epoch}/agreement", httpx.get(f"{node.url}/v1/epochs/{EPOCH}/agreement")
    )
    record = _signed(node, peer, "GET", f"/v1/epochs/{EPOCH}/agreement/rounds/0")
    check_answer(spec, "GET", "/v1/epochs/{epoch}/agreement/rounds/{round}", record)
    batch = decision["agreement"]["batches"][0]["batch"]
    base = f"/v1/epochs/{EPOCH}/agreement/batches/{batch}"
    lines = check_answer(spec, "GET", "/v1/epochs/{epoch}/agreement/batches/{batch}", _signed(node, peer, "GET", base))
    index = check_answer(
        spec, "GET", "/v1/epochs/{epoch}/agreement/batches/{batch}/index", _signed(node, peer, "GET", base + "/index")
    )
    assert len(index) == DIGEST_BYTES * len(lines.splitlines(keepends=True))
    picked = check_answer(
        spec, "POST", "/v1/epochs/{epoch}/agreement/batches/{batch}/lines",
        _signed(node, peer, "POST", base + "/lines", json={"lines": [0]}),
    )
    assert picked == lines.splitlines(keepends=True)[0]


def test_problem_answers_match_the_schema(settled: Settled) -> None:
    spec, node, peer = settled.spec, settled.nodes[0], settled.nodes[1]
    url = node.url
    stranger = Signer.generate().address
    batch = "0x" + "ab" * 32
    asked = [
        ("GET", "/v1/attestations/{epoch}", httpx.get(f"{url}/v1/attestations/99"), "attestation:not_ready"),
        ("GET", "/v1/attestations/{epoch}", httpx.get(f"{url}/v1/attestations/x"), "problem:invalid-request"),
        ("POST", "/v1/attestations", httpx.post(f"{url}/v1/attestations", json=[1]), "problem:invalid-request"),
        ("POST", "/v1/attestations", httpx.post(f"{url}/v1/attestations", json={"epoch": 0}), "attestation:malformed"),
        (
            "POST", "/v1/attestations",
            httpx.post(f"{url}/v1/attestations", content=b"[" * 5_000, headers={"content-type": "application/json"}),
            "problem:not-json",
        ),
        ("GET", "/v1/rewards/{account}", httpx.get(f"{url}/v1/rewards/0x12"), "oracle:bad_account"),
        ("GET", "/v1/rewards/{account}", httpx.get(f"{url}/v1/rewards/{stranger}"), "oracle:no_rewards"),
        ("GET", "/v1/epochs/{epoch}/reports", httpx.get(f"{url}/v1/epochs/0/reports"), "oracle:not_an_oracle"),
        ("GET", "/v1/epochs/{epoch}/reports", _signed(node, peer, "GET", "/v1/epochs/5/reports"), "oracle:epoch_open"),
        (
            "GET", "/v1/epochs/{epoch}/reports", _signed(node, peer, "GET", "/v1/epochs/0/reports?after=x"),
            "oracle:bad_cursor",
        ),
        (
            "GET", "/v1/epochs/{epoch}/reports", _signed(node, peer, "GET", "/v1/epochs/0/reports?limit=x"),
            "problem:invalid-request",
        ),
        ("GET", "/v1/epochs/{epoch}/conflicts", _signed(node, peer, "GET", "/v1/epochs/7/conflicts"), "oracle:epoch_open"),
        (
            "GET", "/v1/epochs/{epoch}/agreement/rounds/{round}",
            _signed(node, peer, "GET", "/v1/epochs/0/agreement/rounds/9"), "agreement:not_yet",
        ),
        (
            "GET", "/v1/epochs/{epoch}/agreement/batches/{batch}",
            _signed(node, peer, "GET", "/v1/epochs/0/agreement/batches/0x12"), "agreement:bad_batch",
        ),
        (
            "GET", "/v1/epochs/{epoch}/agreement/batches/{batch}/index",
            _signed(node, peer, "GET", f"/v1/epochs/0/agreement/batches/{batch}/index"), "agreement:not_yet",
        ),
        (
            "POST", "/v1/epochs/{epoch}/agreement/batches/{batch}/lines",
            httpx.post(f"{url}/v1/epochs/0/agreement/batches/{batch}/lines", json={"lines": [0]}),
            "oracle:not_an_oracle",
        ),
        ("GET", "/v1/epochs/{epoch}/agreement", httpx.get(f"{url}/v1/epochs/3/agreement"), "agreement:not_yet"),
        (
            "POST", "/v1/reports",
            httpx.post(f"{url}/v1/reports", content=b"{", headers={"content-type": "application/json"}),
            "problem:not-json",
        ),
        ("POST", "/v1/reports", httpx.post(f"{url}/v1/reports", json=[]), "problem:bad-shape"),
        (
            "POST", "/v1/reports",
            httpx.post(f"{url}/v1/reports", json={"reports": [{}] * (settled.net.settings.ingest.max_batch + 1)}),
            "problem:too-many-reports",
        ),
    ]
    for method, template, resp, urn in asked:
        problem = check_answer(spec, method, template, resp)
        assert resp.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        assert problem["type"] == f"urn:opendepin:{urn}", (method, template, problem)


# -- bodies the schema refuses are refused by the server ----------------------------------


def _one_wire_report(settled: Settled) -> dict[str, Any]:
    node, peer = settled.nodes[0], settled.nodes[1]
    first = _signed(node, peer, "GET", f"/v1/epochs/{EPOCH}/reports?limit=1").content.splitlines()[0]
    obj: dict[str, Any] = json.loads(first)
    return obj


def _changed(obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out.update(fields)
    return out


def _spaced(hex_value: str) -> str:
    """The same bytes with a space after the first byte (`bytes.fromhex` would skip it)."""
    return hex_value[:4] + " " + hex_value[4:]


BadFields = Callable[[dict[str, Any]], dict[str, Any]]
"""The fields to change in a good body, given the good body (so a change keeps its bytes)."""

BAD_REPORT_FIELDS: dict[str, BadFields] = {
    "unknown field": lambda good: {"extra": 1},
    "device not hex": lambda good: {"device": "0x" + "zz" * 20},
    "device without 0x": lambda good: {"device": good["device"][2:]},
    "signature not hex": lambda good: {"signature": "0x" + "zz" * 65},
    "signature with a space": lambda good: {"signature": _spaced(good["signature"])},
    "signature too short": lambda good: {"signature": good["signature"][:-2]},
    "float in payload": lambda good: {"payload": {"lat_e7": 1.5, "lon_e7": 1}},
    "seq negative": lambda good: {"seq": -1},
}


@pytest.mark.parametrize("case", sorted(BAD_REPORT_FIELDS))
def test_a_report_the_schema_refuses_is_rejected_by_ingest(settled: Settled, case: str) -> None:
    spec, node = settled.spec, settled.nodes[2]
    good = _one_wire_report(settled)
    wire = _component(spec, "WireReport")
    wire.validate(good)
    bad = _changed(good, **BAD_REPORT_FIELDS[case](good))
    with pytest.raises(jsonschema.ValidationError):
        wire.validate(bad)
    with pytest.raises(jsonschema.ValidationError):
        _component(spec, "ReportBatch").validate({"reports": [bad]})
    answer = check_answer(spec, "POST", "/v1/reports", httpx.post(f"{node.url}/v1/reports", json=bad))
    [result] = answer["results"]
    assert result["status"] == "rejected"
    assert result["reason"] in ("malformed", "bad_signature"), result


def test_a_batch_with_an_unknown_key_is_refused_by_schema_and_server(settled: Settled) -> None:
    spec, node = settled.spec, settled.nodes[2]
    bad = {"reports": [_one_wire_report(settled)], "extra": True}
    body = _operation(spec, "post", "/v1/reports")["requestBody"]["content"]["application/json"]["schema"]
    with pytest.raises(jsonschema.ValidationError):
        _validator(spec, body).validate(bad)
    resp = httpx.post(f"{node.url}/v1/reports", json=bad)
    assert resp.status_code == 422
    assert check_answer(spec, "POST", "/v1/reports", resp)["type"] == "urn:opendepin:problem:bad-shape"


BAD_ATTESTATION_FIELDS: dict[str, BadFields] = {
    "unknown field": lambda good: {"note": "hi"},
    "root not hex": lambda good: {"root": "0x" + "zz" * 32},
    "root without 0x": lambda good: {"root": good["root"][2:]},
    "root with 0X": lambda good: {"root": "0X" + good["root"][2:]},
    "root with a space": lambda good: {"root": _spaced(good["root"])[2:]},
    "manifest hash too short": lambda good: {"manifest_hash": good["manifest_hash"][:-2]},
    "signer not hex": lambda good: {"signer": "0x" + "zz" * 20},
    "signature without 0x": lambda good: {"signature": good["signature"][2:]},
    "signature with a space": lambda good: {"signature": _spaced(good["signature"])},
    "signature not hex": lambda good: {"signature": "0x" + "zz" * 65},
    "total not decimal": lambda good: {"cumulative_total": hex(int(good["cumulative_total"]))},
    "total negative": lambda good: {"cumulative_total": "-1"},
    "epoch boolean": lambda good: {"epoch": False},
}


@pytest.mark.parametrize("case", sorted(BAD_ATTESTATION_FIELDS))
def test_an_attestation_the_schema_refuses_is_refused_by_the_server(settled: Settled, case: str) -> None:
    spec, node, peer = settled.spec, settled.nodes[0], settled.nodes[1]
    body_schema = _operation(spec, "post", "/v1/attestations")["requestBody"]["content"]["application/json"]["schema"]
    schema = _validator(spec, body_schema)
    good = peer.book.collected(EPOCH)[0].to_json()
    schema.validate(good)
    bad = _changed(good, **BAD_ATTESTATION_FIELDS[case](good))
    with pytest.raises(jsonschema.ValidationError):
        schema.validate(bad)
    resp = httpx.post(f"{node.url}/v1/attestations", json=bad)
    assert resp.status_code == 422, resp.text
    assert check_answer(spec, "POST", "/v1/attestations", resp)["type"] == "urn:opendepin:attestation:malformed"


def test_the_attestation_schema_accepts_what_the_server_accepts(settled: Settled) -> None:
    """The other direction: the documented alternatives (a decimal-string epoch, a JSON
    integer total, upper-case hex) are answered 202 by the server."""
    spec, node, peer = settled.spec, settled.nodes[0], settled.nodes[1]
    body_schema = _operation(spec, "post", "/v1/attestations")["requestBody"]["content"]["application/json"]["schema"]
    schema = _validator(spec, body_schema)
    good = peer.book.collected(EPOCH)[0].to_json()
    variants = [
        _changed(good, epoch=str(EPOCH)),
        _changed(good, cumulative_total=int(good["cumulative_total"])),
        _changed(good, root="0x" + good["root"][2:].upper(), signature="0x" + good["signature"][2:].upper()),
        _changed(good, signer=good["signer"].lower()),
    ]
    for body in variants:
        schema.validate(body)
        resp = httpx.post(f"{node.url}/v1/attestations", json=body)
        assert resp.status_code == 202, (body, resp.text)
