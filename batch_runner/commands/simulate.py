"""``batch-runner simulate``: serve the simulator of every provider (batch_runner/simulator/)
on 127.0.0.1, for curl or real-mode runs (exit 2 for a bad knob or a port that cannot be used).
"""

from __future__ import annotations

import click

from batch_runner.commands.options import EXIT_USAGE, fail, old_name_of
from batch_runner.errors import ConfigError

__all__ = ["simulate"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--generation-s", default=5.0, show_default=True,
              help="Seconds each simulated task takes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--knob", "knobs", multiple=True, metavar="PROVIDER.FIELD=VALUE",
              help="A simulator knob, e.g. apiframe.rpm=5, all.error_rate=0.1, "
                   "gccai.balance=3, minimax.retry_after_s=2 (manual: docs/simulator.md).")
@click.option("--set", "old_knobs", multiple=True, metavar="PROVIDER.FIELD=VALUE", hidden=True,
              callback=old_name_of("--knob"), help="Old name of --knob.")
def simulate(host: str, port: int, generation_s: float, seed: int, knobs: tuple[str, ...],
             old_knobs: tuple[str, ...]) -> None:
    """Serve the simulator of every provider, e.g. for curl or real-mode runs."""
    from batch_runner.simulator import make_config, serve

    try:
        config = make_config([*old_knobs, *knobs], generation_s=generation_s, seed=seed)
    except ValueError as exc:
        fail(exc, EXIT_USAGE)
    try:
        serve(config, host, port, echo=click.echo)
    except OSError as exc:  # a busy port, an address that is not this machine's, an unknown host name
        reason = exc.strerror or str(exc)
        fail(ConfigError(f"cannot serve the simulator on {host}:{port}: {reason} "
                          "(another simulator running? choose another --port or --host)"), EXIT_USAGE)
