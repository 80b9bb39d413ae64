"""QA cost: milliseconds per video and CPU seconds per 100 videos.

    python bench/qa.py            # 100 simulator clips (768P 6 s, 768P 10 s, 1080P 6 s), faults included
    python bench/qa.py --smoke    # 10 clips: seconds, for CI

Each clip is what the simulator serves (real H.264 at 2 frames per second,
batch_runner/simulator/clips.py), written to a temporary folder; each is then
probed and checked (output/qa.py) and given its poster (output/posters.py),
as ``run --download`` does for every saved video. Prints the time to make each
clip variant once (the simulator's cache), the wall milliseconds per video
(median and 95th percentile), and the process CPU seconds for 100 videos.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch_runner.catalog.qa_settings import QaSettings
from batch_runner.output.video_qa import inspect_video
from batch_runner.simulator.clips import clip, delivered

ORDERS = [{"resolution": "768P", "duration": 6}, {"resolution": "768P", "duration": 10},
          {"resolution": "1080P", "duration": 6}]
FAULTS = [None, None, None, None, None, "short", "wrong_resolution", "black", "frozen", "corrupt"]


def main() -> None:
    """Make the clips, check each, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="10 clips instead of 100 (seconds, for CI)")
    count = 10 if parser.parse_args().smoke else 100
    made: dict[tuple[str, int, str | None], float] = {}
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i in range(count):
            order, fault = ORDERS[i % len(ORDERS)], FAULTS[i % len(FAULTS)]
            width, height, seconds = delivered(order, fault)
            started = time.perf_counter()
            data = clip(width, height, seconds, fault)
            key = (order["resolution"], order["duration"], fault)
            made.setdefault(key, (time.perf_counter() - started) * 1000)
            path = Path(folder) / f"v{i}.mp4"
            path.write_bytes(data + f"task-{i}".encode())
            files.append((path, order))
        settings = QaSettings()
        wall_ms = []
        cpu0 = time.process_time()
        for path, order in files:
            started = time.perf_counter()
            inspect_video(path, order, settings)
            wall_ms.append((time.perf_counter() - started) * 1000)
        cpu_s = time.process_time() - cpu0
    first = list(made.values())
    print(f"simulator clips: {len(made)} variants made once each, {statistics.median(first):.0f} ms median, "
          f"{max(first):.0f} ms slowest")
    wall_ms.sort()
    print(f"QA + poster per video: {statistics.median(wall_ms):.0f} ms median, "
          f"{wall_ms[int(0.95 * len(wall_ms)) - 1]:.0f} ms p95 (wall)")
    print(f"CPU per 100 videos: {cpu_s * 100 / count:.2f} s ({count} checked)")


if __name__ == "__main__":
    main()
