"""Start-up cost of the light commands: what cron pays on every call.

    python bench/startup.py            # 20 calls of each command, medians
    python bench/startup.py --smoke    # 3 calls of each: seconds, for CI

Runs ``python -m batch_runner`` as a new process for ``--help``, ``status
JOURNAL``, ``validate MANIFEST --simulate`` and ``plan MANIFEST --simulate``
(the example campaign, manifests/example.yaml, and an empty journal in a
temporary folder), each N times in turn. Prints, per command, the median and
lowest wall time of a call (seconds), the median CPU time (user + system,
seconds: less sensitive to a loaded machine than wall time), how many modules
the process had imported when it exited, and whether one of the heavy
libraries (numpy, av, PIL, jinja2, openpyxl, aiohttp, prometheus_client, tqdm)
was among them. Target (issue 25): at most 0.25 s per call.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batch_runner.journal import Journal  # noqa: E402

HEAVY = ("numpy", "av", "PIL", "jinja2", "openpyxl", "aiohttp", "prometheus_client", "tqdm")
# The CLI in this process, then one line on the real stderr at exit: the modules it imported.
_PROBE = (
    "import atexit, sys\n"
    "def _said():\n"
    "    names = {m.split('.')[0] for m in sys.modules}\n"
    f"    heavy = [h for h in {HEAVY!r} if h in names]\n"
    "    print('MODULES', len(sys.modules), ','.join(heavy) or '-', file=sys.__stderr__)\n"
    "atexit.register(_said)\n"
    "sys.argv[0] = 'batch-runner'\n"
    "from batch_runner.cli import main\n"
    "main()\n"
)


def _call(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m batch_runner ARGV`` (its exit status must be 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "batch_runner", *argv], cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"batch-runner {' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _modules(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Modules imported by one call, and the heavy libraries among them."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=cwd, capture_output=True, text=True,
                          check=False)
    for line in done.stderr.splitlines():
        if line.startswith("MODULES "):
            _, n, heavy = line.split(" ", 2)
            return int(n), heavy
    raise SystemExit(f"batch-runner {' '.join(argv)}: no module count: {done.stderr[-500:]}")


def main() -> None:
    """Time each command, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3 calls of each command instead of 20 (for CI)")
    parser.add_argument("--runs", type=int, default=None, help="calls of each command (default 20, --smoke 3)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.smoke else 20)
    manifest = ROOT / "manifests" / "example.yaml"
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        with Journal(cwd / "campaign.journal.sqlite"):
            pass
        commands = {"--help": ["--help"], "status": ["status", "campaign.journal.sqlite"],
                    "validate": ["validate", str(manifest), "--simulate"],
                    "plan": ["plan", str(manifest), "--simulate"]}
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):  # in turn, so that a burst of load on the machine falls on every command
            for name, argv in commands.items():
                wall, cpu = _call(argv, cwd)
                walls[name].append(wall)
                cpus[name].append(cpu)
        print(f"load average {os.getloadavg()[0]:.2f}; {runs} calls of each; python {sys.version.split()[0]}")
        print(f"{'command':<10} {'median s':>9} {'lowest s':>9} {'CPU s':>7} {'modules':>8}  heavy imported")
        for name, argv in commands.items():
            n, heavy = _modules(argv, cwd)
            print(f"{name:<10} {statistics.median(walls[name]):>9.3f} {min(walls[name]):>9.3f} "
                  f"{statistics.median(cpus[name]):>7.3f} {n:>8}  {heavy}")
    slowest = max(statistics.median(w) for w in walls.values())
    print(f"slowest median {slowest:.3f} s (target 0.25 s)")


if __name__ == "__main__":
    main()
