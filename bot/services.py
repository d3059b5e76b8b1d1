"""The composition root: every long-lived object, created once per process and injected."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from dataclasses import dataclass, field, replace
from datetime import timedelta

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot.agents.accounts import AccountStore
from bot.agents.assign import Assigner
from bot.agents.canned import CannedResponses
from bot.agents.csat import Csat
from bot.agents.desk import Desk
from bot.agents.resolve import Resolution
from bot.agents.sla_watch import SlaWatch
from bot.agents.throttle import LoginThrottle
from bot.base.brands import BrandStore
from bot.base.children import die_with_parent
from bot.base.clock import Clock
from bot.base.keys import Keys, shared_secret
from bot.base.lease import Lease
from bot.base.live import LiveHub
from bot.base.metrics import Metrics
from bot.base.redisconn import acks, close, connect
from bot.base.store import Store
from bot.base.supervisor import Supervisor, Tick
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
from bot.replies.inbound import HandoffToAgent, InboundService
from bot.routing.changes import RouteService
from bot.tracking.factor import SecondFactor
from bot.tracking.hub import TrackingHub
from integrations.base import ChannelRegistry
from integrations.rasa import RasaClient
from integrations.sandbox import SandboxChannel
from integrations.telegram_channel import TelegramChannel
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
    supervisor: Supervisor
    live: LiveHub
    assigner: Assigner
    canned: CannedResponses
    csat: Csat
    sla_watch: SlaWatch
    resolution: Resolution
    states: StateStore
    tracking_links: TrackingLinks
    tracking_hub: TrackingHub
    second_factor: SecondFactor
    throttle: LoginThrottle
    # The senders' own client for blocking reads (started with the workers).
    reader: Redis | None = None
    # The senders' own pool for their other commands: a flood of HTTP requests holding
    # the shared pool's connections once starved them ("No connection available").
    sending: Redis | None = None
    # This process's name in the outbox's consumer groups.
    consumer_base: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    )

    def consumer(self, n: int) -> str:
        return f"{self.consumer_base}-{n}"

    @property
    def stopping(self) -> asyncio.Event:
        return self.supervisor.stopping

    @property
    def sandbox(self) -> SandboxChannel | None:
        if "sandbox" not in self.channels:
            return None
        channel = self.channels.get("sandbox")
        return channel if isinstance(channel, SandboxChannel) else None


SERVICES = web.AppKey("services", Services)


async def build_services(settings: Settings, redis: Redis, channels: ChannelRegistry) -> Services:
    """Wire the service around an (unconnected or connected) Redis client and its channels."""
    keys = settings.keys
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
            unknown_wait=settings.outbox_unknown_wait,
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
    events = EventService(
        redis, keys, store, notifier, registry, clock, metrics, acks=acks(settings.redis)
    )
    handoff = HandoffToAgent(redis, keys, notifier, clock)
    nlu = None
    if settings.nlu_url:
        nlu = RasaClient(aiohttp.ClientSession(), settings.nlu_url, settings.nlu_token)
    # Solves run in worker processes, started on first use (a test app that never
    # re-plans never starts one).
    routing = OrToolsEngine(
        workers=settings.routing_workers,
        time_limit=settings.routing_time_limit,
        initializer=die_with_parent,
    )
    osrm = OsrmTable(aiohttp.ClientSession(), settings.osrm_url) if settings.osrm_url else None
    route_changes = RouteService(store, events, outbox, routing, clock, osrm)
    states = StateStore(redis, keys)
    csat = Csat(redis, keys, store, notifier, states, clock, metrics)
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
        csat=csat,
    )
    states = StateStore(redis, keys)
    engine = ConversationEngine(nlu, handoff, store, states, executor)
    inbound = InboundService(
        redis, keys, store, brands, notifier, clock, metrics, engine, links, handoff
    )
    accounts = AccountStore(redis, keys)
    desk = Desk(redis, keys, store, brands, outbox, clock, metrics)
    brand_templates = BrandTemplates(redis, keys, renderer)
    assigner = Assigner(redis, keys, desk, accounts, brands, store, clock, metrics)
    sla_watch = SlaWatch(redis, keys, desk, brands, outbox, clock, metrics)
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
        accounts,
        desk,
        brand_templates,
        routing,
        route_changes,
        nlu,
        Supervisor(metrics),
        LiveHub(redis, keys),
        assigner,
        CannedResponses(redis, keys, renderer, brand_templates),
        csat,
        sla_watch,
        Resolution(desk, sla_watch, csat, assigner),
        states,
        tracking,
        TrackingHub(redis, keys),
        SecondFactor(redis, keys, secret),
        LoginThrottle(redis, keys, metrics, clock),
    )


async def start_workers(services: Services) -> None:
    """The background loops, each under the supervisor: a sender per outbox shard (each
    with its own blocking connection), the due-message scheduler, the reclaimer, the
    gauges (which also feed backpressure), the inbox sweeper and the overdue alerts."""
    s = services
    sup = s.supervisor
    settings = s.settings
    block_s = settings.outbox_block_ms / 1000
    per_shard = max(1, -(-settings.workers // s.keys.shards))
    s.reader = connect(
        settings.redis,
        purpose="blocking",
        max_connections=s.keys.shards * per_shard + 2,
        block_s=block_s,
    )
    reader = s.reader
    s.sending = connect(settings.redis, max_connections=settings.redis_max_connections)
    s.outbox.sender = replace(s.outbox.sender, redis=s.sending)
    # A sender ticks between reads; a batch may take as long as a slow provider's answers.
    sender_interval = max(block_s, settings.send_timeout)
    for shard in s.outbox.shards:
        for n in range(per_shard):

            async def send(tick: Tick, shard: int = shard, n: int = n) -> None:
                await s.outbox.sender.run_shard(shard, s.consumer(n), reader, tick, sup.stopping)

            sup.forever(f"sender-{shard}" + (f"-{n}" if n else ""), sender_interval, send)

    async def schedule() -> None:
        await s.clock.refresh()
        await s.outbox.move_due()

    async def reclaim() -> None:
        await s.outbox.reclaim(s.consumer(0))

    async def gauge() -> None:
        depth = await s.outbox.depth()
        for state in ("ready", "pending", "due"):
            s.metrics.queue_depth.labels(state).set(depth[state])
        s.metrics.dead_letters.set(depth["dead"])
        s.metrics.outbox_lag.set(depth["lag_s"])

    sup.every("scheduler", settings.scheduler_interval, schedule)
    sup.every("reclaimer", max(settings.outbox_reclaim_idle / 3, 0.5), reclaim)
    sup.every("gauges", 1.0, gauge)
    sup.every("inbox-sweeper", 5.0, s.inbound.sweep)
    sup.every("escalations", 15.0, s.desk.alert_overdue)
    # The agent desk: offering waiting conversations, SLA breaches.
    sup.every("desk-assign", 2.0, s.assigner.assign_waiting)
    sup.every("desk-sla", 15.0, s.sla_watch.check)


async def start_inbound_loops(services: Services) -> None:
    """Loops of a process that serves people: the consoles' live updates, and Telegram's
    poller where Telegram runs in polling mode, in one replica at a time (a lease)."""
    stopping = services.supervisor.stopping

    async def live(tick: Tick) -> None:
        await services.live.run(tick, stopping)

    services.supervisor.forever("live-updates", 5.0, live)

    async def tracking(tick: Tick) -> None:
        await services.tracking_hub.run(stopping, tick)

    services.supervisor.forever("tracking-hub", 5.0, tracking)
    if "telegram" not in services.channels:
        return
    telegram = services.channels.get("telegram")
    if not isinstance(telegram, TelegramChannel) or not telegram.polling:
        return
    lease = Lease(
        services.redis, services.keys.lease("telegram-poll"), telegram.poll_timeout_s + 15
    )
    stopping = services.supervisor.stopping

    async def poll(tick: Tick) -> None:
        offset: int | None = None
        try:
            while not stopping.is_set():
                tick()
                if not await lease.hold():
                    offset = None  # another replica polls; take over if it dies
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), lease.ttl_s / 3)
                    continue
                # A stop does not wait for the long poll: a cancelled one is not
                # acknowledged, so Telegram delivers its updates again.
                polled = asyncio.ensure_future(telegram.poll(offset))
                stop = asyncio.ensure_future(stopping.wait())
                await asyncio.wait({polled, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not polled.done():
                    polled.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await polled
                    return
                offset = polled.result()
        finally:
            with contextlib.suppress(Exception):
                await lease.release()

    services.supervisor.forever("telegram-poller", telegram.poll_timeout_s + 10.0, poll)


async def stop_workers(services: Services, grace: float = 15.0) -> None:
    """Graceful: stop taking new work, let in-flight batches finish, then cancel stragglers."""
    await services.supervisor.stop(grace)
    await services.inbound.settle(grace)
    if isinstance(services.routing, OrToolsEngine):
        await asyncio.to_thread(services.routing.close)  # waits for a running solve
    await services.brand_templates.checks.close()
    if services.route_changes.osrm is not None:
        await services.route_changes.osrm.close()
    if services.nlu is not None:
        await services.nlu.close()
    if services.reader is not None:
        with contextlib.suppress(Exception):  # Redis may be gone: the reclaimer tidies up
            for shard in services.outbox.shards:
                await services.outbox.sender.forget_consumer(shard, services.consumer(0))
        await close(services.reader)
        services.reader = None
    if services.sending is not None:
        await close(services.sending)
        services.sending = None
