"""Peer 3, batch_runner itself: ``batch-runner run MANIFEST -o OUT --quiet [OPTIONS]`` with its
defaults (the manifest's ``providers:`` section holds the scaled limits and times).

    python bench/peers/batch_runner_peer.py MANIFEST OUT.csv MARKFILE SCALE [OPTIONS...]

With ``BENCH_PROFILE=PATH`` in the environment, the run (after start-up) is
profiled with pyinstrument (1 ms samples, wall time: the event loop's waits
show as ``epoll.poll``) and its text tree, then the self time per function,
written to PATH.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common import ROOT, mark

sys.path.insert(0, str(ROOT))

from batch_runner.cli import main


def run() -> None:
    """The CLI run, profiled when BENCH_PROFILE is set."""
    profile = os.environ.get("BENCH_PROFILE")
    if not profile:
        main()
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    try:
        main()
    finally:
        profiler.stop()
        tree = profiler.output_text(processor_options={"filter_threshold": 0.005})
        flat = profiler.output_text(flat=True)  # self time per function, the event loop's waits included
        Path(profile).write_text(f"{tree}\nSelf time per function:\n{flat}", encoding="utf-8")


if __name__ == "__main__":
    mark(sys.argv[3])
    sys.argv = ["batch-runner", "run", sys.argv[1], "-o", sys.argv[2], "--quiet", *sys.argv[5:]]
    run()
