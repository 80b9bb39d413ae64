"""The adapters' key checks (``build_key_check`` / ``read_key_check``): pure, one
free request per provider as data/providers.yaml ``key_check`` records it, and a
verdict for every kind of answer a wrong base URL or a wrong key brings."""

from __future__ import annotations

import json
import re
from importlib import resources
from urllib.parse import urlsplit

import pytest
import yaml

from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS, HttpResponse

PROVIDERS = tuple(ADAPTERS)
KEY_CHECKS = {name: spec["key_check"] for name, spec in yaml.safe_load(
    resources.files("batch_runner").joinpath("data/providers.yaml").read_text(encoding="utf-8")).items()}


def _resp(status: int, body: object = None, *, text: str | None = None, **headers: str) -> HttpResponse:
    raw = text.encode() if text is not None else json.dumps(body).encode()
    kind = "text/html" if text is not None else "application/json"
    return HttpResponse(status, {"content-type": kind, **headers}, raw)


@pytest.mark.parametrize("name", PROVIDERS)
def test_the_request_is_the_one_the_data_file_records(name):
    adapter = ADAPTERS[name]("https://api.example.com/prefix", Secret("sk-key-check-test"))
    req = adapter.build_key_check()
    url = urlsplit(req.url)
    path = url.path.removeprefix("/prefix") + (f"?{url.query}" if url.query else "")
    assert f"{req.method} {path}" == KEY_CHECKS[name]["request"]
    assert req.method == "GET" and req.json is None  # a poll: nothing to create, nothing to pay
    assert "sk-key-check-test" in "".join(req.headers.values())
    source = KEY_CHECKS[name]["source"]
    assert source.startswith("https://") and re.search(r"seen 20\d\d-\d\d", source)
    assert "balance" in KEY_CHECKS[name]


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("resp", [
    _resp(302, text="", location="https://www.example.com/login"),
    _resp(200, text="<!DOCTYPE html><html><body>Pricing</body></html>"),
    _resp(404, text="<html><body>Not Found</body></html>"),
    HttpResponse(200, {"content-type": "text/plain"}, b"hello"),
], ids=["redirect", "html-200", "html-404", "plain-text"])
def test_a_web_site_is_not_the_api(name, resp):
    assert ADAPTERS[name]().read_key_check(resp).verdict == "not_api"


@pytest.mark.parametrize("name", [p for p in PROVIDERS if p != "gptge"])
def test_foreign_json_is_not_the_api(name):
    """A 404 on the API path in another service's JSON (gptge's not-found answer is
    undocumented: any JSON object counts as gpt.ge's)."""
    assert ADAPTERS[name]().read_key_check(_resp(404, {"detail": "Not Found"})).verdict == "not_api"


@pytest.mark.parametrize(("name", "resp", "verdict"), [
    ("minimax", _resp(200, {"task_id": "", "base_resp": {"status_code": 1004, "status_msg": "not authorized"}}),
     "bad_key"),
    ("minimax", _resp(200, {"base_resp": {"status_code": 2049, "status_msg": "invalid api key"}}), "bad_key"),
    ("minimax", _resp(200, {"base_resp": {"status_code": 2013, "status_msg": "invalid params"}}), "ok"),
    ("minimax", _resp(200, {"task_id": "0", "status": "", "base_resp": {"status_code": 0}}), "ok"),
    ("minimax", _resp(200, {"base_resp": {"status_code": 1002, "status_msg": "rate limit"}}), "unclear"),
    ("gptge", _resp(401, {"error": {"message": "invalid token"}}), "bad_key"),
    ("gptge", _resp(200, {"code": 404, "message": "task not exist"}), "ok"),
    ("gptge", _resp(503, {"code": 503, "message": "busy"}), "unclear"),
    ("gccai", _resp(401, {"error": {"code": 401, "message": "bad key", "type": "authentication_error"}}),
     "bad_key"),
    ("gccai", _resp(404, {"error": {"code": 404, "message": "task not found", "type": "invalid_request_error"}}),
     "ok"),
    ("gptproto", _resp(403, {"error": {"message": "You do not have access to this resource"}}), "bad_key"),
    ("gptproto", _resp(404, {"error": {"message": "Prediction not found"}}), "ok"),
    ("apiinone", _resp(404, {"error": {"code": 404, "message": "Task not found", "type": "not_found"}}), "ok"),
    ("apiframe", _resp(401, {"error": "Invalid API key"}), "bad_key"),
    ("apiframe", _resp(404, {"error": "Job not found"}), "ok"),
    ("apiframe", _resp(429, {"error": "Too many requests"}, **{"retry-after": "3"}), "unclear"),
])
def test_verdicts(name, resp, verdict):
    found = ADAPTERS[name]().read_key_check(resp)
    assert found.verdict == verdict, found
    assert found.detail
