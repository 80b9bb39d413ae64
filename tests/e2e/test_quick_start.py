"""The commands of the quick start (README.md, docs/getting-started.md), as a user types them: ``run
--simulate`` (in-process simulator, dummy keys), ``python -m batch_runner`` and
``batch-runner simulate --port``; the results CSV's columns."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd

from conftest import DATA, ROOT

#: the results columns issue 2 lists, in its order (others may sit between them)
RESULT_COLUMNS = ["job_id", "row", "name", "variant", "provider", "model", "scene", "prompt", "image",
                  "duration", "resolution", "status", "task_id", "video_url", "cost_credits", "cost_usd",
                  "attempts", "error_code", "error_message", "submitted_at", "finished_at", "elapsed_s",
                  "url_expires_at"]


def manual_documented_columns() -> set[str]:
    """The results columns the manual's tables name: docs/results.md's Results CSV
    table, and the tables of other docs/ pages with a ``column`` header."""
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    table = text.split("## Results CSV", 1)[1].split("###", 1)[0]
    for page in sorted((ROOT / "docs").glob("*.md")):
        table += "".join(part.split("\n\n", 1)[0] for part in
                         page.read_text(encoding="utf-8").split("\n| column |")[1:])
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
    return names


def test_run_simulate_writes_one_succeeded_row_per_job_with_documented_columns(cli, tmp_path):
    out = tmp_path / "results.csv"
    result = cli("run", ROOT / "manifests" / "example.yaml", "--simulate", "-o", out,
                 "--journal", tmp_path / "example.journal.sqlite")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 17 and set(df["status"]) == {"succeeded"}
    assert set(df["provider"]) == {"minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe"}
    columns = list(df.columns)
    assert [c for c in columns if c in RESULT_COLUMNS] == RESULT_COLUMNS
    assert columns[-3:] == ["campaign", "sku", "channel"]  # the manifest's own columns, last
    undocumented = set(columns) - {"campaign", "sku", "channel"} - manual_documented_columns()
    assert not undocumented, f"results columns missing from the manual (docs/results.md): {sorted(undocumented)}"
    assert "sim-key" not in out.read_text(encoding="utf-8")


def test_python_m_batch_runner_works_the_same(cli):
    manifest = ROOT / "manifests" / "example.csv"
    proc = subprocess.run([sys.executable, "-m", "batch_runner", "validate", str(manifest), "--simulate"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == cli("validate", manifest, "--simulate").output
    bad = subprocess.run([sys.executable, "-m", "batch_runner", "validate", str(DATA / "spring-launch.csv"),
                          "--set", "provider=apiinone", "--simulate"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "spring-launch.csv: row 10, field 'image'" in bad.stdout + bad.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_simulate_serves_every_provider_on_its_own_port():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "batch_runner", "simulate", "--port", str(port),
                             "--generation-s", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None  # both piped
    try:
        banner = [proc.stdout.readline() for _ in range(7)]
        assert banner[0].startswith(f"simulator at http://127.0.0.1:{port}")
        assert f"APIFRAME_BASE_URL=http://127.0.0.1:{port}/apiframe" in "".join(banner)
        base = f"http://127.0.0.1:{port}/apiframe"
        key = {"X-API-Key": "sim-key"}
        assert _call("POST", f"{base}/v2/videos/generate", {"model": "hailuo-2.3", "prompt": "x"},
                     {"X-API-Key": "wrong"}) == (401, {"error": "Invalid API key"})
        status, body = _call("POST", f"{base}/v2/videos/generate",
                             {"model": "hailuo-2.3", "prompt": "castle [推进]",
                              "hailuoParams": {"duration": 10, "resolution": "768p"}}, key)
        assert status == 202 and body["status"] == "QUEUED"
        deadline = time.monotonic() + 10
        while True:
            status, job = _call("GET", f"{base}/v2/jobs/{body['jobId']}", None, key)
            assert status == 200 and job["status"] in ("QUEUED", "PROCESSING", "COMPLETED")
            if job["status"] == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert job["status"] == "COMPLETED"
        with urllib.request.urlopen(job["result"]["videoUrl"], timeout=10) as video:
            assert video.status == 200 and video.read(8)[4:8] == b"ftyp"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
