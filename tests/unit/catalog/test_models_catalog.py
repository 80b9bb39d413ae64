"""The models each provider sells (Hailuo 2.3, Hailuo-02, T2V-01): the catalog, the
capability checks, ``provider: auto`` and the price of each."""

from __future__ import annotations

import pytest

from batch_runner.catalog.facts import catalog, model_names, variant_key
from batch_runner.catalog.prices import video_cost
from batch_runner.catalog.settings import resolve_settings
from batch_runner.jobs.capabilities import check_job, providers_for, reasons_by_provider
from batch_runner.jobs.routing import route, why_none

from conftest import ROOT

URL, END = "https://img.test/first.jpg", "https://img.test/last.jpg"
T2V = {"prompt": "a shoe", "resolution": "768P", "duration": 6}
KEYS = {f"{p.upper()}_API_KEY": "k-1" for p in catalog()}


def test_the_schema_offers_exactly_the_models_some_provider_sells():
    sold = {m for info in catalog().values() for m in info.models}
    assert set(model_names()) == sold
    assert model_names()[0] == "hailuo-2.3"


def test_every_price_and_scene_variant_is_a_variant_the_model_sells():
    for info in catalog().values():
        for name, model in info.models.items():
            assert set(model.image_only_variants) <= set(model.variants), (info.name, name)
            assert set(model.variants_for("text-to-video")) | set(model.image_only_variants) == set(model.variants)
            assert set(info.prices.get(name) or {}) <= set(model.variants), (info.name, name)
        assert set(info.prices) <= set(info.models), info.name


@pytest.mark.parametrize(("fields", "expected"), [
    ({**T2V, "model": "hailuo-02"}, ["minimax", "gptge", "gptproto", "apiframe"]),
    ({**T2V, "model": "hailuo-02", "image": URL}, ["minimax", "gptge", "gptproto", "apiframe"]),
    ({**T2V, "model": "hailuo-02", "resolution": "1080P"}, ["minimax", "gptge", "apiframe"]),
    ({**T2V, "model": "hailuo-02", "resolution": "512P", "duration": 10, "image": URL}, ["minimax", "gptge"]),
    ({**T2V, "model": "hailuo-02-fast", "duration": 10}, ["gptproto"]),
    ({**T2V, "model": "hailuo-02-pro", "resolution": "1080P"}, ["gptproto"]),
    ({**T2V, "model": "t2v-01", "resolution": "720P"}, ["minimax", "gptge"]),
    ({**T2V, "model": "t2v-01-director", "resolution": "720P"}, ["minimax", "gptge"]),
    ({**T2V, "model": "hailuo-02", "image": URL, "end_image": END}, ["minimax", "gptge", "gptproto", "apiframe"]),
    # first-and-last-frame on 2.3: only gptproto's page lists end_image for it
    ({**T2V, "model": "hailuo-2.3", "image": URL, "end_image": END}, ["gptproto"]),
    ({**T2V, "model": "hailuo-2.3"}, ["minimax", "gptge", "gccai", "gptproto", "apiframe"]),  # unchanged
])
def test_providers_that_can_run_each_model(fields, expected):
    assert providers_for(fields) == expected


def test_512p_is_image_to_video_only_and_t2v_01_text_only():
    reasons = reasons_by_provider({**T2V, "model": "hailuo-02", "resolution": "512P"})
    assert reasons["minimax"] == ["minimax runs hailuo-02 at 512P as image-to-video only: add an image"]
    assert reasons["gptproto"] == [
        "512P with 6 s is not offered by gptproto for hailuo-02; allowed: 768P 6 s, 768P 10 s"]
    reasons = reasons_by_provider({**T2V, "model": "t2v-01", "resolution": "720P", "image": URL})
    assert reasons["gptge"] == ["gptge runs t2v-01 as text-to-video only: remove the image"]
    assert why_none({**T2V, "model": "t2v-01"}) == "no provider sells t2v-01 at 768P with 6 s (sold: 720P 6 s)"


def test_an_end_image_on_hailuo_2_3_is_a_problem_naming_the_row_and_the_fix():
    problems, runnable = check_job("m.yaml: line 4", {**T2V, "provider": "apiframe", "model": "hailuo-2.3",
                                                      "image": URL, "end_image": END})
    assert runnable == []
    assert [(p.where, p.field, p.message, p.severity) for p in problems] == [(
        "m.yaml: line 4", "end_image",
        "apiframe sells first-and-last-frame video (end_image) for hailuo-02 only, not hailuo-2.3: "
        "set model: hailuo-02, or remove end_image (providers that can: gptproto)", "error")]
    problems, _ = check_job("m.csv: row 2", {**T2V, "provider": "gccai", "image": URL, "end_image": END})
    assert [p.message for p in problems] == [
        "gccai has no end_image setting: remove it (providers that can: gptproto)"]
    problems, runnable = check_job("m.yaml: line 9", {**T2V, "provider": ["minimax", "apiframe"],
                                                      "model": "hailuo-02", "image": URL, "end_image": END})
    assert problems == [] and runnable == ["minimax", "apiframe"]


@pytest.mark.parametrize(("provider", "model", "variant", "usd", "credits"), [
    ("minimax", "hailuo-02", "768P-6", 0.28, None),
    ("minimax", "hailuo-02", "768P-10", 0.56, None),
    ("minimax", "hailuo-02", "1080P-6", 0.49, None),
    ("minimax", "hailuo-02", "512P-6", 0.10, None),
    ("minimax", "hailuo-02", "512P-10", 0.15, None),
    ("minimax", "t2v-01", "720P-6", None, None),
    ("gptge", "hailuo-02", "768P-6", None, None),
    ("gptproto", "hailuo-02-pro", "1080P-6", None, None),
    ("apiframe", "hailuo-02", "768P-6", None, None),
])
def test_prices_of_the_new_models_are_the_published_ones_or_unknown(provider, model, variant, usd, credits):
    res, dur = variant.split("-")
    assert variant_key(res, int(dur)) == variant
    cost = video_cost(resolve_settings(None, {})[provider], model, res, int(dur))
    assert (cost.usd, cost.credits) == (usd, credits)
    assert cost.price == usd


def test_auto_routes_hailuo_02_to_the_cheapest_known_price():
    settings = resolve_settings(None, KEYS)
    ranked, why = route({**T2V, "model": "hailuo-02"}, settings, KEYS, {})
    assert ranked[0] == "minimax" and set(ranked) == {"minimax", "gptge", "gptproto", "apiframe"}
    assert why.startswith("auto: minimax at $0.28; then ")
    ranked, why = route({**T2V, "model": "hailuo-02", "resolution": "512P", "duration": 10, "image": URL},
                        settings, KEYS, {})
    assert ranked == ["minimax", "gptge"] and why == "auto: minimax at $0.15; then gptge price unknown"
    ranked, why = route({**T2V, "model": "hailuo-02", "image": URL, "end_image": END}, settings, KEYS, {})
    assert ranked[0] == "minimax" and "apiframe" in ranked
    ranked, why = route({**T2V, "model": "t2v-01", "resolution": "720P"}, settings, KEYS, {})
    assert ranked == ["minimax", "gptge"]
    assert why.endswith("(no provider's USD price is known: set usd_per_credit under providers:)")
    ranked, why = route({**T2V, "model": "hailuo-2.3", "image": URL, "end_image": END}, settings, KEYS, {})
    assert ranked == ["gptproto"]


def test_the_manual_models_table_lists_what_each_provider_sells():
    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    table = next(block for block in text.split("\n\n") if block.startswith("| `model` | provider |"))
    listed = set()
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        listed.add((cells[0], cells[1], cells[2], cells[5] == "yes"))
    sold = {(m, p, info.models[m].id, info.models[m].end_image) for p, info in catalog().items() for m in info.models}
    assert listed == sold
