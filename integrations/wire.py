"""What arrives over HTTP, read as data: JSON bodies under limits, header values as bytes.

Every JSON route (our API, the console, the webhooks) reads its body through
`parse_json`, so a hostile body is a `BodyError` naming the problem (the service turns
it into a 400) instead of a crash somewhere below: Python's parser recurses on nesting
(RecursionError), refuses integers over 4,300 digits (ValueError), turns `1e999` into
infinity and accepts lone UTF-16 surrogates that no encoder will write back out.

Header values reach aiohttp as bytes decoded with `surrogateescape`; a byte above 0x7f
then breaks `str.encode()` and `hmac.compare_digest` (TypeError on non-ASCII). `header`
hands back only printable ASCII, so a credential with other bytes is simply wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

MAX_DEPTH = 32  # nested objects/arrays; no payload of ours comes near
MAX_INT_DIGITS = 32  # an int64 has 19; anything longer is not a count or an id
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


class BodyError(Exception):
    """A body that cannot be read: `error` is a code, `detail` a sentence for the caller,
    `field` where in the body (a dotted path, "body" for the whole of it)."""

    def __init__(self, error: str, detail: str, status: int = 400, field: str = "body") -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.status = status
        self.field = field


class _Unusable:
    """Stands in, while parsing, for a number we refuse; its place names the field."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Numbers:
    """The parser's number hooks for one body: an unusable number becomes a marker
    (raising inside the parser would lose where it was), found afterwards by `check`."""

    def __init__(self) -> None:
        self.unusable = False

    def _mark(self, reason: str) -> _Unusable:
        self.unusable = True
        return _Unusable(reason)

    def int(self, text: str) -> int | _Unusable:
        digits = len(text.lstrip("-"))
        if digits > MAX_INT_DIGITS:
            return self._mark(f"an integer has {digits} digits (at most {MAX_INT_DIGITS})")
        return int(text)

    def float(self, text: str) -> float | _Unusable:
        value = float(text)
        if not math.isfinite(value):
            return self._mark(f"the number {text[:40]} is too large")
        return value

    def constant(self, name: str) -> _Unusable:
        return self._mark(f"{name} is not a JSON number")

    def check(self, value: Any) -> None:
        if self.unusable:
            path, reason = _first_unusable(value, "")
            raise BodyError("invalid_json", reason, field=path or "body")


def _first_unusable(value: Any, path: str) -> tuple[str, str]:
    if isinstance(value, _Unusable):
        return path, value.reason
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _first_unusable(item, f"{path}.{key}" if path else str(key))
        if found[1]:
            return found
    return "", ""


def _too_deep(text: str, limit: int) -> bool:
    """Nesting deeper than `limit`, counted outside strings (cheap: two C-level scans)."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def parse_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`raw` as JSON, strictly: UTF-8, nesting, integer length and finite numbers bounded."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError("invalid_utf8", f"the body is not UTF-8 (byte {exc.start})") from None
    if _too_deep(text, max_depth):
        raise BodyError("too_deep", f"the body nests deeper than {max_depth} levels")
    numbers = _Numbers()
    try:
        value = json.loads(
            text, parse_int=numbers.int, parse_float=numbers.float, parse_constant=numbers.constant
        )
    except json.JSONDecodeError as exc:
        raise BodyError("invalid_json", f"the body is not JSON: {exc}") from None
    except RecursionError:  # the scan above missed nothing, but never a 500
        raise BodyError("too_deep", "the body nests too deeply") from None
    except ValueError as exc:  # int() past sys.get_int_max_str_digits
        raise BodyError("invalid_json", f"a number is too long: {exc}") from None
    numbers.check(value)
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise BodyError("invalid_utf8", "the body has a lone UTF-16 surrogate escape")
    return value


def parse_object(raw: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON object; an empty body is `empty` when given (else an error)."""
    if not raw.strip() and empty is not None:
        return dict(empty)
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise BodyError("invalid_json", "the body must be a JSON object")
    return value


async def read_object(
    request: web.Request, *, empty: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The request's body as a JSON object (past the app's size limit: aiohttp's 413)."""
    return parse_object(await request.read(), empty=empty)


def header(request: web.Request, name: str) -> str | None:
    """A header's value if it is printable ASCII, else None (as if not sent)."""
    value = request.headers.get(name)
    if value is None or not _PRINTABLE_ASCII.fullmatch(value):
        return None
    return value


async def read_form(request: web.Request) -> dict[str, str]:
    """An urlencoded or multipart form as text fields; a malformed one is a BodyError."""
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        raise BodyError("invalid_form", f"the form cannot be read: {exc}") from None
    fields: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise BodyError("invalid_form", f"{key} must be a text field, not a file")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BodyError("invalid_utf8", f"{key} is not UTF-8") from None
        fields[key] = value
    return fields
