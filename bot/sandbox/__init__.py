"""Trying Doorstep on one machine: the demo brand and day, and the sandbox page's handlers."""
