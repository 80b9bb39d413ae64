"""gptproto documents two forms of the key in ``Authorization`` (raw in the Hailuo
pages' examples, ``Bearer <key>`` on its authentication page and in its own SDKs,
https://github.com/gptproto-ai/gptproto-sdk). Neither is guessed: the first 401
tries the other form once (free), in ``check`` and in a run."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from batch_runner.app import RunRequest, execute

from conftest import sim_env


def auths(sim) -> list[int]:
    """HTTP statuses of gptproto's submits, in order."""
    return [r.http_status for r in sim.store.requests if r.provider == "gptproto" and r.kind == "submit"]


async def test_a_host_that_takes_only_bearer_is_answered_after_one_free_401(tmp_path, sim, write):
    sim.config.providers["gptproto"].answer_variant = "bearer_only"
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "lake", "prompt": "a calm lake", "provider": "gptproto",
                                                      "variants": 2}]}))
    out = tmp_path / "results.csv"
    assert await execute(RunRequest(path, out, environ=sim_env(sim), speedup=60.0, quiet=True)) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df["status"]) == ["succeeded", "succeeded"]
    assert auths(sim) == [401, 200, 200]  # one 401 (costs nothing), then Bearer for every request
    assert len(sim.store.submissions["gptproto"]) == 2


def test_check_says_which_form_of_the_key_the_host_takes(cli, threaded_sim):
    threaded_sim.store.config.providers["gptproto"].answer_variant = "bearer_only"
    result = cli("check", "--format", "json", env=sim_env(threaded_sim))
    gptproto = next(p for p in json.loads(result.output)["providers"] if p["provider"] == "gptproto")
    assert gptproto["key"] == "ok", gptproto
    assert "bearer form only" in gptproto["detail"]
