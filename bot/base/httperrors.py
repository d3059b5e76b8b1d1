"""JSON errors for every HTTP failure: a status, a code, a sentence, and field errors."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from bot.base.logs import log
from bot.base.metrics import Metrics
from integrations.wire import BodyError


class ApiError(Exception):
    """Raised by handlers; rendered by `error_middleware` as a JSON body."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = fields
        self.headers = headers


def field_errors(exc: ValidationError, whole: str = "") -> list[dict[str, str]]:
    """A pydantic error as {field, message} entries; `whole` names a model-level one."""
    return [
        {"field": ".".join(map(str, e["loc"])) or whole, "message": e["msg"]} for e in exc.errors()
    ]


def error_body(
    error: str, detail: str, fields: list[dict[str, str]] | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"error": error, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    return body


# Where the middleware finds the process's metrics once the app has started.
METRICS = web.AppKey("http_metrics", Metrics)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON, and every request timed by route and status."""
    started = time.perf_counter()
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        return web.json_response(
            error_body(exc.error, exc.detail, exc.fields), status=exc.status, headers=exc.headers
        )
    except BodyError as exc:  # a webhook's body, read below our handlers
        status = exc.status
        return web.json_response(error_body(exc.error, exc.detail), status=exc.status)
    except web.HTTPRequestEntityTooLarge as exc:  # from request.read() past client_max_size
        status = 413
        return web.json_response(
            error_body("too_large", exc.text or "request body too large"), status=413
        )
    except web.HTTPException as exc:
        status = exc.status
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return web.json_response(
            error_body(exc.reason.lower().replace(" ", "_"), exc.text or exc.reason),
            status=exc.status,
        )
    except Exception:
        log.exception("http.unhandled", path=request.path)
        return web.json_response(error_body("internal", "internal error"), status=500)
    finally:
        if METRICS in request.app:
            request.app[METRICS].http_latency.labels(name, str(status)).observe(
                time.perf_counter() - started
            )
