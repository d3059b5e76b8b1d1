"""`doorstep parse` and `doorstep nlu build`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from bot.config import Settings


async def _parse(text: str, at: datetime, zone: str, settings: Settings) -> dict[str, Any]:
    # Imported here: the whole conversation engine is not needed by `resolve-time` and
    # the other commands, which start faster without it.
    import aiohttp

    from bot.replies.conversation.engine import time_window, window_json
    from integrations.rasa import RasaClient

    url = settings.nlu_url or "http://127.0.0.1:5005"
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, settings.nlu_token, timeout_s=5, retries=1)
        result = await client.parse(text)
    return {**result.to_json(), "time_window": window_json(time_window(result, at, zone))}


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Print {intent, confidence, entities, time_window} for one message."""
    from integrations.rasa import NLUUnavailable

    try:
        ZoneInfo(args.tz)
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
        if at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo(args.tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        print(json.dumps({"error": f"bad --at or --tz: {exc}"}), file=sys.stderr)
        return 2
    import asyncio

    try:
        out = asyncio.run(_parse(args.text, at, args.tz, settings))
    except NLUUnavailable as exc:
        print(
            json.dumps({"error": f"NLU unavailable at {settings.nlu_url}: {exc}"}), file=sys.stderr
        )
        return 1
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    """Train the model if nlu/config.yml or nlu/data changed; print its path."""
    from bot.nlu.model import NLUBuildError, ensure_model, model_path, training_log

    if not model_path().exists():
        print(
            "training the NLU model (20-40 minutes on 2 cores; only when nlu/ changed;"
            f" Rasa's output goes to {training_log()})...",
            file=sys.stderr,
            flush=True,
        )
    try:
        print(ensure_model())
    except NLUBuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def add_parsers(sub: Any) -> None:
    parse = sub.add_parser("parse", help="intent, entities and time window of a message")
    parse.add_argument("text")
    parse.add_argument("--at", help="when it was sent (ISO); default now")
    parse.add_argument("--tz", default="UTC", help="the customer's IANA time zone")
    parse.set_defaults(func=cmd_parse)
    nlu = sub.add_parser("nlu", help="the NLU model")
    nlu_sub = nlu.add_subparsers(dest="nlu_command", required=True)
    nlu_sub.add_parser("build", help="train the model when the data changed").set_defaults(
        func=cmd_build
    )
