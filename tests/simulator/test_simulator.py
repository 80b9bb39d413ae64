"""The provider simulator speaks each provider's documented wire protocol.

Every test talks to a real simulator on 127.0.0.1 over HTTP with a plain
aiohttp.ClientSession, like curl would, and checks the bodies against
the providers' public documentation, docs/providers.md (routes, auth, field names and
case, error shapes and HTTP statuses, status vocabularies, id formats).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

import aiohttp
import pytest

from batch_runner.errors import ProviderError
from batch_runner.providers import ADAPTERS, HttpResponse
from batch_runner.simulator import (
    PROVIDER_NAMES,
    SIMULATORS,
    ProviderSimConfig,
    RunningSimulator,
    SimConfig,
    apply_knobs,
    make_config,
    running_simulator,
)
from batch_runner.simulator.app import banner
from batch_runner.simulator.registry import KEY_VARIABLE
from batch_runner.simulator.videos import SAMPLE_MP4, task_video, video_body

KEY = "sim-key"
IMG = "https://img.test/first-frame.jpg"
GEN_S = 0.2
SUBMIT = {
    "minimax": "/v1/video_generation",
    "gptge": "/task/minimax/v1/video_generation",
    "gccai": "/v1/videos/generations",
    "apiinone": "/api/v1/videos/generations",
    "apiframe": "/v2/videos/generate",
    "minimax_v2": "/v2/video_generation",
}
POLL = {
    "minimax": "/v1/query/video_generation?task_id={}",
    "gptge": "/task/{}",
    "gccai": "/v1/tasks/{}",
    "gptproto": "/api/v3/predictions/{}/result",
    "apiinone": "/api/v1/tasks/{}",
    "apiframe": "/v2/jobs/{}",
    "minimax_v2": "/v2/query/video_generation/{}",
}
RETRIEVE = {"minimax": "/v1/files/retrieve", "gptge": "/task/minimax/v1/files/retrieve"}
#: the running words in their documented order, then the success word
VOCAB = {
    "minimax": ["Preparing", "Queueing", "Processing", "Success"],
    "gptge": ["Preparing", "Queueing", "Processing", "Success"],
    "gccai": ["pending", "processing", "completed"],
    "gptproto": ["created", "processing", "completed"],
    "apiinone": ["IN_PROGRESS", "completed"],
    "apiframe": ["QUEUED", "PROCESSING", "COMPLETED"],
    "minimax_v2": ["queued", "running", "succeeded"],
}
FAILED_WORD = {"minimax": "Fail", "gptge": "Fail", "gccai": "failed", "gptproto": "failed",
               "apiinone": "failed", "apiframe": "FAILED", "minimax_v2": "failed"}
ID_FORMAT = {
    "minimax": r"\d{15}",
    "gptge": r"\d{15}",
    "gccai": r"task_[0-9A-HJKMNP-TV-Z]{26}",
    "gptproto": r"[0-9a-f]{32}",
    "apiinone": r"n51\d+_hailuo",
    "apiframe": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "minimax_v2": r"\d{15}",
}
#: MiniMax V2's request_id in every simulated error answer
V2_REQUEST_ID = "0217852290155" + "0" * 19


def v2_error(status: int, typ: str, message: str) -> tuple[int, dict[str, Any]]:
    """A MiniMax V2 error answer (OpenAI-style, the internal code in the message)."""
    return status, {"type": "error", "error": {"type": typ, "message": message, "http_code": str(status)},
                    "request_id": V2_REQUEST_ID}


def headers(provider: str, key: str = KEY) -> dict[str, str]:
    """Each provider's documented auth header (gptproto: the raw key)."""
    if provider == "apiframe":
        return {"X-API-Key": key}
    if provider == "gptproto":
        return {"Authorization": key}
    return {"Authorization": f"Bearer {key}"}


def request_for(provider: str, prompt: str = "a calm lake at dawn [Push in]", image: str | None = None,
                duration: int = 6, res: str = "768") -> tuple[str, dict[str, Any]]:
    """(path, body) of a valid submit in the provider's own field names and case."""
    if provider in ("minimax", "gptge", "gccai"):
        body: dict[str, Any] = {"model": "MiniMax-Hailuo-2.3", "prompt": prompt, "duration": duration,
                                "resolution": res + ("p" if provider == "gccai" else "P")}
        if image:
            body["first_frame_image"] = image
        return SUBMIT[provider], body
    if provider == "gptproto":
        model = "hailuo-2.3-fast" if res == "1080" else "hailuo-2.3-standard"
        scene = "image-to-video" if image else "text-to-video"
        body = {"prompt": prompt, "duration": duration, "resolution": f"{res}P", "enable_prompt_expansion": True}
        if image:
            body["image"] = image
        return f"/api/v3/minimax/{model}/{scene}", body
    if provider == "minimax_v2":  # H3 sells 768P and 2K: 1080 stands for its higher one
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        if image:
            content.append({"type": "image_url", "image_url": {"url": image}, "role": "first_frame"})
        return SUBMIT[provider], {"model": "MiniMax-H3", "content": content, "duration": duration,
                                  "resolution": "2K" if res == "1080" else f"{res}P",
                                  "ratio": "adaptive" if image else "16:9"}
    if provider == "apiinone":
        return SUBMIT[provider], {"model": "hailuo/2-3-image-to-video-standard", "prompt": prompt,
                                  "image": image or IMG, "duration": str(duration), "resolution": f"{res}P"}
    params: dict[str, Any] = {"duration": duration, "resolution": f"{res}p"}
    if image:
        params["image"] = image
    return SUBMIT[provider], {"model": "hailuo-2.3", "prompt": prompt, "hailuoParams": params}


def ok(provider: str, answer: tuple[int, Any, Any]) -> bool:
    """Whether a submit answer is an acceptance (MiniMax: HTTP 200 and base_resp 0)."""
    status, body, _ = answer
    if provider in ("minimax", "gptge"):
        return status == 200 and body["base_resp"]["status_code"] == 0
    return status == (202 if provider == "apiframe" else 200)


def task_id_of(provider: str, body: dict[str, Any]) -> str:
    """The task id in a submit answer, where each provider documents it."""
    return {"minimax": lambda b: b["task_id"], "gptge": lambda b: b["task_id"],
            "gccai": lambda b: b["data"][0]["task_id"], "gptproto": lambda b: b["data"]["id"],
            "apiinone": lambda b: b["data"]["task_id"], "apiframe": lambda b: b["jobId"],
            "minimax_v2": lambda b: b["task_id"]}[provider](body)


def status_of(provider: str, body: dict[str, Any]) -> str:
    """The status word of a poll answer."""
    if provider == "minimax_v2":
        return str(body["task"]["status"])
    return body["data"]["status"] if provider in ("gccai", "gptproto", "apiinone") else body["status"]


class Client:
    """A plain HTTP client of one running simulator."""

    def __init__(self, sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
        self.sim, self.session = sim, session

    async def call(self, method: str, provider: str, path: str, *, key: str = KEY,
                   hdrs: dict[str, str] | None = None, **kw: Any) -> tuple[int, Any, Any]:
        """(HTTP status, JSON body or text, response headers)."""
        async with self.session.request(method, self.sim.url(provider) + path,
                                        headers=hdrs if hdrs is not None else headers(provider, key),
                                        **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, await resp.json(content_type=None), resp.headers
            except ValueError:
                return resp.status, text, resp.headers

    async def submit(self, provider: str, **kw: Any) -> tuple[int, Any, Any]:
        path, body = request_for(provider, **kw)
        return await self.call("POST", provider, path, json=body)

    async def poll(self, provider: str, task_id: str) -> Any:
        status, body, _ = await self.call("GET", provider, POLL[provider].format(task_id))
        assert status == 200, body
        return body

    async def until_done(self, provider: str, task_id: str) -> tuple[list[str], Any]:
        """Poll every 30 ms until a terminal status: (words seen, last body)."""
        words: list[str] = []
        for _ in range(200):
            body = await self.poll(provider, task_id)
            words.append(status_of(provider, body))
            if words[-1] in (VOCAB[provider][-1], FAILED_WORD[provider]):
                return words, body
            await asyncio.sleep(0.03)
        raise AssertionError(f"{provider} {task_id} never finished: {words[-5:]}")

    async def video_url(self, provider: str, body: Any) -> str:
        """The video URL of a finished task, where each provider documents it."""
        if provider in RETRIEVE:
            assert isinstance(body["file_id"], str) and body["file_id"].isdigit()
            status, got, _ = await self.call("GET", provider, RETRIEVE[provider],
                                             params={"file_id": body["file_id"]})
            assert status == 200 and got["base_resp"] == {"status_code": 0, "status_msg": "success"}
            file = got["file"]
            # a string, as MiniMax-AI/cli src/types/api.ts (FileRetrieveResponse) types it
            assert file["file_id"] == body["file_id"] and isinstance(file["file_id"], str)
            assert set(file) == {"file_id", "bytes", "created_at", "filename", "purpose", "download_url"}
            assert file["purpose"] == "video_generation" and file["filename"] == "output.mp4"
            return file["download_url"]
        if provider == "gccai":
            return body["data"]["result"]["videos"][0]["url"][0]
        if provider == "gptproto":
            return body["data"]["outputs"][0]
        if provider == "apiinone":
            assert body["data"]["output"]["video_url"] == body["data"]["video_url"]
            return body["data"]["video_url"]
        if provider == "minimax_v2":
            return body["task"]["content"]["url"]
        return body["result"]["videoUrl"]

    async def download(self, url: str) -> tuple[int, str, bytes]:
        async with self.session.get(url) as resp:
            return resp.status, resp.content_type, await resp.read()

    def accepted(self, provider: str) -> int:
        return len(self.sim.store.submissions[provider])


@pytest.fixture
async def start():
    """``await start(**ProviderSimConfig fields, seed=, url_ttl_s=, clips=)`` -> Client;
    every provider gets the same settings, generation 0.2 s unless given
    (``clips=False``: every video is the 2048-byte padded sample)."""
    async with contextlib.AsyncExitStack() as stack:
        async def _start(seed: int = 0, url_ttl_s: dict | None = None, clips: bool = True,
                         **fields: Any) -> Client:
            fields.setdefault("generation_s", GEN_S)
            config = SimConfig(providers={p: ProviderSimConfig(**fields) for p in PROVIDER_NAMES},
                               seed=seed, url_ttl_s=dict(url_ttl_s or {}), clips=clips)
            sim = await stack.enter_async_context(running_simulator(config, host="127.0.0.1", port=0))
            session = await stack.enter_async_context(aiohttp.ClientSession())
            return Client(sim, session)

        yield _start


# -- happy paths ---------------------------------------------------------------------

HAPPY = [(p, None) for p in PROVIDER_NAMES if p != "apiinone"] + [(p, IMG) for p in PROVIDER_NAMES]


@pytest.mark.parametrize(("provider", "image"), HAPPY, ids=[f"{p}-{'i2v' if i else 't2v'}" for p, i in HAPPY])
async def test_happy_path_through_to_the_video(start, provider, image):
    client = await start()
    status, body, _ = await client.submit(provider, image=image)
    assert status == (202 if provider == "apiframe" else 200), body
    task_id = task_id_of(provider, body)
    assert re.fullmatch(ID_FORMAT[provider], task_id), task_id
    if provider in ("minimax", "gptge"):
        assert body == {"task_id": task_id, "base_resp": {"status_code": 0, "status_msg": "success"}}
    elif provider == "gccai":
        assert body == {"code": 200, "data": [{"status": "submitted", "task_id": task_id}]}
    elif provider == "apiinone":
        assert body == {"code": 200, "message": "success", "data": {"task_id": task_id, "status": "IN_PROGRESS"}}
    elif provider == "apiframe":
        assert body == {"jobId": task_id, "status": "QUEUED"}
    elif provider == "minimax_v2":
        assert body == {"task_id": task_id}
    else:
        assert body["code"] == 200 and body["data"]["status"] == "created" and body["data"]["outputs"] == []
        assert body["data"]["urls"]["get"] == client.sim.url("gptproto") + POLL["gptproto"].format(task_id)

    words, last = await client.until_done(provider, task_id)
    order = [VOCAB[provider].index(w) for w in words]
    assert order == sorted(order) and words[-1] == VOCAB[provider][-1], words
    first_poll = next(r.t for r in client.sim.store.requests if r.kind == "poll" and r.task_id == task_id)
    if first_poll < client.sim.store.tasks[task_id].finishes_at:  # (a loaded machine may poll late)
        assert len(set(words)) >= 2  # a running word was seen first
    url = await client.video_url(provider, last)
    assert url.startswith(f"{client.sim.base_url}/videos/{provider}/") and task_id in url
    status, ctype, data = await client.download(url)
    assert (status, ctype) == (200, "video/mp4")
    assert data == task_video(client.sim.store, client.sim.store.tasks[task_id]) and task_id.encode() in data

    state = client.sim.store
    assert client.accepted(provider) == 1 and state.submissions[provider][0].task_id == task_id
    task = state.tasks[task_id]
    assert task.outcome == "succeeded" and task.video_path in url
    assert abs(task.finishes_at - task.submitted_at - GEN_S) < 1e-6
    assert state.polls_for(task_id) == len(words)
    kinds = [r.kind for r in state.requests if r.provider == provider]
    assert kinds[0] == "submit" and kinds[-1] == "video" and "poll" in kinds


async def test_success_bodies_carry_every_documented_field(start):
    client = await start()
    ids = {}
    for provider in ("minimax", "gccai", "gptproto", "apiframe"):
        _, body, _ = await client.submit(provider, res="1080")
        ids[provider] = task_id_of(provider, body)
    await asyncio.sleep(GEN_S + 0.05)
    mm = await client.poll("minimax", ids["minimax"])
    assert set(mm) == {"task_id", "status", "file_id", "video_width", "video_height", "base_resp"}
    assert (mm["video_width"], mm["video_height"]) == (1920, 1080)
    gc = (await client.poll("gccai", ids["gccai"]))["data"]
    assert {"actual_time", "completed", "created", "estimated_time", "id", "progress", "status", "result"} <= set(gc)
    assert gc["progress"] == 100
    assert gc["result"]["videos"][0]["expires_at"] == gc["completed"] + 259200  # URL lifetime 72 h
    gp = await client.poll("gptproto", ids["gptproto"])
    assert set(gp) == {"data", "message", "code"}
    assert {"id", "model", "outputs", "urls", "status", "error", "executionTime", "timings",
            "has_nsfw_contents", "created_at"} <= set(gp["data"])
    assert gp["data"]["model"] == "minimax/hailuo-2.3-fast/text-to-video" and gp["data"]["error"] == ""
    af = await client.poll("apiframe", ids["apiframe"])
    assert {"id", "status", "model", "progress", "result", "error", "creditCost", "webhookStatus",
            "createdAt", "completedAt"} <= set(af)
    assert (af["model"], af["progress"], af["error"], af["creditCost"], af["expired"]) == (
        "hailuo-2.3", 100, None, 10, False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", af["completedAt"])


async def test_gptproto_accepts_raw_and_bearer_keys(start):
    client = await start()
    path, body = request_for("gptproto")
    for auth in (KEY, f"Bearer {KEY}"):
        status, _, _ = await client.call("POST", "gptproto", path, hdrs={"Authorization": auth}, json=body)
        assert status == 200
    assert client.accepted("gptproto") == 2


def mp4_boxes(data: bytes) -> list[tuple[bytes, int]]:
    """The top-level MP4 boxes (type, size), which must tile ``data`` exactly."""
    boxes, i = [], 0
    while i < len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        assert size >= 8 and i + size <= len(data), (i, size)
        boxes.append((data[i + 4:i + 8], size))
        i += size
    return boxes


def test_videos_are_the_real_sample_then_a_free_box_unique_per_task():
    kinds = [kind for kind, _ in mp4_boxes(SAMPLE_MP4)]
    assert kinds[0] == b"ftyp" and {b"moov", b"mdat"} <= set(kinds)  # the browser test plays it
    bodies = {video_body(4096, f"task-{i}") for i in range(50)}
    assert len(bodies) == 50 and {len(b) for b in bodies} == {4096}
    body = video_body(2048, "abc")
    assert body.startswith(SAMPLE_MP4) and mp4_boxes(body)[-1] == (b"free", 2048 - len(SAMPLE_MP4))
    assert body[len(SAMPLE_MP4) + 8:].rstrip(b"\0") == b"abc"
    # a size too small for the sample: the sample and a free box with only the id
    for size in (0, 100, len(SAMPLE_MP4) + 10):
        small = video_body(size, "abc")
        assert small == SAMPLE_MP4 + (11).to_bytes(4, "big") + b"freeabc"
    assert video_body(0, "abc") != video_body(0, "abd")



async def test_videos_are_served_by_byte_range_and_can_be_cut_mid_transfer(start):
    """``Range`` as CDNs answer it (206 + Content-Range, 416 past the end, 200
    without); ``video_cut_rate`` announces the whole length, sends
    ``video_cut_after_bytes`` and drops the connection."""
    client = await start(video_cut_after_bytes=500, clips=False)
    _, body, _ = await client.submit("gccai")
    task_id = task_id_of("gccai", body)
    _, last = await client.until_done("gccai", task_id)
    url, whole = await client.video_url("gccai", last), video_body(2048, task_id)

    async def get(rng: str | None) -> tuple[int, str | None, bytes]:
        async with client.session.get(url, headers={"Range": rng} if rng else {}) as resp:
            return resp.status, resp.headers.get("Content-Range"), await resp.read()

    assert await get(None) == (200, None, whole)
    assert await get("bytes=1000-") == (206, "bytes 1000-2047/2048", whole[1000:])
    assert await get("bytes=10-19") == (206, "bytes 10-19/2048", whole[10:20])
    assert await get("bytes=-48") == (206, "bytes 2000-2047/2048", whole[2000:])
    assert await get("bytes=2048-") == (416, "bytes */2048", b"")
    assert await get("bytes=0-1,5-9") == (200, None, whole)  # several ranges: the whole file
    client.sim.config.providers["gccai"].video_cut_rate = 1.0
    for rng in (None, "bytes=1000-"):
        with pytest.raises(aiohttp.ClientPayloadError, match="received 500 of"):
            await get(rng)
    assert await get("bytes=1600-") == (206, "bytes 1600-2047/2048", whole[1600:])  # 448 left: not cut
    videos = [(r.http_status, r.range_start, r.reason) for r in client.sim.store.requests if r.kind == "video"]
    assert videos == [(200, None, None), (206, 1000, None), (206, 10, None), (206, 2000, None), (416, 2048, "range"),
                      (200, None, None), (200, None, "video_cut"), (206, 1000, "video_cut"), (206, 1600, None)]
    assert client.sim.store.faults["video_cut"] == 2

# -- auth ------------------------------------------------------------------------------

UNAUTHORIZED = {
    "minimax": (200, {"task_id": "", "base_resp": {"status_code": 1004, "status_msg": "not authorized"}}),
    "gptge": (200, {"task_id": "", "base_resp": {"status_code": 1004, "status_msg": "not authorized"}}),
    "gccai": (401, {"error": {"code": 401, "message": "Invalid API key", "type": "authentication_error"}}),
    "gptproto": (401, {"error": {"message": "Invalid authentication credentials",
                                 "type": "invalid_request_error", "code": "invalid_api_key"}}),
    "apiinone": (401, {"error": {"code": 401, "message": "Invalid API key", "type": "unauthorized"}}),
    "apiframe": (401, {"error": "Invalid API key"}),
    "minimax_v2": v2_error(401, "authorized_error", "Invalid API key (1004)"),
}


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_wrong_or_missing_key_is_refused_in_the_providers_shape(start, provider):
    client = await start()
    path, body = request_for(provider)
    for hdrs in (headers(provider, "wrong-key"), {}):
        assert (await client.call("POST", provider, path, hdrs=hdrs, json=body))[:2] == UNAUTHORIZED[provider]
    status, got, _ = await client.call("GET", provider, POLL[provider].format("x"), key="wrong-key")
    assert (status, got) == UNAUTHORIZED[provider]
    assert client.accepted(provider) == 0
    assert {(r.kind, r.reason) for r in client.sim.store.requests} == {("submit", "auth"), ("poll", "auth")}


async def test_apiframe_bearer_is_not_its_auth(start):
    client = await start()
    path, body = request_for("apiframe")
    status, _, _ = await client.call("POST", "apiframe", path, hdrs={"Authorization": f"Bearer {KEY}"}, json=body)
    assert status == 401


# -- validation ------------------------------------------------------------------------

def _mm(**changes: Any) -> dict[str, Any]:
    body = request_for("minimax")[1]
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


INVALID = [  # (id, provider, path or None for the default, body)
    ("minimax-fast-t2v", "minimax", None, _mm(model="MiniMax-Hailuo-2.3-Fast")),
    ("minimax-lowercase-p", "minimax", None, _mm(resolution="768p")),
    ("minimax-long-prompt", "minimax", None, _mm(prompt="x" * 2001)),
    ("minimax-duration-string", "minimax", None, _mm(duration="6")),
    ("gptge-no-resolution", "gptge", None, _mm(resolution=None)),
    ("gptge-no-duration", "gptge", None, _mm(duration=None)),
    ("gccai-uppercase-p", "gccai", None, {**request_for("gccai")[1], "resolution": "768P"}),
    ("gccai-fast-t2v", "gccai", None, {**request_for("gccai")[1], "model": "MiniMax-Hailuo-2.3-Fast"}),
    ("gptproto-standard-1080p", "gptproto", "/api/v3/minimax/hailuo-2.3-standard/text-to-video",
     {"prompt": "x", "resolution": "1080P", "duration": 6}),
    ("gptproto-pro-768p", "gptproto", "/api/v3/minimax/hailuo-2.3-pro/text-to-video", {"prompt": "x"}),
    ("gptproto-i2v-no-image", "gptproto", "/api/v3/minimax/hailuo-2.3-fast/image-to-video", {"prompt": "x"}),
    ("gptproto-unknown-scene", "gptproto", "/api/v3/minimax/hailuo-2.3-fast/video-to-video", {"prompt": "x"}),
    ("apiinone-int-duration", "apiinone", None, {**request_for("apiinone")[1], "duration": 6}),
    ("apiinone-no-image", "apiinone", None, {k: v for k, v in request_for("apiinone")[1].items() if k != "image"}),
    ("apiinone-unknown-model", "apiinone", None, {**request_for("apiinone")[1], "model": "MiniMax-Hailuo-2.3"}),
    ("apiframe-extra-top", "apiframe", None, {**request_for("apiframe")[1], "seed": 1}),
    ("apiframe-extra-param", "apiframe", None,
     {**request_for("apiframe")[1], "hailuoParams": {"duration": 6, "aspect_ratio": "16:9"}}),
    ("apiframe-uppercase-p", "apiframe", None, {**request_for("apiframe")[1], "hailuoParams": {"resolution": "768P"}}),
    ("apiframe-empty-prompt", "apiframe", None, {**request_for("apiframe")[1], "prompt": ""}),
]


def assert_invalid(provider: str, status: int, body: Any) -> None:
    """The provider's own validation-error shape."""
    if provider in ("minimax", "gptge"):
        assert status == 200 and body["base_resp"]["status_code"] == 2013 and body["task_id"] == ""
        assert body["base_resp"]["status_msg"].startswith("invalid params")
    elif provider == "apiframe":
        assert status == 400 and set(body) == {"error", "details"} and isinstance(body["error"], str)
        assert all(isinstance(v, list) and v for v in body["details"].values())
    elif provider == "gptproto":
        assert status == 400 and body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    elif provider == "minimax_v2":
        assert status == 400 and body["type"] == "error" and body["error"]["type"] == "bad_request_error"
        assert body["error"]["message"].endswith("(2013)") and body["error"]["http_code"] == "400"
    else:
        kind = "invalid_request" if provider == "apiinone" else "invalid_request_error"
        assert status == 400 and body["error"]["code"] == 400 and body["error"]["type"] == kind


@pytest.mark.parametrize(("provider", "path", "body"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
async def test_invalid_bodies_are_refused_in_the_providers_shape(start, provider, path, body):
    client = await start()
    status, got, _ = await client.call("POST", provider, path or SUBMIT[provider], json=body)
    assert_invalid(provider, status, got)
    assert client.accepted(provider) == 0
    assert [r.reason for r in client.sim.store.requests] == ["invalid"]


async def test_apiframe_details_name_each_bad_path(start):
    client = await start()
    body = {"model": "hailuo-2.3", "prompt": "x", "seed": 1,
            "hailuoParams": {"duration": 10, "resolution": "1080p", "aspect_ratio": "16:9"}}
    status, got, _ = await client.call("POST", "apiframe", SUBMIT["apiframe"], json=body)
    assert status == 400
    assert set(got["details"]) == {"seed", "hailuoParams.aspect_ratio", "hailuoParams.duration"}


@pytest.mark.parametrize("provider", [p for p in PROVIDER_NAMES if p != "minimax_v2"])  # H3 sells no 1080P:
async def test_1080p_with_10_seconds_is_refused_everywhere(start, provider):  # test_minimax_v2_sim.py
    client = await start()
    status, got, _ = await client.submit(provider, duration=10, res="1080")
    assert_invalid(provider, status, got)
    assert ok(provider, await client.submit(provider, duration=6, res="1080"))
    assert ok(provider, await client.submit(provider, duration=10, res="768"))


async def test_minimax_requires_a_json_content_type(start):
    client = await start()
    status, got, _ = await client.call("POST", "minimax", SUBMIT["minimax"], data=b'{"model": "MiniMax-Hailuo-2.3"}')
    assert_invalid("minimax", status, got)


async def test_unknown_routes_and_tasks(start):
    client = await start()
    for provider, path in (("apiframe", "/v1/videos/generate"), ("gptge", "/task/minimax/v1/query/video_generation"),
                           ("minimax", "/v2/nothing")):
        assert (await client.call("GET", provider, path))[0] == 404
    assert [r.kind for r in client.sim.store.requests] == ["other"] * 3
    unknown = {
        "minimax": (200, {"task_id": "123",
                          "base_resp": {"status_code": 2013, "status_msg": "invalid params, task not found"}}),
        "gccai": (404, {"error": {"code": 404, "message": "task not found", "type": "invalid_request_error"}}),
        "apiframe": (404, {"error": "Job not found"}),
    }
    for provider, expected in unknown.items():
        task_id = "6f1c2b4e-0000-4000-8000-000000000000" if provider == "apiframe" else "123"
        status, body, _ = await client.call("GET", provider, POLL[provider].format(task_id))
        assert (status, body) == expected
    assert (await client.call("GET", "apiframe", "/v2/jobs/not-a-uuid"))[0] == 400
    async with client.session.get(client.sim.base_url + "/videos/apiframe/nope.mp4") as resp:
        assert resp.status == 404


# -- limits ----------------------------------------------------------------------------

RATE_LIMITED = {
    "minimax": (200, {"task_id": "", "base_resp": {"status_code": 1002, "status_msg": "rate limit"}}),
    "gptge": (200, {"task_id": "", "base_resp": {"status_code": 1002, "status_msg": "rate limit"}}),
    "gccai": (429, {"error": {"code": 429, "message": "rate limit exceeded", "type": "rate_limit_error"}}),
    "gptproto": (429, {"error": {"message": "Rate limit exceeded", "type": "rate_limit_error",
                                 "code": "rate_limit_exceeded"}}),
    "apiinone": (429, {"error": {"code": 429, "message": "Rate limit exceeded", "type": "rate_limited"}}),
    "apiframe": (429, {"error": "Rate limit exceeded"}),
    "minimax_v2": v2_error(429, "rate_limit_error", "rate limit exceeded (1002)"),
}


@pytest.mark.serial  # bounds real time
async def test_submits_beyond_the_window_allowance_get_each_providers_rate_limit(start):
    client = await start(rpm=1200, window_s=0.5)  # 10 submits per 0.5 s

    async def burst(provider: str) -> None:
        answers = [await client.submit(provider, prompt=f"shot {i}") for i in range(12)]
        assert all(ok(provider, a) for a in answers[:10])
        for status, body, hdrs in answers[10:]:
            assert (status, body) == RATE_LIMITED[provider]
            if provider == "apiframe":  # documented: every 429 says when to retry (whole seconds)
                assert int(hdrs["Retry-After"]) >= 1
            else:
                assert "Retry-After" not in hdrs
        assert client.accepted(provider) == 10
        await asyncio.sleep(0.55)  # the window slides past the burst
        assert ok(provider, await client.submit(provider, prompt="later"))
        assert client.accepted(provider) == 11

    await asyncio.gather(*(burst(p) for p in PROVIDER_NAMES))
    state = client.sim.store
    for provider in PROVIDER_NAMES:
        assert state.max_submits_in_window(provider, 0.5) == 10
        refused = [r for r in state.requests if r.provider == provider and r.reason == "rate"]
        assert len(refused) == 2 and not any(r.accepted for r in refused)
        assert state.first_429_at(provider) == refused[0].t
    # polls are not rate limited
    task_id = state.submissions["gccai"][0].task_id
    assert all([await client.poll("gccai", task_id) for _ in range(15)])


async def test_retry_after_when_configured(start):
    client = await start(rpm=60, window_s=1.0, retry_after_s=0.5)
    for provider in ("gccai", "apiframe", "minimax"):
        await client.submit(provider)
        _status, _, hdrs = await client.submit(provider)
        assert hdrs.get("Retry-After") == (None if provider == "minimax" else "0.5")  # MiniMax: HTTP 200


@pytest.mark.serial  # bounds real time
async def test_in_flight_cap_is_refused_like_a_rate_limit(start):
    client = await start(max_in_flight=2)
    statuses = [(await client.submit("gptproto", prompt=f"s{i}"))[0] for i in range(3)]
    assert statuses == [200, 200, 429]
    assert client.sim.store.requests[-1].reason == "in_flight"
    await asyncio.sleep(GEN_S + 0.02)
    assert (await client.submit("gptproto"))[0] == 200
    assert client.sim.store.max_in_flight_seen("gptproto") == 2


# -- content policy, failures, balance ------------------------------------------------

async def test_content_policy_marker_each_providers_way(start):
    client = await start()
    marker = client.sim.config.providers["minimax"].content_policy_marker
    prompt = f"something forbidden {marker}"
    for provider in ("minimax", "gptge"):
        assert (await client.submit(provider, prompt=prompt))[:2] == (
            200, {"task_id": "", "base_resp": {"status_code": 1026, "status_msg": "input new_sensitive"}})
    status, body, _ = await client.submit("gptproto", prompt=prompt)
    assert status == 400 and body["error"]["code"] == "content_policy_violation"
    assert all(client.accepted(p) == 0 for p in ("minimax", "gptge", "gptproto"))

    ids = {p: task_id_of(p, (await client.submit(p, prompt=prompt))[1]) for p in ("gccai", "apiinone", "apiframe")}
    done = {p: (await client.until_done(p, t))[1] for p, t in ids.items()}
    assert done["gccai"]["data"]["status"] == "failed"
    assert done["gccai"]["data"]["error"] == {"message": "content rejected"}
    assert done["apiinone"]["data"]["status"] == "failed"
    assert done["apiinone"]["data"]["error"] == "content policy violation"
    af = done["apiframe"]
    assert (af["status"], af["progress"], af["result"], af["creditCost"]) == ("FAILED", 0, None, 0)
    assert af["error"] == "Provider returned an error: content policy violation"
    assert af["completedAt"] is not None
    for task_id in ids.values():  # moderation ends a content failure early
        task = client.sim.store.tasks[task_id]
        assert task.finishes_at - task.submitted_at < GEN_S


async def test_output_policy_marker_gives_minimax_fail_with_1027(start):
    client = await start()
    marker = client.sim.config.providers["minimax"].output_policy_marker
    for provider in ("minimax", "gptge", "gptproto"):
        status, body, _ = await client.submit(provider, prompt=f"fine input {marker}")
        assert status == 200
        words, last = await client.until_done(provider, task_id_of(provider, body))
        assert words[-1] == FAILED_WORD[provider]
        if provider == "gptproto":
            assert last["data"]["has_nsfw_contents"] == [True] and last["data"]["outputs"] == []
        else:
            assert last["base_resp"] == {"status_code": 1027, "status_msg": "output new_sensitive"}
            assert last["file_id"] == ""


async def test_failed_tasks_in_each_providers_vocabulary(start):
    client = await start(fail_rate=1.0)
    last = {}

    async def run(provider: str, i: int) -> None:
        _, body, _ = await client.submit(provider, prompt=f"shot {i}")
        words, last[provider, i] = await client.until_done(provider, task_id_of(provider, body))
        assert words[-1] == FAILED_WORD[provider]

    for i in range(2):  # in order: the n-th failure of a provider picks its variant
        await asyncio.gather(*(run(p, i) for p in PROVIDER_NAMES))
    # Fail whatever base_resp says
    assert last["minimax", 0]["base_resp"] == {"status_code": 0, "status_msg": "success"}
    assert last["gptge", 0]["status"] == "Fail"
    assert {type(last["gccai", i]["data"]["error"]) for i in (0, 1)} == {dict, str}  # both seen shapes
    assert last["gptproto", 0]["data"]["error"] and last["gptproto", 0]["data"]["outputs"] == []
    assert last["apiinone", 0]["data"]["error"]
    assert last["apiframe", 0]["creditCost"] == 0
    assert last["apiframe", 0]["error"].startswith("Provider returned an error")
    # a failed task has no video
    task_id = client.sim.store.submissions["gccai"][0].task_id
    async with client.session.get(f"{client.sim.base_url}/videos/gccai/{task_id}.mp4") as resp:
        assert resp.status == 404


BALANCE = {
    "minimax": (200, {"task_id": "", "base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}),
    "gptge": (200, {"task_id": "", "base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}),
    "gccai": (402, {"error": {"code": 402, "message": "insufficient balance", "type": "payment_required"}}),
    "gptproto": (403, {"error": {"message": "Insufficient balance for the requested operation",
                                 "type": "permission_error", "code": "insufficient_permissions"}}),
    "apiinone": (402, {"error": {"code": 402, "message": "Insufficient credits", "type": "insufficient_credits"}}),
    "apiframe": (402, {"error": "Insufficient credits", "creditsRequired": 10, "creditsAvailable": 0}),
    "minimax_v2": v2_error(402, "insufficient_balance_error", "insufficient balance (1008)"),
}


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_balance_runs_out_in_the_providers_shape(start, provider):
    client = await start(balance=2)
    assert all([ok(provider, await client.submit(provider, prompt=f"s{i}")) for i in range(2)])
    status, body, _ = await client.submit(provider, duration=10)
    assert (status, body) == BALANCE[provider]
    assert client.accepted(provider) == 2
    assert client.sim.store.requests[-1].reason == "balance"


QUOTA = {
    "minimax": (200, {"task_id": "", "base_resp": {"status_code": 2056, "status_msg": "usage limit exceeded"}}),
    "gptge": (200, {"task_id": "", "base_resp": {"status_code": 2056, "status_msg": "usage limit exceeded"}}),
    "gccai": (429, {"error": {"code": 429, "message": "daily quota exceeded", "type": "quota_exceeded"}}),
    "gptproto": (429, {"error": {"message": "Daily quota exceeded", "type": "rate_limit_error",
                                 "code": "quota_exceeded"}}),
    "apiinone": (429, {"error": {"code": 429, "message": "Daily quota exceeded", "type": "quota_exceeded"}}),
    "apiframe": (429, {"error": "Daily quota exceeded"}),
    "minimax_v2": v2_error(429, "rate_limit_error", "daily quota exceeded (2056)"),
}


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_daily_quota_runs_out_in_the_providers_shape(start, provider):
    """``quota``: after that many accepted submits, the provider's quota answer,
    without Retry-After, which our adapter reads as quota_exhausted (not retryable)."""
    client = await start(quota=1)
    assert ok(provider, await client.submit(provider))
    status, body, hdrs = await client.submit(provider, prompt="one more")
    assert (status, body) == QUOTA[provider]
    assert "Retry-After" not in hdrs
    assert client.accepted(provider) == 1 and client.sim.store.requests[-1].reason == "quota"
    with pytest.raises(ProviderError) as err:
        ADAPTERS[provider]().read_submit(HttpResponse(status, {}, json.dumps(body).encode()))
    assert err.value.error_code == "quota_exhausted" and not err.value.retryable


# -- apiframe idempotency ----------------------------------------------------------------

async def test_apiframe_idempotency_key_returns_the_original_job_without_a_charge(start):
    client = await start(balance=1)
    path, body = request_for("apiframe")

    async def submit(key: str):
        return await client.call("POST", "apiframe", path, json=body,
                                 hdrs={**headers("apiframe"), "Idempotency-Key": key})

    first = await submit("k-1")
    again = await submit("k-1")
    assert first[:2] == again[:2] and first[0] == 202
    assert client.accepted("apiframe") == 1  # the balance of 1 was not spent twice
    job_id = first[1]["jobId"]
    assert client.sim.store.requests[-1].reason == "idempotent_replay"
    assert client.sim.store.submissions["apiframe"][0].idempotency_key == "k-1"
    await client.until_done("apiframe", job_id)
    replay = await submit("k-1")
    assert replay[:2] == (202, {"jobId": job_id, "status": "COMPLETED"})
    other = await submit("k-2")
    assert other[0] == 402  # a new key is a new job, and the balance is spent
    long_key = await submit("k" * 256)
    assert long_key[0] == 400 and "Idempotency-Key" in long_key[1]["details"]


async def test_apiframe_concurrent_replays_make_one_job(start):
    client = await start()
    path, body = request_for("apiframe")
    hdrs = {**headers("apiframe"), "Idempotency-Key": "same"}
    answers = await asyncio.gather(*(client.call("POST", "apiframe", path, json=body, hdrs=hdrs) for _ in range(8)))
    assert len({a[1]["jobId"] for a in answers}) == 1 and client.accepted("apiframe") == 1


async def test_gccai_idempotency_key_replays_the_original_task_and_says_so(start):
    client = await start(balance=1)
    path, body = request_for("gccai")

    async def submit(key: str):
        return await client.call("POST", "gccai", path, json=body, hdrs={**headers("gccai"), "Idempotency-Key": key})

    first, again = await submit("k-1"), await submit("k-1")
    assert first[:2] == again[:2] and first[0] == 200
    assert "Idempotency-Replayed" not in first[2] and again[2]["Idempotency-Replayed"] == "true"
    assert client.accepted("gccai") == 1  # the balance of 1 was not spent twice
    assert (await submit("k" * 192))[0] == 400  # 1-191 characters


async def test_apiframe_answers_cancelled_and_a_bare_result_url_as_its_sdk_reads_them(start):
    client = await start(fail_rate=1.0)
    client.sim.store.config.providers["apiframe"].answer_variant = "cancelled"
    job_id = task_id_of("apiframe", (await client.submit("apiframe"))[1])
    await asyncio.sleep(GEN_S + 0.05)
    body = await client.poll("apiframe", job_id)
    assert body["status"] == "CANCELLED" and body["creditCost"] == 0
    client.sim.store.config.providers["apiframe"].fail_rate = 0.0
    client.sim.store.config.providers["apiframe"].answer_variant = "result_string"
    job_id = task_id_of("apiframe", (await client.submit("apiframe"))[1])
    _, body = await client.until_done("apiframe", job_id)
    assert isinstance(body["result"], str) and body["result"].startswith("http")


# -- faults, URL lifetimes, latency ------------------------------------------------------

SERVER_ERROR = {
    "minimax": (500, {"task_id": "", "base_resp": {"status_code": 1000, "status_msg": "unknown error"}}),
    "gccai": (500, {"error": {"code": 500, "message": "internal server error", "type": "server_error"}}),
    "gptproto": (500, {"error": {"message": "Internal server error", "type": "server_error",
                                 "code": "internal_error"}}),
    "apiinone": (500, {"error": {"code": 500, "message": "Internal server error", "type": "server_error"}}),
    "apiframe": (503, {"error": "Service temporarily unavailable"}),
}


async def test_error_rate_answers_500_or_503_in_the_providers_shape(start):
    client = await start(error_rate=1.0)
    for provider, expected in SERVER_ERROR.items():
        status, body, _ = await client.submit(provider)
        assert (status, body) == expected
        assert client.accepted(provider) == 0
        status, body, _ = await client.call("GET", provider, POLL[provider].format("x"))
        assert (status, body) == expected


async def test_faults_are_deterministic_for_a_seed(start):
    async def statuses(seed: int) -> list[int]:
        client = await start(seed=seed, error_rate=0.5)
        return [(await client.submit("gccai", prompt=f"s{i}"))[0] for i in range(24)]

    a, b, c = await statuses(7), await statuses(7), await statuses(8)
    assert a == b and set(a) == {200, 500} and a != c


@pytest.mark.serial  # bounds real time
async def test_video_urls_expire_after_the_documented_lifetime(start):
    # a 1.5 s life: long enough for a loaded machine to poll and fetch four URLs inside it
    client = await start(url_ttl_s={"apiframe": 1.5, "gccai": 1.5, "minimax": 1.5})
    ids = {p: task_id_of(p, (await client.submit(p))[1]) for p in ("apiframe", "gccai", "minimax", "apiinone")}
    await asyncio.sleep(GEN_S + 0.02)
    urls = {}
    for provider, task_id in ids.items():
        body = await client.poll(provider, task_id)
        urls[provider] = await client.video_url(provider, body)
        assert (await client.download(urls[provider]))[0] == 200
    assert (await client.poll("apiframe", ids["apiframe"]))["expired"] is False
    await asyncio.sleep(1.55)
    assert (await client.poll("apiframe", ids["apiframe"]))["expired"] is True
    for provider in ("apiframe", "gccai"):
        assert (await client.download(urls[provider]))[0] == 404
    assert (await client.download(urls["minimax"]))[0] == 403  # a signed URL past its Expires, as OSS answers
    assert (await client.download(urls["apiinone"]))[0] == 200  # undocumented lifetime: no expiry
    # MiniMax: the 1 h (here 1.5 s) counts from files/retrieve; retrieving again gives a fresh URL
    fresh = await client.video_url("minimax", await client.poll("minimax", ids["minimax"]))
    assert (await client.download(fresh))[0] == 200
    assert (await client.download(urls["minimax"]))[0] == 403  # the old signed URL stays dead


async def test_latency_is_added_to_every_answer(start):
    client = await start(latency_s=0.15)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await client.submit("apiinone")
    assert loop.time() - began >= 0.15


# -- the application ----------------------------------------------------------------------

async def test_index_lists_every_provider_and_the_banner_names_urls_and_keys(start):
    client = await start()
    async with client.session.get(client.sim.base_url + "/") as resp:
        index = await resp.json()
    assert index["providers"] == {p: client.sim.url(p) for p in PROVIDER_NAMES}
    assert list(SIMULATORS) == list(PROVIDER_NAMES)
    lines = "\n".join(banner(client.sim))
    for provider in PROVIDER_NAMES:
        assert f"{provider.upper()}_BASE_URL={client.sim.url(provider)}" in lines
        assert f"{KEY_VARIABLE.get(provider, provider.upper() + '_API_KEY')}={KEY}" in lines


def test_a_knob_sets_how_long_a_providers_video_urls_work():
    config = make_config(["minimax.url_ttl_s=5", "gptproto.url_ttl_s=none"])
    assert (config.url_ttl_s["minimax"], config.url_ttl_s["gptproto"], config.url_ttl_s["gptge"]) == (5.0, None, 3600)
    with pytest.raises(ValueError, match="url_ttl_s takes a number"):
        make_config(["minimax.url_ttl_s=soon"])


def test_config_fills_every_provider_and_refuses_unknown_ones():
    config = SimConfig(providers={"gccai": ProviderSimConfig(rpm=5)})
    assert set(config.providers) == set(PROVIDER_NAMES) and config.providers["gccai"].rpm == 5
    assert config.url_ttl_s["minimax"] == 3600 and config.url_ttl_s["gccai"] == 259200
    assert config.url_ttl_s["gptproto"] is None
    with pytest.raises(ValueError, match="nope"):
        SimConfig(providers={"nope": ProviderSimConfig()})


# -- batch-runner simulate ------------------------------------------------------------------

async def test_simulate_command_applies_its_knobs(tmp_path):
    """``batch-runner simulate --port 0 --knob PROVIDER.FIELD=VALUE`` as a real
    process: the banner gives the bound port and the keys, and each setting
    changes what that provider (and only it) answers over HTTP."""
    import os
    import signal
    import sys

    from conftest import ROOT

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "simulate", "--port", "0", "--generation-s", "0.2",
        "--knob", "gccai.error_rate=1", "--knob", "apiframe.quota=0", "--knob", "minimax.api_key=my-key",
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None  # both piped
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.fullmatch(r"simulator at (http://127\.0\.0\.1:(\d+)) \(Ctrl-C to stop\)\n", first)
        assert match and int(match[2]) != 0, first
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 5)).decode() for _ in PROVIDER_NAMES]
        assert "MINIMAX_API_KEY=my-key" in lines[0] and f"GCCAI_BASE_URL={match[1]}/gccai" in lines[2]
        base = match[1]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async def submit(provider: str, key: str = KEY) -> tuple[int, Any]:
                path, body = request_for(provider)
                async with session.post(f"{base}/{provider}{path}", json=body, headers=headers(provider, key)) as resp:
                    return resp.status, await resp.json(content_type=None)

            assert await submit("gccai") == (500, {"error": {"code": 500, "message": "internal server error",
                                                             "type": "server_error"}})
            assert await submit("apiframe") == QUOTA["apiframe"]
            status, body = await submit("minimax")  # the default key no longer works
            assert (status, body["base_resp"]["status_code"]) == (200, 1004)
            status, body = await submit("minimax", key="my-key")
            assert body["base_resp"]["status_code"] == 0 and re.fullmatch(ID_FORMAT["minimax"], body["task_id"])
            status, body = await submit("gptge")  # a provider nothing was set for: as usual
            assert status == 200 and body["base_resp"]["status_code"] == 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode == 0, (await proc.stderr.read()).decode()  # Ctrl-C: a clean stop


@pytest.mark.parametrize(("pair", "says"), [
    ("gccai.nope=1", "FIELD one of api_key, generation_s"),
    ("mars.rpm=5", "PROVIDER one of minimax, gptge"),
    ("gccai.rpm=fast", "rpm takes a number"),
    ("gccai.generation_s=none", "generation_s cannot be none; it takes a number"),
    ("all.error_rate=nan", "error_rate takes a finite number, not nan"),
    ("minimax.latency_s=-inf", "latency_s takes a finite number, not -inf"),
])
@pytest.mark.timeout(10)  # a setting not refused would serve forever
def test_simulate_command_refuses_a_bad_knob(cli, pair, says):
    """Refused (exit 2, naming what is allowed) before anything is served."""
    result = cli("simulate", "--port", "0", "--knob", pair)
    assert result.exit_code == 2 and says in result.stderr


def test_knobs_take_none_only_where_a_field_can_be_unset_and_only_finite_numbers():
    config = apply_knobs(SimConfig(), ["gccai.rpm=5", "gccai.rpm=None", "all.video_cut_after_bytes=100",
                                          "apiframe.api_key=none", "minimax.error_rate=1e-3"])
    assert config.providers["gccai"].rpm is None and config.providers["gptge"].video_cut_after_bytes == 100
    assert config.providers["apiframe"].api_key == "none" and config.providers["minimax"].error_rate == 0.001
    for pair, says in [("gccai.window_s=none", "window_s cannot be none; it takes a number"),
                       ("gccai.video_cut_rate=NONE", "video_cut_rate cannot be none"),
                       ("gccai.rpm=inf", "rpm takes a finite number, not inf"),
                       ("gccai.slow_s=Infinity", "slow_s takes a finite number, not Infinity"),
                       ("gccai.retry_after_s=NaN", "retry_after_s takes a finite number, not NaN"),
                       ("gccai.balance=inf", "balance takes a whole number"),
                       ("gccai.quota=2.5", "quota takes a whole number")]:
        with pytest.raises(ValueError, match=re.escape(says)):
            apply_knobs(SimConfig(), [pair])


def test_the_manual_lists_every_simulator_knob():
    """The manual's page docs/simulator.md documents exactly the fields ``simulate --knob`` accepts."""
    import dataclasses

    from conftest import ROOT

    section = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    documented = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            documented |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
    # every per-provider field, and url_ttl_s (SimConfig's per-provider video URL life)
    assert documented == {f.name for f in dataclasses.fields(ProviderSimConfig)} | {"url_ttl_s"}
