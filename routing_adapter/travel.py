"""Travel-time providers: an explicit matrix, great-circle estimates, or OSRM's table API."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

EARTH_RADIUS_M = 6_371_000.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class SpeedProfile:
    """Urban driving speed by local hour: slower in the rush hours.

    `detour` turns straight-line distance into road distance (about 1.3 in cities).
    """

    base_kmh: float = 30.0
    detour: float = 1.3
    # Multipliers on base speed for local hours [start, end).
    rush: tuple[tuple[int, int, float], ...] = field(default=((7, 10, 0.7), (16, 19, 0.7)))

    def speed_kmh(self, hour: int | None) -> float:
        if hour is not None:
            for start, end, factor in self.rush:
                if start <= hour < end:
                    return self.base_kmh * factor
        return self.base_kmh

    def seconds(
        self, lat1: float, lon1: float, lat2: float, lon2: float, hour: int | None = None
    ) -> int:
        metres = haversine_m(lat1, lon1, lat2, lon2) * self.detour
        return round(metres / (self.speed_kmh(hour) / 3.6))


MATRIX_CACHE_SIZE = 64


@lru_cache(maxsize=MATRIX_CACHE_SIZE)
def travel_matrix(
    points: tuple[tuple[float, float], ...],
    profile: SpeedProfile,
    hour: int | None,
    open_end: bool,
) -> tuple[tuple[int, ...], ...]:
    """Seconds between every pair of (lat, lon) points, cached per worker process.

    A reschedule evaluates the same route several times (the plan before and after
    the change, a fast check and maybe a solve): 100 stops are 10,000 great-circle
    distances, about 15 ms of Python, which the cheap check must not pay each time.
    The key is the points, the speed profile and the hour (the rush-hour factor), so
    a changed location or a new hour is a new entry; at most MATRIX_CACHE_SIZE
    routes are kept (a few MB). `open_end` adds the free "finish anywhere" node.
    """
    rows = [
        [0 if i == j else profile.seconds(*a, *b, hour) for j, b in enumerate(points)]
        for i, a in enumerate(points)
    ]
    if open_end:
        for row in rows:
            row.append(0)
        rows.append([0] * (len(points) + 1))
    return tuple(tuple(row) for row in rows)
