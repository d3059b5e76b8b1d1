"""Doorstep: the service that talks to delivery customers for a brand or carrier."""
