"""JSON errors for every HTTP failure: a status, a code, a sentence, and field errors."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.redisconn import TRANSIENT
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

# Redis is away for a moment (a restart, a Sentinel or Cluster failover: connection
# refused, no master yet, a demoted master, slots moving): nothing was taken, and the
# same request succeeds in a few seconds. 503 with Retry-After says so to the caller
# (a dispatch system, Twilio), where a 500 would say "broken".
STORAGE_AWAY = TRANSIENT
STORAGE_RETRY_S = 2

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
    except ConnectionResetError:
        # The caller went away (it timed out waiting, e.g. during a failover): there is
        # no one to answer and nothing of ours broke, so no error traceback either.
        status = 499
        log.info("http.client_gone", path=request.path)
        return web.Response(status=499)
    except STORAGE_AWAY as exc:
        status = 503
        log.warning("http.storage_unavailable", path=request.path, error=type(exc).__name__)
        return web.json_response(
            error_body("storage_unavailable", "the database is failing over; retry shortly"),
            status=503,
            headers={"Retry-After": str(STORAGE_RETRY_S)},
        )
    except Exception:
        log.exception("http.unhandled", path=request.path)
        return web.json_response(error_body("internal", "internal error"), status=500)
    finally:
        if METRICS in request.app:
            request.app[METRICS].http_latency.labels(name, str(status)).observe(
                time.perf_counter() - started
            )
