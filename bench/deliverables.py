"""Time of making a campaign's deliverables: the results workbook, the report, the contact sheet.

    python bench/deliverables.py [JOBS] [--smoke]    # --smoke: 10 jobs, for CI

Makes one 6 s 768P H.264 clip with PyAV (4 fps), links it as JOBS (default 300)
saved videos, then times, in wall seconds: the workbook with every poster made
on the way (each video decoded once), the same workbook again (posters there),
the HTML report and the contact sheet (6 columns, grouped in 3 bands). Prints a
table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.output.contact_sheet import write_contact_sheet
from batch_runner.output.report import write_report
from batch_runner.output.results import write_results


def clip(path: Path, seconds: float = 6.0, size: tuple[int, int] = (1366, 768)) -> Path:
    """A moving gradient, ``seconds`` long at 4 fps, H.264."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        ramp = np.linspace(0, 255, size[0], dtype=np.uint8)
        for i in range(round(seconds * 4)):
            frame = np.empty((size[1], size[0], 3), dtype=np.uint8)
            frame[:] = np.roll(ramp, i * 40)[None, :, None]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def records(n: int, folder: Path) -> list[JobRecord]:
    """``n`` succeeded jobs, each with a saved video (hard links to one clip)."""
    base = clip(folder / "base.mp4")
    out = []
    for i in range(n):
        video = folder / f"shot-{i:04d}.mp4"
        video.hardlink_to(base)
        job = {"row": i + 2, "name": f"shot-{i}", "variant": 1, "provider": "gccai", "prompt": f"A shoe, take {i}",
               "duration": 6, "resolution": "768P",
               "extras": {"background": ("white studio", "beach", "forest")[i % 3]}}
        out.append(JobRecord(job_id=f"{i:016x}", job=json.dumps(job), provider="gccai",
                             status=JobStatus.SUCCEEDED, task_id=f"t{i}", attempts=1,
                             submitted_at=1.7e9, finished_at=1.7e9 + 60, cost_usd=0.295,
                             video_url=f"https://cdn.example.com/{i}.mp4", local_path=str(video),
                             size_bytes=video.stat().st_size, sha256="0" * 64))
    return out


def timed(what: Callable[[], object]) -> float:
    started = time.perf_counter()
    what()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", type=int, nargs="?", default=300)
    parser.add_argument("--smoke", action="store_true", help="10 jobs (seconds, for CI)")
    args = parser.parse_args()
    n = 10 if args.smoke else args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        videos = folder / "videos"
        videos.mkdir()
        recs = records(n, videos)
        book, csv_path = folder / "results.xlsx", folder / "results.csv"
        rows = [
            (f"workbook, {n} rows, posters made", timed(lambda: write_results(book, recs))),
            (f"workbook, {n} rows, posters there", timed(lambda: write_results(book, recs))),
            (f"results CSV, {n} rows", timed(lambda: write_results(csv_path, recs))),
            (f"HTML report, {n} tiles", timed(lambda: write_report(csv_path, folder / "report.html"))),
            (f"contact sheet, {n} tiles (--by background)",
             timed(lambda: write_contact_sheet(csv_path, folder / "sheet.png", by="background"))),
        ]
        sizes = {p.name: p.stat().st_size for p in (book, folder / "sheet.png")}
    print("| measure | wall s |\n|---|---|")
    for what, seconds in rows:
        print(f"| {what} | {seconds:.2f} |")
    print(f"\nworkbook {sizes['results.xlsx'] / 1e6:.1f} MB, contact sheet {sizes['sheet.png'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
