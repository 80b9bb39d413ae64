"""routing.route and why_none: what a run and a plan do with ``provider: auto``."""

from __future__ import annotations

from batch_runner.catalog.settings import resolve_settings
from batch_runner.jobs.routing import route, why_none

T2V = {"prompt": "a shoe", "provider": "auto", "resolution": "768P", "duration": 6}


def test_a_run_routes_only_to_providers_with_a_key():
    env = {"GCCAI_API_KEY": "k-1"}
    ranked, why = route(T2V, resolve_settings(None, env), env, {})
    assert ranked == ["gccai"] and why == "auto: gccai at $0.2928, the only capable provider with a key"
    ranked, why = route(T2V, resolve_settings(None, {}), {}, {})
    assert ranked == [] and why.startswith("no provider with an API key can run it (capable: minimax, ")
    assert "set one of MINIMAX_API_KEY" in why


def test_a_plan_ranks_the_providers_without_a_key_after_those_with_one():
    env = {"GCCAI_API_KEY": "k-1"}
    load: dict[str, int] = {}
    ranked, why = route(T2V, resolve_settings(None, env), env, load, need_keys=False)
    assert ranked[:2] == ["gccai", "minimax"] and set(ranked) == {"gccai", "minimax", "gptge", "gptproto", "apiframe"}
    assert why.startswith("auto: gccai at $0.2928; then minimax $0.28 (no key), ")
    assert load == {"gccai": 1}
    ranked, why = route(T2V, resolve_settings(None, {}), {}, {}, need_keys=False)
    assert ranked[0] == "minimax" and why.startswith("auto: minimax at $0.28 (no key: set MINIMAX_API_KEY); then")


def test_why_none_names_what_nobody_sells():
    assert why_none({**T2V, "resolution": "1080P", "duration": 10}) == (
        "no provider sells hailuo-2.3 at 1080P with 10 s (sold: 768P 6 s, 768P 10 s, 1080P 6 s)")
    assert why_none({**T2V, "model": "veo-9"}).startswith("no provider sells veo-9 (models sold: hailuo-2.3, ")
    # sold, but not as asked: each provider's own reason
    assert why_none({**T2V, "model": "hailuo-2.3-pro"}) == (
        "768P with 6 s is not offered by gptproto for hailuo-2.3-pro; allowed: 1080P 6 s; "
        "apiinone runs hailuo-2.3-pro as image-to-video only: add an image; "
        "minimax, gptge, gccai, apiframe, minimax_v2 do not sell hailuo-2.3-pro")
    ranked, why = route({**T2V, "resolution": "1080P", "duration": 10}, resolve_settings(None, {}), {}, {},
                        need_keys=False)
    assert ranked == [] and why.startswith("no provider can run it (capable: none): no provider sells")
