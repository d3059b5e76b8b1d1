"""Support agents: accounts, sessions, the escalation desk and its web console."""
