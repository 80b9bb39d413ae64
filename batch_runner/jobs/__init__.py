"""The Job model: expansion of manifest rows into jobs, capability checks, routing, image checks."""
