"""Rough travel estimates for messages ('about 10 minutes'), from the routing adapter's model."""

from __future__ import annotations

from datetime import timedelta

from bot.base.values import GeoPoint
from routing_adapter.travel import SpeedProfile

_PROFILE = SpeedProfile()


def travel_time(origin: GeoPoint, destination: GeoPoint, hour: int | None = None) -> timedelta:
    return timedelta(
        seconds=_PROFILE.seconds(origin.lat, origin.lon, destination.lat, destination.lon, hour)
    )
