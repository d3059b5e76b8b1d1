"""Schemathesis over the whole OpenAPI document, against the real server: no 5xx.

Every operation under `/v1/` and `/console/api/` gets a bounded number of generated
requests (`FUZZ_EXAMPLES`, default 10 each: a few minutes), sent with a brand API
key or an admin's API token as the route wants, with data in Redis for them to find
(a delivery, a dispatched route, a held conversation). Any answer of 500 or more
fails the test, with the request that caused it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from bot.agents.accounts import Agent
from bot.services import Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, post_event

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))


class Fuzz:
    """The answers seen: the 5xx ones in full, and each operation's statuses."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.failures: list[str] = []
        self.statuses: dict[str, set[int]] = {}

    def operation(self, operation: Any) -> None:
        console = operation.path.startswith("/console/")
        headers = {"Authorization": f"Bearer {self.token}"} if console else dict(DEMO_KEY)
        name = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            if isinstance(case.body, dict) and "time_limit" in case.body:
                case.body["time_limit"] = 0.05  # the solver's budget is not what is tested
            response = case.call(base_url=self.base_url, headers=headers, timeout=30)
            self.statuses.setdefault(name, set()).add(response.status_code)
            if response.status_code >= 500:
                self.failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{str(case.body)[:300]!r} {response.text[:300]}"
                )

        run()

    def everything(self, doc: dict[str, Any]) -> Fuzz:
        """Every operation's examples (in a thread: the server shares the test's loop)."""
        for result in schemathesis.openapi.from_dict(doc).get_all_operations():
            self.operation(result.ok())  # type: ignore[union-attr]  # an invalid schema raises
        return self


@pytest.mark.timeout(900)
async def test_no_generated_request_is_a_server_error(client: Client, services: Services) -> None:
    assert (await post_event(client, f.delivery_created("d1")))[0] == 202
    admin = Agent(brand_id="demo", username="fuzz-admin", name="Fuzz", role="admin")
    await services.accounts.create(admin, "a-long-password-1")
    token = await services.accounts.new_token(admin)
    doc = await (await client.get("/openapi.json")).json()
    assert {"/v1/events", "/v1/routing/optimize", "/console/api/admin/settings"} <= set(
        doc["paths"]
    )
    base_url = str(client.make_url("")).rstrip("/")
    fuzz = await asyncio.to_thread(Fuzz(base_url, token).everything, doc)
    failures, statuses = fuzz.failures, fuzz.statuses
    assert failures == [], "\n".join(failures[:20])
    # Every operation was reached, and the credentials got past authentication.
    assert len(statuses) == sum(len(ops) for ops in doc["paths"].values())
    answered = {op for op, seen in statuses.items() if any(s < 300 for s in seen)}
    assert {"GET /console/api/me", "GET /console/api/queue"} <= answered, statuses
    assert all(seen != {401} for seen in statuses.values()), statuses
