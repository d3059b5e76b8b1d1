"""The aiohttp application factory: routes, middleware, and the lifecycle of every client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot import openapi, ops
from bot.agents import admin, canned_web, desk_web, logins_web
from bot.agents import web as console
from bot.base.httperrors import METRICS, error_middleware
from bot.base.keys import Keys, shared_secret
from bot.base.logs import log
from bot.base.redisconn import close, connect
from bot.config import Settings
from bot.events import api
from bot.messaging.channels import build_channels
from bot.routing import api as routing_api
from bot.sandbox import demo
from bot.sandbox import web as sandbox_web
from bot.services import (
    SERVICES,
    Services,
    build_services,
    start_inbound_loops,
    start_workers,
    stop_workers,
)
from bot.tracking import act as tracking_act
from bot.tracking import web as tracking
from integrations.base import (
    ChannelRegistry,
    InboundMessage,
    InboundSink,
    StatusSink,
    StatusUpdate,
)

ChannelFactory = Callable[[Settings, Redis, Keys], ChannelRegistry]


def connect_redis(settings: Settings) -> Redis:
    """The process's client for commands, over a bounded pool that waits for a free
    connection (up to 10 s) instead of failing a request that could have succeeded.

    Sized from the workers: each shard's sender sends to many recipients at once, and
    request handlers and loops need connections beside them (the senders' blocking
    reads have a client of their own)."""
    shards = settings.outbox_shards
    wanted = 32 + 2 * shards + 4 * settings.workers
    return connect(settings.redis, max_connections=max(settings.redis_max_connections, wanted))


async def wait_for_redis(redis: Redis, seconds: float) -> None:
    """Start even if Redis is still coming up (a failover, a restart of everything):
    try for `seconds` with backoff, then give up with the last error."""
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        try:
            await redis.ping()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("redis.waiting", error=str(exc), retry_in_s=round(delay, 1))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def create_app(
    settings: Settings,
    channels: ChannelFactory = build_channels,
    workers: bool = True,
    role: Literal["all", "http", "worker"] = "all",
) -> web.Application:
    """Build the app. Clients are created once here, connected and closed by `cleanup_ctx`.

    `channels` chooses the channel registry (a benchmark may add a fake provider);
    `workers=False` serves HTTP only, for a test that drives the outbox by hand.
    `role`: "all" (one process does everything), "http" (`serve --no-workers`: the API
    and webhooks, no background loops) or "worker" (`doorstep worker`: the loops, and
    only the health and metrics endpoints).
    """
    workers = workers and role != "http"
    redis = connect_redis(settings)
    registry = channels(settings, redis, settings.keys)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services: Services | None = None
        try:
            await wait_for_redis(redis, settings.redis_wait_s)
            services = await build_services(settings, redis, registry)
            await _start(app, services, registry, settings)
            if settings.demo:
                await demo.seed(services)
            if role != "worker":
                await start_inbound_loops(services)
            if workers:
                await start_workers(services)
            log.info(
                "doorstep.started",
                url=settings.public_base_url,
                channels=registry.names(),
                sandbox=settings.sandbox,
            )
            yield
        finally:
            if services is not None:
                await stop_workers(services)
            for channel in registry:
                await channel.stop()
            if registry.media is not None:
                await registry.media.stop()
            await close(redis)
            log.info("doorstep.stopped")

    # Channels' webhooks are routed now; they reach the services, built at start-up, lazily.
    async def inbound(message: InboundMessage) -> None:
        await app[SERVICES].inbound.receive(message)

    async def status(update: StatusUpdate) -> None:
        await app[SERVICES].outbox.on_status(update)

    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware])
    app.cleanup_ctx.append(lifecycle)
    app.add_routes(ops.routes)
    if role != "worker":
        _add_routes(app, registry, inbound, status)
    return app


def _add_routes(
    app: web.Application,
    registry: ChannelRegistry,
    inbound: InboundSink,
    status: StatusSink,
) -> None:
    """The API, the pages and every channel's webhooks (all but a worker's routes)."""
    app.add_routes(api.routes)
    app.add_routes(openapi.routes)
    app.add_routes(routing_api.routes)
    app.add_routes(sandbox_web.routes)
    app.add_routes(console.routes)
    app.add_routes(admin.routes)
    app.add_routes(logins_web.routes)
    app.add_routes(desk_web.routes)
    app.add_routes(canned_web.routes)
    app.add_routes(sandbox_web.static_routes())
    app.add_routes(tracking.routes)
    app.add_routes(tracking_act.routes)
    app.add_routes(tracking.static_routes())
    app.on_response_prepare.append(tracking.security_headers)
    app.on_shutdown.append(tracking.close_streams)
    for channel in registry:
        app.add_routes(channel.routes(inbound, status))
    if registry.media is not None:
        app.add_routes(registry.media.routes())


async def _start(
    app: web.Application, services: Services, registry: ChannelRegistry, settings: Settings
) -> None:
    app[SERVICES] = services
    # Each room's handlers see only what they use (a Protocol of their own).
    app[METRICS] = services.metrics
    app[api.SERVICES] = services
    app[routing_api.SERVICES] = services
    app[sandbox_web.SERVICES] = services
    app[console.SERVICES] = services
    app[desk_web.DESK] = services
    app[canned_web.CANNED] = services
    app[tracking.SERVICES] = services
    if registry.media is not None:
        await registry.media.start(await shared_secret(services.redis, settings.keys))
    for channel in registry:
        await channel.start()
