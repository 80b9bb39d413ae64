"""Provider facts from data/providers.yaml, per-run settings, and prices."""
