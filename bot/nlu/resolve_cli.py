"""`doorstep resolve-time`: JSON lines of {span, reference, timezone, lang?} in, windows out.

`lang` ("en", "es", "fr", or a locale such as "es_MX") is optional: a hint that breaks
ties; without it the language is told from the span's words.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import IO, Any

from bot.replies.timewindows import InvalidWindow, NotUnderstood, resolve


def resolve_line(line: str) -> dict[str, Any]:
    """One answer per input line, in order: `{start, end}` or `{error}`."""
    try:
        item = json.loads(line)
        span, reference, zone = item["span"], item["reference"], item["timezone"]
        lang = item.get("lang")
        if lang is not None and not isinstance(lang, str):
            return {"error": 'lang must be a language code such as "es"'}
        ref = datetime.fromisoformat(reference)
        if ref.tzinfo is None:
            return {"error": "reference must include a UTC offset"}
        window = resolve(str(span), ref, str(zone), lang=lang)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        return {"error": f"bad input line: {exc}"}
    except (NotUnderstood, InvalidWindow) as exc:
        return {"error": str(exc)}
    except ValueError as exc:  # an unknown time zone or a malformed reference
        return {"error": str(exc)}
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


def run(stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> int:
    out = []
    for line in stdin:
        if line.strip():
            out.append(json.dumps(resolve_line(line)))
    stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0
