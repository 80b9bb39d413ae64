"""How a simulated run grows with its size: wall, CPU, peak RSS and journal size per job count.

    python bench/growth.py                       # 1,000, 10,000 and 100,000 jobs
    python bench/growth.py --sizes 1000,10000    # chosen sizes
    python bench/growth.py --smoke               # 200 jobs (seconds): CI runs it so it cannot rot

Each size is one ``batch-runner run`` of a CSV manifest (four providers, instant
generation, limits high enough that nothing waits on a pace) in a child process
against ``batch-runner simulate`` in another; then ``batch-runner results`` writes
the same journal's results file again, alone. Both children are measured with
``getrusage`` (wall, user + system CPU, peak RSS). Prints one line per size and a
Markdown table; every child is stopped on any exit (a timeout's SIGTERM included).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("apiframe", "gccai", "minimax", "gptproto")
#: a child that prints its own wall, CPU and peak RSS (getrusage) to a file when it ends
_MEASURED = (
    "import atexit, resource, runpy, sys, time; "
    "out = sys.argv.pop(1); t0 = time.monotonic(); "
    "atexit.register(lambda: open(out, 'w').write('%f %f %d' % (time.monotonic() - t0, "
    "sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))); "
    "sys.argv = ['batch_runner', *sys.argv[1:]]; "
    "runpy.run_module('batch_runner', run_name='__main__')"
)


def measured(args: list[str], env: dict[str, str], tmp: Path) -> tuple[float, float, float]:
    """Wall s, CPU s and peak RSS MB of ``python -m batch_runner ARGS`` in a child."""
    out = tmp / "rusage"
    out.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", _MEASURED, str(out), *args], cwd=ROOT, env={**os.environ, **env},
                          check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not out.exists():  # it did not get to its end (exit 1, some jobs failed, is counted by the caller)
        raise SystemExit(f"growth.py: {' '.join(args[:2])} crashed: {done.stderr[-2000:]}")
    wall, cpu, rss = out.read_text().split()
    return float(wall), float(cpu), int(rss) / 1024


def manifest(path: Path, n: int) -> Path:
    """A CSV manifest of ``n`` text-to-video rows over four providers."""
    lines = ["name,prompt,provider,duration,resolution,sku"]
    lines += [f"r{i},Product shot {i} of the trail sneaker [推进],{PROVIDERS[i % 4]},6,768p,SKU{i % 97}"
              for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings(path: Path) -> Path:
    """A settings file lifting every provider's limits out of the way."""
    body = "".join(f"  {p}:\n    rpm: 600000\n    max_in_flight: 200\n    typical_generation_s: 0.01\n"
                   f"    poll_interval_s: 0.01\n" for p in PROVIDERS)
    path.write_text("providers:\n" + body, encoding="utf-8")
    return path


def one_size(n: int, base: str, tmp: Path) -> dict[str, float]:
    """Run ``n`` jobs, then ``batch-runner results``; the figures of both."""
    sheet = manifest(tmp / f"g{n}.csv", n)
    env = {f"{p.upper()}_{k}": v for p in PROVIDERS for k, v in (("BASE_URL", f"{base}/{p}"),
                                                                   ("API_KEY", "sim-key"))}
    out = tmp / f"g{n}.results.csv"
    wall, cpu, rss = measured(["run", str(sheet), "-o", str(out), "--quiet", "--settings",
                               str(settings(tmp / "settings.yaml"))], env, tmp)
    journal = Path(f"{sheet}.journal.sqlite")
    size_mb = journal.stat().st_size / 1e6
    with out.open(encoding="utf-8-sig") as f:
        done = sum(1 for line in f if ',"succeeded",' in line)
    again = tmp / f"g{n}.again.csv"
    r_wall, r_cpu, r_rss = measured(["results", str(journal), "-o", str(again)], {}, tmp)
    with again.open(encoding="utf-8-sig") as f:
        same = sum(1 for line in f if ',"succeeded",' in line) == done
    for f in (sheet, out, again, journal):
        f.unlink(missing_ok=True)
    return {"n": n, "wall": wall, "cpu": cpu, "rss": rss, "journal": size_mb, "done": done, "r_wall": r_wall,
            "r_cpu": r_cpu, "r_rss": r_rss, "same": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="job counts, comma-separated")
    parser.add_argument("--smoke", action="store_true", help="200 jobs: seconds, for CI")
    args = parser.parse_args()
    sizes = [200] if args.smoke else [int(s) for s in args.sizes.split(",")]
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a timeout unwinds: the simulator is stopped
    sim = subprocess.Popen([sys.executable, "-m", "batch_runner", "simulate", "--port", "0",
                            "--knob", "all.generation_s=0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    rows = []
    try:
        line = sim.stdout.readline() if sim.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise SystemExit(f"growth.py: the simulator did not start: {line!r}")
        with tempfile.TemporaryDirectory() as tmp:
            for n in sizes:
                row = one_size(n, match.group(0), Path(tmp))
                rows.append(row)
                print(f"{n} jobs: run {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU "
                      f"({row['wall'] / n * 1000:.2f} ms/job wall, {row['cpu'] / n * 1000:.2f} ms/job CPU), "
                      f"{row['rss']:.0f} MB peak RSS, journal {row['journal']:.1f} MB, {row['done']} succeeded; "
                      f"results: {row['r_wall']:.1f} s, {row['r_rss']:.0f} MB, same rows {row['same']}",
                      flush=True)
    finally:
        sim.terminate()
        sim.wait()
    print("\n| jobs | run wall | ms/job | run CPU | peak RSS | journal | `results` wall | `results` RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['wall']:.1f} s | {r['wall'] / r['n'] * 1000:.2f} | {r['cpu']:.1f} s "
              f"| {r['rss']:.0f} MB | {r['journal']:.1f} MB | {r['r_wall']:.1f} s | {r['r_rss']:.0f} MB |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min), {resource.getpagesize()} B pages")
    bad = [r for r in rows if r["done"] != r["n"] or not r["same"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
