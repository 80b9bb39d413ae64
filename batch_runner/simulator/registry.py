"""The simulated providers, listed once, here.

``PROVIDER_NAMES`` lists every simulated provider: its URL prefix (``/<name>``),
its key in ``SimConfig.providers`` and its module ``batch_runner.simulator.<name>``,
which has ``make_app(store, name)`` (the sub-application; app.py loads it by
name). ``DEFAULT_URL_TTL_S`` says how long each one's video URLs work. Adding a
provider is one module and one entry here. This module is data only: config.py
reads it, and it imports nothing of the simulator.
"""

from __future__ import annotations

__all__ = ["DEFAULT_URL_TTL_S", "PROVIDER_NAMES"]

#: provider name -> how long a video URL works by default (seconds; None: never expires);
#: ``GET /`` and the ``simulate`` banner keep this order
DEFAULT_URL_TTL_S: dict[str, float | None] = {
    # minimax:, counted from the latest files/retrieve: "valid 1 hour"
    # (MiniMax's video guide, https://github.com/MiniMax-AI/skills
    # skills/frontend-dev/references/minimax-video-guide.md); signed, 403 after it
    "minimax": 3600.0,
    # gptge:: undocumented; MiniMax's 1 h URL passes through (INFERRED,
    # https://gpt.morphogen.top/en/video/hailuo/address.html shows MiniMax's CDN URL)
    "gptge": 3600.0,
    # gccai:: APIMart's media URLs live 72 h (https://docs.apimart.ai/en/api-reference/tasks/status);
    # older answers showed completion + 24 h
    "gccai": 259200.0,
    # gptproto:: undocumented (a CloudFront URL), so never expires here
    "gptproto": None,
    # apiinone:: undocumented, so never expires here
    "apiinone": None,
    # apiframe:: "default 24h retention", then ``expired`` (the OpenAPI
    # ``expired`` field, https://docs-v2.apiframe.ai/docs/jobs/get; its FAQ says 3 months)
    "apiframe": 86400.0,
}

#: every simulated provider, in the order of ``DEFAULT_URL_TTL_S``
PROVIDER_NAMES: tuple[str, ...] = tuple(DEFAULT_URL_TTL_S)
