"""The OpenAPI document describes the API, and its pages work offline (issue 16).

The document is checked as a whole (security, Idempotency-Key, problem answers, a declared
answer for every route, so a route added later must say what it answers); the offline pages
are fetched from a real service (and rendered by headless Chromium when it is installed).
Schemathesis checks the answers against the document: ``test_schemathesis.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import jsonschema_rs
import pytest

from settlement.api.limits import PUBLIC_PATHS
from settlement.api.openapi import PROBLEM_CODES, PROBLEM_JSON
from tests.fixtures.chromium import CHROMIUM, dump_dom

REPO = Path(__file__).resolve().parents[2]
#: POSTs without an Idempotency-Key (docs/api.md §Idempotency): the read-only pre-settlement,
#: the two password-checked queries and the benchmark's probe.
NOT_IDEMPOTENT = {
    ("post", "/v1/admissions/{mdtrt_id}/pre-settlement"),
    ("post", "/v1/people/{psn_no}/query-password/verification"),
    ("post", "/v1/card-progress"),
    ("post", "/v1/probe"),
}


@pytest.fixture(scope="module")
def document(settlement_service) -> dict:
    answer = httpx.get(settlement_service.url + "/v1/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_declares_authentication(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-Api-Key"
    for path, method, operation in _operations(document):
        if path in PUBLIC_PATHS:
            assert operation["security"] == [], (method, path)
        else:
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}], path
            assert "401" in operation["responses"], (method, path)


def test_idempotency_key_is_required_where_the_service_requires_it(document):
    for path, method, operation in _operations(document):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        keys = [p for p in headers if p["name"] == "Idempotency-Key"]
        if method == "get" or (method, path) in NOT_IDEMPOTENT:
            assert not keys, (method, path)
            continue
        assert len(keys) == 1 and keys[0]["required"] is True, (method, path)
        assert keys[0]["schema"]["pattern"] == "^[!-~]([ -~]{0,126}[!-~])?$"
        assert operation["responses"]["428"] == {"$ref": "#/components/responses/Problem428"}
        answer = document["components"]["responses"]["Problem428"]["content"][PROBLEM_JSON]
        assert answer["schema"]["allOf"][1]["properties"]["code"]["enum"] == [
            "idempotency_key_required"
        ]


def test_every_refusal_is_problem_json_with_its_codes(document):
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "code"]
    for path, method, operation in _operations(document):
        refusals = {s: r for s, r in operation["responses"].items() if s >= "400"}
        assert {"500", "503"} <= set(refusals), (method, path)
        if method != "get":
            assert {"400", "413", "422"} <= set(refusals), (method, path)
        for status, reference in refusals.items():
            assert reference == {"$ref": f"#/components/responses/Problem{status}"}
            answer = document["components"]["responses"][f"Problem{status}"]
            assert list(answer["content"]) == [PROBLEM_JSON], (method, path, status)
            media = answer["content"][PROBLEM_JSON]
            codes = media["schema"]["allOf"][1]["properties"]["code"]["enum"]
            assert codes == list(PROBLEM_CODES[int(status)])
            assert media["example"]["code"] in codes and media["example"]["status"] == int(status)
    assert "Retry-After" in document["components"]["responses"]["Problem429"]["headers"]


def test_every_operation_declares_its_success(document):
    """A route added without a declared answer fails here (issue 16: new routes stay honest):
    its 2xx answers, each with its model from settlement.api.responses and a real answer as
    example that the model's schema accepts."""
    for path, method, operation in _operations(document):
        successes = [s for s in operation["responses"] if s.startswith("2")]
        expected = 2 if (method, path) == ("post", "/v1/payment-orders") else 1
        assert len(successes) == expected, (method, path, successes)
        for status in successes:
            media = operation["responses"][status]["content"]["application/json"]
            reference = media["schema"].get("$ref", "")
            assert reference.startswith("#/components/schemas/"), (method, path, media)
            assert "example" in media, (method, path)
            schema = {"$ref": reference, "components": document["components"]}
            jsonschema_rs.validator_for(schema).validate(media["example"])
            headers = operation["responses"][status]["headers"]
            assert "X-Request-ID" in headers, (method, path)
            idempotent = any(
                p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])
            )
            assert ("Idempotent-Replay" in headers) == idempotent, (method, path)


def _problem_literals() -> set[tuple[int, str]]:
    """Every ``Problem(<status>, "<code>")`` written with literals in settlement/."""
    found = set()
    for source in (REPO / "settlement").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and len(node.args) >= 2):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            status, code = node.args[0], node.args[1]
            literal = isinstance(status, ast.Constant) and isinstance(code, ast.Constant)
            if name == "Problem" and literal:
                found.add((status.value, code.value))
    return found


def test_every_problem_code_of_the_service_is_documented():
    literals = _problem_literals()
    assert len(literals) > 30
    missing = {(s, c) for s, c in literals if c not in PROBLEM_CODES.get(s, ())}
    assert not missing, f"add to settlement.api.openapi.PROBLEM_CODES: {sorted(missing)}"


def test_an_unbounded_step_number_is_a_validation_error(settlement_service):
    """Schemathesis found it: GET /v1/applications?next_step=-2249781623934307008512 was a 500
    (SQLite cannot bind an integer past 64 bits); the step is 1-7."""
    admin = settlement_service.client()
    for step in ("-2249781623934307008512", "0", "8"):
        answer = admin.get("/v1/applications", params={"next_step": step})
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "validation_error"
    assert admin.get("/v1/applications", params={"next_step": "7"}).status_code == 200


def test_docs_are_served_offline(settlement_service):
    url = settlement_service.url
    for start in ("/docs", "/v1/docs"):
        moved = httpx.get(url + start)
        assert moved.status_code == 307 and moved.headers["location"] == "/api-docs", start
    page = httpx.get(url + "/docs", follow_redirects=True)
    assert page.status_code == 200 and page.url.path == "/api-docs"
    assert "text/html" in page.headers["content-type"]
    assert "/v1/openapi.json" in page.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and all(a.startswith("/api-docs/static/") for a in assets), assets
    assert "http://" not in page.text.replace(url, "") and "https://" not in page.text
    for asset in assets:
        answer = httpx.get(url + asset)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    js = httpx.get(url + "/api-docs/static/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    assert "text/css" in httpx.get(url + "/api-docs/static/swagger-ui.css").headers["content-type"]
    assert httpx.get(url + "/api-docs/static/index.html").status_code == 404
    redoc = httpx.get(url + "/api-docs/redoc")
    assert redoc.status_code == 200 and "/api-docs/static/redoc.standalone.js" in redoc.text
    assert "https://" not in redoc.text


@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed")
def test_docs_render_in_a_browser_without_internet(settlement_service):
    """Swagger UI builds the page from the local bundle and the document (no network here)."""
    dom = dump_dom(settlement_service.url + "/docs", "--virtual-time-budget=15000", check=False)
    for shown in ("sscard settlement service", "/v1/admissions/{mdtrt_id}/settlement", "Authorize"):
        assert shown in dom, (shown, dom[-3000:])
