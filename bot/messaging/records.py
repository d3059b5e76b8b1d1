"""Outbox message records as the sender reads them, and what to do with each one.

`load_records` reads a batch of message hashes in one round trip; `verdicts_for`
decides, in one more, whether each is to be sent, was superseded or has expired,
or goes to a recipient who opted out.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from bot.base.keys import Keys
from bot.messaging.messages import FINAL, OPT_OUT_EXEMPT


async def load_records(
    redis: Redis, keys: Keys, message_ids: list[str]
) -> list[dict[str, Any] | None]:
    """Message records by id (None for an unknown or expired one)."""
    async with redis.pipeline(transaction=False) as pipe:
        for message_id in message_ids:
            pipe.hgetall(keys.message(message_id or "-"))
        raws = await pipe.execute()
    records: list[dict[str, Any] | None] = []
    for raw in raws:
        if not raw:
            records.append(None)
            continue
        record: dict[str, Any] = {str(k): v for k, v in raw.items()}
        record["media"] = json.loads(record.get("media") or "[]")
        record["choices"] = json.loads(record.get("choices") or "[]")
        record["template_variables"] = json.loads(record.get("template_variables") or "{}")
        record["link"] = json.loads(record.get("link") or "null")
        record["attempts"] = int(record.get("attempts") or 0)
        records.append(record)
    return records


async def verdicts_for(
    redis: Redis, keys: Keys, now: float, shard: int, records: list[dict[str, Any] | None]
) -> list[str]:
    """'send', 'ack' (nothing to do), 'opted out', 'outdated' or 'superseded by <id>'."""
    checks: list[tuple[int, str]] = []
    async with redis.pipeline(transaction=False) as pipe:
        for n, record in enumerate(records):
            if record is None:
                continue
            if record.get("supersede_key"):
                pipe.get(keys.supersede(shard, record["supersede_key"]))
                checks.append((n, "newest"))
            if record["type"] not in OPT_OUT_EXEMPT:
                pipe.exists(keys.optout(record["brand_id"], record["channel"], record["to"]))
                checks.append((n, "optout"))
        results = await pipe.execute() if checks else []
    newest: dict[int, Any] = {}
    opted_out: set[int] = set()
    for (n, kind), value in zip(checks, results, strict=True):
        if kind == "newest":
            newest[n] = value
        elif value:
            opted_out.add(n)
    verdicts = []
    for n, record in enumerate(records):
        if record is None or record.get("provider_id") or record["status"] in FINAL:
            verdicts.append("ack")
        elif record.get("expires_at") and float(record["expires_at"]) < now:
            verdicts.append("outdated")
        elif newest.get(n) is not None and str(newest[n]) != record["id"]:
            verdicts.append(f"superseded by {newest[n]!s}")
        elif n in opted_out:
            verdicts.append("opted out")
        else:
            verdicts.append("send")
    return verdicts
