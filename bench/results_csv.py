"""Time of writing the results CSV of a large campaign (``write_results``).

    python bench/results_csv.py [JOBS] [--out FILE] [--smoke]

Builds JOBS (default 20,000) journal records in memory (succeeded, failed and
unknown jobs; USD- and credit-priced; prompts with commas, quotes, line breaks
and formula-like text; two manifest columns of their own), then writes the
results CSV five times (``--repeat``) and prints the best and median wall and
CPU time (seconds) and the file's size and SHA-256 (the same records always give the same bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch_runner.journal import JobRecord
from batch_runner.output.results import write_results

PROMPTS = ["Studio shot of a sneaker [推进]", 'A "quoted", comma, prompt', "=HYPERLINK(\"x\")",
           "line one\nline two", "-5", "+cmd", "@sum", "plain text"]
PROVIDERS = [("minimax", 0.34, None), ("gccai", 0.295, None), ("apiframe", None, 5.0), ("apiinone", None, 65)]


def records(n: int, seed: int = 7) -> list[JobRecord]:
    """``n`` journal records, made from rows shaped as the journal's select returns them."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        provider, usd, credits = PROVIDERS[i % len(PROVIDERS)]
        status = rnd.choices(["succeeded", "failed", "unknown"], [90, 8, 2])[0]
        job = {"row": 2 + i // 2, "name": f"shot-{i // 2}", "variant": 1 + i % 2, "provider": provider,
               "model": "hailuo-2.3", "scene": "text-to-video", "prompt": rnd.choice(PROMPTS), "image": None,
               "duration": rnd.choice([6, 10]), "resolution": rnd.choice(["768P", "1080P"]),
               "extras": {"sku": f"TR {i % 300}", "discount": rnd.choice([-5, 10, 2.5, "n/a"])}}
        ok = status == "succeeded"
        submitted = 1_790_000_000.0 + i * 0.25
        out.append(JobRecord.from_row({
            "job_id": f"{i:016x}", "job": json.dumps(job, ensure_ascii=False), "provider": provider,
            "status": status, "task_id": f"task-{i}" if status != "unknown" else None, "attempts": 1 + i % 3,
            "submitted_at": submitted, "finished_at": submitted + 95.5 + i % 40 if status != "unknown" else None,
            "video_url": f"https://cdn.example.com/v/{i}.mp4" if ok else None,
            "url_expires_at": submitted + 86_400 if ok else None,
            "cost_credits": credits if ok else None, "cost_usd": usd if ok else None,
            "error_code": None if ok else "content_policy", "provider_code": None if ok else "1026",
            "error_message": None if ok else "refused, by policy", "providers_tried": provider,
            "updated_at": submitted, "local_path": f"/videos/shot-{i}.mp4" if ok and i % 5 else None,
            "bytes": 1_048_576 + i if ok and i % 5 else None, "sha256": "ab" * 32 if ok and i % 5 else None,
        }))
    return out


def main() -> None:
    """Time the writes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="?", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5, help="writes to time (default 5)")
    parser.add_argument("--out", type=Path, help="keep the CSV here (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="200 jobs, one write: seconds, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.repeat = 200, 1
    recs = records(args.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.out or Path(tmp) / "results.csv"
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            write_results(path, recs)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        data = path.read_bytes()
    print(f"{args.jobs} jobs: wall best {min(times):.3f} s, median {statistics.median(times):.3f} s; "
          f"CPU best {min(cpu):.3f} s, median {statistics.median(cpu):.3f} s; "
          f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
