"""Running jobs: dispatch across provider slots, pacing, submit retries, polling, budget, the estimate."""
