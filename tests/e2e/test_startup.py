"""The light commands start without loading the heavy libraries (issue 25: cron pays the
start-up on every call). Each command runs in a new process, as a user's shell runs it,
and reports the modules it had imported when it exited. The figures (seconds per call)
are bench/startup.py's; these tests only check what gets loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from batch_runner.journal import Journal

HEAVY = ("numpy", "pandas", "av", "PIL", "jinja2", "prometheus_client", "openpyxl", "aiohttp", "tqdm")
_PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})),"
    " file=sys.__stderr__))\n"
    "sys.argv[0] = 'batch-runner'\n"
    "from batch_runner.cli import main\n"
    "main()\n"
)


def loaded(*argv: str | Path, cwd: Path, status: int = 0) -> set[str]:
    """The top-level packages ``batch-runner ARGV`` had imported when it exited (with ``status``)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == status, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A text-to-video campaign (no local image: nothing for Pillow to read)."""
    path = tmp_path / "launch.yaml"
    path.write_text(yaml.safe_dump({"jobs": [{"name": "hero", "prompt": "a calm lake at dawn", "provider": "gccai"},
                                             {"name": "wide", "prompt": "a city at night", "provider": "apiframe"}]}))
    return path


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["validate", "launch.yaml", "--simulate"],
                                  ["plan", "launch.yaml", "--simulate"]], ids=" ".join)
def test_light_commands_do_not_load_heavy_libraries(manifest: Path, argv: list[str]) -> None:
    heavy = loaded(*argv, cwd=manifest.parent) & set(HEAVY)
    assert not heavy, f"batch-runner {' '.join(argv)} imported {sorted(heavy)}"


def test_status_does_not_load_heavy_libraries(tmp_path: Path) -> None:
    with Journal(tmp_path / "launch.yaml.journal.sqlite"):
        pass
    heavy = loaded("status", "launch.yaml.journal.sqlite", cwd=tmp_path) & set(HEAVY)
    assert not heavy, f"batch-runner status imported {sorted(heavy)}"


def test_the_probe_sees_a_heavy_library_when_one_is_loaded(tmp_path: Path) -> None:
    """The checks above can fail: a command that does load one (report renders with jinja2, and
    refuses this file only after loading it) is seen."""
    results = tmp_path / "r.csv"
    results.write_text("job_id,status\n")
    assert "jinja2" in loaded("report", results, "-o", tmp_path / "r.html", cwd=tmp_path, status=2)
