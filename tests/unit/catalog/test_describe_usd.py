"""describe_usd: the one wording of a USD amount whose prices may be unknown."""

from __future__ import annotations

import pytest

from batch_runner.catalog.prices import describe_usd


@pytest.mark.parametrize("usd, unknown, jobs, text, compact, named", [
    (1.544, 0, 17, "$1.54", "1.54", "$1.54"),
    (1.54, 13, 17, "$1.54 + 13 unknown", "1.54+?", "$1.54 + 13 unknown"),
    (0.0, 5, 5, "unknown", "unknown", "USD unknown"),   # never "$0.00" for prices nobody knows
    (0.0, 0, 0, "$0.00", "0.00", "$0.00"),               # nothing to pay is known: zero
    (0.5, 2, 1, "unknown", "unknown", "USD unknown"),  # charged failures without a price
])
def test_every_output_says_the_same(usd, unknown, jobs, text, compact, named):
    assert describe_usd(usd, unknown, jobs) == text
    assert describe_usd(usd, unknown, jobs, compact=True) == compact
    assert describe_usd(usd, unknown, jobs, named=True) == named
