"""Prometheus metrics, in one registry per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """All of Doorstep's metrics; created once per app so tests can run several apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "doorstep_messages_total",
            "Outbound messages by type, channel and resulting status.",
            ["type", "channel", "status"],
            registry=self.registry,
        )
        self.events = Counter(
            "doorstep_events_total",
            "Delivery events by type and outcome (accepted, duplicate, invalid).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "doorstep_inbound_total",
            "Customer messages taken in, by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.notify_latency = Histogram(
            "doorstep_notify_latency_seconds",
            "Event accepted -> message handed to the provider.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.send_latency = Histogram(
            "doorstep_provider_send_seconds",
            "Time the provider took to accept a message.",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "doorstep_http_request_seconds",
            "HTTP request handling time by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "doorstep_outbox_depth",
            "Messages waiting: 'ready' in the stream, 'pending' being sent, 'due' deferred.",
            ["state"],
            registry=self.registry,
        )
        self.escalations_overdue = Gauge(
            "doorstep_escalations_overdue",
            "Conversations waiting for a person longer than the brand's limit.",
            ["brand"],
            registry=self.registry,
        )
        self.tracking = Counter(
            "doorstep_tracking_events_total",
            "What customers did on the tracking page: page_viewed and each action.",
            ["action"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "doorstep_outbox_dead_letters",
            "Messages in the dead-letter stream.",
            registry=self.registry,
        )
