"""``batch-runner check-callback``: a challenge sent to the public URL must come back
from the receiver (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from batch_runner.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_url_that_reaches_the_receiver_passes():
    port = free_port()
    result = CliRunner().invoke(main, ["check-callback", "--callback-url", f"http://127.0.0.1:{port}/hooks/br/",
                                       "--callback-listen", f"127.0.0.1:{port}"])
    assert result.exit_code == 0, result.output
    assert "callback URL ok" in result.output


def test_a_url_that_leads_elsewhere_fails_with_the_reason():
    listen, elsewhere = free_port(), free_port()
    result = CliRunner().invoke(main, ["check-callback", "--callback-url", f"http://127.0.0.1:{elsewhere}/br",
                                       "--callback-listen", f"127.0.0.1:{listen}"])
    assert result.exit_code == 1
    assert "callback URL not reachable" in result.output and "cannot be reached" in result.output


def test_bad_options_are_one_line_errors():
    for args, word in ((["--callback-url", "hooks.example.com"], "--callback-url"),
                       (["--callback-url", "http://127.0.0.1:9/br", "--callback-listen", "8787"],
                        "--callback-listen")):
        result = CliRunner().invoke(main, ["check-callback", *args])
        assert result.exit_code == 2 and word in result.output and "Traceback" not in result.output
