"""Telegram through python-telegram-bot: webhook (secret-token header checked) or polling.

Outbound: text with `send_message`, a photo with `send_photo` (the text as caption),
offered choices as inline keyboard buttons whose presses come back as the number
typed ("2"), so the conversation engine reads a button like a typed pick; a link the
message carries (the tracking page) as a URL button, which opens the browser.
Inbound: messages, photos (fetched and kept, as Telegram file links need the bot
token), and button presses. `/start <token>` from a deep link arrives as text; the
service links the chat to the delivery.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from aiohttp import web

# Opt in to python-telegram-bot's next-major behaviour (durations as timedelta), which
# also silences its deprecation warning on every rate-limit error.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    TelegramError,
    TimedOut,
)
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.request import HTTPXRequest

from integrations.base import (
    ChannelSendError,
    InboundMessage,
    InboundSink,
    OutboundMessage,
    RetryAfter,
    SendResult,
    StatusSink,
)
from integrations.media import MediaStore
from integrations.wire import BodyError, header, read_object

CAPTION_LIMIT = 1024
log = structlog.get_logger("telegram")


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str
    public_base_url: str
    webhook_secret: str | None = None
    mode: Literal["webhook", "polling"] = "webhook"
    api_url: str = "https://api.telegram.org"
    poll_timeout_s: int = 20
    timeout_s: float = 10.0  # per Bot API call (sending; polling adds its long-poll time)


class TelegramChannel:
    def __init__(self, config: TelegramConfig, media: MediaStore | None = None) -> None:
        if config.mode == "webhook" and not config.webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required in webhook mode")
        self._config = config
        self._media = media
        self.bot = Bot(
            config.token,
            base_url=f"{config.api_url}/bot",
            base_file_url=f"{config.api_url}/file/bot",
            request=HTTPXRequest(
                connect_timeout=config.timeout_s,
                read_timeout=config.timeout_s,
                write_timeout=config.timeout_s,
                pool_timeout=config.timeout_s,
            ),
            get_updates_request=HTTPXRequest(read_timeout=config.poll_timeout_s + 10),
        )
        self.username = ""
        self._inbound: InboundSink | None = None

    @property
    def name(self) -> str:
        return "telegram"

    webhook_path = "/webhooks/telegram"

    async def start(self) -> None:
        await self.bot.initialize()
        self.username = self.bot.username
        if self._config.mode == "webhook":
            await self.bot.set_webhook(
                f"{self._config.public_base_url}{self.webhook_path}",
                secret_token=self._config.webhook_secret,
                allowed_updates=["message", "callback_query"],
            )
        else:
            await self.bot.delete_webhook()

    @property
    def polling(self) -> bool:
        """In polling mode the service runs `poll` in a loop (in one replica at a time)."""
        return self._config.mode == "polling"

    async def stop(self) -> None:
        await self.bot.shutdown()

    # --- outbound -----------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        rows = [
            [InlineKeyboardButton(label, callback_data=f"choice:{i + 1}")]
            for i, label in enumerate(message.choices)
        ]
        if message.link is not None:  # opens the page in the browser; not a reply
            rows.append([InlineKeyboardButton(message.link[0], url=message.link[1])])
        markup = InlineKeyboardMarkup(rows) if rows else None
        try:
            if message.media_urls and len(message.text) <= CAPTION_LIMIT:
                sent = await self.bot.send_photo(
                    message.to, message.media_urls[0], caption=message.text, reply_markup=markup
                )
            else:
                sent = await self.bot.send_message(message.to, message.text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            with warnings.catch_warnings():  # int today, timedelta in PTB's next major
                warnings.simplefilter("ignore")
                wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise RetryAfter(seconds) from exc
        except (Forbidden, BadRequest) as exc:  # blocked by the user, chat gone, bad request
            raise ChannelSendError(f"telegram: {exc.message}", retryable=False) from exc
        except (TimedOut, NetworkError) as exc:
            raise ChannelSendError(f"telegram unreachable: {exc.message}", retryable=True) from exc
        except TelegramError as exc:
            raise ChannelSendError(f"telegram: {exc.message}", retryable=True) from exc
        return SendResult(provider_id=f"{sent.chat_id}:{sent.message_id}")

    # --- inbound ------------------------------------------------------------------

    async def _photos(self, message: Message) -> tuple[str, ...]:
        if not message.photo or self._media is None:
            return ()
        biggest = message.photo[-1]
        file = await biggest.get_file()
        data = await file.download_as_bytearray()
        return (await self._media.keep(bytes(data), "image/jpeg"),)

    async def handle(self, update: Update) -> None:
        """One update from Telegram (webhook or polling); ignores what is not for us."""
        assert self._inbound is not None
        provider_id = f"u{update.update_id}"
        if update.callback_query is not None:
            query = update.callback_query
            with contextlib.suppress(TelegramError):
                await query.answer()
            data = query.data or ""
            if data.startswith("choice:") and query.message is not None:
                await self._inbound(
                    InboundMessage(
                        channel=self.name,
                        sender=str(query.message.chat.id),
                        text=data.removeprefix("choice:"),
                        provider_id=provider_id,
                        received_at=datetime.now(UTC),
                    )
                )
            return
        message = update.message
        if message is None or message.chat.type != "private":
            return
        media = await self._photos(message)
        text = message.text or message.caption or ""
        if not text and not media:
            return
        await self._inbound(
            InboundMessage(
                channel=self.name,
                sender=str(message.chat.id),
                text=text,
                provider_id=provider_id,
                received_at=datetime.now(UTC),
                media_urls=media,
            )
        )

    async def poll(self, offset: int | None) -> int | None:
        """One long poll of getUpdates (no public URL); each update is handled, then
        acknowledged by the next call's `offset`. An update already handled by a replica
        that held the poll before is dropped as a duplicate by the service."""
        updates = await self.bot.get_updates(
            offset=offset,
            timeout=self._config.poll_timeout_s,
            allowed_updates=["message", "callback_query"],
        )
        for update in updates:
            offset = update.update_id + 1
            try:
                await self.handle(update)
            except Exception:  # one bad update must not stop the poller
                log.exception("telegram.update_failed", update_id=update.update_id)
        return offset

    @property
    def poll_timeout_s(self) -> int:
        return self._config.poll_timeout_s

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        self._inbound = inbound

        async def webhook(request: web.Request) -> web.Response:
            secret = header(request, "X-Telegram-Bot-Api-Secret-Token") or ""
            expected = self._config.webhook_secret or ""
            if not expected or not hmac.compare_digest(secret, expected):
                raise web.HTTPForbidden(text="invalid secret token")
            body = await read_object(request)
            try:
                update = Update.de_json(body, self.bot)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise BodyError("invalid_update", f"not a Telegram update: {exc}") from None
            if update is None:
                raise web.HTTPBadRequest(text="not a Telegram update")
            await self.handle(update)
            return web.Response(status=204)

        return [web.post(self.webhook_path, webhook)]
