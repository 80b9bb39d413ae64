"""An answer the adapter does not understand is evidence: kept as a capture, counted
on the provider's breaker, and the paid task recovered by a later run once the
answers are readable again. Through the CLI against the simulator over HTTP."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml
from PIL import Image

from conftest import sim_env

FAST = {"rpm": 6000, "max_in_flight": 2, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 3, "typical_generation_s": 0.1}
N = 6


def campaign(tmp_path: Path, drifting: str = "minimax", other: str = "gccai") -> Path:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        # the 30-minute deadline: a drifting task must not wait for it
        "providers": {drifting: {**FAST, "task_timeout_s": 1800}, other: {**FAST, "max_in_flight": 6}},
        "jobs": [{"name": f"{p}{i}", "prompt": f"shot {p} {i}", "provider": p}
                 for p in (drifting, other) for i in range(N)],
    }), encoding="utf-8")
    return manifest


def submits(sim, provider: str) -> int:
    return len(sim.store.submissions.get(provider, []))


def test_drifting_polls_open_the_breaker_and_the_next_run_recovers_the_videos(cli, tmp_path, threaded_sim):
    sim = threaded_sim
    manifest, out = campaign(tmp_path), tmp_path / "results.csv"
    sim.config.providers["minimax"].poll_drift_rate = 1.0  # every poll answer in an undocumented shape

    started = time.monotonic()
    har = tmp_path / "trace.har"
    first = cli("run", manifest, "-o", out, "--quiet", "--trace-http", har, env=sim_env(sim))
    elapsed = time.monotonic() - started
    assert first.exit_code == 1, first.output
    assert elapsed < 30  # not the 1800 s task deadline (scaled or not)
    df = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    assert set(df.loc[[f"gccai{i}" for i in range(N)], "status"]) == {"succeeded"}  # the others finish
    sent = submits(sim, "minimax")
    assert sent == 1  # the canary: first contact sends one job; its unreadable polls stop the provider
    mm = df.loc[[f"minimax{i}" for i in range(N)]]
    failed = mm[mm["status"] == "failed"]
    assert len(failed) == sent and set(failed["error_code"]) == {"unrecognised_answer"}
    assert set(mm[mm["status"] != "failed"]["status"]) <= {"pending"}  # never sent: the next run submits them
    journal = Path(f"{manifest}.journal.sqlite")
    for message in failed["error_message"]:
        assert "COMPLETE_V2" in message  # an excerpt of the answer
        named = message.split("answer kept in ")[1].split(")")[0]
        capture = json.loads(Path(named).read_text(encoding="utf-8"))
        assert Path(named).parent == Path(f"{journal}.captures")
        assert capture["provider"] == "minimax" and capture["response"]["status"] == 200
        assert "COMPLETE_V2" in capture["response"]["body"]
        assert capture["request"]["method"] == "GET" and "task_id=" in capture["request"]["url"]
        assert capture["request"]["headers"]["Authorization"] == "[redacted]"
        assert "sim-key" not in Path(named).read_text(encoding="utf-8")
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT provider, status, body, file FROM captures").fetchall()
    assert len(rows) >= 3 * sent and {r[0] for r in rows} == {"minimax"}
    assert "no new submit after 3 unreadable answers in a row" in first.output
    assert f"kept in {journal}.captures" in first.output
    entries = check_har(har)
    assert any("COMPLETE_V2" in e["response"]["content"].get("text", "") for e in entries)
    assert len([e for e in entries if e["request"]["method"] == "POST"]) == N + sent  # every submit

    sim.config.providers["minimax"].poll_drift_rate = 0.0  # the adapter (or the provider) is fixed
    second = cli("run", manifest, "-o", out, "--quiet", env=sim_env(sim))
    assert second.exit_code == 0, second.output
    df = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    assert set(df["status"]) == {"succeeded"}
    # the tasks paid for in the first run are polled again, not submitted again
    assert submits(sim, "minimax") == N
    prompts = [s.body.get("prompt") for s in sim.store.submissions["minimax"]]
    assert len(set(prompts)) == N


def check_har(path: Path) -> list[dict]:
    """The entries of a HAR file, after checking the fields HAR 1.2 requires
    (http://www.softwareishard.com/blog/har-12-spec/) and that no key is in it."""
    text = path.read_text(encoding="utf-8")
    assert "sim-key" not in text
    log = json.loads(text)["log"]
    assert log["version"] == "1.2" and {"name", "version"} <= set(log["creator"])
    assert log["entries"]
    for entry in log["entries"]:
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= set(entry)
        datetime.fromisoformat(entry["startedDateTime"])
        req, resp = entry["request"], entry["response"]
        assert {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize",
                "bodySize"} <= set(req)
        assert {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL",
                "headersSize", "bodySize"} <= set(resp)
        assert {"size", "mimeType"} <= set(resp["content"])
        assert {"send", "wait", "receive"} <= set(entry["timings"])
        for pair in req["headers"] + resp["headers"] + req["queryString"]:
            assert set(pair) == {"name", "value"} and isinstance(pair["value"], str)
        if "postData" in req:
            assert {"mimeType", "text"} <= set(req["postData"])
    return log["entries"]


def test_trace_http_redacts_keys_and_image_data(cli, tmp_path, threaded_sim):
    """An image-to-video job with a local image (sent as a data URI) and a provider
    key: the HAR keeps neither the key nor the image bytes, and opens as HAR 1.2."""
    sim = threaded_sim
    image = tmp_path / "shot.png"
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buf, "PNG")
    image.write_bytes(buf.getvalue() + b"\0" * 4000)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"providers": {"minimax": FAST}, "jobs": [
        {"prompt": "slow push in", "provider": "minimax", "image": "shot.png"}]}), encoding="utf-8")
    key = "mm-secret-key-0123456789abcdef"
    sim.config.providers["minimax"].api_key = key
    har = tmp_path / "trace.har"
    result = cli("run", manifest, "-o", tmp_path / "r.csv", "--quiet", "--trace-http", har,
                 env={**sim_env(sim), "MINIMAX_API_KEY": key})
    assert result.exit_code == 0, result.output
    text = har.read_text(encoding="utf-8")
    assert key not in text
    entries = check_har(har)
    submit = next(e for e in entries if e["request"]["method"] == "POST")
    auth = {h["name"].lower(): h["value"] for h in submit["request"]["headers"]}["authorization"]
    assert auth == "[redacted]"
    body = json.loads(submit["request"]["postData"]["text"])
    image_field = next(v for v in body.values() if isinstance(v, str) and v.startswith("data:image/"))
    assert len(image_field) < 100 and "chars]" in image_field  # cut short, its length said
