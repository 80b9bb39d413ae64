"""One run, end to end: manifest -> jobs -> runner -> journal -> results CSV.

``execute(request)`` is what ``batch-runner run`` does; tests call it directly.
With ``simulate=True`` the bundled simulator is started in-process on a free
127.0.0.1 port and every provider is pointed at it with a dummy key; its
timings are scaled down by SIM_SPEEDUP (rate limits up, poll intervals down).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from batch_runner.catalog.settings import ProviderSettings, resolve_settings
from batch_runner.errors import ConfigError, ManifestError
from batch_runner.jobs.expand import expand
from batch_runner.jobs.model import Job
from batch_runner.jobs.scenes import scene_counts, scene_line
from batch_runner.journal import PENDING, Journal, journal_in_use, status_word
from batch_runner.keys import remember_keys
from batch_runner.logs import event, job_event
from batch_runner.manifest.load import Manifest, load_manifest, parse_map, parse_overrides
from batch_runner.output.download import Downloader, DownloadOptions
from batch_runner.output.file_names import DEFAULT_TEMPLATE, assign_file_names
from batch_runner.output.paths import check_run_outputs
from batch_runner.output.progress import Progress
from batch_runner.output.report import write_report
from batch_runner.output.results import summarize, write_results
from batch_runner.run.budget import Budget, check_estimate
from batch_runner.run.estimate import Plan, make_plan
from batch_runner.run.runner import Runner, RunOptions
from batch_runner.transport import Transport
from batch_runner.world import check_worlds, world_of

__all__ = ["RunRequest", "default_journal_path", "default_output_path", "dry_run_counts", "execute",
           "journal_counts", "journal_path", "load_jobs", "rebuild_results"]

log = logging.getLogger("batch_runner")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_BUDGET = 0, 1, 2, 3, 4
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
PROGRESS_EVERY_S = 10.0     # seconds between two progress lines off a terminal
SIM_SPEEDUP = 30.0          # simulated time runs this much faster than real time
SIM_KEY = "sim-key"


@dataclass
class RunRequest:
    """Everything a run needs to know (the CLI's options)."""

    manifest: Path
    output: Path | None = None  # default: default_output_path(manifest)
    journal: Path | None = None  # the journal file; None: journal_path(request) chooses
    sets: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)  # --map "HEADER=field"
    simulate: bool = False
    retry_failed: bool = False
    resubmit_unknown: bool = False
    quiet: bool = False
    environ: Mapping[str, str] | None = None
    options: RunOptions | None = None
    speedup: float | None = None  # time scale; default SIM_SPEEDUP with simulate, else 1
    max_cost: float | None = None  # USD cap of this run
    max_credits: dict[str, float] = field(default_factory=dict)  # credit caps per provider
    fit_budget: bool = False  # run what fits under the caps instead of refusing to start
    sheet: str | None = None  # the workbook sheet to read (default: the first)
    strict: bool = False  # manifest warnings are errors
    download: Path | None = None  # save finished videos here
    download_name: str = DEFAULT_TEMPLATE
    download_max_mb: float = 500.0
    report: Path | None = None  # write the HTML report here
    log_format: str = "text"
    allow_outside_paths: bool = False  # image and sheet paths may leave the manifest's folder

    def __post_init__(self) -> None:
        self.manifest = Path(self.manifest)
        self.output = Path(self.output) if self.output is not None else default_output_path(self.manifest)
        self.journal = Path(self.journal) if self.journal is not None else None
        self.download = Path(self.download) if self.download is not None else None
        self.report = Path(self.report) if self.report is not None else None

    @property
    def time_scale(self) -> float:
        """How much faster than real time the providers' timings run (1 = real)."""
        if self.speedup is not None:
            return self.speedup
        return SIM_SPEEDUP if self.simulate else 1.0


def default_journal_path(manifest: Path, simulate: bool = False) -> Path:
    """A campaign's journal, beside its manifest whatever ``-o`` says:
    ``campaign.csv`` -> ``campaign.csv.journal.sqlite``; a ``--simulate`` run has
    its own, ``campaign.csv.simulate.journal.sqlite``, and never touches the real one."""
    return manifest.with_name(manifest.name + (".simulate" if simulate else "") + ".journal.sqlite")


def default_output_path(manifest: Path) -> Path:
    """The results CSV when no ``-o`` is given: ``campaign.csv`` -> ``campaign.csv.results.csv``
    beside the manifest (two campaigns in one folder never overwrite each other's results)."""
    return manifest.with_name(manifest.name + ".results.csv")


def legacy_journal_path(output: Path) -> Path:
    """Where versions before 0.2 kept the journal: next to the results, ``results.journal.sqlite``."""
    return output.with_name(output.stem + ".journal.sqlite")


def journal_path(request: RunRequest) -> Path:
    """The journal a run uses: ``--journal`` when given; else the campaign's default
    (default_journal_path); else, when only a journal made by the old rule exists next
    to the results and it holds tasks of this run's world (real or simulated), that one,
    with a one-line notice, so nobody pays again after upgrading."""
    if request.journal is not None:
        return request.journal
    new = default_journal_path(request.manifest, request.simulate)
    if new.exists():
        return new
    old = legacy_journal_path(request.output)
    if old.is_file() and _legacy_matches(old, request):
        log.warning("using the journal %s found next to the results (the old default); campaigns now keep "
                    "their journal beside the manifest: move it to %s, or keep passing --journal %s", old, new, old)
        return old
    return new


def _legacy_matches(path: Path, request: RunRequest) -> bool:
    """Whether an old-rule journal belongs to a run of this kind: its videos came from
    the in-process simulator exactly when the run simulates (no video yet: a real run
    takes it)."""
    from batch_runner.errors import ConfigError
    from batch_runner.world import guess_simulated

    hosts = {urlsplit(s.base_url).netloc for s in resolve_settings(None, _environ(request)).values()}
    try:
        with Journal(path, lock=False) as journal:
            simulated = guess_simulated(journal, real_hosts=hosts)
    except (ConfigError, OSError, sqlite3.Error):
        return False
    return simulated is None and not request.simulate or simulated == request.simulate


def _environ(request: RunRequest, sim_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ if request.environ is None else request.environ)
    if request.simulate:
        from batch_runner.catalog.facts import catalog

        for name, info in catalog().items():
            env[info.key_env] = SIM_KEY
            if sim_url:
                env[info.base_url_env] = f"{sim_url}/{name}"
    return env


def load_jobs(request: RunRequest, environ: Mapping[str, str] | None = None, *,
              need_keys: bool = True) -> tuple[list[Job], Manifest]:
    """Load, check and expand the manifest: the jobs, and the manifest with
    the expansion's warnings added to its own. Raises ManifestError (with
    ``strict``, also for warnings such as an unknown camera command; without
    ``need_keys``, a missing API key is a warning)."""
    env = environ if environ is not None else _environ(request)
    remember_keys(env)  # so a key pasted into the manifest is recognised, and redacted
    manifest = load_manifest(request.manifest, parse_overrides(request.sets), strict=False, sheet=request.sheet,
                             allow_outside_paths=request.allow_outside_paths, columns=parse_map(request.maps))
    expansion = expand(manifest, env, need_keys=need_keys)
    manifest = dataclasses.replace(manifest, warnings=manifest.warnings + expansion.warnings)
    if expansion.problems:
        raise ManifestError(manifest.warnings + expansion.problems)
    if request.strict and manifest.warnings:
        raise ManifestError([dataclasses.replace(p, severity="error") for p in manifest.warnings])
    return expansion.jobs, manifest


def _settings(request: RunRequest, manifest: Manifest, env: Mapping[str, str]) -> dict[str, ProviderSettings]:
    settings = resolve_settings(manifest.provider_settings, env)
    k = request.time_scale
    if k != 1.0:
        settings = {
            n: dataclasses.replace(
                s,
                rpm=s.rpm * k,
                poll_interval_s=s.poll_interval_s / k,
                task_timeout_s=s.task_timeout_s / k,
                typical_generation_s=s.typical_generation_s / k if s.typical_generation_s else None,
                backoff_base_s=s.backoff_base_s / k,
                retry_total_s=s.retry_total_s / k,
            )
            for n, s in settings.items()
        }
    return settings


@contextlib.asynccontextmanager
async def _simulator(request: RunRequest, manifest: Manifest) -> AsyncIterator[str | None]:
    if not request.simulate:
        yield None
        return
    from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

    settings = resolve_settings(manifest.provider_settings, {})
    config = SimConfig(
        providers={
            n: ProviderSimConfig(
                api_key=SIM_KEY,
                generation_s=(s.typical_generation_s or 60.0) / SIM_SPEEDUP,
                rpm=s.rpm * SIM_SPEEDUP,
            )
            for n, s in settings.items()
        }
    )
    async with running_simulator(config, host="127.0.0.1", port=0) as sim:
        yield sim.base_url


def plan_manifest(request: RunRequest) -> tuple[Plan, Manifest]:
    """The plan of every job of the manifest (no network, no journal; a
    missing API key is a warning in ``manifest.warnings``), and the manifest.
    Raises ManifestError."""
    jobs, manifest = load_jobs(request, need_keys=False)
    return make_plan(jobs, resolve_settings(manifest.provider_settings, _environ(request))), manifest


def dry_run_counts(request: RunRequest) -> dict[str, int]:
    """What a run would do, from the journal alone: jobs done, in flight,
    failed, unknown, and new. Sends nothing."""
    jobs, manifest = load_jobs(request)
    state = journal_path(request)
    check_run_outputs(output=request.output, state=state, report=request.report, download=request.download,
                      manifest=manifest.path, sheet=manifest.sheet)
    counts = {"total": len(jobs), "succeeded": 0, "in_flight": 0, "failed": 0, "unknown": 0, "new": 0}
    if not state.is_file():
        counts["new"] = len(jobs)
        return counts
    with Journal(state, lock=False) as journal:
        for job in jobs:
            rec = journal.get(job.job_id)
            key = "new" if not rec or rec["status"] == PENDING else status_word(rec["status"])
            counts[key] = counts.get(key, 0) + 1
    return counts


def journal_counts(path: Path) -> tuple[dict[str, int], bool]:
    """Jobs per status of the journal at ``path``, in the words of ``run
    --dry-run`` (succeeded, in_flight, failed, unknown, then any other status
    word), and whether a run holds the journal now. Takes no lock.

    Raises ConfigError when there is no journal at ``path``.
    """
    if not path.is_file():
        raise ConfigError(f"no journal at {path}")
    busy = journal_in_use(path)
    with Journal(path, lock=False) as journal:
        raw = journal.counts()
    counts = {k: 0 for k in ("succeeded", "in_flight", "failed", "unknown")}
    for status, n in raw.items():
        key = status_word(status, in_use=busy)
        counts[key] = counts.get(key, 0) + n
    return counts, busy


def rebuild_results(path: Path, output: Path) -> int:
    """Write the results CSV ``output`` from the journal at ``path`` alone
    (no manifest, no network); returns the number of rows. Takes no lock.

    Raises ConfigError when there is no journal at ``path``.
    """
    if not path.is_file():
        raise ConfigError(f"no journal at {path}")
    with Journal(path, lock=False) as journal:
        return write_results(output, list(journal.records()))


async def execute(request: RunRequest) -> int:
    """Run the manifest; write results and the summary; return the exit status.

    Raises ManifestError (invalid manifest), OutputPathError (an output that
    cannot be written, checked before anything is sent), JournalError (the
    journal is not one, or is damaged), StateLockedError (journal in use),
    BudgetError (the plan exceeds --max-cost / --max-credits).
    """
    started = time.monotonic()
    jobs, manifest = load_jobs(request)
    for warning in manifest.warnings:
        event("manifest_warning", "%s", warning, level=logging.WARNING, where=warning.where, field=warning.field)
    names = assign_file_names(jobs, request.download_name) if request.download else {}
    state = journal_path(request)
    check_run_outputs(output=request.output, state=state, report=request.report, download=request.download,
                      manifest=manifest.path, sheet=manifest.sheet)
    with Journal(state) as journal:
        async with _simulator(request, manifest) as sim_url:
            env = _environ(request, sim_url)
            settings = _settings(request, manifest, env)
            worlds = {n: world_of(s, request.simulate) for n, s in settings.items()}
            check_worlds(journal, worlds, {p for j in jobs for p in j.providers})
            ids = {j.job_id for j in jobs}

            def current() -> list[dict[str, Any]]:
                by_id = {r["job_id"]: r for r in journal.records() if r["job_id"] in ids}
                return [by_id[j.job_id] for j in jobs if j.job_id in by_id]

            def checkpoint() -> None:
                write_results(request.output, current())

            options = request.options or RunOptions(
                retry_failed=request.retry_failed, resubmit_unknown=request.resubmit_unknown
            )
            if request.allow_outside_paths:
                options = dataclasses.replace(options, allow_outside_paths=True)
            budget = Budget(request.max_cost, request.max_credits)
            runner = Runner(jobs, settings, journal, None, base_dir=manifest.base_dir,  # type: ignore[arg-type]
                            options=options, checkpoint=checkpoint, budget=budget)
            _, fresh, done = runner.prepare()
            estimate = make_plan(fresh, settings)  # this run's submits
            if budget.active:
                budget.seed(list(journal.records()), settings)  # everything this journal ever paid or committed counts
                if not request.fit_budget:
                    check_estimate(estimate, budget)
            progress = Progress(len(jobs), len(done), enabled=not request.quiet, bar=request.log_format == "text",
                                every_s=PROGRESS_EVERY_S)
            downloader = None
            if request.download:
                hosts = frozenset(urlsplit(s.base_url).hostname or "" for s in settings.values())
                downloader = Downloader(DownloadOptions(request.download, request.download_name,
                                                        int(request.download_max_mb * 2**20),
                                                        trusted_hosts=hosts), journal, names)
                request.download.mkdir(parents=True, exist_ok=True)

            def on_finish(job: Job, rec: dict[str, Any]) -> None:
                progress.finished(rec)
                job_event(job, rec)
                if downloader:
                    downloader.offer(rec)

            runner.on_finish = on_finish
            if sim_url:
                log.info("simulator at %s", sim_url)
            log.info("%d jobs: %d to submit, %d already final, %d in flight; %s",
                     len(jobs), len(fresh), len(done), len(jobs) - len(fresh) - len(done),
                     scene_line(scene_counts(jobs)))
            stopped = await _run_with_signals(runner, progress, settings, downloader, current)
        records = current()
        write_results(request.output, records)
        old = sum(1 for r in journal.records() if r["job_id"] not in ids)
    if request.report:
        write_report(request.output, request.report)
    summary = summarize(records, time.monotonic() - started, make_plan(jobs, settings), estimate.wall_s)
    head, *rest = summary.lines()
    scenes = scene_line(scene_counts(jobs))
    lines = [head, *([f"  {scenes}"] if scenes else []), *rest, *budget.lines()]
    if downloader:
        lines.append(f"  downloads: {downloader.saved} saved, {downloader.kept} already there, "
                     f"{len(downloader.failed)} failed, in {request.download}")
    cost = summary.cost_json()  # an unknown USD price is null, with the count of such jobs
    event("summary", "\n".join(lines), by_status=summary.by_status, cost=cost["providers"],
          cost_total=cost["total"], wall_s=round(summary.wall_s, 3),
          plan=summary.estimate.as_dict()["total"], downloads_failed=len(downloader.failed) if downloader else None)
    if old:
        log.warning("%d job(s) in the journal are no longer in the manifest "
                 "(see `batch-runner results %s`)", old, state)
    log.info("results: %s (journal: %s)", request.output, state)
    if request.report:
        log.info("report: %s", request.report)
    if stopped:
        return stopped
    return EXIT_OK if summary.all_succeeded and not (downloader and downloader.failed) else EXIT_FAILED


async def _run_with_signals(runner: Runner, progress: Progress, settings: dict[str, ProviderSettings],
                            downloader: Downloader | None = None,
                            records: Callable[[], list[dict[str, Any]]] = list) -> int:
    """Run; the first SIGINT/SIGTERM stops submitting (tasks in flight are
    polled to the end), the second stops at once. Then the downloader saves
    the videos not saved yet (``records()``: the run's journal records).
    Returns 0 or 130/143."""
    loop = asyncio.get_running_loop()
    stopped = 0
    async with Transport.open() as transport:
        runner.transport = transport
        if downloader:
            downloader.transport = transport

        async def everything() -> None:
            await runner.run()
            if downloader:
                await downloader.finish(records())

        main = asyncio.ensure_future(everything())

        async def ticker() -> None:  # the progress line is periodic, not only per finished job
            while True:
                await asyncio.sleep(progress.every_s)
                progress.tick()

        ticking = asyncio.ensure_future(ticker())

        def on_signal(sig: int) -> None:
            nonlocal stopped
            if stopped:
                log.warning("second signal: stopping now; tasks in flight stay in the journal")
                main.cancel()
                return
            stopped = EXIT_SIGINT if sig == signal.SIGINT else EXIT_SIGTERM
            runner.request_stop()
            progress.set_note("stopping: no new submits, polling tasks in flight (Ctrl-C again to quit now)")

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
        try:
            await main
        except asyncio.CancelledError:
            if not stopped:
                raise
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
            for sig in installed:
                loop.remove_signal_handler(sig)
            progress.close()
            if downloader:
                await downloader.aclose()  # stopped at once: parts are kept for the next run
    return stopped
