"""The ``batch-runner`` commands, one module each: the click command and the function it calls."""
