"""``batch-runner check``: a preflight of each provider that spends nothing, against
the simulator on 127.0.0.1 (good keys, bad keys, a web page instead of the API, a
closed port), in both formats, with its exit status, never printing a key."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from aiohttp import web

from batch_runner.catalog.facts import catalog
from batch_runner.catalog.settings import resolve_settings
from batch_runner.preflight import check_providers, render_table

from conftest import PROVIDERS, sim_env


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(sim):
    return [r for r in sim.store.requests if r.provider]


def test_all_six_providers_usable_and_nothing_paid(cli, threaded_sim):
    result = cli("check", env=sim_env(threaded_sim))
    assert result.exit_code == 0, result.output
    for name in PROVIDERS:
        assert f"{name}: usable" in result.output
    sent = _records(threaded_sim)
    assert {r.provider for r in sent} == set(PROVIDERS)
    assert {r.kind for r in sent} == {"poll"}  # one free poll each: no submit, no task
    assert not threaded_sim.store.tasks


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_bad_key_is_named_and_not_printed(cli, threaded_sim, provider):
    wrong, var = f"sk-wrong-{uuid.uuid4().hex}", catalog()[provider].key_env  # minimax_v2: MINIMAX_API_KEY
    env = {**sim_env(threaded_sim), var: wrong}
    result = cli("check", env=env)
    assert result.exit_code == 1
    assert f"{provider}: NOT usable: the key in {var} was refused" in result.output
    others = [p for p in PROVIDERS if catalog()[p].key_env != var]  # a shared key is refused by both
    assert all(f"{p}: usable" in result.output for p in others)
    assert wrong not in result.output


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_web_page_instead_of_the_api(cli, threaded_sim, provider):
    threaded_sim.config.providers[provider].html_host = True
    try:
        result = cli("check", "--format", "json", env=sim_env(threaded_sim))
    finally:
        threaded_sim.config.providers[provider].html_host = False
    assert result.exit_code == 1
    found = {p["provider"]: p for p in json.loads(result.output)["providers"]}
    assert found[provider]["usable"] is False
    assert found[provider]["connect"] == "ok"
    assert found[provider]["fix"].startswith(
        f"this host serves a web page, not the API: set {provider.upper()}_BASE_URL")
    assert all(found[p]["usable"] for p in PROVIDERS if p != provider)


def test_an_unreachable_port(cli, threaded_sim):
    port = _closed_port()
    env = {**sim_env(threaded_sim), "GCCAI_BASE_URL": f"http://127.0.0.1:{port}/gccai"}
    result = cli("check", "--format", "json", env=env)
    assert result.exit_code == 1
    gccai = next(p for p in json.loads(result.output)["providers"] if p["provider"] == "gccai")
    assert gccai["dns"] == "ok"
    assert gccai["connect"].startswith(f"cannot connect to 127.0.0.1:{port}")
    assert gccai["key"] == ""
    assert "GCCAI_BASE_URL" in gccai["fix"]
    assert not [r for r in threaded_sim.store.requests if r.provider == "gccai"]


def test_json_format_for_scripts(cli, threaded_sim):
    result = cli("check", "--format", "json", env=sim_env(threaded_sim))
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["usable"] is True
    assert [p["provider"] for p in out["providers"]] == list(PROVIDERS)
    for p in out["providers"]:
        assert p["base_url"] == threaded_sim.url(p["provider"])
        assert (p["dns"], p["connect"], p["api"], p["key"]) == ("ok", "ok", "ok", "ok")
        assert abs(p["clock_skew_s"]) <= 2.0  # the simulator's Date header, whole seconds
        assert p["balance"] == "no balance endpoint documented"


def test_without_a_manifest_only_providers_with_a_key(cli, threaded_sim):
    env = {k: v for k, v in sim_env(threaded_sim).items() if not k.startswith(("MINIMAX_", "GPTGE_"))}
    result = cli("check", "--format", "json", env=env)
    assert result.exit_code == 0
    assert [p["provider"] for p in json.loads(result.output)["providers"]] == [
        p for p in PROVIDERS if not catalog()[p].key_env.startswith(("MINIMAX_", "GPTGE_"))]


def test_no_key_at_all_exits_1_naming_the_variables(cli):
    result = cli("check")
    assert result.exit_code == 1
    assert "no provider to check: no API key is set" in result.output
    assert "APIFRAME_API_KEY" in result.output


def test_a_manifest_checks_the_providers_its_jobs_need_fallbacks_included(cli, threaded_sim, write):
    manifest = write("campaign.csv", 'prompt,provider\n"a red sneaker spins",gccai|apiframe\n')
    env = {**sim_env(threaded_sim), "MINIMAX_API_KEY": "sk-wrong-but-not-needed"}
    result = cli("check", manifest, "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    assert [p["provider"] for p in json.loads(result.output)["providers"]] == ["gccai", "apiframe"]
    # the fallback's bad key makes the manifest's check fail
    result = cli("check", manifest, env={**env, "APIFRAME_API_KEY": "sk-wrong-fallback-key"})
    assert result.exit_code == 1
    assert "apiframe: NOT usable: the key in APIFRAME_API_KEY was refused" in result.output
    assert "gccai: usable" in result.output


def test_a_needed_provider_without_a_key(cli, threaded_sim, write):
    manifest = write("campaign.csv", 'prompt,provider\n"a red sneaker spins",minimax\n')
    env = {k: v for k, v in sim_env(threaded_sim).items() if k != "MINIMAX_API_KEY"}
    result = cli("check", manifest, env=env)
    assert result.exit_code == 1
    assert "minimax: NOT usable: set MINIMAX_API_KEY" in result.output
    assert not _records(threaded_sim)


def test_an_invalid_manifest_exits_2(cli, write):
    manifest = write("campaign.csv", 'prompt,provider\n"a red sneaker spins",nobody\n')
    result = cli("check", manifest)
    assert result.exit_code == 2


async def test_a_key_the_provider_echoes_back_is_never_printed(aiohttp_server):
    """A gptproto-shaped host that puts the key it got into its answer: neither the
    table nor the JSON shows it."""
    key = f"sk-LEAKCANARY-{uuid.uuid4().hex}"

    async def poll(request: web.Request) -> web.Response:
        got = request.headers.get("Authorization", "")
        return web.json_response({"error": {"message": f"prediction not found for key {got}"}}, status=404)

    app = web.Application()
    app.router.add_get("/api/v3/predictions/{task_id}/result", poll)
    server = await aiohttp_server(app)
    env = {"GPTPROTO_API_KEY": key, "GPTPROTO_BASE_URL": str(server.make_url(""))}
    results = await check_providers(resolve_settings(None, env), ["gptproto"], timeout_s=5)
    assert results[0].usable
    shown = "\n".join(render_table(results)) + json.dumps([r.as_dict() for r in results])
    assert "prediction not found" in shown
    assert key not in shown
    assert repr(results).count(key) == 0


def test_check_uses_a_base_url_override_of_a_settings_file(cli, threaded_sim, tmp_path):
    """A wrong guess fixed without code: the --settings file's base_url is what check tries
    (the environment's <NAME>_BASE_URL, when set, would win)."""
    env = {k: v for k, v in sim_env(threaded_sim).items() if k != "GCCAI_BASE_URL"}
    env = {k: v for k, v in env.items() if k.startswith("GCCAI")}
    port = _closed_port()
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"providers:\n  gccai: {{base_url: 'http://127.0.0.1:{port}/gccai'}}\n", encoding="utf-8")
    result = cli("check", "--settings", settings, "--format", "json", env=env)
    assert result.exit_code == 1, result.output
    (gccai,) = [p for p in json.loads(result.stdout)["providers"] if p["provider"] == "gccai"]
    assert gccai["base_url"] == f"http://127.0.0.1:{port}/gccai"
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(f"providers:\n  gccai: {{base_url: '{threaded_sim.url('gccai')}'}}\n", encoding="utf-8")
    assert cli("check", "--settings", fixed, env=env).exit_code == 0


@pytest.mark.parametrize(("provider", "variant"), [("gccai", "v2"), ("gptge", "wrapped"), ("minimax", "unknown"),
                                                   ("gptge", "unknown"), ("apiframe", "expired"),
                                                   ("apiinone", "short_model")])
def test_check_reads_each_documented_answer_variant(cli, threaded_sim, provider, variant):
    threaded_sim.config.providers[provider].answer_variant = variant
    try:
        env = {k: v for k, v in sim_env(threaded_sim).items() if k.startswith(provider.upper() + "_")}
        result = cli("check", env=env)
        assert result.exit_code == 0, result.output
        assert f"{provider}: usable" in result.output
        wrong = cli("check", env={**env, f"{provider.upper()}_API_KEY": "wrong-key-0123456789"})
        assert wrong.exit_code == 1 and "wrong-key-0123456789" not in wrong.output
    finally:
        threaded_sim.config.providers[provider].answer_variant = ""


def test_a_callback_url_is_tested_from_outside_with_the_providers(cli, threaded_sim):
    # the same challenge as check-callback: through the public URL to the receiver on --callback-listen
    port = _closed_port()
    result = cli("check", "--callback-url", f"http://127.0.0.1:{port}/hooks/br/", "--callback-listen",
                 f"127.0.0.1:{port}", env=sim_env(threaded_sim))
    assert result.exit_code == 0, result.output
    assert "minimax: usable" in result.output and "callback URL ok" in result.output


def test_a_callback_url_that_leads_elsewhere_fails_check(cli, threaded_sim):
    listen, elsewhere = _closed_port(), _closed_port()
    result = cli("check", "--format", "json", "--callback-url", f"http://127.0.0.1:{elsewhere}/br",
                 "--callback-listen", f"127.0.0.1:{listen}", env=sim_env(threaded_sim))
    assert result.exit_code == 1  # every provider usable, the callback URL not
    assert json.loads(result.stdout)["usable"] is True  # stdout keeps the JSON; the reason is on stderr
    assert "callback URL not reachable" in result.stderr and "cannot be reached" in result.stderr
