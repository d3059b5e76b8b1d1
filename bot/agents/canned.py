"""Canned responses: a brand's ready answers, typed with `/shortcut` in the console.

Each is a template per locale over the same variables as the brand's messages
(`{{ name }}`, `{{ window | window }}`, `{{ order_id }}`...) plus what an agent
needs (`{{ agent }}`, `{{ address }}`, `{{ eta | time }}`, `{{ driver }}`). They are
checked on save by the brand templates' own rules (parse, known variables, a sandboxed
render in every locale the brand has, a length cap) and rendered by the same
sandboxed renderer in the customer's language and zone; the agent then reads,
edits if needed, and sends the text like any reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.base.brands import BrandSettings
from bot.base.keys import Keys
from bot.base.store import DeliveryRecord, RouteRecord
from bot.messaging.brand_templates import BrandTemplates, TemplateRejected
from bot.messaging.render import Renderer

# The message type canned responses are checked as (its variables in brand_templates).
CANNED_TYPE = "canned_response"
MAX_PER_BRAND = 200


class CannedResponse(BaseModel):
    """One canned response: `/shortcut`, a title, and its text per locale."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shortcut: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    title: str = Field(min_length=1, max_length=80)
    texts: dict[str, str] = Field(min_length=1, max_length=10)


class CannedRejected(ValueError):
    """Why a canned response was not saved: a list of {field, message}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


def canned_context(
    base: Mapping[str, Any],
    delivery: DeliveryRecord,
    route: RouteRecord | None,
    agent_name: str,
) -> dict[str, Any]:
    """A message's own variables (`base`, from the notifier) and the agent's extras."""
    window = delivery.eta_window or delivery.promised_window
    return {
        **base,
        "agent": agent_name.split()[0],
        "address": delivery.address.line1,
        "status": delivery.status,
        "safe_place": delivery.safe_place,
        "driver": route.driver_name.split()[0] if route else "",
        # Before dispatch there is no ETA: the start of the window stands in.
        "eta": delivery.eta or window.start,
    }


@dataclass
class CannedResponses:
    redis: Redis
    keys: Keys
    renderer: Renderer
    templates: BrandTemplates

    async def all(self, brand_id: str) -> list[CannedResponse]:
        raw = await self.redis.hvals(self.keys.canned(brand_id))
        found = [CannedResponse.model_validate_json(r) for r in raw]
        return sorted(found, key=lambda c: c.shortcut)

    async def get(self, brand_id: str, shortcut: str) -> CannedResponse | None:
        raw = await self.redis.hget(self.keys.canned(brand_id), shortcut)
        return None if raw is None else CannedResponse.model_validate_json(raw)

    async def problems(self, brand: BrandSettings, canned: CannedResponse) -> list[dict[str, str]]:
        """What stops `canned` going live for this brand (empty: nothing); each text is
        checked in the brand templates' checking processes."""
        problems = []
        if brand.default_locale not in canned.texts:
            problems.append(
                {
                    "field": "texts",
                    "message": f"a text in the brand's default language "
                    f"({brand.default_locale}) is needed: it is used when the "
                    "customer's language has none",
                }
            )
        for locale, source in canned.texts.items():
            field = f"texts.{locale}"
            if locale not in brand.locales:
                message = f"{locale!r} is not one of the brand's locales"
                problems.append({"field": field, "message": message})
                continue
            try:
                await self.templates.off_loop(brand, CANNED_TYPE, source)
            except TemplateRejected as exc:
                problems += [{"field": field, "message": p["message"]} for p in exc.problems]
        return problems

    async def render_off_loop(
        self, brand: BrandSettings, canned: CannedResponse, locale: str, context: Mapping[str, Any]
    ) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.renderer.pool, self.render, brand, canned, locale, context
        )

    async def save(self, brand: BrandSettings, canned: CannedResponse) -> None:
        problems = await self.problems(brand, canned)
        key = self.keys.canned(brand.brand_id)
        new = not problems and not await self.redis.hexists(key, canned.shortcut)
        if new and await self.redis.hlen(key) >= MAX_PER_BRAND:
            message = f"a brand has at most {MAX_PER_BRAND} canned responses"
            problems.append({"field": "shortcut", "message": message})
        if problems:
            raise CannedRejected(problems)
        await self.redis.hset(key, canned.shortcut, canned.model_dump_json())

    async def delete(self, brand_id: str, shortcut: str) -> bool:
        return bool(await self.redis.hdel(self.keys.canned(brand_id), shortcut))

    def render(
        self,
        brand: BrandSettings,
        canned: CannedResponse,
        locale: str,
        context: Mapping[str, Any],
    ) -> str:
        """The text in the customer's locale (or its language, or the brand's default).

        Raises whatever the sandbox raises on data no sample had (the caller says so)."""
        language = locale.split("_")[0]
        for candidate in (locale, language):
            if candidate in canned.texts:
                return self.renderer.render_source(canned.texts[candidate], locale, context)
        # Words in another language are formatted in it too ("Tuesday", not "martes").
        fallback = brand.default_locale if brand.default_locale in canned.texts else None
        fallback = fallback or next(iter(canned.texts))
        return self.renderer.render_source(canned.texts[fallback], fallback, context)
