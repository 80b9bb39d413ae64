"""python -m batch_runner: the same as the batch-runner command."""

from batch_runner.cli import main

if __name__ == "__main__":
    main()
