"""The aiohttp application factory: routes, middleware, and the lifecycle of every client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis

from bot import ops
from bot.agents import admin
from bot.agents import web as console
from bot.base.httperrors import METRICS, error_middleware
from bot.base.keys import Keys, shared_secret
from bot.base.logs import log
from bot.config import Settings
from bot.events import api
from bot.messaging.channels import build_channels
from bot.routing import api as routing_api
from bot.sandbox import demo
from bot.sandbox import web as sandbox_web
from bot.services import SERVICES, Services, build_services, start_workers, stop_workers
from bot.tracking import act as tracking_act
from bot.tracking import web as tracking
from integrations.base import ChannelRegistry, InboundMessage, StatusUpdate

ChannelFactory = Callable[[Settings, Redis, Keys], ChannelRegistry]


def connect_redis(settings: Settings) -> Redis:
    """One client per process over a bounded pool that waits for a free connection.

    redis-py's default pool raises at its cap; under a burst of webhooks we would
    rather queue for a few seconds than fail a request that could have succeeded.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=10,
        decode_responses=True,
    )
    return Redis(connection_pool=pool)


def create_app(
    settings: Settings,
    channels: ChannelFactory = build_channels,
    workers: bool = True,
) -> web.Application:
    """Build the app. Clients are created once here, connected and closed by `cleanup_ctx`.

    `channels` chooses the channel registry (a benchmark may add a fake provider);
    `workers=False` serves HTTP only, for a test that drives the outbox by hand.
    """
    redis = connect_redis(settings)
    registry = channels(settings, redis, Keys(settings.key_prefix))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services: Services | None = None
        try:
            await redis.ping()
            services = await build_services(settings, redis, registry)
            app[SERVICES] = services
            # Each room's handlers see only what they use (a Protocol of their own).
            app[METRICS] = services.metrics
            app[api.SERVICES] = services
            app[routing_api.SERVICES] = services
            app[sandbox_web.SERVICES] = services
            app[console.SERVICES] = services
            app[tracking.SERVICES] = services
            if registry.media is not None:
                await registry.media.start(await shared_secret(redis, Keys(settings.key_prefix)))
            for channel in registry:
                await channel.start()
            if settings.demo:
                await demo.seed(services)
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
            await redis.aclose()
            await redis.connection_pool.disconnect()
            log.info("doorstep.stopped")

    # Channels' webhooks are routed now; they reach the services, built at start-up, lazily.
    async def inbound(message: InboundMessage) -> None:
        await app[SERVICES].inbound.receive(message)

    async def status(update: StatusUpdate) -> None:
        await app[SERVICES].outbox.on_status(update)

    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware])
    app.cleanup_ctx.append(lifecycle)
    app.add_routes(api.routes)
    app.add_routes(ops.routes)
    app.add_routes(routing_api.routes)
    app.add_routes(sandbox_web.routes)
    app.add_routes(console.routes)
    app.add_routes(admin.routes)
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
    return app
