"""--download on a later --simulate run: the earlier run's simulator is gone with its
videos; each job says so at once instead of retrying a dead port."""

from __future__ import annotations

import shutil
import time

import pandas as pd

from batch_runner.app import RunRequest, execute

from conftest import ROOT


async def test_videos_of_an_earlier_simulated_run_fail_at_once_saying_why(tmp_path, caplog):
    manifest = tmp_path / "example.yaml"
    manifest.write_text((ROOT / "manifests" / "example.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copytree(ROOT / "manifests" / "images", tmp_path / "images")
    first = await execute(RunRequest(manifest=manifest, output=tmp_path / "r1.csv", simulate=True, quiet=True,
                                     canary=False, environ={}))
    assert first == 0
    started = time.monotonic()
    again = await execute(RunRequest(manifest=manifest, output=tmp_path / "r2.csv", simulate=True, quiet=True,
                                     canary=False, environ={}, download=tmp_path / "videos"))
    took = time.monotonic() - started
    assert again == 1  # the videos were not saved
    said = [r.getMessage() for r in caplog.records if "not saved" in r.getMessage()]
    assert len(said) == 17 and all("earlier --simulate run" in m and "example.yaml.simulate.journal.sqlite" in m
                                   for m in said), said[:2]
    assert took < 10, took  # no retries against a port nothing listens on (17 x 5 tries with backoff before)
    df = pd.read_csv(tmp_path / "r2.csv", dtype=str, keep_default_na=False)
    assert set(df["status"]) == {"succeeded"} and set(df["local_path"]) == {""}
