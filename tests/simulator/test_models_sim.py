"""The simulator takes the models each provider documents (Hailuo-02, T2V-01) with
their resolution/duration tables and refuses what the documents refuse: a
last frame on Hailuo 2.3 at MiniMax, gpt.ge and apiframe; 512P text-to-video."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

IMG, END = "https://img.test/first.jpg", "https://img.test/last.jpg"
NATIVE = {"minimax": "/v1/video_generation", "gptge": "/task/minimax/v1/video_generation"}


async def post(sim: Any, provider: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    key = sim.config.providers[provider].api_key
    auth = {"X-API-Key": key} if provider == "apiframe" else {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session, session.post(sim.url(provider) + path, json=body,
                                                                headers=auth) as resp:
        return resp.status, await resp.json(content_type=None)


def native(model: str, res: str = "768P", duration: int = 6, **extra: Any) -> dict[str, Any]:
    return {"model": model, "prompt": "a calm lake", "duration": duration, "resolution": res, **extra}


def accepted(status: int, body: Any) -> bool:
    return status == 200 and body["base_resp"]["status_code"] == 0


@pytest.mark.parametrize("provider", ["minimax", "gptge"])
@pytest.mark.parametrize(("body", "ok"), [
    (native("MiniMax-Hailuo-02"), True),
    (native("MiniMax-Hailuo-02", "1080P"), True),
    (native("MiniMax-Hailuo-02", "1080P", 10), False),
    (native("MiniMax-Hailuo-02", "512P", 10, first_frame_image=IMG), True),
    (native("MiniMax-Hailuo-02", "512P"), False),  # 512P: image-to-video only
    (native("MiniMax-Hailuo-02", first_frame_image=IMG, last_frame_image=END), True),
    (native("MiniMax-Hailuo-2.3", first_frame_image=IMG, last_frame_image=END), False),
    (native("MiniMax-Hailuo-02", first_frame_image=IMG, last_frame_image="not an image"), False),
    (native("T2V-01", "720P"), True),
    (native("T2V-01-Director", "720P"), True),
    (native("T2V-01", "768P"), False),
    (native("T2V-01", "720P", 10), False),
    (native("T2V-01", "720P", first_frame_image=IMG), False),  # not in the i2v enum
])
async def test_minimax_and_gptge_take_the_documented_models_and_tables(sim, provider, body, ok):
    status, got = await post(sim, provider, NATIVE[provider], body)
    assert accepted(status, got) is ok, got
    if not ok:
        assert got["base_resp"]["status_code"] == 2013
    assert len(sim.store.submissions[provider]) == int(ok)


async def test_minimax_names_the_model_that_takes_a_last_frame(sim):
    _, got = await post(sim, "minimax", NATIVE["minimax"],
                        native("MiniMax-Hailuo-2.3", first_frame_image=IMG, last_frame_image=END))
    assert "last_frame_image is supported by MiniMax-Hailuo-02 only" in got["base_resp"]["status_msg"]


@pytest.mark.parametrize(("model", "params", "bad"), [
    ("hailuo-02", {"duration": 6, "resolution": "768p"}, None),
    ("hailuo-02", {"duration": 6, "resolution": "1080p", "image": IMG, "end_image": END}, None),
    ("hailuo-2.3", {"duration": 6, "resolution": "768p", "image": IMG, "end_image": END}, "hailuoParams.end_image"),
    ("hailuo-02", {"duration": 6, "resolution": "768p", "end_image": "last.jpg"}, "hailuoParams.end_image"),
    ("hailuo-03", {"duration": 6, "resolution": "768p"}, "model"),
])
async def test_apiframe_takes_end_image_on_hailuo_02_only(sim, model, params, bad):
    status, got = await post(sim, "apiframe", "/v2/videos/generate",
                             {"model": model, "prompt": "a calm lake", "hailuoParams": params})
    if bad is None:
        assert status == 202 and got["status"] == "QUEUED"
    else:
        assert status == 400 and bad in got["details"]


@pytest.mark.parametrize(("path", "body", "ok"), [
    ("hailuo-02-standard/text-to-video", {"duration": 10, "resolution": "768P"}, True),
    ("hailuo-02-fast/image-to-video", {"image": IMG, "end_image": END}, True),
    ("hailuo-02-pro/text-to-video", {"resolution": "1080P"}, True),
    ("hailuo-02-pro/text-to-video", {"resolution": "768P"}, False),
    ("hailuo-02-standard/text-to-video", {"resolution": "1080P"}, False),
])
async def test_gptproto_takes_the_hailuo_02_paths_with_their_table(sim, path, body, ok):
    status, got = await post(sim, "gptproto", f"/api/v3/minimax/{path}", {"prompt": "a calm lake", **body})
    assert (status == 200) is ok, got
