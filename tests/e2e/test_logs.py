"""Logs for cron: one JSON object per event with --log-format json; --quiet keeps the summary and errors."""

from __future__ import annotations

import io
import json
import logging

import pytest
import yaml

from batch_runner.app import RunRequest, execute
from batch_runner.logs import setup_logging

from conftest import sim_env


@pytest.fixture
def campaign(write, sim):
    """3 jobs on gccai (simulated in-flight cap 1: the 2nd submit is refused and
    retried) and 1 refused on minimax."""
    sim.config.providers["gccai"].max_in_flight = 1
    sim.config.providers["gccai"].retry_after_s = 0.4
    marker = sim.config.providers["minimax"].content_policy_marker
    return write("m.yaml", yaml.safe_dump({
        "providers": {"gccai": {"max_in_flight": 3, "rpm": 6000, "typical_generation_s": 18, "poll_interval_s": 3},
                      "minimax": {"typical_generation_s": 18, "poll_interval_s": 3}},
        "jobs": [{"name": f"ok{i}", "prompt": f"shot {i} [推进]", "provider": "gccai"} for i in range(3)]
        + [{"name": "refused", "prompt": f"no {marker}", "provider": "minimax"},
           {"name": "typo", "prompt": "a lake [Zoom inn]", "provider": "gccai"}],
    }))


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    logger = logging.getLogger("batch_runner")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True


async def run(campaign, tmp_path, sim, fmt, quiet=False):
    setup_logging(fmt, quiet=quiet)
    request = RunRequest(campaign, tmp_path / "r.csv", environ=sim_env(sim), speedup=60, quiet=quiet, log_format=fmt)
    return await execute(request)


async def test_json_logs_are_one_object_per_event(tmp_path, sim, campaign, capsys):
    assert await run(campaign, tmp_path, sim, "json") == 1
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    events = [r["event"] for r in records]
    assert events.count("job_submitted") == 4  # minimax refuses the 5th at submit
    assert events.count("job_finished") == 4 and events.count("job_failed") == 1
    assert "retry" in events and events.count("summary") == 1
    assert events.count("manifest_warning") == 2  # [Zoom inn], and the simulator's [[REJECT]] marker
    submitted = next(r for r in records if r["event"] == "job_submitted")
    assert {"time", "level", "message", "job_id", "row", "provider", "task_id"} <= set(submitted)
    failed = next(r for r in records if r["event"] == "job_failed")
    assert (failed["job_name"], failed["error_code"], failed["level"]) == ("refused", "content_policy", "WARNING")
    retry = next(r for r in records if r["event"] == "retry")
    assert retry["action"] == "submit to gccai" and retry["attempt"] == 1
    summary = next(r for r in records if r["event"] == "summary")
    assert summary["by_status"] == {"succeeded": 4, "failed": 1}
    assert summary["cost"]["gccai"]["videos"] == 4


async def test_quiet_text_logs_keep_only_the_summary_and_errors(tmp_path, sim, campaign, capsys):
    assert await run(campaign, tmp_path, sim, "text", quiet=True) == 1
    err = capsys.readouterr().err
    assert "5 jobs: 1 failed, 4 succeeded" in err
    assert "failed on minimax: content_policy" in err and "[Zoom inn]" in err
    assert "submitted" not in err and "simulator at" not in err and "progress" not in err
    assert "job/s" not in err  # no progress bar off a terminal


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    @property
    def text(self) -> str:
        return self.getvalue()


@pytest.mark.parametrize("stdout_tty, stderr_tty, bar", [(True, True, True), (False, True, False),
                                                          (True, False, False), (False, False, False)])
def test_progress_bar_only_when_stdout_and_stderr_are_terminals(monkeypatch, stdout_tty, stderr_tty, bar):
    from batch_runner.journal import JobRecord, JobStatus
    from batch_runner.output.progress import Progress

    monkeypatch.setattr("sys.stdout", _Stream(stdout_tty))
    err = _Stream(stderr_tty)
    progress = Progress(2, stream=err)
    progress.finished(JobRecord("j1", status=JobStatus.SUCCEEDED, cost_usd=0.28))
    progress.close()
    assert (progress.bar is not None) == bar
    assert ("job" in err.text) == bar  # off a terminal nothing is drawn: a log line instead
    assert (Progress(2, stream=_Stream(True), bar=False).bar is None)  # JSON logs: never a bar


async def test_progress_line_is_logged_every_interval_while_no_job_finishes(tmp_path, sim, write, capsys,
                                                                           monkeypatch):
    # off a terminal the progress line is periodic (docs/scheduling.md: "a progress line every
    # 10 s"), not only logged when a job happens to finish
    import batch_runner.app as app

    monkeypatch.setattr(app, "PROGRESS_EVERY_S", 0.2, raising=False)
    sim.config.providers["gccai"].generation_s = 1.5
    path = write("slow.yaml", yaml.safe_dump({
        "providers": {"gccai": {"typical_generation_s": 1.5, "poll_interval_s": 0.5}},
        "jobs": [{"prompt": "a slow shot", "provider": "gccai"}],
    }))
    setup_logging("json")
    request = RunRequest(path, tmp_path / "r.csv", environ=sim_env(sim), speedup=1, log_format="json")
    assert await execute(request) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    progress = [r for r in records if r["event"] == "progress"]
    assert len(progress) >= 4, progress  # ~1.5 s of generation at one line per 0.2 s
    assert progress[0]["done"] == 0 and progress[-1]["done"] == 1
