"""The adapter contract, one suite over the registry: every provider in ADAPTERS
must read its documented answers (tests/fixtures/<provider>/) as documented.

Each provider folder holds ``submit.json``, ``poll_*.json`` and ``error_*.json``
(answer bodies) and ``expected.yaml``: the documented request shapes, and per
fixture its HTTP status, what it must read as and its public source. The suite
goes through what the runner calls (``build_submit``, ``read_submit``,
``build_poll``, ``read_poll``), so the guard's checks apply as in a run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch_runner.errors import ProviderError
from batch_runner.jobs.model import Job
from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS, Adapter, HttpResponse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BASE = "https://provider.example"
KEY = "contract-key-7f3a9c"
KINDS = ("submit", "poll_", "error_")


def expected(provider: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / provider / "expected.yaml").read_text(encoding="utf-8"))


def adapter(provider: str) -> Adapter:
    return ADAPTERS[provider](BASE, Secret(KEY))


def answer(provider: str, fixture: str) -> HttpResponse:
    want = expected(provider)["fixtures"][fixture]
    headers = {k.lower(): str(v) for k, v in (want.get("headers") or {}).items()}
    body = (FIXTURES / provider / fixture).read_bytes()
    return HttpResponse(int(want.get("http_status", 200)), headers, body)


def fixtures(prefix: str) -> list[tuple[str, str]]:
    return [(p, f.name) for p in ADAPTERS for f in sorted((FIXTURES / p).glob(f"{prefix}*.json"))]


def leaves(obj: Any) -> list[Any]:
    """Every scalar in a JSON value."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in leaves(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in leaves(v)]
    return [obj]


def jobs_for(provider: str) -> list[Job]:
    """One job per model and scene the provider sells, at its first variant."""
    info = ADAPTERS[provider](BASE).info
    out = []
    for model, m in info.models.items():
        resolution, duration = m.variants[0].split("-")
        for scene in m.scenes:
            image = "https://images.example/first.jpg" if scene == "image-to-video" else None
            out.append(Job(job_id="job42", index=0, row=2, name="n", variant=1, provider=provider,
                           model=model, scene=scene, prompt="a lighthouse at dusk [推进]", image=image,
                           end_image=None, duration=int(duration), resolution=resolution))
    return out


@pytest.mark.parametrize("provider", list(ADAPTERS))
def test_every_provider_has_each_kind_of_fixture_and_each_is_described(provider):
    folder = FIXTURES / provider
    names = {f.name for f in folder.glob("*.json")}
    assert "submit.json" in names
    assert any(n.startswith("poll_") for n in names), "no poll_*.json"
    assert any(n.startswith("error_") for n in names), "no error_*.json"
    assert all(n.startswith(KINDS) for n in names), sorted(names)
    described = expected(provider)["fixtures"]
    assert set(described) == names
    assert all(entry.get("source") for entry in described.values()), "every fixture names its source"
    assert any(e.get("status") == "succeeded" and e.get("video_url") for e in described.values()), \
        "the fixtures include a finished video"


@pytest.mark.parametrize("provider", list(ADAPTERS))
def test_build_submit_gives_the_documented_request(provider):
    doc = expected(provider)["request"]["submit"]
    a = adapter(provider)
    for job in jobs_for(provider):
        req = a.build_submit(job)
        path = doc["path"].format(model_id=a.model_id(job), scene=job.scene)
        assert (req.method, req.url) == (doc["method"], BASE + path)
        assert req.headers[doc["auth_header"]] == doc["auth"].format(key=KEY)
        assert req.headers["Content-Type"] == "application/json"
        assert isinstance(req.json, dict)
        values = leaves(json.loads(json.dumps(req.json)))
        assert job.prompt in values and a.model_id(job) in [*values, path.split("/")[-2]]
        assert str(job.duration) in [str(v) for v in values]
        assert job.resolution.lower() in [str(v).lower() for v in values]
        if job.image:
            assert job.image in values
        assert KEY not in repr(req) and KEY not in json.dumps(req.json)


@pytest.mark.parametrize("provider", list(ADAPTERS))
def test_build_poll_gives_the_documented_request(provider):
    doc = expected(provider)["request"]
    task_id = expected(provider)["fixtures"]["submit.json"]["task_id"]
    req = adapter(provider).build_poll(task_id)
    assert (req.method, req.url) == (doc["poll"]["method"], BASE + doc["poll"]["path"].format(task_id=task_id))
    assert req.headers[doc["submit"]["auth_header"]] == doc["submit"]["auth"].format(key=KEY)
    assert req.json is None


@pytest.mark.parametrize("provider, fixture", fixtures("submit"))
def test_submit_answer_gives_the_task_id(provider, fixture):
    want = expected(provider)["fixtures"][fixture]
    assert adapter(provider).read_submit(answer(provider, fixture)) == str(want["task_id"])


@pytest.mark.parametrize("provider, fixture", fixtures("poll_"))
def test_poll_answer_reads_as_documented(provider, fixture):
    want = expected(provider)["fixtures"][fixture]
    a = adapter(provider)
    before = time.time()
    result = a.read_poll(answer(provider, fixture))
    assert result.status == want["status"]
    assert result.finished is (want["status"] in ("succeeded", "failed"))
    assert result.video_url == want.get("video_url", "")
    assert result.error_code == want.get("error_code", "")
    if "provider_code" in want:
        assert result.provider_code == want["provider_code"]
    if "message" in want:
        assert result.message == want["message"]
    if "url_expires_at" in want:
        assert result.url_expires_at == want["url_expires_at"]
    if "url_expires_in_s" in want:
        ttl = want["url_expires_in_s"]
        assert result.url_expires_at is not None
        assert before + ttl <= result.url_expires_at <= time.time() + ttl
    if "file_id" in want:  # kept in the journal: a later download asks files/retrieve for a fresh URL
        assert result.file_id == want["file_id"]
    if "follow_up" in want:
        assert result.follow_up is not None
        assert (result.follow_up.method, result.follow_up.url) == ("GET", BASE + want["follow_up"])
        auth = expected(provider)["request"]["submit"]
        assert result.follow_up.headers[auth["auth_header"]] == auth["auth"].format(key=KEY)
    else:
        assert result.follow_up is None


@pytest.mark.parametrize("provider, fixture", fixtures("error_"))
def test_error_answer_maps_to_the_documented_error_code(provider, fixture):
    want = expected(provider)["fixtures"][fixture]
    a, resp = adapter(provider), answer(provider, fixture)
    with pytest.raises(ProviderError) as info:
        a.read_submit(resp)
    err = info.value
    assert (err.error_code, err.retryable) == (want["error_code"], want["retryable"])
    assert err.provider == provider and err.http_status == resp.status
    if "provider_code" in want:
        assert err.provider_code == want["provider_code"]
    if "retry_after" in want:
        assert err.retry_after == want["retry_after"]
    assert KEY not in str(err)
    with pytest.raises(ProviderError) as info:  # the same answer to a poll: the same error
        a.read_poll(resp)
    assert info.value.error_code == want["error_code"]
