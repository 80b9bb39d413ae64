"""Every output replaces an existing file only when it is batch-runner's own
earlier output of that kind (a report, a contact sheet, an HTTP trace, a
results file), never an input such as the manifest's own image: a refusal is
one line, exit status 2, before anything is sent (the simulator on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from batch_runner.cli import main

from conftest import SIM_ENV, sim_env, simulator_in_thread

FAST = {"rpm": 6000, "poll_interval_s": 0.05, "typical_generation_s": 0.1}


@pytest.fixture
def campaign(tmp_path, monkeypatch) -> Iterator[tuple[Path, object]]:
    """A manifest with a local ``image:`` (hero.png), a user's own web page and
    HAR file beside it, and the simulator; yields (folder, simulator)."""
    Image.new("RGB", (640, 360), "#3366aa").save(tmp_path / "hero.png")
    (tmp_path / "index.html").write_text("<!doctype html><title>our site</title>\n")
    (tmp_path / "chrome.har").write_text('{"log": {"version": "1.2", "creator": {"name": "WebInspector"}}}\n')
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": [
        {"name": "hero", "prompt": "the hero shot, slow push in", "image": "hero.png", "provider": "gccai"},
        {"name": "wide", "prompt": "a wide shot of the bay", "provider": "gccai"}]}))
    monkeypatch.chdir(tmp_path)
    with simulator_in_thread() as sim:
        yield tmp_path, sim


def _cli(sim: object, *args: str):
    return CliRunner().invoke(main, list(args), env={**SIM_ENV, **sim_env(sim)})


RUN = ("run", "m.yaml", "-o", "r.csv", "--download", "videos", "--no-canary", "--quiet")


@pytest.mark.parametrize(("option", "path", "why"), [
    ("--contact-sheet", "hero.png", "is a job's image"),
    ("--report", "index.html", "exists and is not the HTML report of an earlier run (it has no batch-runner "
                                "generator mark)"),
    ("--trace-http", "chrome.har", "exists and is not the HTTP trace of an earlier run (it is not a HAR file "
                                    "made by batch-runner)"),
])
def test_run_refuses_an_output_over_an_input_or_a_strangers_file(campaign, option, path, why):
    d, sim = campaign
    before = (d / path).read_bytes()
    result = _cli(sim, *RUN, option, path)
    assert result.exit_code == 2, result.output
    assert f"{option} {path}: {why}" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr
    assert sim.store.requests == [], "a request was sent"
    assert (d / path).read_bytes() == before


def test_outputs_replace_their_own_earlier_outputs_and_nothing_else(campaign):
    d, sim = campaign
    ours = ("--contact-sheet", "sheet.png", "--report", "report.html", "--trace-http", "trace.har")
    for _ in range(2):  # the second run replaces the first run's outputs
        result = _cli(sim, *RUN, *ours)
        assert result.exit_code == 0, result.output
    hero, page = (d / "hero.png").read_bytes(), (d / "index.html").read_bytes()
    refused = {("contact-sheet", "r.csv", "-o", "hero.png"): "-o hero.png: exists and is not the contact sheet",
               ("report", "r.csv", "-o", "index.html"): "-o index.html: exists and is not the HTML report",
               ("report", "r.csv", "-o", "sheet.png"): "-o sheet.png: the HTML report needs a name ending in"}
    for args, said in refused.items():
        result = _cli(sim, *args)
        assert result.exit_code == 2 and said in result.stderr, (args, result.output)
    assert (d / "hero.png").read_bytes() == hero and (d / "index.html").read_bytes() == page
    assert _cli(sim, "contact-sheet", "r.csv", "-o", "sheet.png").exit_code == 0
    assert _cli(sim, "report", "r.csv", "-o", "report.html").exit_code == 0
    with Image.open(d / "sheet.png") as sheet:
        assert sheet.info.get("Software") == "batch-runner contact sheet"
    assert _cli(sim, "contact-sheet", "r.csv", "-o", "sheet.jpg").exit_code == 0
    assert _cli(sim, "contact-sheet", "r.csv", "-o", "sheet.jpg").exit_code == 0  # a JPEG sheet is known too
