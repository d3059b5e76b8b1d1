"""Which channels run: one registration line per channel, chosen by configuration."""

from __future__ import annotations

from datetime import timedelta

from redis.asyncio import Redis

from bot.base.brands import BrandStore
from bot.base.keys import Keys
from bot.base.redisconn import connect
from bot.config import Settings
from integrations.base import ChannelRegistry
from integrations.media import MediaStore
from integrations.sandbox import SandboxChannel
from integrations.telegram_channel import TelegramChannel, TelegramConfig
from integrations.twilio_channel import TwilioChannel, TwilioConfig
from integrations.webhook import WebhookChannel


def twilio_config(settings: Settings, from_number: str | None) -> TwilioConfig:
    assert settings.twilio_account_sid and settings.twilio_auth_token
    return TwilioConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        public_base_url=settings.public_base_url,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        from_number=from_number,
        api_url=settings.twilio_api_url,
        timeout_s=settings.send_timeout,  # DOORSTEP_SEND_TIMEOUT, as documented
    )


def build_channels(settings: Settings, redis: Redis, keys: Keys) -> ChannelRegistry:
    registry = ChannelRegistry()
    brands = BrandStore(redis, keys)
    ttl = int(timedelta(days=settings.retention_days).total_seconds())
    # Photos are bytes: a client of their own that does not decode.
    media_redis = connect(settings.redis, decode=False, max_connections=16)
    media = MediaStore(media_redis, f"{keys.prefix}:media", settings.public_base_url, ttl)
    registry.media = media
    registry.register(WebhookChannel(brands.signing_secret))
    if settings.sandbox:
        registry.register(SandboxChannel(redis, keys.sandbox()))
    if settings.twilio_account_sid:
        sms = twilio_config(settings, settings.twilio_from)
        registry.register(TwilioChannel("sms", sms, media))
        if settings.twilio_whatsapp_from:
            whatsapp = twilio_config(settings, settings.twilio_whatsapp_from)
            registry.register(TwilioChannel("whatsapp", whatsapp, media))
    if settings.telegram_bot_token:
        telegram = TelegramConfig(
            token=settings.telegram_bot_token,
            public_base_url=settings.public_base_url,
            webhook_secret=settings.telegram_webhook_secret,
            mode="polling" if settings.telegram_mode == "polling" else "webhook",
            api_url=settings.telegram_api_url,
        )
        registry.register(TelegramChannel(telegram, media))
    return registry
