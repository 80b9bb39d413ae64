"""Commands of the CLI, one module each: the click command and the function it calls."""
