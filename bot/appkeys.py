"""Typed keys under which the aiohttp app keeps its long-lived objects."""

from __future__ import annotations

from aiohttp import web

from bot.services import Services

SERVICES = web.AppKey("services", Services)
