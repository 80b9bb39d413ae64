"""The plan of a run, before anything is spent: jobs, videos, cost and time per provider.

Cost per job comes from pricing.py (data/providers.yaml); a provider whose USD
price is unknown is shown as such, never as zero. Wall time per provider is
estimated as max(N x 60 / rpm, N x T / max_in_flight) + T, with T its
``typical_generation_s``; providers run at once, so the run takes the longest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .jobs import Job
from .pricing import video_cost
from .settings import ProviderSettings

__all__ = ["Plan", "ProviderPlan", "make_plan"]


@dataclass
class ProviderPlan:
    """One provider's share: ``jobs``; ``videos`` by variant (model resolution
    duration); ``credits``; ``usd`` of the jobs whose USD price is known;
    ``unknown_usd`` jobs whose USD price is unknown; ``wall_s`` estimate."""

    provider: str
    jobs: int = 0
    videos: Counter[str] = field(default_factory=Counter)
    credits: float = 0.0
    usd: float = 0.0
    unknown_usd: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"provider": self.provider, "jobs": self.jobs, "videos": dict(self.videos),
                "credits": self.credits, "usd": round(self.usd, 4), "usd_unknown_jobs": self.unknown_usd,
                "usd_known": self.unknown_usd == 0, "wall_s": round(self.wall_s, 1)}


@dataclass
class Plan:
    """The plan of a run: per provider, totals, and each ``auto`` job's route."""

    providers: dict[str, ProviderPlan]
    routes: list[tuple[Job, str]]

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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``batch-runner plan --format json``)."""
        return {
            "providers": [p.as_dict() for p in self.providers.values()],
            "total": {"jobs": sum(p.jobs for p in self.providers.values()),
                      "credits": sum(p.credits for p in self.providers.values()),
                      "usd": round(self.usd, 4), "usd_unknown_jobs": self.unknown_usd,
                      "wall_s": round(self.wall_s, 1)},
            "routes": [{"job_id": j.job_id, "row": j.row, "provider": j.provider, "why": why} for j, why in self.routes],
        }

    def lines(self) -> list[str]:
        """The plan as a table of printable lines."""
        out = [f"{'provider':<10} {'jobs':>5} {'credits':>8} {'USD':>10} {'est. time':>10}  videos"]
        for p in self.providers.values():
            usd = f"{p.usd:.2f}" if not p.unknown_usd else ("unknown" if p.unknown_usd == p.jobs else f"{p.usd:.2f}+?")
            videos = ", ".join(f"{n} x {v}" for v, n in sorted(p.videos.items()))
            out.append(f"{p.provider:<10} {p.jobs:>5} {p.credits:>8g} {usd:>10} {_dur(p.wall_s):>10}  {videos}")
        total_usd = f"{self.usd:.2f}" + (f" + {self.unknown_usd} jobs of unknown USD price" if self.unknown_usd else "")
        out.append(f"{'total':<10} {sum(p.jobs for p in self.providers.values()):>5} "
                   f"{sum(p.credits for p in self.providers.values()):>8g} {total_usd:>10} {_dur(self.wall_s):>10}")
        out += [f"  row {j.row} -> {why}" for j, why in self.routes]
        return out


def _dur(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def make_plan(jobs: list[Job], settings: Mapping[str, ProviderSettings]) -> Plan:
    """The plan of running ``jobs`` with ``settings`` (no network)."""
    plans: dict[str, ProviderPlan] = {}
    routes = []
    for job in jobs:
        p = plans.setdefault(job.provider, ProviderPlan(job.provider))
        p.jobs += 1
        p.videos[f"{job.model} {job.resolution} {job.duration}s"] += 1
        cost = video_cost(settings[job.provider], job.model, job.resolution, job.duration)
        p.credits += cost.credits or 0.0
        if cost.usd is None:
            p.unknown_usd += 1
        else:
            p.usd += cost.usd
        if job.route:
            routes.append((job, job.route))
    for name, p in plans.items():
        s = settings[name]
        t = s.typical_generation_s or 0.0
        p.wall_s = max(p.jobs * 60.0 / s.rpm, p.jobs * t / s.max_in_flight) + t
    return Plan(plans, routes)
