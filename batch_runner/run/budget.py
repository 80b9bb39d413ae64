"""Budget caps: a USD cap (``--max-cost``) and credit caps per provider
(``--max-credits PROVIDER=N``).

A cap covers every job of the manifest in the run's journal, not one
invocation: what earlier runs on the same journal spent (succeeded jobs,
charged failures) counts as spent, and their tasks still in flight or
``unknown`` (possibly paid) count as committed. So running the same command
again after a crash or a Ctrl-C never spends past the cap.

A job's cost is known before its submit (catalog/prices.py). Before each submit the
runner calls ``reserve``; it is refused when spent + committed + this cost
would pass a cap, and the job ends ``skipped_budget``. ``settle`` turns a
reservation into spent when the video succeeds (or the provider charges
failures: ``charges_failed`` in data/providers.yaml), and releases it when the
provider surely did not take the job or refunds a failure. A submit whose
answer was lost stays committed. One event loop calls these methods: each is
synchronous (no await between the check and the commit), so two submits in
flight at once can never both take the last room under a cap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from batch_runner.catalog.facts import catalog, job_defaults
from batch_runner.catalog.prices import Cost, video_cost
from batch_runner.errors import BudgetError, ConfigError
from batch_runner.journal import JobRecord, JobStatus

if TYPE_CHECKING:
    from batch_runner.catalog.settings import ProviderSettings
    from batch_runner.journal.coordination import Coordination
    from batch_runner.run.estimate import Plan

__all__ = ["Budget", "check_estimate", "parse_amount", "parse_credit_caps"]

_EPS = 1e-9


@dataclass
class Budget:
    """Caps and running totals: ``max_usd`` (None: no USD cap), ``max_credits``
    (provider -> credits); spent and committed USD and credits per provider;
    ``earlier_unknown_usd``: jobs of earlier runs, paid or possibly paid,
    whose USD price is unknown."""

    max_usd: float | None = None
    max_credits: Mapping[str, float] = field(default_factory=dict)
    spent_usd: float = 0.0
    committed_usd: float = 0.0
    spent_credits: dict[str, float] = field(default_factory=dict)
    committed_credits: dict[str, float] = field(default_factory=dict)
    earlier_unknown_usd: dict[str, int] = field(default_factory=dict)
    _held: dict[str, tuple[str, Cost]] = field(default_factory=dict)
    shared: Coordination | None = None  # a shared journal: the caps hold across the campaign's workers

    @property
    def active(self) -> bool:
        """True when any cap is set."""
        return self.max_usd is not None or bool(self.max_credits)

    def used_credits(self, provider: str) -> float:
        """Credits of ``provider`` spent or committed."""
        return self.spent_credits.get(provider, 0.0) + self.committed_credits.get(provider, 0.0)

    def reserve(self, job_id: str, provider: str, cost: Cost) -> str | None:
        """Hold ``cost`` for a submit; returns why not (a sentence) or None."""
        if self.max_usd is not None:
            if cost.usd is None:
                if cost.price is not None:
                    return (f"the USD price of {provider} credits is unknown: set usd_per_credit under "
                            f"providers: {provider} to send it jobs under --max-cost")
                return f"{provider} publishes no price for this video: it cannot be sent under --max-cost"
            if self.shared is None and self.spent_usd + self.committed_usd + cost.usd > self.max_usd + _EPS:
                return (f"would take the cost to ${self.spent_usd + self.committed_usd + cost.usd:.2f}, "
                        f"over --max-cost ${self.max_usd:.2f}")
        cap = self.max_credits.get(provider)
        if cap is not None:
            if cost.credits is None:
                return f"{provider} publishes no credit price for this video: it cannot be sent under --max-credits"
            used = self.used_credits(provider) + cost.credits
            if self.shared is None and used > cap + _EPS:
                return f"would take {provider} to {used:g} credits, over --max-credits {provider}={cap:g}"
        if self.shared is not None:  # the database's totals, every worker's: this worker's own are stale
            refused = self.shared.reserve_cost(job_id, provider, cost.usd, cost.credits, self.max_usd, cap)
            if refused:
                return refused
        self.hold(job_id, provider, cost)
        return None

    def hold(self, key: str, provider: str, cost: Cost) -> None:
        """Commit ``cost`` under ``key`` without checking the caps."""
        self._held[key] = (provider, cost)
        self.committed_usd += cost.usd or 0.0
        self.committed_credits[provider] = self.committed_credits.get(provider, 0.0) + (cost.credits or 0.0)

    def settle(self, job_id: str, paid: bool) -> None:
        """End a reservation: ``paid`` moves it to spent, otherwise it is released."""
        held = self._held.pop(job_id, None)
        if held is None:
            return
        if self.shared is not None and not paid:
            self.shared.release_cost(job_id)
        provider, cost = held
        self.committed_usd -= cost.usd or 0.0
        self.committed_credits[provider] -= cost.credits or 0.0
        if paid:
            self._spend(provider, cost)

    def _spend(self, provider: str, cost: Cost) -> None:
        self.spent_usd += cost.usd or 0.0
        self.spent_credits[provider] = self.spent_credits.get(provider, 0.0) + (cost.credits or 0.0)

    def seed(self, records: Iterable[JobRecord], settings: Mapping[str, ProviderSettings]) -> None:
        """Count what earlier runs left in the journal (``records``: the
        manifest's journal records): paid jobs as spent, tasks in flight as
        committed (settled when this run finishes them), ``unknown`` submits
        as committed for good."""
        for r in records:
            if r.provider not in settings:
                continue
            if r.earlier_paid:  # the tasks a re-roll or a retry replaced were paid too (journal ``attempts``)
                self._spend(r.provider, Cost(r.earlier_credits, r.earlier_usd, None))
                if r.earlier_unknown_usd:
                    self.earlier_unknown_usd[r.provider] = (self.earlier_unknown_usd.get(r.provider, 0)
                                                            + r.earlier_unknown_usd)
            elif r.rerolls and not r.earlier_attempts:  # re-rolled by a version before ``attempts``
                self._spend(r.provider, Cost(r.rerolled_credits, r.rerolled_usd, None))
            possibly_paid = r.status in (JobStatus.UNKNOWN, JobStatus.SUBMITTING)
            if not (r.status == JobStatus.SUCCEEDED or r.resumable or possibly_paid
                    or (r.status == JobStatus.FAILED and r.charged)):
                continue
            cost = _record_cost(r, settings[r.provider])
            if cost.usd is None:
                self.earlier_unknown_usd[r.provider] = self.earlier_unknown_usd.get(r.provider, 0) + 1
            if r.resumable:
                self.hold(r.job_id, r.provider, cost)
            elif possibly_paid:
                self.hold(f"{r.job_id} (earlier submit)", r.provider, cost)
            else:
                self._spend(r.provider, cost)

    def lines(self) -> list[str]:
        """The caps and what is spent and committed against them, printable."""
        out = []
        if self.max_usd is not None:
            committed = max(0.0, self.committed_usd)  # not -0.00 after float sums
            out.append(f"  budget: ${self.spent_usd:.2f} spent, ${committed:.2f} committed "
                       f"(in flight or unknown), of --max-cost ${self.max_usd:.2f}")
        for provider, cap in self.max_credits.items():
            out.append(f"  budget: {self.spent_credits.get(provider, 0.0):g} {provider} credits spent, "
                       f"{max(0.0, self.committed_credits.get(provider, 0.0)):g} committed, of --max-credits "
                       f"{provider}={cap:g}")
        return out


def _record_cost(record: JobRecord, settings: ProviderSettings) -> Cost:
    """Cost of a journal record's job on its provider: the recorded cost where
    there is one, else today's price."""
    job = record.job_fields()
    cost = video_cost(settings, str(job.get("model", "")), str(job.get("resolution", "")),
                      int(job.get("duration") or job_defaults().duration))
    usd = record.cost_usd if record.cost_usd is not None else cost.usd
    credits = record.cost_credits if record.cost_credits is not None else cost.credits
    return Cost(credits, usd, cost.price)


def check_estimate(estimate: Plan, budget: Budget) -> None:
    """Refuse to start a run whose plan (``estimate``: the jobs to submit), on
    top of what ``budget`` already counts, passes a cap. Raises BudgetError."""
    fit = "or run with --fit-budget to run only what fits"
    if budget.max_usd is not None:
        unknown = [f"{p.unknown_usd} to submit on {p.provider}" for p in estimate.providers.values()
                   if p.unknown_usd]
        unknown += [f"{n} paid or in flight on {p} by earlier runs of this journal"
                    for p, n in budget.earlier_unknown_usd.items()]
        if unknown:
            raise BudgetError(
                f"--max-cost ${budget.max_usd:.2f}: jobs without a known USD price ({'; '.join(unknown)}): "
                f"set usd_per_credit under providers: for credit-priced providers (see `batch-runner plan`), "
                f"{fit}")
        before = budget.spent_usd + budget.committed_usd
        if before + estimate.usd > budget.max_usd + _EPS:
            earlier = (f" on top of ${before:.2f} spent or in flight by earlier runs of this journal"
                       if before else "")
            raise BudgetError(
                f"the plan costs ${estimate.usd:.2f}{earlier}, over --max-cost ${budget.max_usd:.2f}: "
                f"raise the cap, {fit}")
    for provider, cap in budget.max_credits.items():
        plan = estimate.providers.get(provider)
        credits, unknown_n = (plan.credits, plan.unknown_credits) if plan else (0.0, 0)
        if unknown_n:
            raise BudgetError(f"--max-credits {provider}={cap:g}: {unknown_n} job(s) on {provider} have no "
                              f"known credit price, {fit}")
        before = budget.used_credits(provider)
        if before + credits > cap + _EPS:
            earlier = f" on top of {before:g} spent or in flight by earlier runs" if before else ""
            raise BudgetError(f"the plan uses {credits:g} {provider} credits{earlier}, over --max-credits "
                              f"{provider}={cap:g}: raise the cap, {fit}")


def parse_amount(text: str) -> float:
    """A cap (USD or credits): a finite number >= 0; ``nan`` would compare as
    never exceeded. Raises ValueError."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def parse_credit_caps(pairs: Iterable[str]) -> dict[str, float]:
    """``--max-credits PROVIDER=N`` pairs as provider -> credits. Raises
    ConfigError for a provider that does not price in credits or a bad N."""
    caps = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        info = catalog().get(name.strip())
        try:
            caps[name.strip()] = parse_amount(value)
        except ValueError:
            info = None
        if info is None or info.price_unit != "credits":
            credit_priced = [n for n, i in catalog().items() if i.price_unit == "credits"]
            raise ConfigError(f"--max-credits {pair}: use PROVIDER=N, N >= 0, with a credit-priced provider "
                              f"({', '.join(credit_priced)})")
    return caps
