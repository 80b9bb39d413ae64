"""API keys never leak: not into results, the journal, logs, or exception texts,
even when providers fail, retry, refuse the key or echo it back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
import uuid

import pandas as pd
import yaml
from aiohttp import web
from click.testing import CliRunner

from batch_runner.catalog.settings import resolve_settings
from batch_runner.errors import ProviderError, TransportError
from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS, HttpRequest, HttpResponse
from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator
from batch_runner.transport import Transport

PROVIDERS = tuple(ADAPTERS)


def _texts(exc: BaseException) -> str:
    """Everything an exception can show: its traceback with every chained
    exception, and the repr of each exception in the chain."""
    out = "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        out += repr(link) + repr(getattr(link, "__dict__", ""))
        link = link.__cause__ or link.__context__
    return out


async def _echo_app(seen: list[str]) -> web.Application:
    """A gptproto-shaped provider that answers 401 and echoes the key it got."""

    async def submit(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        return web.json_response({"error": {"code": "invalid_api_key", "message": f"bad key {auth}"}}, status=401)

    app = web.Application()
    app.router.add_post("/api/v3/minimax/{model}/{scene}", submit)
    return app


async def test_keys_never_reach_results_journal_logs_or_errors(tmp_path, aiohttp_server):
    key = f"sk-LEAKCANARY-{uuid.uuid4().hex}"
    sim_cfg = SimConfig(providers={
        "minimax": ProviderSimConfig(api_key=key, generation_s=0.2, rate_limit_rate=0.3, retry_after_s=0.05),
        "gptge": ProviderSimConfig(api_key=key, generation_s=0.2, error_rate=0.3, truncated_rate=0.1),
        "gccai": ProviderSimConfig(api_key=key, generation_s=0.2, html_error_rate=0.3),
        "apiinone": ProviderSimConfig(api_key=key, generation_s=0.2, fail_rate=0.5),
        "apiframe": ProviderSimConfig(api_key="not-the-key-we-send", generation_s=0.2),  # 401 for us
    })
    echoed: list[str] = []
    echo = await aiohttp_server(await _echo_app(echoed))
    fast = {"rpm": 6000, "poll_interval_s": 0.05, "typical_generation_s": 0.2, "max_attempts": 3,
            "backoff_base_s": 0.05}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "providers": dict.fromkeys(PROVIDERS, fast),
        "jobs": [{"prompt": f"shot {i} on {p}", "provider": p, **({"model": "h3"} if p == "minimax_v2" else {})}
                 for p in PROVIDERS if p != "apiinone" for i in range(3)]
        + [{"prompt": f"shot {i}", "provider": "apiinone", "image": "https://cdn.example.com/a.png"} for i in range(3)]
        + [{"prompt": "refused [[REJECT]]", "provider": p} for p in ("minimax", "gccai")],
    }))
    async with running_simulator(sim_cfg, host="127.0.0.1", port=0) as sim:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        for name in PROVIDERS:
            env[f"{name.upper()}_API_KEY"] = key
            env[f"{name.upper()}_BASE_URL"] = sim.url(name)
        env["GPTPROTO_BASE_URL"] = str(echo.make_url("")).rstrip("/")
        code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
                "from batch_runner.cli import main; main()")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, "run", str(manifest), "-o", str(tmp_path / "results.csv"),
            "--report", str(tmp_path / "report.html"), "--verbose", "--no-canary",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        requests = sim.store.requests
    assert proc.returncode == 1, stderr.decode()[-2000:]
    # the run met what it should: refused keys, rate limits and retries, failures, an echo of the key
    df = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    assert set(df[df.provider == "apiframe"].error_code) == {"auth"}
    assert set(df[df.provider == "gptproto"].error_code) == {"auth"}
    assert "content_policy" in set(df.error_code) and "succeeded" in set(df.status)
    assert any(r.reason == "rate_limit" for r in requests) and any(r.reason == "auth" for r in requests)
    assert echoed and key in echoed[0]  # the provider saw the key and sent it back
    assert (df[df.provider == "gptproto"].error_message.str.contains(r"\*\*\*")).all()
    # ... and the key is nowhere: not in any file the run wrote, nor in what it printed
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != manifest]
    assert {p.name for p in files} >= {"results.csv", "m.yaml.journal.sqlite", "report.html"}
    for path in files:
        assert key.encode() not in path.read_bytes(), path.name
    assert key.encode() not in stdout + stderr
    assert b"DEBUG" in stderr or b"INFO" in stderr  # logging was on
    assert b"trying again" in stderr  # retries
    # the echoed key redacted, in both documented forms (raw, then Bearer after the first 401)
    assert b"bad key ***" in stderr or b"bad key Bearer ***" in stderr


async def test_exception_texts_never_carry_the_key(aiohttp_server, unused_tcp_port):
    key = f"sk-LEAKCANARY-{uuid.uuid4().hex}"
    # a provider that echoes the key in its error
    adapter = ADAPTERS["gptproto"]("https://example.test", Secret(key))
    body = json.dumps({"error": {"code": key, "message": f"invalid key {key}"}}).encode()
    try:
        adapter.read_submit(HttpResponse(401, {}, body))
    except ProviderError as exc:
        assert key not in _texts(exc) and "***" in exc.provider_message
    # connection refused, a garbage HTTP answer (aiohttp's error holds the request headers), a timeout
    garbage = await asyncio.start_server(_garbage, "127.0.0.1", 0)
    port = garbage.sockets[0].getsockname()[1]

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_get("/slow", slow)
    server = await aiohttp_server(app)
    urls = [f"http://127.0.0.1:{unused_tcp_port}/x", f"http://127.0.0.1:{port}/x", str(server.make_url("/slow"))]
    async with Transport.open() as transport:
        for url in urls:
            req = HttpRequest("GET", url, {"Authorization": f"Bearer {key}", "X-API-Key": key})
            try:
                await transport.send("gccai", req, 0.5)
                raise AssertionError("no error")
            except TransportError as exc:
                assert key not in _texts(exc), url
    garbage.close()
    # what prints itself never shows the key
    settings = resolve_settings(None, {"MINIMAX_API_KEY": key})["minimax"]
    for obj in (Secret(key), settings, adapter, adapter.build_poll("abc"), HttpRequest("GET", "x", {"a": key})):
        assert key not in repr(obj) and key not in str(obj)


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(4096)
    writer.write(b"HTTP/1.1 abc\r\nno headers here\r\n\r\n")
    await writer.drain()
    writer.close()


def test_keys_come_from_a_dotenv_file_and_the_environment_wins(tmp_path, monkeypatch):
    for name in PROVIDERS:
        monkeypatch.delenv(f"{name.upper()}_API_KEY", raising=False)
    monkeypatch.setenv("GCCAI_API_KEY", "from-the-environment-0001")  # restored after the test
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MINIMAX_API_KEY=from-dotenv-key-000000001\n"
                                   "GCCAI_API_KEY=from-dotenv-key-000000002\n")
    (tmp_path / ".env").chmod(0o644)
    (tmp_path / "m.csv").write_text("prompt,provider\nhello,minimax\nhello,gccai\n")
    from batch_runner.cli import main

    result = CliRunner().invoke(main, ["validate", "m.csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output  # both keys found: no "no API key" problem
    assert "m.csv: valid" in result.output
    assert ".env can be read by other users; protect your keys with: chmod 600 .env" in result.output
    assert os.environ["GCCAI_API_KEY"] == "from-the-environment-0001"
    assert os.environ["MINIMAX_API_KEY"] == "from-dotenv-key-000000001"
    assert "from-dotenv" not in result.output
    (tmp_path / ".env").chmod(0o600)
    assert "chmod" not in CliRunner().invoke(main, ["validate", "m.csv"]).output


def test_a_dotenv_file_given_as_settings_prints_no_key(tmp_path, monkeypatch):
    """``plan x.csv --settings keys.env``: the schema error named the file's text,
    every key in it verbatim."""
    keys = {"MINIMAX_API_KEY": f"sk-LEAKCANARY{uuid.uuid4().hex}", "GPTGE_API_KEY": "plainsecretvalue123456"}
    (tmp_path / "keys.env").write_text("".join(f"{k}={v}\n" for k, v in keys.items()))
    (tmp_path / "x.csv").write_text("prompt,provider\nhello,minimax\n")
    monkeypatch.chdir(tmp_path)  # no ./.env: the keys are known from nowhere else
    from batch_runner.cli import main

    result = CliRunner().invoke(main, ["plan", "x.csv", "--settings", "keys.env"])
    assert result.exit_code == 2, result.output
    assert "--settings keys.env: is not a YAML mapping" in result.output
    for key in keys.values():
        assert key[:8] not in result.output and key[-8:] not in result.output


async def _partial_echo_app(key: str) -> web.Application:
    """A gptproto-shaped provider that echoes a 12-character prefix and a
    10-character tail of the key: in an error for one job, in an unreadable poll
    answer (kept as a capture) for the other."""

    async def submit(request: web.Request) -> web.Response:
        body = await request.json()
        if "refused" in body["prompt"]:
            return web.json_response({"error": {"code": "invalid_request", "message": f"key {key[:12]}...{key[-10:]} "
                                                "may not ask for this"}}, status=400)
        return web.json_response({"data": {"id": "task-1"}})

    async def poll(request: web.Request) -> web.Response:
        return web.json_response({"data": {"status": f"odd:{key[:12]}:{key[-10:]}"}})

    app = web.Application()
    app.router.add_post("/api/v3/minimax/{model}/{scene}", submit)
    app.router.add_get("/api/v3/predictions/{task}/result", poll)
    return app


async def test_a_provider_echoing_parts_of_a_key_leaks_them_nowhere(tmp_path, aiohttp_server):
    key = f"sk-LEAKCANARY-{uuid.uuid4().hex}"
    server = await aiohttp_server(await _partial_echo_app(key))
    fast = {"rpm": 6000, "poll_interval_s": 0.05, "typical_generation_s": 0.1, "max_attempts": 1,
            "backoff_base_s": 0.05}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"providers": {"gptproto": fast}, "jobs": [
        {"prompt": "refused shot", "provider": "gptproto"}, {"prompt": "odd shot", "provider": "gptproto"}]}))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "GPTPROTO_API_KEY": key,
           "GPTPROTO_BASE_URL": str(server.make_url("")).rstrip("/")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "run", str(manifest), "-o", str(tmp_path / "results.csv"),
        "--report", str(tmp_path / "report.html"), "--trace-http", str(tmp_path / "trace.har"),
        "--verbose", "--no-canary", "--log-format", "json",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, stderr.decode()[-2000:]
    files = {p.relative_to(tmp_path).as_posix(): p for p in tmp_path.rglob("*") if p.is_file() and p != manifest}
    assert {"results.csv", "report.html", "trace.har", "m.yaml.journal.sqlite"} <= set(files)
    captures = [p for name, p in files.items() if name.startswith("m.yaml.journal.sqlite.captures/")]
    assert captures, sorted(files)
    for part in (key[:12], key[-10:]):
        for name, path in files.items():
            assert part.encode() not in path.read_bytes(), name
        assert part.encode() not in stdout + stderr
    assert b"may not ask for this" in stderr  # the echo was logged, masked
    for path in [files["trace.har"], files["m.yaml.journal.sqlite"], *captures]:
        assert path.stat().st_mode & 0o777 == 0o600, path.name
