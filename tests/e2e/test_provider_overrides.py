"""Overriding guessed wire facts (base_url, model_ids) under providers: in a manifest or a
--settings file; against the simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import pandas as pd
import yaml

from batch_runner.app import RunRequest, execute

from conftest import sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 3, "task_timeout_s": 5, "typical_generation_s": 0.2}
I2V = {"prompt": "a shoe turns", "image": "https://img.test/a.jpg", "provider": "apiinone"}


async def run(tmp_path, env, data: dict, **options) -> tuple[int, pd.DataFrame]:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "results.csv"
    status = await execute(RunRequest(manifest=path, output=out, environ=env, speedup=1.0, quiet=True, **options))
    return status, pd.read_csv(out, dtype=str, keep_default_na=False)


async def test_a_model_id_override_reaches_the_submit_body(tmp_path, sim):
    status, df = await run(tmp_path, sim_env(sim), {
        "providers": {"apiinone": {**FAST, "model_ids": {"hailuo-2.3": "hailuo-2-3"}}}, "jobs": [I2V]})
    assert status == 0 and df.loc[0, "status"] == "succeeded"
    (submitted,) = sim.store.submissions["apiinone"]
    assert submitted.body["model"] == "hailuo-2-3"  # the data file's default is hailuo/2-3-image-to-video-standard


async def test_the_settings_file_overrides_and_the_manifest_wins_over_it(tmp_path, sim):
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"providers": {"apiinone": {
        **FAST, "model_ids": {"hailuo-2.3": "hailuo-2-3", "hailuo-2.3-fast": "x"}}}}), encoding="utf-8")
    status, _ = await run(tmp_path, sim_env(sim), {"jobs": [I2V]}, settings_file=settings)
    assert status == 0 and sim.store.submissions["apiinone"][-1].body["model"] == "hailuo-2-3"
    manifest = {"providers": {"apiinone": {"model_ids": {"hailuo-2.3": "hailuo/2-3-image-to-video-pro"}}},
                "jobs": [{**I2V, "prompt": "another shoe"}]}
    status, _ = await run(tmp_path, sim_env(sim), manifest, settings_file=settings)
    assert status == 0 and sim.store.submissions["apiinone"][-1].body["model"] == "hailuo/2-3-image-to-video-pro"


async def test_a_base_url_override_is_used_and_the_environment_wins_over_it(tmp_path, sim):
    env = sim_env(sim)
    del env["GCCAI_BASE_URL"]
    job = {"prompt": "a shoe", "provider": "gccai"}
    status, df = await run(tmp_path, env, {"providers": {"gccai": {**FAST, "base_url": sim.url("gccai")}},
                                           "jobs": [job]})
    assert status == 0 and df.loc[0, "status"] == "succeeded" and len(sim.store.submissions["gccai"]) == 1
    dead = "http://127.0.0.1:9"  # nothing listens there
    (tmp_path / "again").mkdir()
    status, df = await run(tmp_path / "again", sim_env(sim), {"providers": {"gccai": {**FAST, "base_url": dead}},
                                                            "jobs": [{**job, "prompt": "another shoe"}]})
    assert status == 0 and len(sim.store.submissions["gccai"]) == 2  # GCCAI_BASE_URL won


def test_bad_overrides_are_clear_errors(cli, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"providers": {"gccai": {"base_url": "ftp://x"}},
                                        "jobs": [{"prompt": "a", "provider": "gccai"}]}), encoding="utf-8")
    result = cli("plan", manifest)
    assert result.exit_code == 2 and "base_url" in result.output and "Traceback" not in result.output
    manifest.write_text(yaml.safe_dump({"jobs": [{"prompt": "a", "provider": "gccai"}]}), encoding="utf-8")
    settings = tmp_path / "s.yaml"
    settings.write_text(yaml.safe_dump({"providers": {"apiinone": {"model_ids": {"hailuo-9": "x"}}}}))
    result = cli("plan", manifest, "--settings", settings)
    assert result.exit_code == 2 and f"--settings {settings}" in result.output and "hailuo-9" in result.output
