"""End to end: manifest -> jobs -> six providers (simulated over real HTTP) -> results CSV."""

from __future__ import annotations

import aiohttp
import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute
from batch_runner.catalog.facts import catalog

from conftest import ROOT, sim_env

SPEEDUP = 60.0  # 10 s poll interval -> 0.17 s


async def run(manifest, tmp_path, sim, speedup=SPEEDUP, **kw):
    out = tmp_path / "results.csv"
    kw.setdefault("journal", tmp_path / "results.journal.sqlite")  # not beside the repository's manifest
    request = RunRequest(manifest=manifest, output=out, environ=sim_env(sim), speedup=speedup, quiet=True, **kw)
    status = await execute(request)
    return status, pd.read_csv(out, dtype=str, keep_default_na=False)


async def test_example_manifest_runs_on_all_six_providers(tmp_path, sim):
    status, df = await run(ROOT / "manifests" / "example.yaml", tmp_path, sim)
    assert status == 0
    assert len(df) == 17
    assert set(df["status"]) == {"succeeded"}
    assert set(df["provider"]) == {"minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe"}
    assert list(df["sku"][:2]) == ["TR-100", "TR-100"]  # campaign columns are copied
    assert set(df["campaign"]) == {"spring-launch-2026"}
    # every provider saw exactly one accepted submit per job
    for provider, group in df.groupby("provider"):
        assert len(sim.store.submissions[provider]) == len(group)
    # costs follow the price table
    for _, row in df.iterrows():
        info = catalog()[row["provider"]]
        price = info.price(row["model"], row["resolution"], int(row["duration"]))
        if info.price_unit == "usd":
            assert (float(row["cost_usd"]) if row["cost_usd"] else None) == price
        else:
            assert float(row["cost_credits"]) == price and row["cost_usd"] == ""
    # the URLs download from the simulator
    async with aiohttp.ClientSession() as session:
        for url in df["video_url"]:
            async with session.get(url) as resp:
                assert resp.status == 200
                assert len(await resp.read()) > 0
    assert (df["url_expires_at"][df["provider"] == "gccai"] != "").all()


async def test_content_rejection_is_a_failed_row_and_others_succeed(tmp_path, sim, write):
    marker = sim.config.providers["gccai"].content_policy_marker
    path = write("m.yaml", yaml.safe_dump({
        "defaults": {"provider": "gccai"},
        "jobs": [{"name": "ok1", "prompt": "a calm lake"},
                 {"name": "bad", "prompt": f"forbidden {marker}"},
                 {"name": "ok2", "prompt": "a calm sea", "provider": "minimax"},
                 {"name": "bad2", "prompt": f"also {marker}", "provider": "minimax"}],
    }))
    status, df = await run(path, tmp_path, sim)
    assert status == 1
    rows = df.set_index("name")
    assert rows.loc["ok1", "status"] == rows.loc["ok2", "status"] == "succeeded"
    for name in ("bad", "bad2"):
        assert rows.loc[name, "status"] == "failed"
        assert rows.loc[name, "error_code"] == "content_policy"
        assert rows.loc[name, "error_message"] != ""
    assert rows.loc["bad2", "provider_code"] == "1026"  # MiniMax's own code
    assert rows.loc["bad", "cost_usd"] == ""


@pytest.mark.serial  # bounds real time
async def test_submit_rate_and_in_flight_cap_are_respected(tmp_path, sim, write):
    # apiframe: the rate binds (10 submits/s); gccai: the in-flight cap binds (3)
    path = write("m.yaml", yaml.safe_dump({
        "providers": {"apiframe": {"rpm": 600, "max_in_flight": 20,
                                   "poll_interval_s": 0.1, "typical_generation_s": 0.3},
                      "gccai": {"rpm": 6000, "max_in_flight": 3, "poll_interval_s": 0.1, "typical_generation_s": 0.3}},
        "jobs": [{"provider": p, "prompt": f"shot {i}"} for i in range(20) for p in ("apiframe", "gccai")],
    }))
    status, df = await run(path, tmp_path, sim, speedup=1.0)
    assert status == 0 and len(df) == 40
    state = sim.store
    assert state.max_submits_in_window("apiframe", 1.0) <= 10 + 1  # +1: window edge
    assert state.max_submits_in_window("apiframe", 2.0) <= 20 + 1
    assert state.max_in_flight_seen("gccai") == 3
    assert state.max_in_flight_seen("apiframe") <= 20


async def test_spring_launch_sheet_runs_on_apiframe_with_set(tmp_path, sim):
    from conftest import DATA

    status, df = await run(DATA / "spring-launch.csv", tmp_path, sim, sets=["provider=apiframe"])
    assert status == 0
    assert len(df) == 38 and set(df["status"]) == {"succeeded"} and set(df["provider"]) == {"apiframe"}
    assert len(sim.store.submissions["apiframe"]) == 38
    assert {"campaign", "sku", "channel", "owner"} <= set(df.columns)  # its own columns are kept
    assert df["row"].astype(int).is_monotonic_increasing  # manifest order
