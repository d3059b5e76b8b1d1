"""The bare reference for benchmarks/perf.py: the least a notification service can do.

An aiohttp + uvloop server takes each event (API key checked, JSON parsed, the
customer's phone read), XADDs it to a Redis Stream and answers 202; a consumer in
the same process reads the stream with a consumer group, POSTs each message to the
(fake) Twilio Messages API with the account's credentials, as twilio's client does,
and acknowledges it. No templates, no idempotency, no quiet hours, no transcript:
what is left is the physical floor (HTTP in, one stream write, HTTP out).

    python benchmarks/perf_reference.py PORT REDIS_URL TWILIO_URL
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ResponseError

API_KEY = "bench-key"
STREAM = "ref:stream"
GROUP = "senders"
SID = "AC123"
TOKEN = "secret"


async def consume(redis: Redis, twilio_url: str, stopping: asyncio.Event) -> None:
    """Read the stream in batches; send each message, then acknowledge the batch."""
    try:
        await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    url = f"{twilio_url}/2010-04-01/Accounts/{SID}/Messages.json"
    auth = aiohttp.BasicAuth(SID, TOKEN)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def send(fields: dict[str, Any]) -> None:
            form = {"To": fields["to"], "From": "+15005550006", "Body": fields["body"]}
            async with session.post(url, data=form, auth=auth) as resp:
                await resp.read()

        while not stopping.is_set():
            batch: Any = await redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=100, block=100)
            streams = list(batch.items()) if isinstance(batch, dict) else list(batch or [])
            entries = [(eid, f) for _s, items in streams for eid, f in items]
            if not entries:
                continue
            await asyncio.gather(*(send(fields) for _eid, fields in entries))
            await redis.xack(STREAM, GROUP, *[eid for eid, _f in entries])


def make_app(redis: Redis, reader: Redis, twilio_url: str) -> web.Application:
    async def post_event(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": "unauthenticated"}, status=401)
        event = json.loads(await request.read())
        customer = event["data"]["customer"]
        body = f"Hi {customer['name'].split()[0]}, your delivery is scheduled."
        await redis.xadd(STREAM, {"to": customer["phone"], "body": body})
        return web.json_response({"id": event["id"], "status": "accepted"}, status=202)

    async def ready(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def lifecycle(_app: web.Application) -> Any:
        stopping = asyncio.Event()
        task = asyncio.create_task(consume(reader, twilio_url, stopping))
        yield
        stopping.set()
        await task
        await redis.aclose()
        await reader.aclose()

    app = web.Application()
    app.router.add_post("/v1/events", post_event)
    app.router.add_get("/readyz", ready)
    app.cleanup_ctx.append(lifecycle)
    return app


def main() -> None:
    port, redis_url, twilio_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    redis = Redis.from_url(redis_url, decode_responses=True)
    reader = Redis.from_url(redis_url, decode_responses=True)
    web.run_app(
        make_app(redis, reader, twilio_url),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
