"""The OpenAPI 3.1 document, generated from the same pydantic models that validate."""

from __future__ import annotations

from functools import cache
from typing import Any

from bot.events.models import EVENT_ADAPTER


@cache
def _event_schema() -> dict[str, Any]:
    return EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    schema = dict(_event_schema())
    components: dict[str, Any] = dict(schema.pop("$defs", {}))
    components["Event"] = schema
    components["Error"] = {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "fields": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            },
        },
    }
    signed = [
        {
            "name": "X-Doorstep-Signature",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "v1=<hex HMAC-SHA256 of '<timestamp>.<body>' with the signing secret>",
        },
        {
            "name": "X-Doorstep-Timestamp",
            "in": "header",
            "required": False,
            "schema": {"type": "integer"},
            "description": "unix seconds; within 5 minutes",
        },
    ]
    by_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Doorstep delivery events API", "version": "1"},
        "servers": [{"url": base_url}],
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Send one delivery event",
                    "parameters": signed,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}
                        },
                    },
                    "responses": {
                        "202": {"description": "accepted; `messages` lists the notifications"},
                        "200": {"description": "an event with this id was already applied"},
                        "400": _error("invalid event: `fields` names each problem"),
                        "401": _error("missing or unknown API key"),
                        "403": _error("bad signature or stale timestamp"),
                        "409": _error("the same event id is being applied right now"),
                        "413": _error("body too large"),
                    },
                }
            },
            "/v1/messages/{id}": {
                "get": {
                    "summary": "A message's status (queued, deferred, retrying, sent, delivered, "
                    "failed, superseded)",
                    "parameters": [{**by_id, "name": "id"}],
                    "responses": {"200": {"description": "the message"}, "404": _error("unknown")},
                }
            },
            "/v1/deliveries/{id}": {
                "get": {
                    "summary": "A delivery as Doorstep knows it, with its messages",
                    "parameters": [by_id],
                    "responses": {"200": {"description": "the delivery"}, "404": _error("unknown")},
                }
            },
        },
    }
