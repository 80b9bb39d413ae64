"""Budget arithmetic: reserve against spent + committed, settle, and what
earlier runs of a journal count (spent, committed, committed for good)."""

from __future__ import annotations

import json

import pytest

from batch_runner.catalog.prices import Cost
from batch_runner.catalog.settings import ProviderSettings
from batch_runner.journal import JobRecord, JobStatus
from batch_runner.keys import Secret
from batch_runner.run.budget import Budget

JOB = json.dumps({"model": "hailuo-2.3", "resolution": "768P", "duration": 6})  # gccai: $0.2928


def settings(name: str = "gccai") -> dict[str, ProviderSettings]:
    return {name: ProviderSettings(name=name, base_url="http://127.0.0.1:9", api_key=Secret("k"), rpm=10,
                                   max_in_flight=2, poll_interval_s=10.0, timeout_s=5.0)}


def test_reserve_refuses_past_the_usd_cap_and_settle_moves_or_releases():
    budget = Budget(max_usd=1.0)
    assert budget.reserve("a", "gccai", Cost(None, 0.4, 0.4)) is None
    assert budget.reserve("b", "gccai", Cost(None, 0.4, 0.4)) is None
    assert budget.committed_usd == pytest.approx(0.8)
    refused = budget.reserve("c", "gccai", Cost(None, 0.4, 0.4))
    assert refused and "$1.20" in refused and "$1.00" in refused  # 0.8 + 0.4 would pass 1.00
    assert budget.reserve("c", "gccai", Cost(None, 0.2, 0.2)) is None  # exactly at the cap: allowed
    budget.settle("a", paid=True)  # succeeded: spent
    budget.settle("b", paid=False)  # surely not taken, or refunded: released
    assert budget.spent_usd == pytest.approx(0.4) and budget.committed_usd == pytest.approx(0.2)
    budget.settle("b", paid=True)  # settled once only
    assert budget.spent_usd == pytest.approx(0.4)
    assert budget.reserve("d", "gccai", Cost(None, 0.4, 0.4)) is None  # 0.4 + 0.2 + 0.4 = 1.0
    assert budget.reserve("e", "gccai", Cost(None, 0.01, 0.01))  # 1.01 > 1.00


def test_credit_caps_are_per_provider_and_an_unknown_price_is_refused_under_a_cap():
    budget = Budget(max_credits={"minimax": 10.0})
    assert budget.reserve("a", "minimax", Cost(6.0, None, 6.0)) is None
    assert budget.reserve("b", "minimax", Cost(6.0, None, 6.0))  # 12 > 10
    assert budget.reserve("c", "gccai", Cost(6.0, None, 6.0)) is None  # no cap on gccai
    assert budget.used_credits("minimax") == 6.0
    refused = budget.reserve("d", "minimax", Cost(None, None, None))
    assert refused is not None and "no credit price" in refused
    refused = Budget(max_usd=5.0).reserve("e", "minimax", Cost(6.0, None, 6.0))
    assert refused is not None and "USD price" in refused
    assert not Budget().active and Budget(max_usd=0.0).active


def test_earlier_runs_count_spent_committed_and_committed_for_good():
    records = [
        JobRecord("ok", JOB, "gccai", JobStatus.SUCCEEDED, cost_usd=0.5),  # spent, at its recorded cost
        JobRecord("flying", JOB, "gccai", JobStatus.SUBMITTED, task_id="t1"),  # committed, settled later
        JobRecord("late", JOB, "gccai", JobStatus.FAILED, task_id="t2", error_code="timeout"),  # resumed
        JobRecord("lost", JOB, "gccai", JobStatus.UNKNOWN),  # possibly paid: committed for good
        JobRecord("refunded", JOB, "gccai", JobStatus.FAILED, error_code="task_failed"),  # nothing
        JobRecord("billed", JOB, "gccai", JobStatus.FAILED, error_code="task_failed", cost_usd=0.1),
        JobRecord("new", JOB, "gccai", JobStatus.PENDING),
        JobRecord("other", JOB, "not-a-provider", JobStatus.SUCCEEDED, cost_usd=9.0),
    ]
    budget = Budget(max_usd=10.0)
    budget.seed(records, settings())
    assert budget.spent_usd == pytest.approx(0.5 + 0.1)
    assert budget.committed_usd == pytest.approx(3 * 0.2928)
    budget.settle("flying", paid=True)  # this run finishes the resumed tasks
    budget.settle("late", paid=False)
    assert budget.spent_usd == pytest.approx(0.6 + 0.2928)
    assert budget.committed_usd == pytest.approx(0.2928)  # the unknown one stays
    budget.settle("lost", paid=False)  # held under another key: a resubmit cannot free it
    assert budget.committed_usd == pytest.approx(0.2928)
