"""Shared plumbing: keys, store, brands, values, clock, logs, metrics, errors, live updates."""
