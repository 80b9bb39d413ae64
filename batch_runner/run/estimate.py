"""The plan of a run, before anything is spent: jobs, videos, cost and time per provider.

Cost per job comes from catalog/prices.py (data/providers.yaml, each price with its
source); a provider whose USD price is unknown is shown as such, never as zero,
and the plan says why (no published price, or ``usd_per_credit`` not set).

Wall time per provider comes from a schedule of its N jobs, each taking T =
``typical_generation_s`` (INFERRED in the data file): submit i is sent 60 / rpm
seconds after submit i-1, and not before job i - max_in_flight has finished.
That is about max(N x 60 / rpm, N x T / max_in_flight) + T; a pool of K keys
(``<NAME>_API_KEYS``) has K such schedules side by side. Providers run at
once, so the run takes as long as the slowest. On first contact with a provider
(the canary, run/canary.py) its first job runs alone before the others: T more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_runner.catalog.facts import variant_key
from batch_runner.catalog.prices import describe_usd, video_cost
from batch_runner.catalog.settings import ProviderSettings
from batch_runner.jobs.model import Job
from batch_runner.jobs.scenes import scene_counts, scene_line

__all__ = ["Plan", "ProviderPlan", "make_plan", "wall_time_s"]


@dataclass
class ProviderPlan:
    """One provider's share: ``jobs``; ``videos`` by variant (model resolution
    duration); ``credits`` (credit-priced providers, jobs of known price);
    ``usd`` of the jobs whose USD price is known; ``unknown_usd`` jobs whose
    USD price is unknown and ``unknown_credits`` jobs whose credit price is;
    ``why_unknown`` the reasons; ``wall_s`` estimate (seconds)."""

    provider: str
    price_unit: str = "usd"
    jobs: int = 0
    videos: Counter[str] = field(default_factory=Counter)
    credits: float = 0.0
    usd: float = 0.0
    unknown_usd: int = 0
    unknown_credits: int = 0
    why_unknown: dict[str, Counter[str]] = field(default_factory=dict)
    wall_s: float = 0.0

    def usd_text(self) -> str:
        """``0.68``, ``unknown`` (no job's USD price known) or ``0.86+?`` (some)."""
        return describe_usd(self.usd, self.unknown_usd, self.jobs, compact=True)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``usd`` sums the known USD prices (rounded to 1/100
        cent) and is null when no job's USD price is known (never 0.0);
        ``usd_unknown_jobs`` counts the jobs of unknown USD price."""
        return {"provider": self.provider, "price_unit": self.price_unit, "jobs": self.jobs,
                "videos": dict(self.videos), "credits": self.credits,
                "usd": _usd_json(self.usd, self.unknown_usd, self.jobs),
                "usd_unknown_jobs": self.unknown_usd, "usd_known": self.unknown_usd == 0,
                "credits_unknown_jobs": self.unknown_credits,
                "why_unknown": {why: dict(v) for why, v in self.why_unknown.items()},
                "wall_s": round(self.wall_s, 1)}


@dataclass
class Plan:
    """The plan of a run: per provider, totals, and each ``auto`` job's route
    (the sentence, and the providers it ranks with their price and key)."""

    providers: dict[str, ProviderPlan]
    routes: list[tuple[Job, str]]
    scenes: dict[str, dict[str, int]] = field(default_factory=dict)  # provider -> scene -> jobs
    #: job id -> the providers an ``auto`` job may go to, best first: (provider, USD or None, has an API key)
    route_providers: dict[str, list[tuple[str, float | None, bool]]] = field(default_factory=dict)

    @property
    def jobs(self) -> int:
        """Number of jobs."""
        return sum(p.jobs for p in self.providers.values())

    @property
    def credits(self) -> float:
        """Credits of every credit-priced job of known price (all providers)."""
        return sum(p.credits for p in self.providers.values())

    @property
    def usd(self) -> float:
        """Estimated USD of the jobs whose price is known."""
        return sum(p.usd for p in self.providers.values())

    @property
    def unknown_usd(self) -> int:
        """Jobs whose USD price is unknown."""
        return sum(p.unknown_usd for p in self.providers.values())

    @property
    def wall_s(self) -> float:
        """Estimated wall time of the run (seconds)."""
        return max((p.wall_s for p in self.providers.values()), default=0.0)

    def usd_text(self) -> str:
        """The total USD as in the table: ``1.54``, ``1.54+?`` or ``unknown``."""
        total = ProviderPlan("total", jobs=self.jobs, usd=self.usd, unknown_usd=self.unknown_usd)
        return total.usd_text()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``batch-runner plan --format json``): per provider
        and in total, ``usd`` is null when no job's USD price is known, with
        ``usd_unknown_jobs`` the count of jobs of unknown USD price. Each
        ``auto`` route lists the ``providers`` it ranks, best first, each with
        ``usd`` (null: unknown) and ``key`` (false: no API key set, so a run
        cannot use it)."""
        return {
            "providers": [p.as_dict() for p in self.providers.values()],
            "total": {"jobs": self.jobs, "credits": self.credits,
                      "usd": _usd_json(self.usd, self.unknown_usd, self.jobs),
                      "usd_unknown_jobs": self.unknown_usd, "wall_s": round(self.wall_s, 1)},
            "routes": [{"job_id": j.job_id, "row": j.row, "variant": j.variant, "provider": j.provider,
                        "why": why, "providers": [{"provider": p, "usd": None if usd is None else round(usd, 4),
                                                   "key": key}
                                                  for p, usd, key in self.route_providers.get(j.job_id, [])]}
                       for j, why in self.routes],
            "scenes": self.scenes,
        }

    def lines(self) -> list[str]:
        """The plan as a table of printable lines, then why USD prices are
        unknown, then each ``auto`` job's route."""
        row = "{:<10} {:>5} {:>8} {:>9} {:>10}  {}"
        out = [row.format("provider", "jobs", "credits", "USD", "est. time", "videos")]
        for p in self.providers.values():
            credits = f"{p.credits:g}" + ("+?" if p.unknown_credits else "") if p.price_unit == "credits" else "-"
            videos = ", ".join(f"{n} x {v}" for v, n in sorted(p.videos.items()))
            out.append(row.format(p.provider, p.jobs, credits, p.usd_text(), _dur(p.wall_s), videos))
        credit_priced = any(p.price_unit == "credits" for p in self.providers.values())
        credits = f"{self.credits:g}" if credit_priced else "-"
        out.append(row.format("total", self.jobs, credits, self.usd_text(), _dur(self.wall_s), "").rstrip())
        out += [scene_line(self.scenes)] if self.scenes else []
        if self.unknown_usd:
            out.append(f"USD unknown for {self.unknown_usd} of {self.jobs} jobs (never counted as zero):")
            for p in self.providers.values():
                for why, variants in p.why_unknown.items():
                    n = sum(variants.values())
                    out.append(f"  {p.provider}: {n} job{'s' if n > 1 else ''} ({', '.join(sorted(variants))}): {why}")
        if self.routes:
            out.append("auto routes:")
            out += [f"  row {j.row}" + (f" #{j.variant}" if j.variant > 1 else "") + f" -> {why}"
                    for j, why in self.routes]
        return out


def _usd_json(usd: float, unknown: int, jobs: int) -> float | None:
    """USD for JSON: the sum of the known prices, None when none is known."""
    return None if unknown and unknown >= jobs else round(usd, 4)


def _dur(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def wall_time_s(n: int, s: ProviderSettings) -> float:
    """Seconds to run ``n`` jobs on one provider with settings ``s`` (rpm,
    max_in_flight, typical_generation_s), each job taking the typical time.
    With a pool of keys (``s.pool``) each key keeps its own rpm and in-flight cap
    (its ``keys:`` overrides) and each job starts on the key free first: with K
    equal keys where the key limit binds, K times shorter."""
    if n == 0:
        return 0.0
    t = s.typical_generation_s or 0.0
    keys = [s.for_key(k) for k in s.pool] or [s]
    gaps, caps = [60.0 / k.rpm for k in keys], [max(1, k.max_in_flight) for k in keys]
    starts: list[list[float]] = [[] for _ in keys]
    last = 0.0
    for _ in range(n):
        best, at = 0, float("inf")
        for i, mine in enumerate(starts):
            ready = mine[-1] + gaps[i] if mine else 0.0
            if len(mine) >= caps[i]:  # an in-flight place frees up
                ready = max(ready, mine[-caps[i]] + t)
            if ready < at:
                best, at = i, ready
        starts[best].append(at)
        last = max(last, at)
    return last + t


def _why_unknown(s: ProviderSettings, price: float | None) -> str:
    if price is None:
        return "no published price in batch_runner/data/providers.yaml"
    return (f"USD per credit not set: add providers: {{{s.name}: {{usd_per_credit: ...}}}} to a YAML "
            "manifest or to a --settings file")


def make_plan(jobs: list[Job], settings: Mapping[str, ProviderSettings], *,
              first_contact: Collection[str] = ()) -> Plan:
    """The plan of running ``jobs`` with ``settings`` (no network). ``first_contact``: the
    providers whose first job goes alone first (the canary): their time counts it."""
    plans: dict[str, ProviderPlan] = {}
    routes = []
    route_providers: dict[str, list[tuple[str, float | None, bool]]] = {}
    for job in jobs:
        s = settings[job.provider]
        p = plans.setdefault(job.provider, ProviderPlan(job.provider, s.info.price_unit))
        p.jobs += 1
        p.videos[f"{job.model} {job.resolution} {job.duration}s"] += 1
        cost = video_cost(s, job.model, job.resolution, job.duration)
        p.credits += cost.credits or 0.0
        if p.price_unit == "credits" and cost.price is None:
            p.unknown_credits += 1
        if cost.usd is None:
            p.unknown_usd += 1
            why = _why_unknown(s, cost.price)
            p.why_unknown.setdefault(why, Counter())[f"{job.model} {variant_key(job.resolution, job.duration)}"] += 1
        else:
            p.usd += cost.usd
        if job.route:
            routes.append((job, job.route))
            route_providers[job.job_id] = [
                (name, video_cost(settings[name], job.model, job.resolution, job.duration).usd,
                 bool(settings[name].api_key)) for name in job.providers]
    for name, p in plans.items():
        s = settings[name]
        if name in first_contact and p.jobs > 1:  # the canary alone, then the others
            p.wall_s = (s.typical_generation_s or 0.0) + wall_time_s(p.jobs - 1, s)
        else:
            p.wall_s = wall_time_s(p.jobs, s)
    return Plan(plans, routes, scene_counts(jobs), route_providers)
