"""run --deliver / --notify / --metrics-file, and batch-runner deliver: real parts only.

S3 is moto's server mode (a real S3 HTTP endpoint on 127.0.0.1) reached by s3fs
through AWS_ENDPOINT_URL, with fake credentials set for the test only; the
notification sink is an aiohttp server of the test (apprise's json://).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import signal
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from batch_runner.app import RunRequest, execute
from batch_runner.errors import ConfigError
from batch_runner.journal import Journal

from conftest import ROOT, sim_env

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")

SPEEDUP = 60.0
BUCKET = "campaign-videos"
#: provider settings for runs in their own process (real time): fast limits and polls against the simulator
FAST = {"rpm": 3000, "max_in_flight": 12, "poll_interval_s": 0.05, "timeout_s": 10, "typical_generation_s": 0.3}


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on 127.0.0.1 with the bucket ``campaign-videos``; yields a boto3 client."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets in the process, not in the server: another test's objects would be there
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"), timeout=10)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
    client.create_bucket(Bucket=BUCKET)
    yield client
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def manifest(write, n: int = 8) -> Path:
    """A campaign of 3 * n jobs on two providers."""
    return write("spring.yaml", yaml.safe_dump({"providers": {"gccai": FAST, "apiframe": FAST}, "jobs": [
        {"name": f"hero{i}", "prompt": f"a calm lake at hour {i} [推进]", "provider": "gccai" if i % 2 else "apiframe",
         "variants": 3} for i in range(n)]}))


def objects(client, prefix: str = "spring/") -> dict[str, dict]:
    """Key -> head_object of every object under ``prefix``."""
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: client.head_object(Bucket=BUCKET, Key=o["Key"]) for o in listed}


def delivered_line(caplog) -> str:
    return next(line.strip() for r in caplog.records for line in r.getMessage().splitlines()
                if line.strip().startswith("delivered:"))


async def test_every_good_video_lands_once_with_its_sha256_and_a_rerun_uploads_nothing(tmp_path, sim, write, s3,
                                                                                        caplog):
    path, out, videos = manifest(write), tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=videos,
                         canary=False, deliver=f"s3://{BUCKET}/spring/", report=tmp_path / "report.html")
    caplog.set_level(logging.INFO)
    assert await execute(request) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    stored = objects(s3)
    good = df[(df["status"] == "succeeded") & (df["qa_status"] != "failed")]
    assert len(good) == 24
    for _, row in good.iterrows():
        key = f"spring/{Path(row['local_path']).name}"
        assert row["delivered_url"] == f"s3://{BUCKET}/{key}"
        head = stored[key]
        assert head["ContentType"] == "video/mp4"
        assert head["Metadata"]["sha256"] == row["sha256"] == hashlib.sha256(
            Path(row["local_path"]).read_bytes()).hexdigest()
        assert int(head["ContentLength"]) == int(row["bytes"])
        assert key.removesuffix(".mp4") + ".jpg" in stored  # its poster
    assert {"spring/results.csv", "spring/report.html"} <= set(stored)
    assert "s3://campaign-videos/spring/" in (tmp_path / "report.html").read_text(encoding="utf-8")
    journal_path = path.with_name("spring.yaml.journal.sqlite")
    with Journal(journal_path, lock=False) as journal:
        rows = journal.db.execute("SELECT url, kind, delivered_at FROM deliveries").fetchall()
    assert sorted(r[1] for r in rows).count("video") == 24 and [r[1] for r in rows].count("poster") == 24
    assert delivered_line(caplog).startswith("delivered: 50 sent")  # 24 videos, 24 posters, results, report

    caplog.clear()
    assert await execute(request) == 0
    line = delivered_line(caplog)
    assert "ms per video" not in line and "1 sent, 49 already there" in line, line  # no video or poster again
    with Journal(journal_path, lock=False) as journal:
        assert journal.db.execute("SELECT url, kind, delivered_at FROM deliveries").fetchall() == rows
    assert objects(s3).keys() == stored.keys()


async def test_a_missing_bucket_fails_the_probe_before_any_paid_submit(tmp_path, sim, write, s3):
    path = manifest(write, 2)
    request = RunRequest(path, tmp_path / "r.csv", environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                         download=tmp_path / "videos", canary=False, deliver="s3://no-such-bucket/spring/")
    with pytest.raises(ConfigError, match=r"^--deliver s3://no-such-bucket/spring/: cannot write there: the bucket"):
        await execute(request)
    assert [r for r in sim.store.requests if r.kind == "submit"] == []
    with pytest.raises(ConfigError, match="needs --download"):
        await execute(RunRequest(path, tmp_path / "r.csv", environ=sim_env(sim), quiet=True,
                                 deliver=f"s3://{BUCKET}/x/"))
    assert [r for r in sim.store.requests if r.kind == "submit"] == []


async def test_kill_9_during_uploads_then_rerun_delivers_every_video_and_loses_none(tmp_path, sim, write, s3):
    path, out, videos = manifest(write), tmp_path / "results.csv", tmp_path / "videos"
    args = ["--download", str(videos), "--deliver", f"s3://{BUCKET}/spring/", "--no-canary", "--yes"]
    env = {**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "run", str(path), "-o", str(out), "--quiet", *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:  # until the first video is in the bucket
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="spring/").get("Contents", [])
        if any(o["Key"].endswith(".mp4") for o in listed):
            break
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    before = {k for k in objects(s3) if k.endswith(".mp4")}
    posters_before = {k for k in objects(s3) if k.endswith(".jpg")}
    assert before  # under load the kill may land after the last video: the rerun must still send nothing twice
    rerun = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "run", str(path), "-o", str(out), "--quiet", *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(rerun.communicate(), 90)
    assert rerun.returncode == 0, err.decode()
    said = re.search(r"delivered: (\d+) sent", err.decode())
    assert said is not None, err.decode()
    sent = int(said.group(1))
    # the missing videos, the missing posters and the results file: nothing twice
    assert sent <= (24 - len(before)) + (24 - len(posters_before)) + 2, err.decode()[-1500:]
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    stored = objects(s3)
    assert (df["status"] == "succeeded").all() and (df["delivered_url"] != "").all()
    for _, row in df.iterrows():
        assert stored[f"spring/{Path(row['local_path']).name}"]["Metadata"]["sha256"] == row["sha256"]
        assert Path(row["local_path"]).is_file()  # the local file is never lost
    assert sum(k.endswith(".mp4") for k in stored) == 24
    assert not [k for k in stored if ".part" in k or ".batch-runner-probe" in k]


@pytest.fixture
async def sink():
    """A JSON webhook on 127.0.0.1 (apprise's json://): yields (url, received bodies)."""
    received: list[dict] = []

    async def take(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"json://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_digest_and_metrics_match_the_run(tmp_path, sim, write, sink):
    url, received = sink
    path, out, prom = manifest(write, 2), tmp_path / "results.csv", tmp_path / "run.prom"
    shared = tmp_path / "shared"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=tmp_path / "v",
                         canary=False, deliver=shared.as_uri(), notify=(url,), metrics_file=prom)
    assert await execute(request) == 0
    assert len(received) == 1
    message = received[0]["message"]
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    usd = sum(float(x) for x in df["cost_usd"] if x)
    assert "campaign: spring.yaml" in message and "jobs: 6 succeeded" in message
    assert f"${usd:,.2f} this run, ${usd:,.2f} for the campaign" in message
    assert "QA failed: 0" in message and "unknown (need a person" in message and "(plan: " in message
    assert f"results: {shared.as_uri()}/results.csv" in message
    assert "done" in received[0]["title"]
    assert sorted(p.name for p in shared.glob("*.mp4")) == sorted(Path(p).name for p in df["local_path"])

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(prom.read_text()) for s in family.samples}
    for provider, n in df.groupby("provider").size().items():
        assert samples[("batch_runner_jobs", (("campaign", "spring.yaml"), ("provider", provider),
                                              ("status", "succeeded")))] == n
        assert samples[("batch_runner_videos", (("campaign", "spring.yaml"), ("provider", provider)))] == n
    spend = sum(v for (name, _), v in samples.items() if name == "batch_runner_spend_usd")
    assert spend == pytest.approx(usd)
    assert samples[("batch_runner_last_exit_status", (("campaign", "spring.yaml"),))] == 0
    assert samples[("batch_runner_unknown_jobs", (("campaign", "spring.yaml"),))] == 0
    assert samples[("batch_runner_last_success_timestamp_seconds", (("campaign", "spring.yaml"),))] > 0


async def test_a_dead_sink_is_a_warning_and_the_exit_status_is_the_jobs(tmp_path, sim, write, caplog):
    path = manifest(write, 1)
    request = RunRequest(path, tmp_path / "r.csv", environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                         canary=False, notify=("json://127.0.0.1:9/hook",))  # port 9 (discard): nothing listens
    caplog.set_level(logging.WARNING)
    assert await execute(request) == 0
    assert any("notification not sent" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="not a notification URL"):
        await execute(RunRequest(path, tmp_path / "r.csv", environ=sim_env(sim), notify=("nope",)))


def test_deliver_command_copies_an_earlier_runs_videos(tmp_path, cli, threaded_sim, write):
    path, out, videos = manifest(write, 1), tmp_path / "results.csv", tmp_path / "videos"
    env = sim_env(threaded_sim)
    done = cli("run", path, "-o", out, "--download", videos, "--no-canary", "--yes", "--quiet", env=env)
    assert done.exit_code == 0, done.output
    shared = tmp_path / "shared"
    first = cli("deliver", out, "--to", shared.as_uri(), env=env)
    assert first.exit_code == 0, first.output
    assert "delivered: 7 sent" in first.output  # 3 videos, 3 posters, the results
    assert sorted(p.name for p in shared.glob("*.mp4")) == sorted(p.name for p in videos.glob("*.mp4"))
    again = cli("deliver", out, "--to", shared.as_uri(), env=env)
    assert "delivered: 0 sent, 7 already there" in again.output
    bad = cli("deliver", out, "--to", "gs://bucket/x/", env=env)
    assert bad.exit_code == 2 and "batch-runner[gcs]" in bad.output
    typo = cli("deliver", out, "--to", "s3//bucket/x/", env=env)  # no scheme: refused, no folder made
    assert typo.exit_code == 2 and "s3//bucket/x/: not a URL" in typo.output

async def test_a_copy_whose_record_was_lost_is_found_in_the_bucket_and_not_sent_again(tmp_path, sim, write, s3,
                                                                                        caplog):
    path, out, videos = manifest(write, 4), tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=videos,
                         canary=False, deliver=f"s3://{BUCKET}/spring/")
    caplog.set_level(logging.INFO)
    assert await execute(request) == 0
    assert delivered_line(caplog).startswith("delivered: 25 sent")  # 12 videos, 12 posters, results
    stored = objects(s3)
    with Journal(path.with_name("spring.yaml.journal.sqlite"), lock=False) as journal:
        journal.db.execute("DELETE FROM deliveries")  # as if killed after each upload, before its record
        journal.db.commit()
    caplog.clear()
    assert await execute(request) == 0
    said = re.search(r"delivered: (\d+) sent, (\d+) already there", delivered_line(caplog))
    assert said is not None, delivered_line(caplog)
    sent, kept = map(int, said.groups())
    assert sent <= 1 and kept >= 24, delivered_line(caplog)  # the results file may differ: nothing else is sent
    assert {k: v["ETag"] for k, v in objects(s3).items() if not k.endswith(".csv")} == {
        k: v["ETag"] for k, v in stored.items() if not k.endswith(".csv")}
