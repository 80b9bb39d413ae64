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
import re
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from batch_runner.catalog.prices import describe_usd, video_cost
from batch_runner.catalog.settings import (
    ProviderSettings,
    merge_overrides,
    resolve_settings,
    unused_key_settings,
)
from batch_runner.defaults import CONFIRM_OVER_USD
from batch_runner.errors import TRANSIENT_CODES, ConfigError, ManifestError, Problem, WorldError, world_fault
from batch_runner.jobs.model import Job
from batch_runner.jobs.scenes import scene_counts, scene_line
from batch_runner.jobs.selection import RowSelection, choose_rows
from batch_runner.journal import (
    JobRecord,
    JobStatus,
    Journal,
    journal_in_use,
    status_word,
)
from batch_runner.journal.postgres import DEFAULT_LEASE_S, PgJournal, is_database_url, open_journal, safe_url
from batch_runner.keys import remember_keys
from batch_runner.logs import event, job_event
from batch_runner.output.file_names import DEFAULT_TEMPLATE, assign_file_names
from batch_runner.output.paths import check_run_outputs
from batch_runner.output.readback import listed_task_ids
from batch_runner.output.recovery import lost_journal
from batch_runner.output.results import summarize, write_results
from batch_runner.run.budget import Budget, check_estimate
from batch_runner.run.estimate import Plan, make_plan
from batch_runner.words import count
from batch_runner.world import check_worlds, world_of

if TYPE_CHECKING:  # the run's machinery (aiohttp, av, numpy, openpyxl, jinja2...) is imported by execute(),
    # the manifest's reading (jsonschema) by load_jobs(): status never loads them, validate and plan no heavy one
    from batch_runner.manifest.model import Manifest
    from batch_runner.output.download import Downloader
    from batch_runner.output.progress import Progress
    from batch_runner.providers.url_safety import AddressPolicy
    from batch_runner.run.dispatch import Runner, RunOptions
    from batch_runner.run.har import HarRecorder
    from batch_runner.transport import Transport

__all__ = ["CONFIRM_OVER_USD", "EXIT_NOT_CONFIRMED", "RunRequest", "default_journal_path", "default_output_path",
           "dry_run_counts", "execute", "first_contact", "held_back", "journal_counts", "journal_path", "load_jobs",
           "load_settings_file", "needs_confirmation", "rebuild_results"]

log = logging.getLogger("batch_runner")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_BUDGET = 0, 1, 2, 3, 4
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
EXIT_NOT_CONFIRMED = 5      # the run's plan was shown and not confirmed: nothing sent
PROGRESS_EVERY_S = 10.0     # seconds between two progress lines off a terminal
SHOWN_STOPPED_WORKERS = 5   # status of a shared journal: every live worker, and the latest stopped or dead
SIM_SPEEDUP = 30.0          # simulated time runs this much faster than real time
SIM_KEY = "sim-key"
JOURNAL_CHECK_S = 1.0       # seconds between two checks that the journal file is the one opened, besides commits


@dataclass
class RunRequest:
    """Everything a run needs to know (the CLI's options)."""

    manifest: Path
    output: Path = None  # type: ignore[assignment]  # None: default_output_path(manifest), by __post_init__
    journal: Path | str | None = None  # the journal file, or a postgresql:// URL; None: journal_path chooses
    campaign: str | None = None  # the campaign's name in a shared journal; None: the manifest's file name
    lease_s: float = DEFAULT_LEASE_S  # a shared journal: seconds a worker's claims last without a heartbeat
    sets: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)  # --map "HEADER=field"
    simulate: bool = False
    retry_failed: bool = False  # submit again failed jobs of a transient failure (errors.TRANSIENT_CODES)
    retry_all_failed: bool = False  # with retry_failed: every failed job
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
    contact_sheet: Path | None = None  # --contact-sheet: write the posters' grid here (.png / .jpg)
    contact_sheet_by: str | None = None  # --contact-sheet-by: group its tiles by this results column
    log_format: str = "text"
    allow_outside_paths: bool = False  # image and sheet paths may leave the manifest's folder
    allow_private_urls: bool = False  # --allow-private-urls: fetch private and local addresses too
    rows: RowSelection | None = None  # --rows: run only the jobs of these manifest rows
    limit: int | None = None  # --limit: submit at most this many new (never sent) jobs this run
    # asked with this run's plan of submits when it costs more than confirm_over USD (or an
    # unknown USD amount); False: nothing is sent (EXIT_NOT_CONFIRMED). None: never asked
    confirm: Callable[[Plan], bool] | None = None
    confirm_over: float = CONFIRM_OVER_USD
    trace_http: Path | None = None  # --trace-http: write every HTTP exchange of the run here (HAR 1.2)
    canary: bool = True  # on first contact with a provider, one job first, alone (run/canary.py)
    reroll_qa_failed: bool = False  # submit again succeeded jobs whose saved video failed QA (a new generation)
    max_rerolls: int = 1  # at most this many re-rolls per job
    reroll_rejected: bool = False  # submit again succeeded jobs a person rejected (docs/review.md)
    cancel_replaced: bool = False  # cancel the queued tasks of edited rows where the provider can (run/cancel.py)
    settings_file: Path | None = None  # --settings: a YAML file with a providers: mapping
    ignore_results_task_ids: bool = False  # a new journal may submit again jobs whose task ids the results list
    retry_canary: bool = False  # send a canary even where the journal remembers one that failed (run/canary.py)
    deliver: str | None = None  # --deliver URL: copy saved videos, posters and the run's files there
    deliver_qa_failed: bool = False  # --deliver-qa-failed: QA-failed videos too
    deliver_approved_only: bool = False  # --deliver-approved-only: only videos a person approved
    notify: tuple[str, ...] = ()  # --notify URL (apprise), repeatable
    notify_on: str = "always"  # --notify-on: always / failure (the digest; alerts are always sent)
    metrics_file: Path | None = None  # --metrics-file PATH.prom (Prometheus text format)
    callback_url: str | None = None  # --callback-url: the public URL of the callback receiver (run/callbacks.py)
    callback_listen: str = "127.0.0.1:8787"  # --callback-listen HOST:PORT: where the receiver listens

    def __post_init__(self) -> None:
        self.manifest = Path(self.manifest)
        self.output = Path(self.output) if self.output is not None else default_output_path(self.manifest)
        if self.journal is not None and not is_database_url(self.journal):
            self.journal = Path(self.journal)
        self.download = Path(self.download) if self.download is not None else None
        self.report = Path(self.report) if self.report is not None else None
        self.contact_sheet = Path(self.contact_sheet) if self.contact_sheet is not None else None
        self.trace_http = Path(self.trace_http) if self.trace_http is not None else None
        self.settings_file = Path(self.settings_file) if self.settings_file is not None else None
        self.metrics_file = Path(self.metrics_file) if self.metrics_file is not None else None

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


def journal_path(request: RunRequest) -> Path | str:
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


def campaign_of(request: RunRequest) -> str:
    """The campaign's name in a shared journal: ``--campaign``, else the manifest's file name."""
    return request.campaign or request.manifest.name


#: a ``NAME_API_KEY=value`` line of a .env file (quotes and ``export`` allowed)
_ENV_KEY_LINE = re.compile(r"""^[ \t]*(?:export[ \t]+)?([A-Za-z0-9_]*_API_KEYS?)[ \t]*[=:][ \t]*['"]?([^'"\r\n#]*)""",
                           re.MULTILINE)


def load_settings_file(path: Path) -> dict[str, dict[str, object]]:
    """The ``providers:`` mapping of a settings file (``--settings FILE.yaml``): YAML holding
    only ``providers:``, each provider's settings as in a manifest (rate limits, ``base_url``,
    ``model_ids``), checked by the manifest schema. Raises ConfigError naming the file and
    what is wrong."""
    import yaml
    from jsonschema import Draft202012Validator

    from batch_runner.manifest.schema import schema

    try:
        text = path.read_text(encoding="utf-8")
        remember_keys(dict(_ENV_KEY_LINE.findall(text)))  # a .env file given here: its keys stay secret
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--settings {path}: cannot read it ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"--settings {path}: not valid YAML{where}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"--settings {path}: is not a YAML mapping (the file holds providers: NAME: SETTING: "
                          "VALUE and/or qa: SETTING: VALUE; API keys go in the environment or ./.env, "
                          "never in --settings)")
    full = schema()
    validator = Draft202012Validator({"type": "object", "additionalProperties": False,
                                      "anyOf": [{"required": ["providers"]}, {"required": ["qa"]}],
                                      "properties": {"providers": full["properties"]["providers"],
                                                     "qa": full["properties"]["qa"]},
                                      "$defs": full["$defs"]})
    errors = sorted(validator.iter_errors(data if data is not None else {}), key=lambda e: list(e.absolute_path))
    if errors:
        said = "; ".join(f"{'.'.join(str(p) for p in e.absolute_path) or 'the file'}: {e.message[:200]}"
                         for e in errors[:5])
        raise ConfigError(f"--settings {path}: {said} (the file holds providers: NAME: SETTING: VALUE "
                          "and/or qa: SETTING: VALUE)")
    return dict((data or {}).get("providers") or {})


def _overrides(request: RunRequest, manifest: Manifest | None = None) -> dict[str, dict[str, object]]:
    """The ``providers:`` overrides of a run: the --settings file's, then the manifest's (which win)."""
    from_file = load_settings_file(request.settings_file) if request.settings_file else None
    return merge_overrides(from_file, manifest.provider_settings if manifest else None)


def first_contact(path: Path | str, providers: set[str]) -> set[str]:
    """Of ``providers``, those no job has succeeded on in the journal at ``path`` (all of them
    when there is no journal yet): where a run sends a canary first. Takes no lock."""
    if not is_database_url(path) and not Path(path).is_file():
        return set(providers)
    try:
        with open_journal(path, lock=False) as journal:
            proven = {r.provider for r in journal.records() if r.status == JobStatus.SUCCEEDED}
    except (ConfigError, OSError, sqlite3.Error):
        return set(providers)
    return set(providers) - proven


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
    return (simulated is None and not request.simulate) or simulated == request.simulate


def _environ(request: RunRequest, sim_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ if request.environ is None else request.environ)
    if request.simulate:
        from batch_runner.catalog.facts import catalog

        for name, info in catalog().items():
            env[info.key_env] = SIM_KEY
            env.pop(info.pool_env, None)  # a pool of real keys is never sent to the simulator
            if sim_url:
                env[info.base_url_env] = f"{sim_url}/{name}"
    return env


def load_jobs(request: RunRequest, environ: Mapping[str, str] | None = None, *,
              need_keys: bool = True) -> tuple[list[Job], Manifest]:
    """Load, check and expand the manifest: the jobs, and the manifest with
    the expansion's warnings added to its own. Raises ManifestError (with
    ``strict``, also for warnings such as an unknown camera command; without
    ``need_keys``, a missing API key is a warning)."""
    from batch_runner.jobs.expand import expand
    from batch_runner.manifest.load import load_manifest
    from batch_runner.manifest.options import parse_map, parse_overrides

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
    settings = resolve_settings(_overrides(request, manifest), env)
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
                key_settings={label: {**v, **({"rpm": float(v["rpm"]) * k} if "rpm" in v else {})}
                              for label, v in s.key_settings.items()},
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

    settings = resolve_settings(_overrides(request, manifest), {})
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
    """The plan of every job of the manifest, or of the rows ``request.rows``
    chooses (no network, no journal; a missing API key, or chosen rows that are
    not in the manifest, is a warning in ``manifest.warnings``), and the manifest.
    Raises ManifestError; ConfigError when no chosen row is in the manifest."""
    jobs, manifest = load_jobs(request, need_keys=False)
    jobs, note = choose_rows(jobs, request.rows)
    if note:
        warning = Problem(f"--rows {request.rows.spec}" if request.rows else "--rows", "", note, "warning")
        manifest = dataclasses.replace(manifest, warnings=[*manifest.warnings, warning])
    canaries = first_contact(journal_path(request), {j.provider for j in jobs}) if request.canary else set()
    return make_plan(jobs, resolve_settings(_overrides(request, manifest), _environ(request)),
                     first_contact=canaries), manifest


def held_back(jobs: list[Job], known: Mapping[str, JobRecord], limit: int | None) -> list[Job]:
    """The jobs ``--limit`` keeps for a later run: of ``jobs`` (in manifest order),
    the new ones (never sent: no journal record in ``known``, or ``pending`` /
    ``skipped_budget``) after the first ``limit``. Jobs in flight, failed or
    unknown are never held back (they follow --retry-failed / --resubmit-unknown).
    ``limit`` None: none."""
    if limit is None:
        return []
    def status(job: Job) -> JobStatus:
        record = known.get(job.job_id)
        return record.status if record else JobStatus.PENDING

    new = [j for j in jobs if status(j) in (JobStatus.PENDING, JobStatus.SKIPPED_BUDGET)]
    return new[limit:]


def needs_confirmation(plan: Plan, over_usd: float) -> bool:
    """Whether a run must be confirmed before it submits the jobs of ``plan``:
    they cost more than ``over_usd`` USD, or some job's USD price is unknown
    (it cannot be shown to be under). A plan of no job never does."""
    return plan.jobs > 0 and (plan.unknown_usd > 0 or plan.usd > over_usd)


def _stopped_simulator(request: RunRequest,
                       settings: dict[str, ProviderSettings]) -> Callable[[str], str | None] | None:
    """With --simulate: a video URL of a simulator on this machine other than
    this run's is an earlier simulated run's, whose simulator stopped with it
    (its videos lived only as long as that run): the reason, said once per
    video without a request. None when not simulating."""
    if not request.simulate:
        return None
    ours = {(u.hostname, u.port) for u in (urlsplit(s.base_url) for s in settings.values())}
    hosts = {host for host, _ in ours}

    def gone(url: str) -> str | None:
        parts = urlsplit(url)
        if parts.hostname in hosts and (parts.hostname, parts.port) not in ours:
            return ("made by an earlier --simulate run, whose simulator stopped with it: simulated videos can "
                    "only be saved by the run that makes them (add --download to that run, or delete "
                    f"{safe_url(str(journal_path(request)))} to simulate the campaign again)")
        return None

    return gone


def _check_outputs(request: RunRequest, jobs: list[Job], manifest: Manifest, state: Path | str) -> None:
    """Every output of the run checked before anything is sent (output/paths.py),
    and a contact sheet's needs (--download, a known --contact-sheet-by column).
    ``state``: the journal's path, or a database URL (not a file to check)."""
    check_run_outputs(output=request.output, state=state if isinstance(state, Path) else None,
                      report=request.report, download=request.download,
                      manifest=manifest.path, sheet=manifest.sheet, contact_sheet=request.contact_sheet,
                      trace=request.trace_http, settings=request.settings_file,
                      images=sorted({f.path for j in jobs for f in (j.image_file, j.end_image_file) if f}))
    if request.contact_sheet is not None:
        from batch_runner.output.contact_sheet import check_sheet_request

        check_sheet_request(request.download, request.contact_sheet_by, jobs)


def _write_contact_sheet(request: RunRequest) -> str | None:
    """Write the run's contact sheet from its results file; after the videos
    were paid for, a problem (no video saved, say) is a warning, not an exit:
    returns it, or None when written."""
    from batch_runner.output.contact_sheet import write_contact_sheet

    assert request.contact_sheet is not None
    try:
        write_contact_sheet(request.output, request.contact_sheet, by=request.contact_sheet_by)
    except ConfigError as exc:
        return str(exc)
    return None


def dry_run_counts(request: RunRequest) -> dict[str, int]:
    """What a run would do, from the journal alone: jobs done, in flight,
    failed, unknown, and new; with ``request.rows``, of those rows' jobs only
    (``total`` is theirs); with ``request.limit``, ``later``: the new jobs the
    limit keeps for a later run (not counted in ``new``); with ``request.fit_budget``,
    ``skipped_budget``: the new jobs the caps leave out (not counted in ``new``). Sends nothing.
    Raises ManifestError; ConfigError when no chosen row is in the manifest."""
    jobs, manifest = load_jobs(request)
    jobs, note = choose_rows(jobs, request.rows)
    if note and request.rows:
        log.warning("--rows %s: %s", request.rows.spec, note)
    state = journal_path(request)
    _check_outputs(request, jobs, manifest, state)
    counts = {"total": len(jobs), "succeeded": 0, "in_flight": 0, "failed": 0, "unknown": 0, "new": 0}
    known: dict[str, JobRecord] = {}
    if is_database_url(state) or Path(state).is_file():
        with open_journal(state, campaign_of(request), lock=False) as journal:
            known = {j.job_id: rec for j in jobs if (rec := journal.get(j.job_id))}
    later = {j.job_id for j in held_back(jobs, known, request.limit)}
    budget = Budget(request.max_cost, request.max_credits) if request.fit_budget else Budget()
    settings: dict[str, ProviderSettings] = {}
    if budget.active:  # --fit-budget: the new jobs past the cap are skipped, as the run skips them
        settings = _settings(request, manifest, _environ(request))
        budget.seed(list(known.values()), settings)
    for job in jobs:
        record = known.get(job.job_id)
        key = "new" if not record or record.status == JobStatus.PENDING else status_word(record.status)
        key = "later" if job.job_id in later else key
        if key == "new" and budget.active and budget.reserve(job.job_id, job.provider, video_cost(
                settings[job.provider], job.model, job.resolution, job.duration)):
            key = "skipped_budget"
        counts[key] = counts.get(key, 0) + 1
    if request.reroll_qa_failed:  # succeeded jobs whose video failed QA, submitted (and paid) again
        counts["reroll"] = sum(1 for r in known.values() if r.rerollable(request.max_rerolls))
    if request.reroll_rejected:  # succeeded jobs a person rejected (in the journal, or in -o now)
        from batch_runner.output.review import would_reroll_rejected

        counts["reroll_rejected"] = len(would_reroll_rejected(known, request.output, request.max_rerolls))
    return counts


def _offer_cancel(request: RunRequest, records: list[JobRecord]) -> None:
    """After a stopped run: name the command that cancels its tasks left in flight on
    a provider that can cancel a queued task (MiniMax V2), instead of paying them."""
    from batch_runner.catalog.facts import catalog

    left = [r for r in records if r.status == JobStatus.SUBMITTED and catalog()[r.provider].can_cancel]
    if left:
        log.warning("%d task(s) in flight on %s can be cancelled while still queued (not billed): "
                    "batch-runner cancel %s --all-queued%s", len(left),
                    ", ".join(sorted({r.provider for r in left})), request.manifest,
                    " --simulate" if request.simulate else "")


def journal_counts(path: Path | str, campaign: str | None = None) -> tuple[dict[str, int], bool, list[str]]:
    """Jobs per status of the journal at ``path``, in the words of ``run
    --dry-run`` (succeeded, in_flight, failed, unknown, then any other status
    word), whether a run holds the journal now, and for a shared journal
    (a postgresql:// URL, its ``campaign``) one line per worker: alive or not,
    its leases and last heartbeat. Takes no lock.

    Raises ConfigError when there is no journal at ``path``.
    """
    workers: list[str] = []
    if is_database_url(path):
        with open_journal(path, campaign, lock=False) as journal:
            raw = journal.counts()
            found = journal.workers() if isinstance(journal, PgJournal) else []
        shown = [w for w in found if w.alive] + [w for w in found if not w.alive][:SHOWN_STOPPED_WORKERS]
        workers = [w.line() for w in shown]
        if len(found) > len(shown):
            workers.append(f"  ({len(found) - len(shown)} older workers not shown)")
        busy = any(w.alive for w in found)
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no journal at {path}")
        busy = journal_in_use(path)
        with Journal(path, lock=False) as journal:
            raw = journal.counts()
    counts = dict.fromkeys(("succeeded", "in_flight", "failed", "unknown"), 0)
    for status, n in raw.items():
        key = status_word(status, in_use=busy)
        counts[key] = counts.get(key, 0) + n
    return counts, busy, workers


def rebuild_results(path: Path | str, output: Path, campaign: str | None = None) -> int:
    """Write the results CSV ``output`` from the journal at ``path`` alone
    (no manifest, no network); returns the number of rows. Takes no lock.

    Raises ConfigError when there is no journal at ``path``. A postgresql://
    URL names a shared journal: ``campaign`` (None: its only one).
    """
    if not is_database_url(path) and not Path(path).is_file():
        raise ConfigError(f"no journal at {path}")
    with open_journal(path, campaign, lock=False) as journal:
        return write_results(output, _Records(journal))  # streamed: read twice, never whole in memory


class _Records:
    """A journal's records, read anew each time they are iterated."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __iter__(self) -> Iterator[JobRecord]:
        return self.journal.records()


async def execute(request: RunRequest) -> int:
    """Run the manifest; write results and the summary; return the exit status.

    Raises ManifestError (invalid manifest), OutputPathError (an output that
    cannot be written, checked before anything is sent), JournalError (the
    journal is not one, or is damaged), StateLockedError (journal in use),
    BudgetError (the plan exceeds --max-cost / --max-credits), ConfigError
    (no row of ``request.rows`` is in the manifest).

    With ``request.rows`` / ``request.limit`` the run takes only some jobs
    (the others keep their journal state and stay in the results); the exit
    status is then that of the jobs it took. Returns EXIT_NOT_CONFIRMED, with
    nothing sent, when ``request.confirm`` was asked and said no.
    """
    from batch_runner.output.checkpoint import Checkpoint
    from batch_runner.output.download import Downloader, DownloadOptions
    from batch_runner.output.handoff import Handoff
    from batch_runner.output.progress import Progress
    from batch_runner.output.report import write_report
    from batch_runner.output.review import rejected_rerolls, review_lines, take_reviews
    from batch_runner.output.video_qa import VideoQa, qa_lines, run_qa_settings, start_rerolls
    from batch_runner.providers.url_safety import AddressPolicy
    from batch_runner.run.callbacks import CallbackHub, receiving
    from batch_runner.run.canary import CanaryStop
    from batch_runner.run.cancel import cancel_replaced
    from batch_runner.run.dispatch import Runner, RunOptions, prepare
    from batch_runner.run.har import HarRecorder
    from batch_runner.run.url_refresh import UrlRefresher, expiry_lines

    started, started_wall = time.monotonic(), time.time()
    jobs, manifest = load_jobs(request)
    chosen, note = choose_rows(jobs, request.rows)
    if note and request.rows:
        log.warning("--rows %s: %s", request.rows.spec, note)
    for warning in manifest.warnings:
        event("manifest_warning", "%s", warning, level=logging.WARNING, where=warning.where, field=warning.field)
    assign_file_names(jobs, request.download_name) if request.download else {}  # a clash: refused now
    state = journal_path(request)
    _check_outputs(request, jobs, manifest, state)
    handoff = Handoff.prepare(deliver=request.deliver, download=request.download,  # probed before any submit
                              deliver_qa_failed=request.deliver_qa_failed,
                              deliver_approved_only=request.deliver_approved_only, notify=request.notify,
                              notify_on=request.notify_on, metrics_file=request.metrics_file)
    recorder = HarRecorder() if request.trace_http is not None else None
    made: list[Runner] = []
    with open_journal(state, campaign_of(request), local=request.manifest,  # a database's captures: <manifest>.captures
                      lease_s=request.lease_s) as journal:
        _refuse_new_journal(request, journal, state)
        async with _simulator(request, manifest) as sim_url:
            env = _environ(request, sim_url)
            settings = _settings(request, manifest, env)
            worlds = {n: world_of(s, request.simulate) for n, s in settings.items()}
            check_worlds(journal, worlds, {p for j in jobs for p in j.providers})
            used = sorted({p for j in jobs for p in j.providers})
            for unused in [] if request.simulate else unused_key_settings(settings, used):
                log.warning("%s", unused)
            ids = {j.job_id for j in jobs}

            def current() -> list[JobRecord]:
                """The manifest's records in its order, then those of rows no longer in it
                whose task may have cost money (edited or removed rows)."""
                every = list(journal.records())
                by_id = {r.job_id: r for r in every if r.job_id in ids}
                removed = [r for r in every if r.job_id not in ids and r.possibly_paid]
                return [by_id[j.job_id] for j in jobs if j.job_id in by_id] + removed

            checkpoint = Checkpoint(request.output, journal, [j.job_id for j in jobs])  # in a thread of its own

            options = request.options or RunOptions(
                retry_failed=request.retry_failed, retry_all_failed=request.retry_all_failed,
                resubmit_unknown=request.resubmit_unknown, canary=request.canary,
                reroll_qa_failed=request.reroll_qa_failed, max_rerolls=request.max_rerolls,
                retry_canary=request.retry_canary, reroll_rejected=request.reroll_rejected,
            )
            for line in take_reviews(journal, request.output, quiet_when_none=True) if request.output.is_file() else []:
                log.info("%s", line)  # the verdicts a person put in the results file, taken before anything is sent
            budget = Budget(request.max_cost, request.max_credits)
            budget.shared = journal.coordination  # a shared journal: the caps hold across the campaign's workers
            work = prepare(journal, jobs, settings, options)
            if request.cancel_replaced and work.orphans:
                work = await cancel_replaced(journal, work, env)
            chosen_ids = {j.job_id for j in chosen}
            fresh = [j for j in work.fresh if j.job_id in chosen_ids]  # --rows: only those rows are submitted
            later = held_back(fresh, journal.snapshot(), request.limit)
            if later:
                left = {j.job_id for j in later}
                fresh = [j for j in fresh if j.job_id not in left]
            work = work._replace(fresh=fresh)
            done = work.done
            taken = [j for j in chosen if j.job_id not in {x.job_id for x in later}]
            names = assign_file_names(jobs + work.orphans, request.download_name) if request.download else {}
            proven = {r.provider for r in journal.records() if r.status == JobStatus.SUCCEEDED}
            canaries = {j.provider for j in fresh} - proven if options.canary else set()
            estimate = make_plan(fresh, settings, first_contact=canaries)  # this run's submits
            if budget.active:
                budget.seed(list(journal.records()), settings)  # everything this journal ever paid or committed counts
                if not request.fit_budget:
                    check_estimate(estimate, budget)
            if (request.confirm is not None and needs_confirmation(estimate, request.confirm_over)
                    and not request.confirm(estimate)):
                log.warning("not confirmed: nothing sent")
                return EXIT_NOT_CONFIRMED
            rejected = rejected_rerolls(journal, fresh)
            rerolled = start_rerolls(journal, fresh)
            downloader, video_qa = None, None
            if request.download:
                hosts = frozenset(urlsplit(s.base_url).hostname or "" for s in settings.values())
                video_qa = VideoQa(journal, run_qa_settings(request.settings_file, manifest.qa))
                downloader = Downloader(DownloadOptions(request.download, request.download_name,
                                                        int(request.download_max_mb * 2**20),
                                                        trusted_hosts=hosts,
                                                        gone=_stopped_simulator(request, settings),
                                                        refresh=UrlRefresher(settings, journal)),
                                        journal, names,
                                        on_saved=handoff.after_qa(video_qa.check, journal, request.download))
                request.download.mkdir(parents=True, exist_ok=True)
            progress = Progress(len(taken) + len(work.orphans), len(done), in_flight=[j.job_id for j, _ in work.resume],
                                enabled=not request.quiet, bar=request.log_format == "text",
                                every_s=PROGRESS_EVERY_S)

            def on_finish(job: Job, record: JobRecord) -> None:
                progress.finished(record)
                job_event(job, record)
                handoff.on_record(record)
                if downloader:
                    downloader.offer(record)

            hubs: list[CallbackHub] = []

            def runner(transport: Transport) -> Runner:
                made.append(Runner(work, settings, journal, transport, options=options,
                                   on_finish=on_finish, checkpoint=checkpoint.write, budget=budget,
                                   on_submit=lambda job, task_id: progress.submitted(job.job_id)))
                made[-1].lifecycle.callbacks = hubs[0] if hubs else None
                if hubs:  # a push after its job ended unknown (run/adoption.py)
                    hubs[0].on_late = made[-1].late.push
                return made[-1]

            if sim_url:
                log.info("simulator at %s", sim_url)
            log.info("%s: %d to submit, %d already final, %d in flight; %s",
                     count(len(jobs), "job"), len(fresh), len(done), len(work.resume) - len(work.orphans),
                     scene_line(scene_counts(jobs)))
            if work.orphans:
                log.warning("%d task(s) in flight belong to rows no longer in the manifest (edited or removed): "
                            "they are polled to their end, and listed after the manifest's rows", len(work.orphans))
            handoff.start(campaign_of(request), current)
            try:
                policy = AddressPolicy.for_base_urls((s.base_url for s in settings.values()),
                                                     allow_private=request.allow_private_urls)
                tick_s = min([1.0, *(s.poll_interval_s / 2 for s in settings.values())])  # --callback-listen none
                async with receiving(request.callback_url, request.callback_listen, journal, campaign_of(request),
                                     max(0.05, tick_s)) as hub:  # started before the first submit
                    hubs.extend([hub] if hub else [])
                    stopped = await _run_with_signals(runner, progress, downloader, current, recorder, policy,
                                                      lost=journal.check_file)
            except Exception as exc:
                fault = world_fault(exc)
                if fault is None:
                    raise
                try:  # a full disk, a stopped database: keep what can be kept
                    write_results(request.output, current(), manifest_ids=ids, make_posters=False)
                except Exception:
                    raise WorldError(f"{fault}; the results could not be written to {request.output} either: "
                                     f"`batch-runner results {safe_url(str(state))} -o FILE` writes them "
                                     "from the journal") from exc
                raise fault from exc
            finally:
                checkpoint.close()  # no checkpoint after the run's own writes of the results
                await handoff.stop()
                if recorder is not None and request.trace_http is not None:
                    recorder.write(request.trace_http)
            if journal.check_file() is not None:
                write_results(request.output, current(), manifest_ids=ids)
                raise lost_journal(journal, request.output)
            evidence = _evidence_lines(journal, made, started_wall)
            canary_stops: list[CanaryStop] = [c for r in made for c in r.canary_stops.values()]
            missing = _missing_key_lines(made, settings)
        every = current()
        try:
            write_results(request.output, every, manifest_ids=ids)
        except OSError as exc:  # the results path became a folder, its disk filled up: every job is in the journal
            raise WorldError(f"{world_fault(exc)}; meanwhile `batch-runner results {safe_url(str(state))} -o FILE` "
                             "writes the results from the journal") from exc
        records = [r for r in every if r.job_id in ids]
        removed = [r for r in every if r.job_id not in ids]
    if request.report:
        write_report(request.output, request.report, f"Campaign report: {campaign_of(request)}")
    sheet_problem = _write_contact_sheet(request) if request.contact_sheet else None
    await handoff.deliver_files({"results": request.output, "report": request.report,
                                 "contact_sheet": None if sheet_problem else request.contact_sheet})
    summary = summarize(records, time.monotonic() - started, make_plan(jobs, settings), estimate.wall_s,
                        removed=removed)
    head, *rest = summary.lines()  # the whole campaign, then what this run left out
    scenes = scene_line(scene_counts(jobs))
    lines = [head, *([f"  {scenes}"] if scenes else []), *rest, *_removed_lines(removed),
             *_earlier_failure_lines(records, started_wall), *evidence, *budget.lines(),
             *_selection_lines(request, len(jobs), len(chosen), len(later)),
             *(c.line(settings[c.provider].info) for c in canary_stops), *missing,
             *(line for hub in hubs for line in hub.lines())]
    if downloader:
        moved = "".join(f"{n} {word}, " for n, word in ((downloader.renamed, "renamed"),
                                                          (downloader.copied, "copied")) if n)
        hook = downloader.options.refresh
        refreshed = hook.refreshed if isinstance(hook, UrlRefresher) else 0
        lines.append(f"  downloads: {downloader.saved} saved, {moved}{downloader.kept} already there, "
                     f"{len(downloader.failed)} failed, in {request.download}"
                     + (f" ({refreshed} expired URL{'s' if refreshed != 1 else ''} asked again of the provider, "
                        "free)" if refreshed else ""))
        lines.extend(line for line in [downloader.elsewhere_line()] if line)
        lines.extend(qa_lines(records))
        lines.extend(handoff.lines())
    elif not request.simulate:  # simulated videos end with their run's simulator whatever their URLs say
        lines.extend(expiry_lines(records, time.time()))
    if rerolled - rejected:
        lines.append(f"  re-rolled {count(rerolled - rejected, 'QA-failed video')} "
                     f"(submitted again as a new generation, paid again; at most {request.max_rerolls} per job)")
    if rejected:
        lines.append(f"  re-rolled {count(rejected, 'rejected video')} (submitted again as a new generation, "
                     f"paid again; at most {request.max_rerolls} per job)")
    lines.extend(review_lines(records))
    cost = summary.cost_json()  # an unknown USD price is null, with the count of such jobs
    event("summary", "\n".join(lines), by_status=summary.by_status, cost=cost["providers"],
          cost_total=cost["total"], cost_by_key=summary.by_key_json(), wall_s=round(summary.wall_s, 3),
          plan=summary.estimate.as_dict()["total"], downloads_failed=len(downloader.failed) if downloader else None,
          qa_checked=video_qa.checked if video_qa else None, qa_failed=len(video_qa.failed) if video_qa else None)
    log.info("results: %s (journal: %s)", request.output, safe_url(str(state)))
    if request.trace_http:
        log.info("HTTP trace (HAR 1.2): %s", request.trace_http)
    if request.report:
        log.info("report: %s", request.report)
    if request.contact_sheet:
        if sheet_problem:
            log.warning("contact sheet not written: %s", sheet_problem)
        else:
            log.info("contact sheet: %s", request.contact_sheet)
    if stopped:
        _offer_cancel(request, records)
    failed = (new_failures(records, started_wall) or canary_stops or missing or (downloader and downloader.failed)
              or handoff.failed)
    status = stopped or (EXIT_FAILED if failed else EXIT_OK)
    await handoff.end(status, campaign_of(request), every, since=started_wall, plan_s=estimate.wall_s,
                      alerts=[("canary", c.line(settings[c.provider].info)) for c in canary_stops])
    return status


def _refuse_new_journal(request: RunRequest, journal: Journal, state: Path | str) -> None:
    """Raise ConfigError (nothing sent) when the journal holds no job yet while the
    run's results file lists task ids: jobs an earlier journal submitted, and paid
    for, that this run would submit again. Not for a --simulate run (nothing paid),
    nor with --ignore-results-task-ids; task ids of the campaign's simulated journal
    (its results share the default path) do not count."""
    if request.simulate or request.ignore_results_task_ids or any(journal.counts().values()):
        return
    listed = listed_task_ids(request.output)
    simulated = default_journal_path(request.manifest, simulate=True)
    if listed and simulated.is_file():
        with contextlib.suppress(ConfigError, OSError, sqlite3.Error), Journal(simulated, lock=False) as sim:
            listed -= {r.task_id for r in sim.records() if r.task_id}
    if not listed:
        return
    where = safe_url(str(state))
    target = f"--journal {where}" + (f" --campaign {campaign_of(request)}" if is_database_url(state) else "")
    raise ConfigError(f"{request.output} lists {len(listed)} task id(s) of jobs already submitted (and paid), but "
                      f"the journal {where} holds no job (new, deleted or moved): this run would submit them again. "
                      f"Rebuild the journal from the results first: batch-runner journal rebuild {request.output} "
                      f"{target} (their tasks are then polled, not paid again); or, to submit and pay for them "
                      "again, add --ignore-results-task-ids")


def _evidence_lines(journal: Journal, runners: list[Runner], since: float) -> list[str]:
    """Summary lines about answers the adapters could not read in this run:
    how many were kept and where, and each provider whose breaker they opened."""
    from batch_runner.run.captures import capture_dir

    kept = [c for c in journal.captures() if c.captured_at >= since]
    if not kept:
        return []
    lines = [f"  {len(kept)} answer(s) the adapters could not read were kept in {capture_dir(journal.path)} "
             "(manual: docs/reliability.md#when-a-provider-answers-something-new)"]
    for runner in runners:
        for name, pool in sorted(runner.pools.items()):
            if any(s.breaker is not None and s.breaker.error_code == "unrecognised_answer" for s in pool.slots):
                slot = pool.slots[0]
                lines.append(f"  {name}: no new submit after {slot.settings.max_unreadable_answers} unreadable "
                             "answers in a row; the jobs not sent stay pending, the tasks sent keep their task "
                             "id: run again once the adapter or the provider's settings are fixed")
    return lines


def _missing_key_lines(runners: list[Runner], settings: Mapping[str, ProviderSettings]) -> list[str]:
    """One summary line per key a task in flight was made with and that is no longer
    configured: its tasks were not polled (they stay resumable)."""
    out = []
    for runner in runners:
        for (provider, key_id), job_ids in sorted(runner.missing_keys.items()):
            var = settings[provider].info.pool_env
            out.append(f"  {provider}: {len(job_ids)} task(s) made with key {key_id}, which is no longer in {var}: "
                       f"not polled (nor sent again); put that key back (label=key) and run again, the jobs stay "
                       f"resumable "
                       f"(e.g. {', '.join(job_ids[:3])})")
    return out


def _selection_lines(request: RunRequest, total: int, chosen: int, later: int) -> list[str]:
    """Summary lines of a run that took only some jobs: how many --rows left
    out, and how many new jobs --limit kept for a later run and how to send them."""
    out = []
    if chosen < total and request.rows is not None:
        out.append(f"  --rows {request.rows.spec}: {chosen} of {total} jobs; the other rows were not run")
    if later:
        out.append(f"  --limit {request.limit}: {later} new job{'s' if later != 1 else ''} not submitted yet: "
                   "run the same command again without --limit to submit them")
    return out


#: the statuses that make a run's exit status 1 when a job reached them in this run
_FAILING = frozenset({JobStatus.FAILED, JobStatus.UNKNOWN, JobStatus.SKIPPED_BUDGET})


def new_failures(records: list[JobRecord], since: float) -> list[JobRecord]:
    """The jobs that ended failed, unknown or skipped_budget in this run (their record
    changed at or after ``since``, unix seconds): what makes ``run`` exit 1. A failure
    left by an earlier run and not tried again is listed in the results, but does not
    fail every later cron run."""
    return [r for r in records if r.status in _FAILING and r.updated_at >= since]


def _earlier_failure_lines(records: list[JobRecord], since: float) -> list[str]:
    """The summary's line on failures left by earlier runs and not tried again."""
    old = [r for r in records if r.status == JobStatus.FAILED and r.updated_at < since]
    if not old:
        return []
    transient = sum(1 for r in old if r.error_code in TRANSIENT_CODES)
    return [f"  earlier failures, not tried again: {len(old)} ({transient} may succeed on a new try: "
            f"--retry-failed; the others, e.g. content_policy or auth: --retry-failed=all)"]


def _removed_lines(records: list[JobRecord]) -> list[str]:
    """The summary's line on the tasks of rows no longer in the manifest (edited or removed)."""
    if not records:
        return []
    by_status: dict[str, int] = {}
    for r in records:
        word = status_word(r.status)
        by_status[word] = by_status.get(word, 0) + 1
    cost = summarize([], removed=records)  # every paid attempt of theirs; an unknown price is never $0.00
    usd, credits = sum(c["usd"] for c in cost.cost.values()), sum(c["credits"] for c in cost.cost.values())
    unknown = sum(cost.unknown_usd.values())
    said = ", ".join(f"{n} {w}" for w, n in sorted(by_status.items()))
    return [f"  not in the manifest any more (edited or removed rows): {len(records)} task(s): {said}; "
            f"{describe_usd(usd, unknown, unknown + sum(cost.known_usd.values()))} + {credits:g} credits spent "
            "(counted in the totals above; listed after the manifest's rows, in_manifest=no)"]


async def _run_with_signals(make_runner: Callable[[Transport], Runner], progress: Progress,
                            downloader: Downloader | None = None,
                            records: Callable[[], list[JobRecord]] = list,
                            recorder: HarRecorder | None = None, policy: AddressPolicy | None = None,
                            lost: Callable[[], str | None] = lambda: None) -> int:
    """Run (``make_runner(transport)``: the Runner, given the open transport);
    the first SIGINT/SIGTERM stops submitting (tasks in flight are polled to
    the end), the second stops at once. Then the downloader saves the videos
    not saved yet (``records()``: the run's journal records). ``recorder``
    is told of every HTTP exchange; ``policy``: where connections may go
    (providers/url_safety.py). ``lost()``: why the journal file is no
    longer the one opened, or None (Journal.check_file, asked every
    JOURNAL_CHECK_S seconds besides each commit batch): once it says why, the run
    stops at once (the caller saves what the journal holds). Returns 0 or 130/143."""
    from batch_runner.transport import Transport

    loop = asyncio.get_running_loop()
    stopped = 0
    async with Transport.open(recorder=recorder, policy=policy) as transport:
        runner = make_runner(transport)
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

        async def watch() -> None:  # between commit batches too: a run that only polls notices it
            while True:  # a stat, not an event: nothing else tells when a file goes
                await asyncio.sleep(JOURNAL_CHECK_S)
                if lost() is not None:
                    break
            runner.request_stop()
            main.cancel()

        watching = asyncio.ensure_future(watch())

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
            if not stopped and lost() is None:
                raise
        finally:
            for each in (ticking, watching):
                each.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await each
            for sig in installed:
                loop.remove_signal_handler(sig)
            progress.close()
            if downloader:
                await downloader.aclose()  # stopped at once: parts are kept for the next run
    return stopped
