"""Hailuo-02 (text, first frame, first and last frame, 512P) and T2V-01 through the
CLI against the simulator over HTTP: each provider that sells them gets its own
model id and last-frame field, costs follow the price table, ``plan`` shows each
price or unknown, and a last frame on Hailuo 2.3 is refused before any request."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import yaml

from batch_runner.catalog.facts import catalog

from conftest import ROOT, sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "typical_generation_s": 0.2}
FIRST, LAST = "https://cdn.example-shop.com/img/first.jpg", "https://cdn.example-shop.com/img/last.jpg"
JOBS = [
    {"name": "02-text", "provider": "minimax", "model": "hailuo-02", "prompt": "a runner at dawn [推进]"},
    {"name": "02-first-frame", "provider": "gptge", "model": "hailuo-02", "image": FIRST,
     "resolution": "1080P", "prompt": "the sneaker spins"},
    {"name": "02-first-last", "provider": "minimax", "model": "hailuo-02", "image": "shoe.png",
     "end_image": "shoe.png", "prompt": "the sneaker lands where it began"},
    {"name": "02-first-last-apiframe", "provider": "apiframe", "model": "hailuo-02", "image": FIRST,
     "end_image": LAST, "prompt": "from the box to the foot"},
    {"name": "02-fast-first-last", "provider": "gptproto", "model": "hailuo-02-fast", "image": FIRST,
     "end_image": LAST, "duration": 10, "prompt": "laces tighten"},
    {"name": "02-512p", "provider": "minimax", "model": "hailuo-02", "image": FIRST, "resolution": "512P",
     "duration": 10, "prompt": "a quick preview"},
    {"name": "01-text", "provider": "minimax", "model": "t2v-01", "resolution": "720P", "prompt": "a calm lake"},
    {"name": "01-director", "provider": "gptge", "model": "t2v-01-director", "resolution": "720P",
     "prompt": "a calm sea [Pan left]"},
    {"name": "02-auto", "provider": "auto", "model": "hailuo-02", "prompt": "a city at night"},
]


def manifest(tmp_path, jobs=JOBS):
    shutil.copy(ROOT / "manifests" / "images" / "trail-runner.png", tmp_path / "shoe.png")
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"providers": {p: dict(FAST) for p in catalog()}, "jobs": jobs}), encoding="utf-8")
    return path


def test_hailuo_02_and_t2v_01_run_on_each_provider_that_sells_them(cli, tmp_path, threaded_sim):
    sim, out = threaded_sim, tmp_path / "results.csv"
    result = cli("run", manifest(tmp_path), "-o", out, "--quiet", env=sim_env(sim))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    assert set(df["status"]) == {"succeeded"}
    assert df.loc["02-auto", "provider"] == "minimax"  # the cheapest known price: $0.28
    for name, row in df.iterrows():  # every price here is in USD or unknown
        price = catalog()[row["provider"]].price(row["model"], row["resolution"], int(row["duration"]))
        assert (float(row["cost_usd"]) if row["cost_usd"] else None) == price, name
    assert float(df.loc["02-512p", "cost_usd"]) == 0.15 and float(df.loc["02-text", "cost_usd"]) == 0.28
    assert df.loc["01-text", "cost_usd"] == "" and df.loc["02-first-last-apiframe", "cost_credits"] == ""
    assert df.loc["02-first-last", "scene"] == "image-to-video"
    bodies = {p: [s.body for s in sim.store.submissions[p]] for p in ("minimax", "gptge", "apiframe")}
    models = sorted(b["model"] for b in bodies["minimax"])
    assert models == ["MiniMax-Hailuo-02"] * 4 + ["T2V-01"]
    last = [b for b in bodies["minimax"] if "last_frame_image" in b]
    assert len(last) == 1 and last[0]["last_frame_image"].startswith("data:image/png;base64,")
    assert last[0]["first_frame_image"] == last[0]["last_frame_image"]
    assert sorted(b["model"] for b in bodies["gptge"]) == ["MiniMax-Hailuo-02", "T2V-01-Director"]
    assert all("last_frame_image" not in b for b in bodies["gptge"])
    (frame,) = bodies["apiframe"]
    assert frame["model"] == "hailuo-02" and frame["hailuoParams"]["end_image"] == LAST
    (proto,) = sim.store.submissions["gptproto"]
    assert proto.body["end_image"] == LAST and proto.body["image"] == FIRST


def test_plan_shows_the_price_of_each_new_model_or_unknown(cli, tmp_path):
    result = cli("plan", manifest(tmp_path), "--simulate", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = {p["provider"]: p for p in json.loads(result.stdout)["providers"]}
    # minimax: 02 768P 6 s x2 (one routed by auto) $0.28, 512P 10 s $0.15, T2V-01 unknown
    assert plan["minimax"]["jobs"] == 5 and plan["minimax"]["usd_unknown_jobs"] == 1
    assert abs(plan["minimax"]["usd"] - (0.28 * 3 + 0.15)) < 1e-9
    assert plan["gptge"]["usd"] is None and plan["gptge"]["usd_unknown_jobs"] == 2
    assert plan["gptproto"]["usd"] is None and plan["apiframe"]["credits"] == 0
    table = cli("plan", manifest(tmp_path), "--simulate")
    assert table.exit_code == 0 and "unknown" in table.output


def test_an_end_image_on_hailuo_2_3_is_refused_before_any_request(cli, tmp_path, threaded_sim):
    jobs = [{"name": "2.3-first-last", "provider": "apiframe", "model": "hailuo-2.3", "image": FIRST,
             "end_image": LAST, "prompt": "from the box to the foot"}]
    path = manifest(tmp_path, jobs)
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert ("apiframe sells first-and-last-frame video (end_image) for hailuo-02 only, not hailuo-2.3: "
            "set model: hailuo-02, or remove end_image (providers that can: gptproto)") in result.output
    assert "m.yaml: line 2, field 'end_image'" in result.output and "Traceback" not in result.output
    run = cli("run", path, "-o", tmp_path / "r.csv", env=sim_env(threaded_sim))
    assert run.exit_code == 2 and not threaded_sim.store.submissions["apiframe"]
