"""Road travel times from an OSRM server's table service, as a plan's matrix.

OSRM answers `GET /table/v1/{profile}/{lon,lat;lon,lat;...}?annotations=duration`
with `durations[i][j]` in seconds (null where no route exists). A lat/lon plan is
turned into a matrix plan with index locations, so the optimiser sees real roads.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from routing_adapter.plan import Location, Plan, PlanError

UNREACHABLE_S = 24 * 3600


class OsrmError(RuntimeError):
    """The OSRM server could not be asked or did not answer with a table."""


class OsrmTable:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        profile: str = "driving",
        timeout_s: float = 5.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._profile = profile
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def close(self) -> None:
        await self._session.close()

    async def durations(self, points: list[tuple[float, float]]) -> list[list[int]]:
        """Seconds between every pair of (lat, lon) points; unreachable pairs get a day."""
        coords = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in points)
        url = f"{self._base}/table/v1/{self._profile}/{coords}"
        try:
            async with self._session.get(
                url, params={"annotations": "duration"}, timeout=self._timeout
            ) as resp:
                body: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OsrmError(f"OSRM table request failed: {exc!r}") from exc
        if body.get("code") != "Ok" or "durations" not in body:
            raise OsrmError(f"OSRM answered {body.get('code')}: {body.get('message', '')}")
        return [
            [UNREACHABLE_S if v is None else round(v) for v in row] for row in body["durations"]
        ]

    async def with_matrix(self, plan: Plan) -> Plan:
        """The same plan with an OSRM matrix and index locations (a matrix plan is kept)."""
        if plan.matrix is not None:
            return plan
        places: list[Location] = [plan.driver.location, *(s.location for s in plan.stops)]
        if plan.vehicle.end is not None:
            places.append(plan.vehicle.end)
        if any(p.lat is None or p.lon is None for p in places):
            raise PlanError([{"field": "(plan)", "message": "OSRM needs lat/lon locations"}])
        matrix = await self.durations([(p.lat, p.lon) for p in places])  # type: ignore[misc]
        data = plan.model_dump(mode="json")
        data["matrix"] = matrix
        data["driver"]["location"] = {"index": 0}
        for i, stop in enumerate(data["stops"]):
            stop["location"] = {"index": i + 1}
        if plan.vehicle.end is not None:
            data["vehicle"]["end"] = {"index": len(places) - 1}
        # Matrix plans keep datetimes: build_problem measures times from driver.time.
        return Plan.model_validate(data)
