"""Cost: the plan before spending, budget caps, cheapest-provider routing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from batch_runner.app import RunRequest, execute, load_jobs

from conftest import ROOT, sim_env

PRICES = yaml.safe_load((ROOT / "batch_runner" / "data" / "providers.yaml").read_text(encoding="utf-8"))
FAST = {"rpm": 6000, "max_in_flight": 20, "poll_interval_s": 0.05, "typical_generation_s": 0.3}


def test_plan_of_the_example_equals_a_hand_computation(cli):
    result = cli("plan", ROOT / "manifests" / "example.yaml", "--simulate", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = {p["provider"]: p for p in json.loads(result.output)["providers"]}
    data = yaml.safe_load((ROOT / "manifests" / "example.yaml").read_text(encoding="utf-8"))
    expect: dict[str, dict] = {}
    for job in data["jobs"]:
        row = {**data["defaults"], **job}
        n = row.get("variants", 1)
        price = (PRICES[row["provider"]]["price"].get(row["model"]) or {}).get(f"{row['resolution'].upper()}-{row['duration']}")
        e = expect.setdefault(row["provider"], {"jobs": 0, "credits": 0.0, "usd": 0.0, "unknown": 0})
        e["jobs"] += n
        unit = PRICES[row["provider"]]["price"]["unit"]
        if price is None or unit == "credits":
            e["unknown"] += n
        if price is not None and unit == "credits":
            e["credits"] += n * price
        if price is not None and unit == "usd":
            e["usd"] += n * price
    for provider, e in expect.items():
        p = plan[provider]
        assert (p["jobs"], p["credits"], p["usd_unknown_jobs"]) == (e["jobs"], e["credits"], e["unknown"]), provider
        assert abs(p["usd"] - e["usd"]) < 1e-6, provider
    assert plan["minimax"]["usd"] == 0.68 and plan["apiframe"]["credits"] == 35 and plan["apiinone"]["credits"] == 130


def _sheet(tmp_path: Path, n: int, provider: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"providers": {provider: FAST},
                                    "jobs": [{"prompt": f"shot {i}", "provider": provider} for i in range(n)]}))
    return path


async def _run(tmp_path, sim, manifest, **kw):
    out = tmp_path / "results.csv"
    status = await execute(RunRequest(manifest, out, environ=sim_env(sim), speedup=1.0, quiet=True, **kw))
    return status, (pd.read_csv(out, dtype=str, keep_default_na=False) if out.exists() else None)


async def test_a_cap_for_exactly_n_jobs_submits_exactly_n(tmp_path, sim):
    # minimax 768P 6 s costs $0.28: $1.40 pays for exactly 5 of 12, with 20 in flight at once
    status, df = await _run(tmp_path, sim, _sheet(tmp_path, 12, "minimax"), max_cost=1.40, fit_budget=True)
    assert status == 1
    assert len(sim.state.submissions["minimax"]) == 5
    assert (df["status"] == "succeeded").sum() == 5 and (df["status"] == "skipped_budget").sum() == 7
    assert set(df.loc[df["status"] == "skipped_budget", "error_code"]) == {"budget"}
    assert abs(pd.to_numeric(df["cost_usd"]).sum() - 1.40) < 1e-9


def test_a_plan_over_the_cap_refuses_to_start(tmp_path, cli):
    manifest = _sheet(tmp_path, 12, "minimax")
    result = cli("run", manifest, "-o", tmp_path / "r.csv", "--simulate", "--max-cost", "1.00")
    assert result.exit_code == 4
    assert "the plan costs $3.36, over --max-cost $1.00" in result.output
    assert not (tmp_path / "r.csv").exists()  # nothing was run


async def test_credit_cap_and_unknown_usd_price(tmp_path, sim):
    manifest = _sheet(tmp_path, 6, "apiframe")  # 5 credits per video, USD per credit unknown
    status, df = await _run(tmp_path, sim, manifest, max_credits={"apiframe": 20}, fit_budget=True)
    assert len(sim.state.submissions["apiframe"]) == 4
    assert (df["status"] == "skipped_budget").sum() == 2
    # a USD cap cannot send jobs whose USD price is unknown, and says which setting fixes it
    out = tmp_path / "second"
    out.mkdir()
    status, df = await _run(out, sim, manifest, max_cost=100.0, fit_budget=True)
    assert set(df.loc[df["status"] == "skipped_budget", "error_message"]) == {
        "the USD price of apiframe credits is unknown: set usd_per_credit under providers: apiframe "
        "to send it jobs under --max-cost"}


def test_auto_routes_to_the_cheapest_capable_provider_with_a_key(tmp_path):
    sheet = tmp_path / "auto.csv"
    sheet.write_text("prompt,provider,image,resolution,duration\n"
                     "t2v,auto,,768P,6\n"
                     "i2v 10s,auto,https://x.test/a.jpg,768P,10\n"
                     "hd,auto,,1080P,6\n", encoding="utf-8")
    keys = {f"{p.upper()}_API_KEY": "k-123456" for p in PRICES}
    jobs, _ = load_jobs(RunRequest(sheet), keys)
    assert [j.provider for j in jobs] == ["minimax", "gccai", "gccai"]  # $0.28, $0.488, $0.432
    assert jobs[0].fallbacks[0] == "gccai" and "auto: minimax at $0.28" in jobs[0].route
    ids = [j.job_id for j in jobs]
    del keys["MINIMAX_API_KEY"], keys["GCCAI_API_KEY"]
    jobs, _ = load_jobs(RunRequest(sheet), keys)
    # next: providers whose price is unknown, the one with more spare rate first (apiframe: rpm 60)
    assert [j.provider for j in jobs] == ["apiframe", "apiframe", "apiframe"]
    assert [j.job_id for j in jobs] == ids  # the job id does not depend on the route


def test_plan_shows_each_auto_route(cli, tmp_path):
    sheet = tmp_path / "auto.csv"
    sheet.write_text("prompt,provider\nhello,auto\n", encoding="utf-8")
    result = cli("plan", sheet, "--simulate")
    assert result.exit_code == 0
    assert "row 2 -> auto: minimax at $0.28; then gccai $0.2928" in result.output
