"""Adapters to outside systems: messaging providers, the NLU server, dispatch-system webhooks."""
