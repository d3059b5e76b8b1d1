"""The OpenAPI 3.1 document of every route a brand's systems or a helpdesk may call.

The operations are read from the running app's router (so a new route under `/v1/` or
`/console/api/` is documented the day it is added, and a fuzzer reaches it), the
bodies from the same pydantic models that validate them: events, routing plans and
changes, brand settings, agents. A body we validate by hand is documented as the
object it is (its fields in the handler's docstring). Served at `/openapi.json` (and
`/v1/openapi.json`, where the events API first published it).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from bot.agents.accounts import Agent
from bot.agents.desk import QueueQuery
from bot.base.brands import BrandSettings
from bot.events.openapi import openapi_document as events_document
from bot.services import SERVICES
from routing_adapter.engine import CHANGE_ADAPTER
from routing_adapter.plan import Plan, PlanStop

PUBLIC_PREFIXES = ("/v1/", "/console/api/")
_PARAM = re.compile(r"\{(\w+)\}")
OBJECT: dict[str, Any] = {"type": "object"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _schema(model: type[BaseModel] | TypeAdapter[Any], prefix: str) -> dict[str, dict[str, Any]]:
    """`model`'s schema and its definitions, named `prefix`+model (Driver is in both APIs)."""
    template = f"#/components/schemas/{prefix}{{model}}"
    if isinstance(model, TypeAdapter):
        schema = model.json_schema(ref_template=template)
    else:
        schema = model.model_json_schema(ref_template=template)
    found = {f"{prefix}{k}": v for k, v in schema.pop("$defs", {}).items()}
    found[f"{prefix}{schema.get('title', 'Body')}"] = schema
    return found


@cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = dict(events_document("")["components"]["schemas"])
    components |= _schema(Plan, "Routing")
    components |= _schema(PlanStop, "Routing")
    change = _schema(CHANGE_ADAPTER, "Routing")
    components |= {k: v for k, v in change.items() if k != "RoutingBody"}
    components["RoutingChange"] = change.get("RoutingBody", OBJECT)
    settings = _schema(BrandSettings, "")
    settings["BrandSettings"] = {**settings["BrandSettings"], "required": []}  # a partial update
    components |= settings
    agent = Agent.model_json_schema()
    agent["properties"] = {k: v for k, v in agent["properties"].items() if k != "brand_id"}
    agent["properties"]["password"] = {"type": "string", "minLength": 10, "maxLength": 1024}
    agent["required"] = ["username", "name", "password"]
    components["NewAgent"] = agent
    return components


def _bodies() -> dict[tuple[str, str], dict[str, Any]]:
    """Request bodies by (method, route); the rest take an object (or nothing)."""
    number = {"type": "number"}
    return {
        ("POST", "/v1/events"): _ref("Event"),
        ("POST", "/v1/routing/optimize"): {
            "type": "object",
            "required": ["plan"],
            "properties": {
                "plan": _ref("RoutingPlan"),
                "time_limit": {**number, "minimum": 0.05, "maximum": 30},
            },
        },
        ("POST", "/v1/routing/windows"): {
            "type": "object",
            "required": ["plan"],
            "properties": {
                "plan": _ref("RoutingPlan"),
                "stop_id": {"type": "string"},
                "stop": _ref("RoutingPlanStop"),
                "day_start": {"type": ["string", "integer"]},
                "day_end": {"type": ["string", "integer"]},
            },
        },
        ("POST", "/v1/routes/{route_id}/changes"): {
            "type": "object",
            "required": ["change"],
            "properties": {"change": _ref("RoutingChange")},
        },
        ("PUT", "/console/api/admin/settings"): _ref("BrandSettings"),
        ("POST", "/console/api/agents"): _ref("NewAgent"),
        ("POST", "/console/api/tokens"): {
            "type": "object",
            "properties": {"expires_in_days": {"type": "integer", "minimum": 1, "maximum": 365}},
        },
    }


def _queries() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Query parameters by (method, route), from the models that read them."""
    queue = QueueQuery.model_json_schema()["properties"]
    slot = {"type": "string", "maxLength": 40}
    by_slot = [{"name": n, "in": "query", "schema": slot} for n in ("channel", "locale")]
    return {
        ("GET", "/console/api/queue"): [
            {"name": n, "in": "query", "schema": schema} for n, schema in queue.items()
        ],
        ("GET", "/console/api/admin/templates/{type}"): by_slot,
        ("DELETE", "/console/api/admin/templates/{type}"): by_slot,
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _operation(method: str, path: str, handler: Any, bodies: dict[Any, Any]) -> dict[str, Any]:
    doc = (handler.__doc__ or "").strip()
    summary = doc.split("\n\n")[0].replace("\n", " ") if doc else f"{method} {path}"
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["events and routing" if path.startswith("/v1/") else "console and admin"],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(path)
        ]
        + _queries().get((method, path), []),
        "responses": {
            "200": {"description": "done"},
            "400": _error("invalid input: `fields` names each problem"),
            "401": _error("missing or unknown credentials"),
            "403": _error("not allowed (role, CSRF token, signature or Origin)"),
            "404": _error("not found (or another brand's)"),
            "409": _error("conflicts with the current state"),
            "413": _error("body too large"),
        },
    }
    if method in ("POST", "PUT", "PATCH"):
        schema = bodies.get((method, path), OBJECT)
        operation["requestBody"] = {
            "required": (method, path) in bodies,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def openapi_document(app: web.Application, base_url: str) -> dict[str, Any]:
    base = events_document(base_url)
    paths: dict[str, dict[str, Any]] = {}
    bodies = _bodies()
    for route in app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        method = route.method.upper()
        if method in ("HEAD", "OPTIONS", "*") or not info.startswith(PUBLIC_PREFIXES):
            continue
        if info.endswith("openapi.json"):
            continue
        paths.setdefault(info, {})[method.lower()] = _operation(method, info, route.handler, bodies)
    for path, operations in base["paths"].items():  # the events API's hand-written words
        for method, operation in operations.items():
            canonical = path.replace(
                "{id}", "{message_id}" if "messages" in path else "{delivery_id}"
            )
            if method in paths.get(canonical, {}):
                kept = paths[canonical][method]
                kept["summary"] = operation["summary"]
                kept["parameters"] = kept["parameters"] + [
                    p for p in operation.get("parameters", []) if p["in"] == "header"
                ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Doorstep API: delivery events, routing, console and admin",
            "version": "1",
        },
        "servers": [{"url": base_url}],
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "a brand's API key"},
                "agentToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an admin's API token (dsa_...), or the console's session",
                },
            },
        },
        "security": [{"apiKey": []}, {"agentToken": []}],
        "paths": dict(sorted(paths.items())),
    }


routes = web.RouteTableDef()


@routes.get("/openapi.json")
@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    base = request.app[SERVICES].settings.public_base_url
    return web.json_response(openapi_document(request.app, base))
