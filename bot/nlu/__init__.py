"""The NLU model's build and server, and the `doorstep parse` / `resolve-time` commands."""
