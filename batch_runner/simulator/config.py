"""Simulator settings: per provider key, timing, limits and injected faults.

Times are seconds (of the event loop's clock), rates are probabilities 0..1.
The provider names and default URL lifetimes come from registry.py.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from batch_runner.simulator.registry import DEFAULT_URL_TTL_S, PROVIDER_NAMES

__all__ = ["ProviderSimConfig", "SimConfig", "apply_knobs", "make_config"]


@dataclass
class ProviderSimConfig:
    """One simulated provider.

    - ``api_key``: the key accepted (each provider's own auth header); ``keys``:
      more keys accepted (a pool: each its own account); ``bad_keys``: keys
      answered with the provider's documented bad-key error (as a revoked key).
    - ``key_rpm`` / ``key_max_in_flight``: the limits of each key (over
      ``window_s``, like ``rpm``; None: none); ``key_rpms``: per-key rpm, key ->
      rpm, winning over ``key_rpm`` (knob: ``minimax.key_rpms=k1:5,k2:20``).
      Every accepted submit records its key (store.Submission.key), and a task
      is only found when polled with the key that made it (another key: the
      provider's "not found", recorded with reason ``wrong_key``).
    - ``generation_s``: seconds from an accepted submit to success (a
      content-policy failure ends after a quarter of it).
    - ``rpm`` / ``window_s``: the true submit limit, at most
      ``rpm * window_s / 60`` accepted submits in any ``window_s`` seconds
      (None: unlimited). Polls are not limited.
    - ``max_in_flight``: tasks submitted and not finished; a submit beyond it is
      refused like a rate limit.
    - ``latency_s``: added to every answer.
    - ``error_rate``: probability that an API request gets a 500/503 in the
      provider's error shape; ``fail_rate``: probability that a task fails.
    - ``content_policy_marker``: a prompt containing it is refused the
      provider's documented way. ``output_policy_marker``: a prompt containing
      it passes input checks, then the task fails on output moderation
      (MiniMax ``Fail`` with base_resp 1027; the others' content failure).
    - ``balance``: accepted submissions before "insufficient balance".
    - ``quota``: accepted submissions before the daily quota is used up; every
      later submit gets the provider's quota answer (MiniMax and gpt.ge:
      HTTP 200 with ``base_resp`` 2056 "usage limit exceeded"; the others: a
      429 whose message says the daily quota is exceeded, INFERRED), which the
      client must not take for a transient rate limit.
    - ``retry_after_s``: when set, every 429 carries ``Retry-After`` with this
      value (apiframe always sends one, computed when this is None).
    - more faults, probabilities: ``rate_limit_rate``, ``html_error_rate``,
      ``truncated_rate``, ``reset_rate``, ``slow_rate`` (late by ``slow_s``)
      per API request; ``stuck_rate`` per task (it never finishes).
    - ``video_cut_rate``: probability that a video transfer (a GET of
      ``/videos/...``, whole or a ``Range``) is cut mid-body: the answer
      announces its full length, sends ``video_cut_after_bytes`` of it (None:
      half) and drops the connection. 1.0 cuts every transfer that has more
      than ``video_cut_after_bytes`` left to send (videos.handle_video).
    - ``html_host``: every request under the provider's prefix gets a web
      site's HTML page (HTTP 200), as a base URL pointing at the provider's web
      site instead of its API host does (app._html_host).
    - ``answer_variant``: another documented shape of this provider's answers
      ("" the default): gccai ``v2`` (APIMart's newer answers: submit ``data``
      an object with ``id``, ``in_progress`` while running, no ``expires_at``,
      errors as HTTP 200 with ``"success": false``); gptge ``wrapped`` (the
      query answer wraps the MiniMax object: ``code``, ``data.status``,
      ``data.resp_data``, ``data.video_url``); minimax and gptge ``unknown``
      (a queued task's status word is ``Unknown``) and ``failed`` (a failed
      task says ``Failed``, as MiniMax's CLI types it, not ``Fail``); apiframe ``expired`` (a
      completed job says ``expired: true``: its CDN assets purged, the video
      URL answers 404), ``cancelled`` (a failed job says ``CANCELLED``, as the
      OpenAPI enum and the SDK's ``waitFor`` have it) and ``result_string``
      (``result`` is the URL itself, the shape the SDK's own tests use:
      https://github.com/apiframe-ai/apiframe-nodejs-sdk test/jobs.test.ts); apiinone
      ``short_model`` (only ``model: hailuo-2-3`` is accepted, the sub-model
      names refused as invalid); gptproto ``bearer_only`` (a raw key in
      ``Authorization`` is refused with 401).
    - ``refusal_code``: MiniMax and gpt.ge: every submit is refused with this
      ``base_resp.status_code`` (1028, 1030: quota exhausted; 2061: not
      available on this plan; None: off).
    - ``poll_drift_rate``: probability that a poll answer about a known task
      comes in an undocumented shape ("drift": a protocol change no adapter
      knows, base.DRIFT_BODY), HTTP 200; the task itself goes on as usual, so
      once the drift is off a poll reads it again (1.0: every poll drifts).
    - video faults, probabilities per finished task (clips.VIDEO_FAULTS, drawn
      in SimStore.create, recorded in ``SimStore.video_faults``):
      ``short_video_rate`` (half the ordered duration), ``wrong_resolution_rate``
      (1080P delivered as 768P, 768P as 512P), ``black_video_rate`` (every
      frame black), ``frozen_video_rate`` (one picture throughout),
      ``corrupt_video_rate`` (the file cut short: it does not play),
      ``wrong_first_frame_rate`` (image-to-video: the clip does not open on
      the first-frame image, which it otherwise does for a data URI).
    - ``not_video``: the provider's video URLs serve an HTML page (HTTP 200,
      text/html) instead of the video, as a wrong host or an expired CDN
      link's landing page does (``true``/``false``).
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
    output_policy_marker: str = "[[REJECT-OUTPUT]]"
    balance: int | None = None
    quota: int | None = None
    retry_after_s: float | None = None
    # Fault kinds beyond error_rate / fail_rate. Each request fault is a
    # probability per API request named in store.REQUEST_FAULTS and answered in
    # base.ProviderSim.fault_response; add new kinds the same way.
    rate_limit_rate: float = 0.0  # the provider's rate-limit answer (429 or MiniMax 1002)
    html_error_rate: float = 0.0  # a 502 HTML page, as from a proxy
    truncated_rate: float = 0.0  # HTTP 200 with JSON cut short
    reset_rate: float = 0.0  # the connection is closed without an answer
    slow_rate: float = 0.0  # the answer comes ``slow_s`` seconds late (then as usual)
    slow_s: float = 30.0
    stuck_rate: float = 0.0  # per accepted task: it never finishes (store.create)
    video_cut_rate: float = 0.0  # per video transfer: cut mid-body (videos.handle_video)
    video_cut_after_bytes: int | None = None  # body bytes a cut transfer sends first (None: half)
    html_host: bool = False  # serve a web site's HTML page instead of the API
    answer_variant: str = ""  # another documented shape of the provider's answers (see above)
    refusal_code: int | None = None  # MiniMax / gpt.ge: every submit refused with this base_resp code
    poll_drift_rate: float = 0.0  # per poll answer: an undocumented shape (base.ProviderSim.poll)
    not_video: bool = False  # video URLs serve an HTML page (videos.handle_video)
    short_video_rate: float = 0.0  # per finished task: half the ordered duration
    wrong_resolution_rate: float = 0.0  # per finished task: a smaller size than ordered
    black_video_rate: float = 0.0  # per finished task: every frame black
    frozen_video_rate: float = 0.0  # per finished task: one picture throughout
    corrupt_video_rate: float = 0.0  # per finished task: the file cut short
    wrong_first_frame_rate: float = 0.0  # per finished task: not opening on the first-frame image
    keys: tuple[str, ...] = ()  # more accepted keys besides api_key (knob: k1,k2)
    bad_keys: tuple[str, ...] = ()  # keys answered with the bad-key error (knob: k1,k2)
    key_rpm: float | None = None  # submits per minute of each key (over window_s)
    key_max_in_flight: int | None = None  # tasks in flight of each key
    key_rpms: dict[str, float] = field(default_factory=dict)  # key -> its rpm (knob: k1:5,k2:20)

    def accepts(self, key: str) -> bool:
        """Whether ``key`` is one of this provider's keys and not a bad one."""
        return bool(key) and key not in self.bad_keys and (key == self.api_key or key in self.keys)

    def rpm_of(self, key: str) -> float | None:
        """The submit limit of ``key`` (submits per minute over ``window_s``), or None."""
        return self.key_rpms.get(key, self.key_rpm)


@dataclass
class SimConfig:
    """The whole simulator: one ProviderSimConfig per provider (missing ones
    get the defaults), the seed of every random decision, URL lifetimes in
    seconds per provider, the size in bytes the served video is padded to when
    shorter (a real MP4 then a ``free`` box with the task id), and ``clips``:
    True serves H.264 clips at the ordered size and duration (clips.py), False
    the 2 s sample (``videos.SAMPLE_MP4``: small files for byte-range tests)."""

    providers: dict[str, ProviderSimConfig] = field(default_factory=dict)
    seed: int = 0
    url_ttl_s: dict[str, float | None] = field(default_factory=dict)
    video_bytes: int = 2048
    clips: bool = True

    def __post_init__(self) -> None:
        unknown = (set(self.providers) | set(self.url_ttl_s)) - set(PROVIDER_NAMES)
        if unknown:
            raise ValueError(f"unknown simulated providers: {sorted(unknown)}")
        for name in PROVIDER_NAMES:
            self.providers.setdefault(name, ProviderSimConfig())
            self.url_ttl_s.setdefault(name, DEFAULT_URL_TTL_S[name])


def apply_knobs(config: SimConfig, knobs: list[str]) -> SimConfig:
    """Apply knobs, ``PROVIDER.FIELD=VALUE`` pairs (``all.FIELD=VALUE`` for every
    provider), e.g. ``apiframe.rpm=5`` or ``all.error_rate=0.1``; FIELD is a
    ProviderSimConfig field, or ``url_ttl_s`` (how long the provider's video URLs
    work, seconds; ``none``: for ever; e.g. ``minimax.url_ttl_s=5`` to see an
    expired MiniMax URL refreshed). Returns ``config``, changed in place.

    Raises ValueError naming the bad knob and the allowed names, or what the
    field takes: a finite number (not ``nan``, ``inf``), ``none`` only where
    the field can be unset (``rpm``, ``balance``, ...: its type allows None).
    """
    fields = {f.name: str(f.type) for f in dataclasses.fields(ProviderSimConfig)}
    fields["url_ttl_s"] = "float | None"  # SimConfig.url_ttl_s, per provider: how long a video URL works
    for pair in knobs:
        target, sep, value = pair.partition("=")
        provider, dot, name = target.partition(".")
        if not sep or not dot or name not in fields or provider not in (*PROVIDER_NAMES, "all"):
            raise ValueError(
                f"bad simulator knob {pair!r}: use PROVIDER.FIELD=VALUE with PROVIDER one of "
                f"{', '.join(PROVIDER_NAMES)} or all, FIELD one of {', '.join(fields)}"
            )
        typed = _typed(pair, name, fields[name], value)
        for p in PROVIDER_NAMES if provider == "all" else (provider,):
            if name == "url_ttl_s":
                config.url_ttl_s[p] = typed  # type: ignore[assignment]  # float | None, as _typed read it
            else:
                setattr(config.providers[p], name, typed)
    return config


def make_config(knobs: list[str], *, generation_s: float = 1.0, seed: int = 0) -> SimConfig:
    """The simulator ``batch-runner simulate`` serves: every provider's tasks take
    ``generation_s`` seconds, random faults follow ``seed``, then ``knobs``
    (see apply_knobs, whose ValueError it raises)."""
    config = SimConfig(providers={n: ProviderSimConfig(generation_s=generation_s) for n in PROVIDER_NAMES},
                       seed=seed)
    return apply_knobs(config, knobs)


def _typed(pair: str, name: str, kind: str, value: str) -> object:
    """``value`` as the field's type (``kind``: its annotation, e.g. ``float | None``)."""
    if kind == "str":
        return value
    if kind.startswith("tuple[str"):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if kind.startswith("dict[str, float]"):
        table: dict[str, float] = {}
        for entry in filter(None, (v.strip() for v in value.split(","))):
            key, colon, number = entry.rpartition(":")
            try:
                table[key] = float(number)
            except ValueError:
                colon = ""
            if not colon or not key or not math.isfinite(table.get(key, math.nan)):
                raise ValueError(f"bad value in {pair!r}: {name} takes KEY:NUMBER,KEY:NUMBER")
        return table
    if kind == "bool":
        word = value.strip().lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"bad value in {pair!r}: {name} takes true or false")
    number = "a whole number" if kind.startswith("int") else "a number"
    if value.strip().lower() == "none":
        if "None" in kind:
            return None
        raise ValueError(f"bad value in {pair!r}: {name} cannot be none; it takes {number}")
    try:
        typed = int(value) if kind.startswith("int") else float(value)
    except ValueError:
        raise ValueError(f"bad value in {pair!r}: {name} takes {number}") from None
    if not math.isfinite(typed):
        raise ValueError(f"bad value in {pair!r}: {name} takes a finite number, not {value.strip()}")
    return typed
