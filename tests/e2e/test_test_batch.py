"""A test batch before the whole campaign, through the CLI against the simulator over
127.0.0.1: ``run --limit N``, ``--rows SPEC`` (also on ``plan`` and ``--dry-run``), and
the question a run on a terminal asks before it spends more than ``--confirm-over``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import batch_runner.commands.run
from batch_runner.cli import main

from conftest import SIM_ENV, sim_env, simulator_in_thread

PROMPTS = ["a castle at dawn", "a lighthouse at night", "a fox in snow", "a city in rain", "a ship at sea"]
FAST = "{poll_interval_s: 0.1, typical_generation_s: 0.3, rpm: 600}"


@pytest.fixture
def simulator() -> Iterator:
    """A simulator of every provider on 127.0.0.1 in its own thread (0.3 s tasks), so
    the CLI runs in real mode against it and the test reads what it received."""
    with simulator_in_thread(generation_s=0.3) as running:
        yield running


@pytest.fixture
def campaign(tmp_path) -> Path:
    """A YAML manifest over a sheet of five gccai jobs (sheet rows 2-6, $0.29 each)."""
    (tmp_path / "c.sheet.csv").write_text("prompt,provider\n" + "".join(f"{p},gccai\n" for p in PROMPTS),
                                          encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(f"source: c.sheet.csv\nproviders:\n  gccai: {FAST}\n", encoding="utf-8")
    return path


def invoke(sim, *args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={**SIM_ENV, **sim_env(sim)}, input=input,
                              catch_exceptions=False)


def sent(sim, provider: str = "gccai") -> list[str]:
    """The prompts the simulator accepted a submit of, in order."""
    return [s.body["prompt"] for s in sim.store.submissions.get(provider, [])]


def statuses(campaign: Path) -> dict[str, str]:
    df = pd.read_csv(campaign.with_name(campaign.name + ".results.csv"), dtype=str, keep_default_na=False)
    return dict(zip(df["prompt"], df["status"], strict=True))


@pytest.fixture
def terminal(monkeypatch):
    """stdin and stdout are a terminal (CliRunner's are not)."""
    monkeypatch.setattr(batch_runner.commands.run, "is_interactive", lambda: True)


def test_limit_submits_at_most_n_new_jobs_and_the_next_run_finishes_the_rest(simulator, campaign):
    first = invoke(simulator, "run", campaign, "--limit", 2)
    assert first.exit_code == 0, first.output
    assert sent(simulator) == PROMPTS[:2]
    assert "3 new jobs not submitted yet" in first.output and "without --limit" in first.output
    assert statuses(campaign) == {**dict.fromkeys(PROMPTS[:2], "succeeded"), **dict.fromkeys(PROMPTS[2:], "pending")}
    counts = invoke(simulator, "run", campaign, "--dry-run", "--limit", 1)
    assert counts.output.strip().endswith("total=5 succeeded=2 in_flight=0 failed=0 unknown=0 new=1 later=2")

    rest = invoke(simulator, "run", campaign)
    assert rest.exit_code == 0, rest.output
    assert sent(simulator) == PROMPTS  # each job submitted once: the first two are not sent again
    assert set(statuses(campaign).values()) == {"succeeded"}
    assert "not submitted yet" not in rest.output


def test_limit_still_polls_a_job_in_flight(simulator, campaign):
    """A run stopped with tasks in flight: the next run with --limit 0 submits nothing
    new and still follows those tasks to the end."""
    journal = campaign.with_name(campaign.name + ".journal.sqlite")
    first = invoke(simulator, "run", campaign, "--limit", 1)
    assert first.exit_code == 0, first.output
    with sqlite3.connect(journal) as db:  # as a run stopped after the submit leaves it
        db.execute("UPDATE jobs SET status='submitted' WHERE status='succeeded'")
    polls = sum(r.kind == "poll" for r in simulator.store.requests)
    again = invoke(simulator, "run", campaign, "--limit", 0)
    assert again.exit_code == 0, again.output
    assert sent(simulator) == PROMPTS[:1]
    assert sum(r.kind == "poll" for r in simulator.store.requests) > polls
    assert statuses(campaign)[PROMPTS[0]] == "succeeded"
    assert "4 new jobs not submitted yet" in again.output


def test_rows_submits_only_the_jobs_of_those_rows(simulator, campaign):
    result = invoke(simulator, "run", campaign, "--rows", "3-4")
    assert result.exit_code == 0, result.output
    assert sent(simulator) == PROMPTS[1:3]  # sheet rows 3 and 4 (the header is row 1)
    assert statuses(campaign) == {**dict.fromkeys(PROMPTS, "pending"), **dict.fromkeys(PROMPTS[1:3], "succeeded")}
    assert "--rows 3-4: 2 of 5 jobs" in result.output

    more = invoke(simulator, "run", campaign, "--rows", "2, 6")
    assert more.exit_code == 0, more.output
    assert sent(simulator) == [*PROMPTS[1:3], PROMPTS[0], PROMPTS[4]]
    assert statuses(campaign)[PROMPTS[3]] == "pending"  # row 5: never chosen, never sent


def test_rows_on_plan_and_dry_run(simulator, campaign):
    plan = invoke(simulator, "plan", campaign, "--rows", "2,5-6", "--format", "json")
    assert plan.exit_code == 0, plan.output
    assert '"jobs": 3' in plan.output
    dry = invoke(simulator, "run", campaign, "--dry-run", "--rows", "5-6")
    assert dry.exit_code == 0, dry.output
    assert dry.output.strip().endswith("total=2 succeeded=0 in_flight=0 failed=0 unknown=0 new=2")
    assert sent(simulator) == []


@pytest.mark.parametrize("spec", ["2-x", "4-2", "0", "2,,3", "-3"])
def test_a_bad_rows_spec_is_exit_2_and_one_clear_line(simulator, campaign, spec):
    for command in ("run", "plan"):
        result = invoke(simulator, command, campaign, f"--rows={spec}")
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--rows'" in result.output and "e.g. --rows 2-10" in result.output
        assert "Traceback" not in result.output
    assert sent(simulator) == []


def test_rows_outside_the_manifest(simulator, campaign):
    none = invoke(simulator, "run", campaign, "--rows", "20-30")
    assert none.exit_code == 2, none.output
    assert "--rows 20-30: no such row in the manifest (its rows: 2-6)" in none.output
    assert sent(simulator) == []
    some = invoke(simulator, "run", campaign, "--rows", "5-9", "--quiet")
    assert some.exit_code == 0, some.output
    assert "--rows 5-9: rows 7-9 are not in the manifest (its rows: 2-6)" in some.output
    assert sent(simulator) == PROMPTS[3:]


def test_on_a_terminal_a_costly_run_shows_its_plan_and_no_sends_nothing(simulator, campaign, terminal):
    result = invoke(simulator, "run", campaign, "--confirm-over", "1", input="n\n")
    assert result.exit_code == 5, result.output
    assert "Submit 5 jobs for $1.46? [y/N]" in result.output
    assert "total          5" in result.output  # the plan table came first
    assert sent(simulator) == []
    assert not campaign.with_name(campaign.name + ".results.csv").exists()


def test_on_a_terminal_no_answer_is_no(simulator, campaign, terminal):
    result = invoke(simulator, "run", campaign, "--confirm-over", "1", input="")
    assert result.exit_code == 5, result.output
    assert sent(simulator) == []


def test_on_a_terminal_yes_sends_this_runs_jobs(simulator, campaign, terminal):
    result = invoke(simulator, "run", campaign, "--confirm-over", "0.5", "--limit", 3, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Submit 3 jobs for $0.88? [y/N]" in result.output  # the plan of this run's submits
    assert sent(simulator) == PROMPTS[:3]


def test_no_question_under_the_threshold_or_with_yes(simulator, campaign, terminal):
    under = invoke(simulator, "run", campaign, "--rows", "2")  # $0.29, default threshold $5
    assert under.exit_code == 0, under.output
    assert "Submit" not in under.output
    forced = invoke(simulator, "run", campaign, "--confirm-over", "0", "--yes")
    assert forced.exit_code == 0, forced.output
    assert "Submit" not in forced.output
    assert sent(simulator) == PROMPTS


def test_an_unknown_usd_price_counts_as_over(simulator, tmp_path, terminal):
    manifest = tmp_path / "g.csv"
    manifest.write_text("prompt,provider\na quiet harbour,gptge\n", encoding="utf-8")  # no published USD price
    result = invoke(simulator, "run", manifest, input="n\n")
    assert result.exit_code == 5, result.output
    assert "Submit 1 job for an unknown USD cost? [y/N]" in result.output
    assert sent(simulator, "gptge") == []


def test_never_asked_when_stdin_is_not_a_terminal(simulator, campaign):
    """Under cron (CliRunner's stdin is no terminal) the run goes ahead, whatever the cost."""
    result = invoke(simulator, "run", campaign, "--confirm-over", "0", input="n\n")
    assert result.exit_code == 0, result.output
    assert "Submit" not in result.output
    assert sent(simulator) == PROMPTS
