"""One module per CLI command: its click command and the function it calls (registered in cli.py)."""
