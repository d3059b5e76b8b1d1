"""The one way our routes read a JSON body or a header: limits first, errors as 400s.

A thin layer over `integrations.wire` (which the webhooks use too): a body that
cannot be read becomes an `ApiError` naming the problem, so no handler ever meets a
RecursionError, a 5,000-digit integer, invalid UTF-8 or a list where it wanted an
object. The body's size is capped by the app (`client_max_size`: 413).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.base.httperrors import ApiError
from integrations.wire import BodyError, header, read_form, read_object

__all__ = ["form_fields", "header", "json_object"]


def _api_error(exc: BodyError) -> ApiError:
    return ApiError(
        exc.status, exc.error, exc.detail, [{"field": exc.field, "message": exc.detail}]
    )


async def json_object(request: web.Request, *, empty_ok: bool = True) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}` unless `empty_ok` is False."""
    try:
        return await read_object(request, empty={} if empty_ok else None)
    except BodyError as exc:
        raise _api_error(exc) from None


async def form_fields(request: web.Request) -> dict[str, str]:
    """A form's text fields; a malformed form (or a file where text was wanted) is a 400."""
    try:
        return await read_form(request)
    except BodyError as exc:
        raise _api_error(exc) from None
