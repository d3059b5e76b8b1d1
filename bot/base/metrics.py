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
        self.worker_up = Gauge(
            "doorstep_worker_up",
            "1 while a background loop runs, 0 while it is down or restarting.",
            ["loop"],
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "doorstep_worker_restarts_total",
            "Times a background loop failed and was restarted by the supervisor.",
            ["loop"],
            registry=self.registry,
        )
        self.outbox_lag = Gauge(
            "doorstep_outbox_lag_seconds",
            "Age of the oldest message ready to send (0 when none waits).",
            registry=self.registry,
        )
        self.backpressure = Counter(
            "doorstep_backpressure_total",
            "Events refused with 503 because the outbox was too deep or too late.",
            registry=self.registry,
        )
        # --- the agent desk ----------------------------------------------------
        self.assignments = Counter(
            "doorstep_desk_assignments_total",
            "Conversations given to an agent: auto (offered), claim, transfer.",
            ["brand", "how"],
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "doorstep_sla_breaches_total",
            "SLA targets missed (first_response, resolution), counted once each.",
            ["brand", "target"],
            registry=self.registry,
        )
        self.agents_available = Gauge(
            "doorstep_agents_available",
            "Agents available for new conversations with their console open.",
            ["brand"],
            registry=self.registry,
        )
        self.csat_responses = Counter(
            "doorstep_csat_responses_total",
            "CSAT answers by score (1-5).",
            ["brand", "score"],
            registry=self.registry,
        )
        # --- logins ------------------------------------------------------------
        self.login_failures = Counter(
            "doorstep_login_failures_total",
            "Wrong console passwords, counted for the account and for the client address.",
            ["kind"],
            registry=self.registry,
        )
        self.login_refused = Counter(
            "doorstep_login_refused_total",
            "Login attempts refused unchecked while an account or address waits (delay) "
            "or is locked.",
            ["kind", "how"],
            registry=self.registry,
        )
        self.login_locks = Counter(
            "doorstep_login_locks_total",
            "Times an account or a client address was locked for too many wrong passwords.",
            ["kind"],
            registry=self.registry,
        )
        self.login_throttled = Gauge(
            "doorstep_login_throttled",
            "Accounts and client addresses waiting out a login delay or lock now.",
            ["kind"],
            registry=self.registry,
        )
