"""Simulator settings: per provider timing, limits and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PROVIDER_NAMES", "ProviderSimConfig", "SimConfig"]

PROVIDER_NAMES = ("minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe")


@dataclass
class ProviderSimConfig:
    """One simulated provider. Times in seconds; rates are probabilities 0..1.

    ``rpm``/``window_s``: the true submit limit, at most ``rpm * window_s / 60``
    accepted submits in any window of ``window_s`` seconds (None: unlimited).
    ``max_in_flight``: tasks submitted and not finished; beyond it a submit is
    refused like a rate limit. ``balance``: accepted submits before the
    provider answers "insufficient balance". A prompt containing
    ``content_policy_marker`` is refused the provider's documented way.
    """

    api_key: str = "sim-key"
    generation_s: float = 1.0
    rpm: float | None = None
    window_s: float = 60.0
    max_in_flight: int | None = None
    latency_s: float = 0.0
    error_rate: float = 0.0
    fail_rate: float = 0.0
    content_policy_marker: str = "[[REJECT]]"
    balance: int | None = None
    retry_after_s: float | None = None
    # fault kinds (probabilities per API request unless said otherwise)
    rate_limit_rate: float = 0.0      # a 429 (with Retry-After when retry_after_s is set)
    html_error_rate: float = 0.0      # a 502 HTML page from a proxy
    truncated_rate: float = 0.0       # a 200 whose JSON body is cut short
    reset_rate: float = 0.0           # the connection is closed without an answer
    slow_rate: float = 0.0            # the answer comes after slow_s seconds
    slow_s: float = 30.0
    stuck_rate: float = 0.0           # per task: it never finishes
    quota_after: int | None = None    # accepted submits before a daily-quota 429 / 2056


@dataclass
class SimConfig:
    """The whole simulator: one ProviderSimConfig per provider."""

    providers: dict[str, ProviderSimConfig] = field(
        default_factory=lambda: {n: ProviderSimConfig() for n in PROVIDER_NAMES}
    )
    seed: int = 0
    video_bytes: int = 2048

    def __post_init__(self) -> None:
        for name in PROVIDER_NAMES:
            self.providers.setdefault(name, ProviderSimConfig())
