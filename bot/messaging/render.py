"""Turn a message type and its context into text, in the recipient's language and zone.

Templates run in Jinja2's sandbox with StrictUndefined, so a template can neither
reach Python internals nor silently print nothing for a misspelt variable, and under
a budget (`bot.messaging.sandbox`), so it cannot spend more than a few milliseconds
or build a huge string. A brand's template that fails when a message is sent (a limit,
data no sample had) is logged and the default template is sent instead. Words
are translated through Babel message catalogs (`templates/locale/*/messages.po`,
compiled in memory at start-up); dates, times and durations are formatted by
Babel's CLDR data for the locale, in the recipient's time zone.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_interval, format_skeleton, format_time, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
)
from jinja2.runtime import Context

from bot.base.logs import log
from bot.base.values import Window
from bot.messaging.sandbox import BoundedEnvironment, LimitExceeded, Limits, render_bounded

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SHIPPED_LOCALES = ("en", "es", "fr")
# A message's render (on the event loop, in the sending path): a saved template was
# held to CHECK_LIMITS on the sample delivery, so real data rarely comes near this.
SEND_LIMITS = Limits(cpu_s=0.02, operations=20_000)
# A source that broke a limit is not tried again for this long (per process): a
# template that is costly on real data costs one render, not one per message.
FAILED_FOR_S = 600.0


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    media_urls: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()


class RenderError(Exception):
    """A template failed to load or render; the message says which and why."""


def load_translations(locale_dir: Path, locale: str) -> NullTranslations:
    """Compile `locale_dir/<lang>/LC_MESSAGES/messages.po` in memory (no .mo build step)."""
    for candidate in (locale, locale.split("_")[0]):
        po = locale_dir / candidate / "LC_MESSAGES" / "messages.po"
        if po.is_file():
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=candidate)
            buf = io.BytesIO()
            write_mo(buf, catalog, use_fuzzy=False)
            buf.seek(0)
            return Translations(fp=buf)
    return NullTranslations()


def _tz(ctx: Context) -> ZoneInfo:
    return ZoneInfo(str(ctx["tz"]))


class _Formatters:
    """Babel formatting bound to one locale; filters read `tz` and `now` from the context."""

    def __init__(self, locale: str, translations: NullTranslations) -> None:
        self.locale = Locale.parse(locale)
        self._t = translations
        self._skeleton = "hm" if "h" in self.locale.time_formats["short"].pattern else "Hm"

    def time(self, ctx: Context, value: datetime) -> str:
        return str(format_time(value, "short", tzinfo=_tz(ctx), locale=self.locale))

    def window(self, ctx: Context, value: Window) -> str:
        return str(
            format_interval(
                value.start, value.end, self._skeleton, tzinfo=_tz(ctx), locale=self.locale
            )
        )

    def day(self, ctx: Context, value: datetime | Window) -> str:
        """'today', 'tomorrow' or a short localised date, relative to the context's `now`."""
        moment = value.start if isinstance(value, Window) else value
        tz = _tz(ctx)
        local = moment.astimezone(tz).date()
        today = ctx["now"].astimezone(tz).date()
        if local == today:
            return self._t.gettext("today")
        if local == today + timedelta(days=1):
            return self._t.gettext("tomorrow")
        return str(format_skeleton("MMMEd", moment, tzinfo=tz, locale=self.locale))

    def duration(self, value: timedelta | int | float) -> str:
        """A rounded duration ('10 minutes'); numbers are seconds."""
        delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
        return str(format_timedelta(delta, threshold=2, locale=self.locale))


def _tidy(text: str) -> str:
    """Template lines become one paragraph: a text message is read as one run of sentences.

    Authors lay templates out one sentence per line with block tags on their own
    lines; joining the non-empty lines with single spaces gives the compact text that
    SMS pricing (per segment) rewards.
    """
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return " ".join(line for line in lines if line)


class Renderer:
    """Renders message templates; one sandboxed environment per locale, built on first use.

    `extra_loader` (brand overrides, looked up first) is optional so that the default
    templates work on their own.
    """

    def __init__(
        self,
        templates_dir: Path = DEFAULT_TEMPLATES,
        extra_loader: BaseLoader | None = None,
    ) -> None:
        self._dir = templates_dir
        self._extra = extra_loader
        self._envs: dict[str, BoundedEnvironment] = {}
        self._compiled: dict[tuple[str, str], Template] = {}
        self._failed: dict[tuple[str, str], float] = {}
        # Where saves and previews render a brand's new template (off the event loop;
        # the sandbox's CPU budget, on the thread's own clock, stops a costly one).
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="template")

    def environment(self, locale: str) -> BoundedEnvironment:
        env = self._envs.get(locale)
        if env is None:
            env = self._build(locale)
            self._envs[locale] = env
        return env

    def _build(self, locale: str) -> BoundedEnvironment:
        loaders: list[BaseLoader] = [FileSystemLoader(self._dir / "default")]
        if self._extra is not None:
            loaders.insert(0, self._extra)
        env = BoundedEnvironment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        translations = load_translations(self._dir / "locale", locale)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        fmt = _Formatters(locale, translations)
        # pass_context marks a function object, so wrap the bound methods first.
        filters: Mapping[str, Callable[..., str]] = {
            "time": pass_context(lambda ctx, v: fmt.time(ctx, v)),
            "window": pass_context(lambda ctx, v: fmt.window(ctx, v)),
            "day": pass_context(lambda ctx, v: fmt.day(ctx, v)),
            "duration": fmt.duration,
        }
        env.filters.update(filters)
        return env

    def template_names(self, message_type: str, channel: str) -> list[str]:
        """Lookup order inside one locale: channel-specific first, then the generic one."""
        return [f"{message_type}.{channel}.j2", f"{message_type}.j2"]

    def compiled(self, source: str, locale: str) -> Template:
        """A brand's template source compiled in the locale's sandbox (cached by source)."""
        key = (locale, source)
        template = self._compiled.get(key)
        if template is None:
            if len(self._compiled) > 2000:
                self._compiled.clear()
            template = self.environment(locale).from_string(source)
            self._compiled[key] = template
        return template

    def render_source(
        self,
        source: str,
        locale: str,
        context: Mapping[str, Any],
        limits: Limits = SEND_LIMITS,
    ) -> str:
        """A brand's source rendered under `limits` (LimitExceeded past one, and at once
        for FAILED_FOR_S after that)."""
        key = (locale, source)
        sending = limits is SEND_LIMITS  # checks and previews always render afresh
        failed = self._failed.get(key) if sending else None
        if failed is not None and failed > time.monotonic():
            raise LimitExceeded("broke a limit on an earlier message; not tried again yet")
        try:
            text, _ = render_bounded(self.compiled(source, locale), dict(context), limits)
        except LimitExceeded:
            if not sending:
                raise
            if len(self._failed) > 1000:
                self._failed.clear()
            self._failed[key] = time.monotonic() + FAILED_FOR_S
            raise
        return _tidy(text)

    @staticmethod
    def override(
        overrides: Mapping[str, str], message_type: str, channel: str, locale: str, fallback: str
    ) -> str | None:
        """The brand's source for this message: recipient's locale, then the brand's default."""
        for loc in dict.fromkeys((locale, fallback)):
            for ch in (channel, "*"):
                source = overrides.get(f"{message_type}|{ch}|{loc}")
                if source:
                    return source
        return None

    def render(
        self,
        message_type: str,
        channel: str,
        locale: str,
        context: Mapping[str, Any],
        media_urls: tuple[str, ...] = (),
        choices: tuple[str, ...] = (),
        overrides: Mapping[str, str] | None = None,
        fallback_locale: str = "en",
    ) -> Rendered:
        env = self.environment(locale)
        source = (
            self.override(overrides, message_type, channel, locale, fallback_locale)
            if overrides
            else None
        )
        if source:
            try:
                text = self.render_source(source, locale, context)
                return Rendered(text=text, media_urls=media_urls, choices=choices)
            except Exception as exc:  # a limit, or data no sample had: the default goes
                log.warning(
                    "render.brand_template_failed",
                    type=message_type,
                    channel=channel,
                    locale=locale,
                    error=f"{type(exc).__name__}: {exc}",
                )
        try:
            template = env.select_template(self.template_names(message_type, channel))
        except TemplateNotFound as exc:
            raise RenderError(f"no template for message type {message_type!r}") from exc
        try:
            text, _ = render_bounded(template, dict(context), SEND_LIMITS)
        except Exception as exc:  # a template error must name the template, not crash a worker
            raise RenderError(f"{template.name or message_type}: {exc}") from exc
        return Rendered(text=_tidy(text), media_urls=media_urls, choices=choices)
