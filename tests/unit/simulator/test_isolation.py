"""The simulator stands apart from the client: it imports nothing from the rest of
batch_runner (so it cannot share a mistake with the code it checks), and its
modules import in any order (no import cycle)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import batch_runner.simulator

SIMULATOR = Path(batch_runner.simulator.__file__).parent
MODULES = sorted(p for p in SIMULATOR.glob("*.py"))


def _imported(path: Path) -> list[tuple[str, int]]:
    """``(module, line)`` of every absolute import in ``path``; a relative import
    as ``.`` times its level, so one that leaves the package shows."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(("." * node.level + (node.module or ""), node.lineno))
    return found


def test_the_simulator_imports_nothing_from_the_client_package():
    inside = outside = 0
    bad = []
    for path in MODULES:
        for module, line in _imported(path):
            if module.startswith("batch_runner.simulator") or (module.startswith(".") and not module.startswith("..")):
                inside += 1
            elif module.startswith(("batch_runner", "..")):
                bad.append(f"{path.name}:{line}: {module}")
            else:
                outside += 1
    assert not bad, "the simulator imports from the client package:\n" + "\n".join(bad)
    assert inside >= len(MODULES) - 1 and outside > 0  # the scan saw the simulator's own imports


def test_each_simulator_module_imports_first_without_a_cycle_or_the_client():
    """In a fresh interpreter, import each module first (forgetting every
    batch_runner module before the next): an import cycle fails, and only the
    simulator's own modules (and the empty ``batch_runner`` package) get loaded."""
    names = [f"batch_runner.simulator.{p.stem}" if p.stem != "__init__" else "batch_runner.simulator"
             for p in MODULES]
    script = f"""
import importlib, json, sys
loaded = set()
for name in {names!r}:
    for m in [m for m in sys.modules if m == "batch_runner" or m.startswith("batch_runner.")]:
        del sys.modules[m]
    importlib.import_module(name)
    loaded |= {{m for m in sys.modules if m == "batch_runner" or m.startswith("batch_runner.")}}
print(json.dumps(sorted(loaded)))
"""
    root = SIMULATOR.parent.parent
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert set(names) <= set(loaded)
    assert [m for m in loaded if m != "batch_runner" and not m.startswith("batch_runner.simulator")] == []
