"""MiniMax V2's cancel (``DELETE /v2/video_generation/{task_id}``) read from its
documented answers (tests/fixtures/minimax_v2/cancel/, described in expected.yaml
under ``cancel:``): a queued task's answer is a cancel, a finished task's
deletion is not, and a running task's refusal carries the provider's words."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from batch_runner.errors import ProviderError
from batch_runner.keys import Secret
from batch_runner.providers import HttpResponse
from batch_runner.providers.minimax_v2 import MinimaxV2Adapter

FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "minimax_v2"
EXPECTED = yaml.safe_load((FOLDER / "expected.yaml").read_text(encoding="utf-8"))
BASE, KEY = "https://provider.example", "contract-key-7f3a9c"


def adapter() -> MinimaxV2Adapter:
    return MinimaxV2Adapter(BASE, Secret(KEY))


def test_the_cancel_request_is_the_documented_one():
    doc = EXPECTED["request"]["cancel"]
    req = adapter().build_cancel("424010985738629")
    assert (req.method, req.url) == (doc["method"], BASE + doc["path"].format(task_id="424010985738629"))
    assert req.headers["Authorization"] == f"Bearer {KEY}" and req.json is None
    assert KEY not in repr(req)


@pytest.mark.parametrize("fixture", sorted(EXPECTED["cancel"]))
def test_each_cancel_answer_reads_as_documented(fixture):
    want = EXPECTED["cancel"][fixture]
    assert want["source"]
    resp = HttpResponse(int(want["http_status"]), {}, (FOLDER / fixture).read_bytes())
    result = adapter().parse_cancel(resp)
    assert result.cancelled is want["cancelled"]
    if "message" in want:
        assert result.message == want["message"] and result.code == "2013"


def test_a_rate_limited_or_unauthorised_cancel_is_an_error_not_a_refusal():
    cases = (("error_429.json", "rate_limited"), ("error_401.json", "auth"), ("error_500.json", "provider_error"))
    for name, code in cases:
        status = int(EXPECTED["fixtures"][name]["http_status"])
        with pytest.raises(ProviderError) as info:
            adapter().parse_cancel(HttpResponse(status, {}, (FOLDER / name).read_bytes()))
        assert info.value.error_code == code
