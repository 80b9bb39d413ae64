"""Cost: the plan before spending, budget caps, cheapest-provider routing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute, load_jobs
from batch_runner.errors import BudgetError
from batch_runner.logs import setup_logging

from conftest import ROOT, sim_env

PRICES = yaml.safe_load((ROOT / "batch_runner" / "data" / "providers.yaml").read_text(encoding="utf-8"))
FAST = {"rpm": 6000, "max_in_flight": 20, "poll_interval_s": 0.05, "typical_generation_s": 0.3}
KEYS = {f"{p.upper()}_API_KEY": "k-123456" for p in PRICES}


def test_plan_of_the_example_equals_a_hand_computation(cli):
    result = cli("plan", ROOT / "manifests" / "example.yaml", "--simulate", "--format", "json", "--no-canary")
    assert result.exit_code == 0, result.output
    plan = {p["provider"]: p for p in json.loads(result.stdout)["providers"]}
    data = yaml.safe_load((ROOT / "manifests" / "example.yaml").read_text(encoding="utf-8"))
    expect: dict[str, dict] = {}
    for job in data["jobs"]:
        row = {**data["defaults"], **job}
        n = row.get("variants", 1)
        prices = PRICES[row["provider"]]["price"].get(row["model"]) or {}
        price = prices.get(f"{row['resolution'].upper()}-{row['duration']}")
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
        if e["unknown"] == e["jobs"]:  # no job's USD price known: null, never 0.0
            assert p["usd"] is None, provider
        else:
            assert abs(p["usd"] - e["usd"]) < 1e-6, provider
        # every provider has fewer jobs than in-flight places: the last submit
        # goes out (N - 1) x 60 / rpm s after the first and takes T seconds
        limits = {**PRICES[provider]["limits"], **data["providers"].get(provider, {})}
        wall = (e["jobs"] - 1) * 60 / limits["rpm"] + limits["typical_generation_s"]
        assert p["wall_s"] == round(wall, 1), provider
    assert plan["minimax"]["usd"] == 0.68 and plan["apiframe"]["credits"] == 35 and plan["apiinone"]["credits"] == 130
    assert plan["minimax"]["wall_s"] == 132.0  # 12 s between two submits at 5 rpm, then 120 s


def test_plan_table_says_why_a_price_is_unknown_and_needs_no_key(cli, tmp_path):
    result = cli("plan", ROOT / "manifests" / "example.yaml", "--no-canary")  # no API key set
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert table[0].split() == ["provider", "jobs", "credits", "USD", "est.", "time", "videos"]
    assert table[7].split() == ["total", "17", "165", "1.54+?", "2.2", "min"]
    assert "USD unknown for 13 of 17 jobs (never counted as zero):" in table
    assert ("  apiframe: 5 jobs (hailuo-2.3 1080P-6, hailuo-2.3 768P-10, hailuo-2.3 768P-6): USD per credit "
            "not set: add providers: {apiframe: {usd_per_credit: ...}} to a YAML manifest or to a --settings "
            "file") in table
    assert any(line.startswith("  gptge: 2 jobs") and "no published price" in line for line in table)
    assert "warning: no API key for minimax" in result.stderr


def test_plan_time_when_the_in_flight_cap_binds(cli, tmp_path):
    sheet = tmp_path / "m.yaml"
    sheet.write_text(yaml.safe_dump({
        "providers": {"minimax": {"rpm": 600, "max_in_flight": 3, "typical_generation_s": 120}},
        "jobs": [{"prompt": f"shot {i}", "provider": "minimax"} for i in range(12)]}))
    result = cli("plan", sheet, "--format", "json", "--no-canary")
    # 4 rounds of 3 tasks of 120 s, the last round's 3rd submit 0.2 s after its 1st
    assert json.loads(result.stdout)["total"]["wall_s"] == 480.2


def _sheet(tmp_path: Path, n: int, provider: str, **settings) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"providers": {provider: {**FAST, **settings}},
                                    "jobs": [{"prompt": f"shot {i}", "provider": provider} for i in range(n)]}))
    return path


async def _run(tmp_path, sim, manifest, env=None, speedup=1.0, **kw):
    out = tmp_path / "results.csv"
    status = await execute(RunRequest(manifest, out, environ=env or sim_env(sim), speedup=speedup, quiet=True, **kw))
    return status, (pd.read_csv(out, dtype=str, keep_default_na=False) if out.exists() else None)


async def test_a_cap_for_exactly_n_jobs_submits_exactly_n(tmp_path, sim):
    # minimax 768P 6 s costs $0.28: $1.40 pays for exactly 5 of 12, with 20 in flight at once
    status, df = await _run(tmp_path, sim, _sheet(tmp_path, 12, "minimax"), max_cost=1.40, fit_budget=True)
    assert status == 1
    assert len(sim.store.submissions["minimax"]) == 5
    assert (df["status"] == "succeeded").sum() == 5 and (df["status"] == "skipped_budget").sum() == 7
    assert set(df.loc[df["status"] == "skipped_budget", "error_code"]) == {"budget"}
    assert abs(pd.to_numeric(df["cost_usd"]).sum() - 1.40) < 1e-9


async def test_a_cap_shared_by_two_providers_is_never_passed(tmp_path, sim):
    # 40 jobs at once over minimax ($0.28) and gccai ($0.2928), 20 in flight on each
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"minimax": FAST, "gccai": FAST},
        "jobs": [{"prompt": f"shot {i}", "provider": p} for i in range(20) for p in ("minimax", "gccai")]}))
    cap = 3.00
    _status, df = await _run(tmp_path, sim, path, max_cost=cap, fit_budget=True)
    spent = pd.to_numeric(df["cost_usd"]).sum()
    submitted = sum(len(sim.store.submissions[p]) for p in ("minimax", "gccai"))
    assert spent <= cap and submitted == (df["status"] == "succeeded").sum() >= 10
    price = {"minimax": 0.28, "gccai": 0.2928}
    skipped = df[df["status"] == "skipped_budget"]
    assert len(skipped) == 40 - submitted
    assert all(price[p] > cap - spent for p in skipped["provider"])  # nothing skipped that would fit


def test_a_plan_over_the_cap_refuses_to_start(tmp_path, cli):
    manifest = _sheet(tmp_path, 12, "minimax")
    result = cli("run", manifest, "-o", tmp_path / "r.csv", "--simulate", "--max-cost", "1.00")
    assert result.exit_code == 4
    assert "the plan costs $3.36, over --max-cost $1.00" in result.output
    assert not (tmp_path / "r.csv").exists()  # nothing was run
    for bad in ("nan", "-1", "inf", "ten"):
        result = cli("run", manifest, "-o", tmp_path / "r.csv", "--simulate", "--max-cost", bad)
        assert result.exit_code == 2 and "--max-cost" in result.output, bad
    result = cli("run", manifest, "--simulate", "--max-credits", "apiframe=nan")
    assert result.exit_code == 2 and "use PROVIDER=N" in result.output


async def test_credit_cap_and_unknown_usd_price(tmp_path, sim):
    manifest = _sheet(tmp_path, 6, "apiframe")  # 5 credits per video, USD per credit unknown
    _status, df = await _run(tmp_path, sim, manifest, max_credits={"apiframe": 20}, fit_budget=True)
    assert len(sim.store.submissions["apiframe"]) == 4
    assert (df["status"] == "skipped_budget").sum() == 2
    # a USD cap cannot send jobs whose USD price is unknown, and says which setting fixes it
    out = tmp_path / "second"
    out.mkdir()
    with pytest.raises(BudgetError, match="set usd_per_credit under providers:"):
        await _run(out, sim, manifest, max_cost=100.0)
    _status, df = await _run(out, sim, manifest, max_cost=100.0, fit_budget=True)
    assert set(df.loc[df["status"] == "skipped_budget", "error_message"]) == {
        "the USD price of apiframe credits is unknown: set usd_per_credit under providers: apiframe "
        "to send it jobs under --max-cost"}
    assert len(sim.store.submissions["apiframe"]) == 4  # none sent


async def test_usd_per_credit_makes_a_credit_price_count_under_a_usd_cap(tmp_path, sim):
    manifest = _sheet(tmp_path, 6, "apiframe", usd_per_credit=0.02)  # 5 credits = $0.10
    _status, df = await _run(tmp_path, sim, manifest, max_cost=0.30, fit_budget=True)
    assert len(sim.store.submissions["apiframe"]) == 3
    done = df[df["status"] == "succeeded"]
    assert list(pd.to_numeric(done["cost_usd"])) == [0.1] * 3 and list(pd.to_numeric(done["cost_credits"])) == [5] * 3


async def test_the_cap_covers_earlier_runs_of_the_same_journal(tmp_path, sim, capsys):
    manifest = _sheet(tmp_path, 6, "minimax")  # $0.28 each
    status, df = await _run(tmp_path, sim, manifest, max_cost=0.84, fit_budget=True)
    assert len(sim.store.submissions["minimax"]) == 3
    # the same command again: the $0.84 already spent counts, nothing more is sent
    with pytest.raises(BudgetError, match=r"the plan costs \$0.84 on top of \$0.84 spent or in flight by earlier"):
        await _run(tmp_path, sim, manifest, max_cost=0.84)
    status, df = await _run(tmp_path, sim, manifest, max_cost=0.84, fit_budget=True)
    assert len(sim.store.submissions["minimax"]) == 3 and (df["status"] == "skipped_budget").sum() == 3
    # a higher cap runs the rest; the summary shows the actual cost beside the plan
    setup_logging("text", quiet=True)
    try:
        status, df = await _run(tmp_path, sim, manifest, max_cost=1.68)
    finally:
        logger = logging.getLogger("batch_runner")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    assert status == 0 and len(sim.store.submissions["minimax"]) == 6
    err = capsys.readouterr().err
    assert "minimax: 6 videos, $1.68  (plan: 6 jobs, $1.68)" in err
    assert "budget: $1.68 spent, $0.00 committed (in flight or unknown), of --max-cost $1.68" in err


AUTO_SHEET = ("prompt,provider,image,resolution,duration\n"
              "t2v,auto,,768P,6\n"                          # minimax $0.28 < gccai $0.2928
              "i2v 10s,auto,https://x.test/a.jpg,768P,10\n"  # gccai $0.488 < minimax $0.56
              "hd,auto,,1080P,6\n")                          # gccai $0.432 < minimax $0.49


def test_auto_routes_to_the_cheapest_capable_provider_with_a_key(tmp_path):
    sheet = tmp_path / "auto.csv"
    sheet.write_text(AUTO_SHEET, encoding="utf-8")
    keys = dict(KEYS)
    jobs, _ = load_jobs(RunRequest(sheet), keys)
    assert [j.provider for j in jobs] == ["minimax", "gccai", "gccai"]
    assert jobs[0].fallbacks[0] == "gccai" and "auto: minimax at $0.28" in jobs[0].route
    ids = [j.job_id for j in jobs]
    del keys["MINIMAX_API_KEY"]
    jobs, _ = load_jobs(RunRequest(sheet), keys)
    assert [j.provider for j in jobs] == ["gccai", "gccai", "gccai"]
    del keys["GCCAI_API_KEY"]
    jobs, _ = load_jobs(RunRequest(sheet), keys)
    # next: providers whose price is unknown, the one with more spare rate first (apiframe: rpm 60)
    assert [j.provider for j in jobs] == ["apiframe", "apiframe", "apiframe"]
    assert "price unknown" in jobs[0].route
    assert [j.job_id for j in jobs] == ids  # the job id does not depend on the route
    # a known price (usd_per_credit set) always wins over an unknown one, however slow
    keys = {"GPTGE_API_KEY": "k-123456", "APIINONE_API_KEY": "k-123456"}
    sheet.write_text("prompt,provider,image\ni2v,auto,https://x.test/a.jpg\n", encoding="utf-8")
    jobs, _ = load_jobs(RunRequest(sheet), keys)
    assert jobs[0].provider == "apiinone"  # rpm 10 beats gptge's 5 while both are unknown
    yml = tmp_path / "auto.yaml"
    yml.write_text(yaml.safe_dump({"providers": {"gptge": {"rpm": 1000}, "apiinone": {"usd_per_credit": 0.01}},
                                   "jobs": [{"prompt": "i2v", "provider": "auto", "image": "https://x.test/a.jpg"}]}))
    jobs, _ = load_jobs(RunRequest(yml), keys)
    assert jobs[0].provider == "apiinone" and "auto: apiinone at $0.3" in jobs[0].route


def test_auto_breaks_a_price_tie_by_spare_rate(tmp_path):
    # apiframe at $0.056 a credit costs $0.28 like minimax, at 60 rpm against 5:
    # it takes jobs until 12 wait there per minute-slot of minimax's one
    yml = tmp_path / "tie.yaml"
    yml.write_text(yaml.safe_dump({"providers": {"apiframe": {"usd_per_credit": 0.056}},
                                   "jobs": [{"prompt": "a", "provider": "auto", "variants": 6},
                                            {"prompt": "b", "provider": "auto", "variants": 6},
                                            {"prompt": "c", "provider": "auto"}]}))
    jobs, _ = load_jobs(RunRequest(yml), {"MINIMAX_API_KEY": "k-123456", "APIFRAME_API_KEY": "k-123456"})
    assert [j.provider for j in jobs] == ["apiframe"] * 12 + ["minimax"]


async def test_auto_jobs_are_submitted_to_the_cheapest_provider(tmp_path, sim):
    sheet = tmp_path / "auto.csv"
    sheet.write_text(AUTO_SHEET, encoding="utf-8")
    env = sim_env(sim)
    status, df = await _run(tmp_path, sim, sheet, env=env, speedup=600.0)
    assert status == 0 and list(df["provider"]) == ["minimax", "gccai", "gccai"]
    assert (len(sim.store.submissions["minimax"]), len(sim.store.submissions["gccai"])) == (1, 2)
    assert list(pd.to_numeric(df["cost_usd"])) == [0.28, 0.488, 0.432]
    # without minimax's key the text-to-video job goes to the next cheapest (a fresh journal: a new campaign)
    out = tmp_path / "again"
    out.mkdir()
    del env["MINIMAX_API_KEY"]
    status, df = await _run(out, sim, sheet, env=env, speedup=600.0, journal=out / "fresh.journal.sqlite")
    assert status == 0 and list(df["provider"]) == ["gccai", "gccai", "gccai"]
    # the text-to-video job is a new gccai submit; the other two carry the Idempotency-Keys of the
    # first run's submits, so gccai answers them with the original tasks (nothing paid twice)
    assert (len(sim.store.submissions["minimax"]), len(sim.store.submissions["gccai"])) == (1, 3)
    assert list(pd.to_numeric(df["cost_usd"])) == [0.2928, 0.488, 0.432]


def test_plan_shows_each_auto_route(cli, tmp_path):
    sheet = tmp_path / "auto.csv"
    sheet.write_text("prompt,provider\nhello,auto\n", encoding="utf-8")
    result = cli("plan", sheet, "--simulate")
    assert result.exit_code == 0
    assert "row 2 -> auto: minimax at $0.28; then gccai $0.2928" in result.output
    result = cli("plan", sheet)  # no key at all: the plan routes over every capable provider, marked
    assert result.exit_code == 0 and "row 2 -> auto: minimax at $0.28 (no key: set MINIMAX_API_KEY)" in result.output
    result = cli("validate", sheet)  # a run cannot choose a provider without a key
    assert result.exit_code == 2 and "no provider with an API key can run it" in result.output


def test_auto_skips_a_provider_that_cannot_take_the_local_image(tmp_path):
    # i2v 768P 10 s: gccai ($0.488) is cheaper than minimax ($0.56), but gccai
    # takes no WebP: the job goes to minimax instead of failing validation
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 80, 40)).save(tmp_path / "hero.webp", "WEBP")
    sheet = tmp_path / "auto.csv"
    sheet.write_text("prompt,provider,image,duration\nspin,auto,hero.webp,10\n", encoding="utf-8")
    jobs, _ = load_jobs(RunRequest(sheet), KEYS)
    assert jobs[0].provider == "minimax"
    assert "auto: minimax at $0.56" in jobs[0].route and "gccai" not in jobs[0].route
    assert "gccai" not in jobs[0].fallbacks
    # a PNG of the same row still goes to the cheaper gccai
    Image.new("RGB", (640, 480), (200, 80, 40)).save(tmp_path / "hero.png", "PNG")
    sheet.write_text("prompt,provider,image,duration\nspin,auto,hero.png,10\n", encoding="utf-8")
    jobs, _ = load_jobs(RunRequest(sheet), KEYS)
    assert jobs[0].provider == "gccai"


@pytest.mark.parametrize("charges_failed", [False, True])
async def test_a_failed_task_is_spent_only_where_the_provider_charges_failures(tmp_path, sim, monkeypatch,
                                                                              charges_failed):
    # one at a time on gccai ($0.2928), a cap for two videos; the first task fails on
    # output moderation after it was accepted
    import dataclasses

    from batch_runner.catalog.facts import catalog

    monkeypatch.setitem(catalog(), "gccai", dataclasses.replace(catalog()["gccai"], charges_failed=charges_failed))
    marker = sim.config.providers["gccai"].output_policy_marker
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"gccai": {**FAST, "max_in_flight": 1}},
        "jobs": [{"prompt": f"shot 0 {marker}", "provider": "gccai"}]
        + [{"prompt": f"shot {i}", "provider": "gccai"} for i in (1, 2)]}))
    _status, df = await _run(tmp_path, sim, path, max_cost=0.5856, fit_budget=True)
    assert list(df["status"]) == ["failed", "succeeded", "skipped_budget" if charges_failed else "succeeded"]
    assert len(sim.store.submissions["gccai"]) == (2 if charges_failed else 3)
    assert df["cost_usd"].iloc[0] == ("0.2928" if charges_failed else "")  # a refunded failure costs nothing


def test_a_plan_over_a_credit_cap_refuses_to_start(tmp_path, cli):
    manifest = _sheet(tmp_path, 6, "apiframe")  # 6 x 5 credits
    result = cli("run", manifest, "-o", tmp_path / "r.csv", "--simulate", "--max-credits", "apiframe=20")
    assert result.exit_code == 4
    assert "the plan uses 30 apiframe credits, over --max-credits apiframe=20" in result.output
    assert not (tmp_path / "r.csv").exists()
    result = cli("run", manifest, "-o", tmp_path / "r.csv", "--simulate", "--max-credits", "apiframe=30")
    assert result.exit_code == 0, result.output
