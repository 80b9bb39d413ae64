"""Peer 3, batch_runner itself: ``batch-runner run MANIFEST -o OUT --quiet`` with its
defaults (the manifest's ``providers:`` section holds the scaled limits and times).

    python bench/peers/batch_runner_peer.py MANIFEST OUT.csv MARKFILE
"""

from __future__ import annotations

import sys

from common import ROOT, mark

sys.path.insert(0, str(ROOT))

from batch_runner.cli import main

if __name__ == "__main__":
    mark(sys.argv[3])
    sys.argv = ["batch-runner", "run", sys.argv[1], "-o", sys.argv[2], "--quiet"]
    main()
