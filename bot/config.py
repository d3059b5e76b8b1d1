"""Settings: one typed object built from the environment in `main()`, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.base.keys import Keys
from bot.base.redisconn import RedisConfig, RedisConfigError, parse_sentinels


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def load_dotenv(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines of a local `.env` (for local runs; the environment wins)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _sentinels(env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    try:
        return parse_sentinels(env.get("REDIS_SENTINELS", ""))
    except RedisConfigError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Sentinel (REDIS_SENTINELS) or Cluster (REDIS_CLUSTER / redis+cluster://): bot.base.redisconn.
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = "doorstep"
    redis_sentinel_password: str | None = None
    redis_password: str | None = None
    redis_tls: bool = False
    redis_cluster: bool = False
    # Replicas that must hold an event's writes before it is answered (WAIT); None:
    # 1 under Sentinel, 0 otherwise (README "Redis topologies").
    redis_ack_replicas: int | None = None
    # How long a starting process waits for Redis to answer before it gives up.
    redis_wait_s: float = 60.0
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    key_prefix: str = "ds"
    # A brand seeded at start-up so that the sandbox works from a fresh clone.
    demo: bool = True
    demo_api_key: str = "demo-key"
    # The demo brand's console login (demo mode only, for trying it on one machine).
    demo_agent_password: str = "parcelly-agent"  # noqa: S105
    sandbox: bool = True
    workers: int = 4
    # This process runs the background workers (senders, schedulers); `doorstep serve
    # --no-workers` beside `doorstep worker` puts HTTP and sending on different cores.
    run_workers: bool = True
    # The outbox is this many streams (by recipient): sending scales with a cluster.
    outbox_shards: int = 16
    # How long a provider may take to answer one send before it counts as a timeout.
    send_timeout: float = 30.0
    # Above this many messages waiting (or this many seconds of sending lag), new
    # events get 503 with Retry-After: the dispatch system slows down.
    backpressure_depth: int = 20_000
    backpressure_lag_s: float = 30.0
    scheduler_interval: float = 0.2
    outbox_max_attempts: int = 6
    outbox_backoff_base: float = 2.0
    outbox_backoff_cap: float = 300.0
    outbox_reclaim_idle: float = 30.0
    outbox_block_ms: int = 500
    # A send that timed out in flight is retried after this (its status report may come).
    outbox_unknown_wait: float = 30.0
    redis_max_connections: int = 64
    routing_workers: int = 2
    routing_time_limit: float = 1.0
    osrm_url: str | None = None
    retention_days: int = 30
    max_body_bytes: int = 256 * 1024
    nlu_url: str | None = None
    nlu_token: str | None = None
    log_level: str = "info"
    log_json: bool = True
    allow_clock_control: bool = False
    # When set, GET /metrics needs `Authorization: Bearer <this>`.
    metrics_token: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_mode: str = "webhook"
    telegram_api_url: str = "https://api.telegram.org"
    # The tracking page's map tiles ({z}/{x}/{y}); none: a drawn schematic, no outside call.
    tile_url: str | None = None
    tile_attribution: str = ""
    # Networks a brand's webhook may reach besides public addresses (integrations.egress).
    webhook_allow: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: `.env` overlaid by the process environment)."""
        if env is None:
            merged = load_dotenv(Path(".env"))
            merged.update(os.environ)
            env = merged
        port = _int(env, "PORT", 8080)
        host = env.get("HOST", "127.0.0.1")
        has_provider = bool(env.get("TWILIO_ACCOUNT_SID") or env.get("TELEGRAM_BOT_TOKEN"))
        sandbox = _bool(env, "DOORSTEP_SANDBOX", not has_provider)
        settings = cls(
            redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_sentinels=_sentinels(env),
            redis_sentinel_master=env.get("REDIS_SENTINEL_MASTER", "doorstep"),
            redis_sentinel_password=env.get("REDIS_SENTINEL_PASSWORD") or None,
            redis_password=env.get("REDIS_PASSWORD") or None,
            redis_tls=_bool(env, "REDIS_TLS", False),
            redis_cluster=_bool(env, "REDIS_CLUSTER", False),
            redis_wait_s=_float(env, "DOORSTEP_REDIS_WAIT", 60.0),
            redis_ack_replicas=(
                _int(env, "REDIS_ACK_REPLICAS", 0) if env.get("REDIS_ACK_REPLICAS") else None
            ),
            host=host,
            port=port,
            public_base_url=env.get("PUBLIC_BASE_URL", f"http://{host}:{port}").rstrip("/"),
            key_prefix=env.get("DOORSTEP_KEY_PREFIX", "ds"),
            demo=_bool(env, "DOORSTEP_DEMO", sandbox),
            demo_api_key=env.get("DOORSTEP_DEMO_API_KEY", "demo-key"),
            demo_agent_password=env.get("DOORSTEP_DEMO_AGENT_PASSWORD", "parcelly-agent"),
            sandbox=sandbox,
            workers=_int(env, "DOORSTEP_WORKERS", 4),
            run_workers=_bool(env, "DOORSTEP_RUN_WORKERS", True),
            outbox_shards=_int(env, "DOORSTEP_OUTBOX_SHARDS", 16),
            send_timeout=_float(env, "DOORSTEP_SEND_TIMEOUT", 30.0),
            backpressure_depth=_int(env, "DOORSTEP_BACKPRESSURE_DEPTH", 20_000),
            backpressure_lag_s=_float(env, "DOORSTEP_BACKPRESSURE_LAG", 30.0),
            scheduler_interval=_float(env, "DOORSTEP_SCHEDULER_INTERVAL", 0.2),
            outbox_max_attempts=_int(env, "DOORSTEP_OUTBOX_MAX_ATTEMPTS", 6),
            outbox_backoff_base=_float(env, "DOORSTEP_OUTBOX_BACKOFF_BASE", 2.0),
            outbox_backoff_cap=_float(env, "DOORSTEP_OUTBOX_BACKOFF_CAP", 300.0),
            outbox_reclaim_idle=_float(env, "DOORSTEP_OUTBOX_RECLAIM_IDLE", 30.0),
            outbox_block_ms=_int(env, "DOORSTEP_OUTBOX_BLOCK_MS", 500),
            outbox_unknown_wait=_float(env, "DOORSTEP_OUTBOX_UNKNOWN_WAIT", 30.0),
            redis_max_connections=_int(env, "REDIS_MAX_CONNECTIONS", 64),
            routing_workers=_int(env, "DOORSTEP_ROUTING_WORKERS", 2),
            routing_time_limit=_float(env, "DOORSTEP_ROUTING_TIME_LIMIT", 1.0),
            osrm_url=env.get("OSRM_URL") or None,
            retention_days=_int(env, "DOORSTEP_RETENTION_DAYS", 30),
            max_body_bytes=_int(env, "DOORSTEP_MAX_BODY_BYTES", 256 * 1024),
            nlu_url=env.get("RASA_URL") or None,
            nlu_token=env.get("RASA_TOKEN") or None,
            log_level=env.get("LOG_LEVEL", "info").lower(),
            log_json=_bool(env, "LOG_JSON", True),
            allow_clock_control=_bool(env, "DOORSTEP_CLOCK_CONTROL", sandbox),
            metrics_token=env.get("DOORSTEP_METRICS_TOKEN") or None,
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            twilio_from=env.get("TWILIO_FROM") or None,
            twilio_whatsapp_from=env.get("TWILIO_WHATSAPP_FROM") or None,
            twilio_api_url=env.get("TWILIO_API_URL", "https://api.twilio.com").rstrip("/"),
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET") or None,
            # Webhook mode needs a public https URL; without one, poll (local runs).
            telegram_mode=env.get("TELEGRAM_MODE")
            or ("webhook" if env.get("PUBLIC_BASE_URL", "").startswith("https://") else "polling"),
            telegram_api_url=env.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/"),
            tile_url=env.get("DOORSTEP_TILE_URL") or None,
            tile_attribution=env.get("DOORSTEP_TILE_ATTRIBUTION", ""),
            webhook_allow=env.get("DOORSTEP_WEBHOOK_ALLOW", ""),
        )
        tiles = settings.tile_url
        if tiles is not None and not (
            tiles.startswith(("https://", "http://"))
            and all(p in tiles for p in ("{z}", "{x}", "{y}"))
        ):
            raise ConfigError(
                "DOORSTEP_TILE_URL must be an http(s) URL with {z}, {x} and {y}, e.g. "
                "https://tile.example.com/{z}/{x}/{y}.png"
            )
        if settings.workers < 1:
            raise ConfigError("DOORSTEP_WORKERS must be at least 1")
        if settings.twilio_account_sid and not (
            settings.twilio_auth_token
            and (settings.twilio_messaging_service_sid or settings.twilio_from)
        ):
            raise ConfigError(
                "Twilio needs TWILIO_AUTH_TOKEN and TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM"
            )
        if settings.telegram_mode not in ("webhook", "polling"):
            raise ConfigError("TELEGRAM_MODE must be webhook or polling")
        if (
            settings.telegram_bot_token
            and settings.telegram_mode == "webhook"
            and not settings.telegram_webhook_secret
        ):
            raise ConfigError("Telegram webhook mode needs TELEGRAM_WEBHOOK_SECRET")
        if not 1 <= settings.outbox_shards <= 1024:
            raise ConfigError("DOORSTEP_OUTBOX_SHARDS must be 1..1024")
        if settings.outbox_max_attempts < 1:
            raise ConfigError("DOORSTEP_OUTBOX_MAX_ATTEMPTS must be at least 1")
        return settings

    @property
    def redis(self) -> RedisConfig:
        """Where Redis is, for `bot.base.redisconn.connect`."""
        return RedisConfig(
            url=self.redis_url,
            sentinels=self.redis_sentinels,
            sentinel_master=self.redis_sentinel_master,
            sentinel_password=self.redis_sentinel_password,
            password=self.redis_password,
            tls=self.redis_tls,
            cluster=self.redis_cluster,
            max_connections=self.redis_max_connections,
            ack_replicas=self.redis_ack_replicas,
        )

    @property
    def keys(self) -> Keys:
        return Keys(self.key_prefix, self.outbox_shards)
