"""The composition root: every long-lived object, created once per process and injected."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot.agents.accounts import AccountStore
from bot.agents.desk import Desk
from bot.base.brands import BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys, shared_secret
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import Store
from bot.config import Settings
from bot.events.ingest import EventService
from bot.messaging.brand_templates import BrandTemplates
from bot.messaging.links import TelegramLinks
from bot.messaging.notify import Notifier
from bot.messaging.outbox import Outbox, OutboxPolicy
from bot.messaging.render import Renderer
from bot.messaging.tracking_links import TrackingLinks
from bot.replies.conversation.engine import ConversationEngine
from bot.replies.conversation.executor import Executor
from bot.replies.conversation.state import StateStore
from bot.replies.inbound import HandoffToAgent, InboundService, sweeper
from bot.routing.changes import RouteService
from bot.tracking.factor import SecondFactor
from bot.tracking.hub import TrackingHub
from integrations.base import ChannelRegistry
from integrations.rasa import RasaClient
from integrations.sandbox import SandboxChannel
from routing_adapter.engine import OrToolsEngine, RoutingAdapter
from routing_adapter.osrm import OsrmTable


@dataclass
class Services:
    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock
    metrics: Metrics
    brands: BrandStore
    store: Store
    channels: ChannelRegistry
    renderer: Renderer
    outbox: Outbox
    notifier: Notifier
    events: EventService
    inbound: InboundService
    handoff: HandoffToAgent
    executor: Executor
    accounts: AccountStore
    desk: Desk
    brand_templates: BrandTemplates
    routing: RoutingAdapter
    route_changes: RouteService
    nlu: RasaClient | None
    states: StateStore
    tracking_links: TrackingLinks
    tracking_hub: TrackingHub
    second_factor: SecondFactor
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def sandbox(self) -> SandboxChannel | None:
        if "sandbox" not in self.channels:
            return None
        channel = self.channels.get("sandbox")
        return channel if isinstance(channel, SandboxChannel) else None


SERVICES = web.AppKey("services", Services)


async def build_services(settings: Settings, redis: Redis, channels: ChannelRegistry) -> Services:
    """Wire the service around an (unconnected or connected) Redis client and its channels."""
    keys = Keys(settings.key_prefix)
    clock = Clock(redis, keys.clock_offset())
    await clock.refresh()
    metrics = Metrics()
    retention = timedelta(days=settings.retention_days)
    brands = BrandStore(redis, keys)
    store = Store(redis, keys, retention)
    registry = channels
    renderer = Renderer()
    outbox = Outbox(
        redis,
        keys,
        registry,
        clock,
        metrics,
        OutboxPolicy(
            max_attempts=settings.outbox_max_attempts,
            backoff_base=settings.outbox_backoff_base,
            backoff_cap=settings.outbox_backoff_cap,
            reclaim_idle=settings.outbox_reclaim_idle,
            block_ms=settings.outbox_block_ms,
        ),
        retention_s=int(retention.total_seconds()),
    )
    await outbox.ensure_group()
    links = None
    secret = await shared_secret(redis, keys)
    if "telegram" in registry:
        telegram = registry.get("telegram")
        links = TelegramLinks(redis, keys, secret, lambda: getattr(telegram, "username", ""))
    ttl_s = int(retention.total_seconds())
    tracking = TrackingLinks(redis, keys, secret, settings.public_base_url, ttl_s)
    notifier = Notifier(renderer, outbox, clock, links, brands.templates, tracking)
    events = EventService(redis, keys, store, notifier, registry, clock, metrics)
    handoff = HandoffToAgent(redis, keys, notifier, clock)
    nlu = None
    if settings.nlu_url:
        nlu = RasaClient(aiohttp.ClientSession(), settings.nlu_url, settings.nlu_token)
    # Solves run in worker processes, started on first use (a test app that never
    # re-plans never starts one).
    routing = OrToolsEngine(
        workers=settings.routing_workers, time_limit=settings.routing_time_limit
    )
    osrm = OsrmTable(aiohttp.ClientSession(), settings.osrm_url) if settings.osrm_url else None
    route_changes = RouteService(store, events, outbox, routing, clock, osrm)
    executor = Executor(
        redis,
        keys,
        store,
        notifier,
        renderer,
        outbox,
        route_changes,
        handoff,
        clock,
        retention_s=int(retention.total_seconds()),
    )
    states = StateStore(redis, keys)
    engine = ConversationEngine(nlu, handoff, store, states, executor)
    inbound = InboundService(
        redis, keys, store, brands, notifier, clock, metrics, engine, links, handoff
    )
    return Services(
        settings,
        redis,
        keys,
        clock,
        metrics,
        brands,
        store,
        registry,
        renderer,
        outbox,
        notifier,
        events,
        inbound,
        handoff,
        executor,
        AccountStore(redis, keys),
        Desk(redis, keys, store, brands, outbox, clock, metrics),
        BrandTemplates(redis, keys, renderer),
        routing,
        route_changes,
        nlu,
        states,
        tracking,
        TrackingHub(redis, keys),
        SecondFactor(redis, keys, secret),
    )


async def _every(stopping: asyncio.Event, seconds: float, name: str, job: object) -> None:
    """Run `job()` every `seconds` until stopping; a failure is logged, not fatal."""
    assert callable(job)
    while not stopping.is_set():
        try:
            await job()
        except Exception:
            log.exception("worker.failed", worker=name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)


async def start_workers(services: Services) -> None:
    """The outbox senders, the due-message scheduler, the reclaimer and the inbox sweeper."""
    s = services
    consumer_base = f"{socket.gethostname()}-{os.getpid()}"

    async def schedule() -> None:
        await s.clock.refresh()
        await s.outbox.move_due()

    async def reclaim() -> None:
        await s.outbox.reclaim(f"{consumer_base}-0")

    async def gauge() -> None:
        depth = await s.outbox.depth()
        for state in ("ready", "pending", "due"):
            s.metrics.queue_depth.labels(state).set(depth[state])
        s.metrics.dead_letters.set(depth["dead"])

    for n in range(s.settings.workers):
        s.tasks.append(
            asyncio.create_task(
                s.outbox.run_sender(f"{consumer_base}-{n}", s.stopping), name=f"sender-{n}"
            )
        )
    s.tasks.append(
        asyncio.create_task(
            _every(s.stopping, s.settings.scheduler_interval, "scheduler", schedule)
        )
    )
    s.tasks.append(
        asyncio.create_task(
            _every(s.stopping, max(s.settings.outbox_reclaim_idle / 3, 0.5), "reclaimer", reclaim)
        )
    )
    s.tasks.append(asyncio.create_task(_every(s.stopping, 5.0, "gauges", gauge)))
    s.tasks.append(asyncio.create_task(sweeper(s.inbound, s.stopping)))
    s.tasks.append(asyncio.create_task(s.tracking_hub.run(s.stopping), name="tracking-hub"))
    s.tasks.append(
        asyncio.create_task(_every(s.stopping, 15.0, "escalations", s.desk.alert_overdue))
    )


async def stop_workers(services: Services, grace: float = 15.0) -> None:
    """Graceful: stop taking new work, let in-flight batches finish, then cancel stragglers."""
    services.stopping.set()
    if isinstance(services.routing, OrToolsEngine):
        await asyncio.to_thread(services.routing.close)  # waits for a running solve
    if services.route_changes.osrm is not None:
        await services.route_changes.osrm.close()
    if services.nlu is not None:
        await services.nlu.close()
    if not services.tasks:
        return
    _done, pending = await asyncio.wait(services.tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    services.tasks.clear()
