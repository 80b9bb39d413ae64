"""The defaults ``--help`` shows, each defined once, in a module that imports nothing.

The command line reads them when its options are declared (``batch-runner --help``
loads every command, so it must not load the library for them); the modules that
use them import them from here.
"""

from __future__ import annotations

__all__ = ["CONFIRM_OVER_USD", "DEFAULT_LEASE_S", "DEFAULT_TEMPLATE", "NOTIFY_ON"]

CONFIRM_OVER_USD = 5.0  # run: ask before a run whose new submits cost more (USD), on a terminal
DEFAULT_LEASE_S = 30.0  # a shared journal: seconds a worker's claim on a job lasts without a heartbeat
DEFAULT_TEMPLATE = "{name}-{variant}-{job_id}.mp4"  # the file name of a saved video (output/file_names.py)
NOTIFY_ON = ("always", "failure")  # --notify-on: a digest after every run, or only when the exit status is not 0
