"""Brands' own message templates: validated before they go live, versioned, rolled back.

An override is kept per message type, channel ("*" for every channel) and locale.
The renderer looks for the brand's override in the recipient's locale, then in the
brand's default locale, then uses Doorstep's default template in the recipient's
locale (translated by the Babel catalogs), whose untranslated form is English.

A template is saved only if it parses (errors with line numbers), uses only the
variables that message type has, renders in Jinja2's sandbox for a sample delivery
in every locale the brand has turned on, and is not absurdly long; otherwise the
previous one stays live. Every save is a version; any version can be made live again.

The check renders under `CHECK_LIMITS` in a checking process (`CheckPool`), never on
the event loop: a costly template is stopped there and refused with the limit it broke.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from redis.asyncio import Redis

from bot.base.brands import BrandSettings
from bot.base.children import close_pool, die_with_parent
from bot.base.keys import Keys
from bot.base.values import Window
from bot.messaging.render import Renderer
from bot.messaging.sandbox import LimitExceeded, Limits

MAX_SOURCE = 4000
MAX_OUTPUT = 1600  # ten SMS parts: more is a mistake, not a message
VERSIONS_KEPT = 50
# A sample render on save or preview: a few thousand operations is already a very
# elaborate message; a message's own render (SEND_LIMITS) allows more.
CHECK_LIMITS = Limits(cpu_s=0.05, operations=5_000, iterations=1_000)

# What every message can use, and what each message type adds (the notices' contexts).
BASE_VARIABLES = frozenset(
    {
        "brand",
        "name",
        "order_id",
        "tz",
        "now",
        "window",
        "help_text",
        "telegram_link",
        "tracking_url",
    }
)
MESSAGE_VARIABLES: dict[str, frozenset[str]] = {
    "delivery_scheduled": frozenset(),
    "out_for_delivery": frozenset(),
    "eta_changed": frozenset({"old_window"}),
    "driver_nearby": frozenset({"stops_away", "driver", "minutes"}),
    "delivered": frozenset({"delivered_at", "safe_place", "has_photo"}),
    "delivery_failed": frozenset({"reason"}),
    "rating_request": frozenset(),
    "reply_received": frozenset({"wait"}),
    "optout_confirmed": frozenset(),
    "optin_confirmed": frozenset(),
    "help": frozenset(),
    "telegram_linked": frozenset(),
    "eta_answer": frozenset({"status", "delivered_at", "safe_place"}),
    # "place" / "has_code": what else the customer's message asked for, done too.
    "reschedule_confirmed": frozenset({"place", "has_code"}),
    "window_offers": frozenset({"offers", "reason", "purpose", "item", "place", "has_code"}),
    "safe_place_saved": frozenset({"place", "address", "has_code"}),
    "instructions_saved": frozenset({"has_code"}),
    "return_confirmed": frozenset({"item"}),
    "pick_item": frozenset({"items"}),
    "confirm_address": frozenset({"address"}),
    "ask_photo": frozenset({"kind"}),
    "case_opened": frozenset({"kind", "has_photo"}),
    "remember_place_again": frozenset({"place"}),
    "no_windows": frozenset({"purpose"}),
    "choice": frozenset({"choice", "key"}),
    # The agent desk: the CSAT question and its thanks; canned responses (no default
    # template: each brand writes its own, checked like any template).
    "csat_request": frozenset({"agent"}),
    "csat_thanks": frozenset({"score"}),
    "canned_response": frozenset({"agent", "address", "status", "safe_place", "driver", "eta"}),
}
for _simple in (
    "not_understood", "ask_other_time", "place_remembered", "remember_place_declined",
    "ask_place", "ask_neighbour", "not_home_options", "confirm_cancel",
    "confirm_cancel_declined", "confirm_address_declined", "greet_reply", "thank_reply",
    "ok_reply", "help_short", "rating_thanks", "rating_sorry", "tracking_button",
):  # fmt: skip
    MESSAGE_VARIABLES[_simple] = frozenset()


class TemplateRejected(ValueError):
    """Why a template cannot go live: a list of {field, message}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


def override_key(message_type: str, channel: str, locale: str) -> str:
    return f"{message_type}|{channel}|{locale}"


def sample_context(brand: BrandSettings, locale: str) -> dict[str, Any]:
    """Every variable any message can use, for a made-up delivery (validation, preview)."""
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    window = Window(start=now + timedelta(hours=2), end=now + timedelta(hours=4))
    return {
        "brand": brand.display_name,
        "name": "Alex",
        "order_id": "ORD-1042",
        "tz": brand.timezone,
        "now": now,
        "window": window,
        "old_window": Window(start=now + timedelta(hours=1), end=now + timedelta(hours=3)),
        "help_text": brand.help_text,
        "telegram_link": None,
        "tracking_url": "https://doorstep.example.com/t/k3vq7mzt2hxw5pda",
        "stops_away": 2,
        "driver": "Sam",
        "minutes": timedelta(minutes=8),
        "delivered_at": now,
        "safe_place": "behind the side gate",
        "has_photo": True,
        "reason": "not_home",
        "wait": timedelta(minutes=brand.escalation_limit_min),
        "status": "dispatched",
        "offers": [window],
        "purpose": "reschedule",
        "item": "Oak side table",
        "items": ["Oak side table", "Desk lamp"],
        "place": "behind the side gate",
        "address": "55 King St",
        "has_code": True,
        "kind": "damaged",
        "choice": window,
        "key": "",
        "agent": "Dana",
        "eta": now + timedelta(hours=2, minutes=30),
        "score": 5,
    }


def whatsapp_problems(renderer: Renderer, brand: BrandSettings) -> list[dict[str, str]]:
    """What is wrong with the brand's WhatsApp templates: each variable's expression
    is held to the same rules as a template of that message type (it parses, uses
    only that message's variables, renders in every locale)."""
    problems = []
    for message_type, template in brand.whatsapp_templates.items():
        where = f"whatsapp_templates.{message_type}"
        if message_type not in MESSAGE_VARIABLES:
            unknown = f"unknown message type {message_type!r}"
            problems.append({"field": where, "message": unknown})
            continue
        for number, source in template.variables.items():
            try:
                check_source(renderer, brand, message_type, source)
            except TemplateRejected as exc:
                field = f"{where}.variables.{number}"
                problems += [{"field": field, "message": p["message"]} for p in exc.problems]
    return problems


def check_source(renderer: Renderer, brand: BrandSettings, message_type: str, source: str) -> None:
    """Raise `TemplateRejected` unless `source` is fit to go live for this brand."""
    if message_type not in MESSAGE_VARIABLES:
        raise TemplateRejected(
            [{"field": "type", "message": f"unknown message type {message_type!r}"}]
        )
    if len(source) > MAX_SOURCE:
        raise TemplateRejected(
            [{"field": "source", "message": f"longer than {MAX_SOURCE} characters"}]
        )
    env = renderer.environment(brand.default_locale)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(
            [{"field": "source", "message": f"line {exc.lineno}: {exc.message}"}]
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a 5,000-digit constant...
        raise TemplateRejected(
            [{"field": "source", "message": f"cannot be read: {type(exc).__name__}: {exc}"}]
        ) from None
    allowed = BASE_VARIABLES | MESSAGE_VARIABLES[message_type]
    # gettext helpers come from the i18n extension; loop and set variables are local.
    unknown = sorted(meta.find_undeclared_variables(ast) - allowed - {"_", "gettext", "ngettext"})
    if unknown:
        raise TemplateRejected(
            [
                {
                    "field": "source",
                    "message": f"unknown variable {name!r} (this message has: "
                    f"{', '.join(sorted(allowed))})",
                }
                for name in unknown
            ]
        )
    problems = []
    for locale in brand.locales:
        try:
            text = renderer.render_source(
                source, locale, sample_context(brand, locale), CHECK_LIMITS
            )
        except LimitExceeded as exc:
            problems.append({"field": "source", "message": f"{locale}: too costly: {exc}"})
            break  # one locale's verdict is enough, and the others would cost as much
        except Exception as exc:  # the sandbox's SecurityError, OverflowError, ...
            problems.append(
                {"field": "source", "message": f"{locale}: {type(exc).__name__}: {exc}"}
            )
            continue
        if len(text) > MAX_OUTPUT:
            problems.append(
                {
                    "field": "source",
                    "message": f"{locale}: renders {len(text)} characters (at most {MAX_OUTPUT})",
                }
            )
        if not text.strip():
            problems.append({"field": "source", "message": f"{locale}: renders an empty message"})
    if problems:
        raise TemplateRejected(problems)


_WORKER_RENDERER: list[Renderer] = []


def _in_worker(
    kind: str, brand: BrandSettings, message_type: str, source: str, locale: str
) -> tuple[list[dict[str, str]], str | None]:
    """A check (or preview) in a checking process: (problems, preview text)."""
    if not _WORKER_RENDERER:
        _WORKER_RENDERER.append(Renderer())
    renderer = _WORKER_RENDERER[0]
    if kind == "whatsapp":
        return whatsapp_problems(renderer, brand), None
    try:
        check_source(renderer, brand, message_type, source)
    except TemplateRejected as exc:
        return exc.problems, None
    if kind != "preview":
        return [], None
    context = sample_context(brand, locale)
    return [], renderer.render_source(source, locale, context, CHECK_LIMITS)


class CheckPool:
    """Processes that check brands' new templates, not sharing even the GIL with the
    event loop (measured: a render at its budget in a thread slowed the loop's every
    wake-up). A dead or stuck worker is killed and replaced."""

    def __init__(self, workers: int = 2, timeout_s: float = 60.0) -> None:
        self._workers = workers
        self._timeout = timeout_s
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            # Niced: on a busy machine the service's loop gets the CPU first.
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=context, initializer=die_with_parent, initargs=(10,)
            )
        return self._pool

    async def run(
        self, kind: str, brand: BrandSettings, message_type: str = "", source: str = "",
        locale: str = "",
    ) -> tuple[list[dict[str, str]], str | None]:  # fmt: skip
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self._executor(), _in_worker, kind, brand, message_type, source, locale
        )
        try:
            return await asyncio.wait_for(job, self._timeout)
        except (BrokenProcessPool, TimeoutError):
            pool, self._pool = self._pool, None
            await asyncio.to_thread(close_pool, pool, True)
            return [{"field": "source", "message": "the check did not finish"}], None

    async def close(self) -> None:
        """Stop the checking processes (each service stop; a test run starts hundreds)."""
        pool, self._pool = self._pool, None
        await asyncio.to_thread(close_pool, pool, True)


# Append a version numbered one past the last and make it live, in one step: two admins
# saving the same slot at the same moment get two numbers, never the same one.
_SAVE = """
local n = redis.call('LLEN', KEYS[1]) + 1
local record = cjson.decode(ARGV[1])
record['version'] = n
redis.call('RPUSH', KEYS[1], cjson.encode(record))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return n
"""


@dataclass
class BrandTemplates:
    redis: Redis
    keys: Keys
    renderer: Renderer

    checks: CheckPool = field(default_factory=CheckPool)

    def __post_init__(self) -> None:
        self._save = self.redis.register_script(_SAVE)

    def _hash(self, brand_id: str) -> str:
        return self.keys.brand(brand_id)

    def _versions(self, brand_id: str, key: str) -> str:
        return f"{self.keys.brand(brand_id)}:tplv:{key}"

    async def off_loop(self, brand: BrandSettings, message_type: str, source: str) -> None:
        """`check_source` in a checking process: TemplateRejected with the reasons."""
        problems, _ = await self.checks.run("check", brand, message_type, source)
        if problems:
            raise TemplateRejected(problems)

    async def check_whatsapp_off_loop(self, brand: BrandSettings) -> list[dict[str, str]]:
        problems, _ = await self.checks.run("whatsapp", brand)
        return problems

    async def preview(
        self, brand: BrandSettings, message_type: str, locale: str, source: str
    ) -> str:
        """The checked template's text for the sample delivery (in a checking process)."""
        problems, text = await self.checks.run("preview", brand, message_type, source, locale)
        if problems or text is None:
            raise TemplateRejected(problems)
        return text

    async def save(
        self,
        brand: BrandSettings,
        message_type: str,
        channel: str,
        locale: str,
        source: str,
        by: str,
    ) -> int:
        """Validate, then make live as a new version; the version number."""
        if locale not in brand.locales:
            raise TemplateRejected(
                [{"field": "locale", "message": f"{locale!r} is not one of the brand's locales"}]
            )
        await self.off_loop(brand, message_type, source)
        key = override_key(message_type, channel, locale)
        record = {"source": source, "by": by, "at": datetime.now(UTC).isoformat()}
        version = await self._save(
            keys=[self._versions(brand.brand_id, key), self._hash(brand.brand_id)],
            args=[json.dumps(record), f"tpl:{key}", source],
        )
        return int(version)

    async def versions(
        self, brand_id: str, message_type: str, channel: str, locale: str
    ) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(
            self._versions(brand_id, override_key(message_type, channel, locale)), 0, -1
        )
        return [json.loads(r) for r in raw]

    async def rollback(
        self,
        brand: BrandSettings,
        message_type: str,
        channel: str,
        locale: str,
        version: int,
        by: str,
    ) -> int:
        """Make an earlier version live again (as a new version, so history only grows)."""
        found = [
            v
            for v in await self.versions(brand.brand_id, message_type, channel, locale)
            if v["version"] == version
        ]
        if not found:
            raise TemplateRejected([{"field": "version", "message": f"no version {version}"}])
        return await self.save(brand, message_type, channel, locale, found[0]["source"], by)

    async def reset(self, brand_id: str, message_type: str, channel: str, locale: str) -> None:
        """Back to Doorstep's default template (the versions are kept)."""
        await self.redis.hdel(
            self._hash(brand_id), f"tpl:{override_key(message_type, channel, locale)}"
        )
