"""The pages people open (the sandbox, the agent console): HTML, CSS and JS served as is."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
