"""Structured JSON logs with personal data masked before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# International numbers in free text ("+1 212 555 0101", "whatsapp:+12125550101").
_PHONE = re.compile(r"\+\d[\d \-().]{6,}\d")
_SECRET_FIELDS = frozenset(
    {"access_code", "code", "gate_code", "password", "token", "api_key", "authorization"}
)
_PHONE_FIELDS = frozenset({"to", "from", "phone", "sender", "address", "recipient"})


def mask_phone(value: str) -> str:
    """Keep the country-code sign and the last two digits: '+1*********01'."""
    digits = [c for c in value if c.isdigit()]
    if len(digits) < 4:
        return "***"
    head = "+" if value.lstrip().startswith("+") or ":+" in value else ""
    return f"{head}{digits[0]}{'*' * (len(digits) - 3)}{''.join(digits[-2:])}"


def mask_text(text: str) -> str:
    """Mask every phone-number-looking run inside free text."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


_PLAIN_FIELDS = frozenset({"timestamp", "event", "level", "url", "path", "logger"})


def _mask(value: Any, key: str) -> Any:
    if key in _PLAIN_FIELDS or key.endswith("_at") or key.endswith("_id"):
        return value
    if isinstance(value, str):
        if key in _SECRET_FIELDS:
            return "***"
        if key in _PHONE_FIELDS:
            return mask_phone(value) if any(c.isdigit() for c in value) else value
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v, str(k).lower()) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, key) for v in value]
    return value


def mask_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers and secrets in every field."""
    for key in list(event_dict):
        event_dict[key] = _mask(event_dict[key], key.lower())
    return event_dict


def configure_logging(level: str = "info", json: bool = True) -> None:
    """Configure structlog once, in `main()`."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_processor,
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )


log = structlog.get_logger("doorstep")
