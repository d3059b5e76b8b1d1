"""Benchmark: a greeting with a question, read as the question. How sure must the model be?

    python benchmarks/greeting_questions.py [--show]

The conversation engine takes the best request in the NLU's intent ranking instead of
`greet` when more follows the greeting (`bot/replies/conversation/rereading.py`) and
that request has at least `GREETING_SECOND`. This parses greetings followed by a
question or a request, in English, Spanish and French, and plain greetings that must
stay greetings ("hi, how are you?"), against the real Rasa server, then prints for each
threshold how many replies the rule reads right; `--show` lists each reply's reading.
Uses RASA_URL/RASA_TOKEN when set; otherwise starts `rasa run` on the trained model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.base.brands import BrandSettings  # noqa: E402
from bot.base.store import DeliveryRecord  # noqa: E402
from bot.devrun import free_port  # noqa: E402
from bot.nlu.model import ensure_model, start_server, wait_ready  # noqa: E402
from bot.replies.conversation import rereading  # noqa: E402
from bot.replies.conversation.actions import Facts, Turn  # noqa: E402
from integrations.rasa import ParseResult, RasaClient  # noqa: E402

# (reply, what it asks: an intent, or "greet" for a greeting and nothing more)
CASES = [
    ("hi, where is my parcel?", "ask_eta"),
    ("hello! when will my order arrive?", "ask_eta"),
    ("Hi there, what time is the driver coming?", "ask_eta"),
    ("hey, can you come tomorrow instead?", "reschedule"),
    ("good morning, could you deliver after 5?", "reschedule"),
    ("hi, please leave it with my neighbour", "set_safe_place"),
    ("hello, the gate code is 4471", "delivery_instructions"),
    ("hi, I won't be home today", "not_home"),
    ("hello, can I talk to someone?", "talk_to_human"),
    ("hi, I want to cancel my order", "cancel_delivery"),
    ("hey, the box arrived damaged", "report_damaged"),
    ("Hola, ¿a qué hora llega el repartidor?", "ask_eta"),
    ("hola, ¿dónde está mi pedido?", "ask_eta"),
    ("buenas, ¿cuándo llega mi paquete?", "ask_eta"),
    ("hola, ¿pueden venir mañana por la tarde?", "reschedule"),
    ("buenos días, no estaré en casa hoy", "not_home"),
    ("hola, déjelo con el portero por favor", "set_safe_place"),
    ("hola, quiero hablar con una persona", "talk_to_human"),
    ("Bonjour, à quelle heure passe le livreur ?", "ask_eta"),
    ("bonjour, où est mon colis ?", "ask_eta"),
    ("salut, quand est-ce que ma commande arrive ?", "ask_eta"),
    ("bonjour, pouvez-vous passer demain après 17h ?", "reschedule"),
    ("bonsoir, je ne serai pas là demain", "not_home"),
    ("bonjour, laissez-le chez la voisine du 12", "set_safe_place"),
    ("bonjour, je voudrais parler à quelqu'un", "talk_to_human"),
    ("hi", "greet"),
    ("hello there", "greet"),
    ("hi, how are you?", "greet"),
    ("hey!", "greet"),
    ("good morning!", "greet"),
    ("hi Sam, hope you're well", "greet"),
    ("hola", "greet"),
    ("hola, ¿qué tal?", "greet"),
    ("buenos días", "greet"),
    ("buenas tardes, ¿cómo estás?", "greet"),
    ("bonjour", "greet"),
    ("bonjour, ça va ?", "greet"),
    ("salut !", "greet"),
    ("bonsoir, comment allez-vous ?", "greet"),
]
HOUR = timedelta(hours=1)
THRESHOLDS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def _facts() -> Facts:
    """A delivery booked, not yet delivered (so no rating reading gets in the way)."""
    now = datetime.now(UTC)
    record = DeliveryRecord.model_validate(
        {
            "brand_id": "acme",
            "delivery_id": "d1",
            "order_id": "O1",
            "customer": {"name": "Ana", "phone": "+12125550142", "timezone": "America/New_York"},
            "address": {"line1": "55 King St", "lat": 40.68, "lon": -73.97},
            "promised_window": {"start": now.isoformat(), "end": (now + HOUR).isoformat()},
            "items": [{"sku": "S1", "name": "Chair"}],
            "channel": "sms",
            "contact": "+12125550142",
            "locale": "en",
            "created_at": now.isoformat(),
        }
    )
    return Facts(BrandSettings(brand_id="acme", display_name="Acme"), record, now)


def read_as(result: ParseResult, threshold: float) -> str:
    turn = Turn(result.text, result.intent, result.confidence, ranking=result.ranking)
    saved = rereading.GREETING_SECOND
    rereading.GREETING_SECOND = threshold
    try:
        return rereading.reread(replace(turn), _facts()).intent
    finally:
        rereading.GREETING_SECOND = saved


async def parse_all(url: str, token: str | None) -> list[ParseResult]:
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, token, timeout_s=10)
        return [await client.parse(text) for text, _ in CASES]


def parse_with_server() -> list[ParseResult]:
    url, token, server = os.environ.get("RASA_URL"), os.environ.get("RASA_TOKEN"), None
    if not url:
        server = start_server(ensure_model(), free_port())
        wait_ready(server, timeout_s=600)
        url, token = server.url, server.token
    try:
        return asyncio.run(parse_all(url, token))
    finally:
        if server is not None:
            server.stop()


def vars_of(r: ParseResult) -> dict[str, object]:
    return {"text": r.text, "intent": r.intent, "confidence": r.confidence, "ranking": r.ranking}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--cache", type=Path, help="keep the parses here (JSON) and reuse them")
    args = parser.parse_args()
    if args.cache and args.cache.exists():
        rows = json.loads(args.cache.read_text())
        results = [
            ParseResult(
                r["text"], r["intent"], r["confidence"], (), tuple(map(tuple, r["ranking"]))
            )
            for r in rows
        ]
    else:
        results = parse_with_server()
    if args.cache and not args.cache.exists():
        rows = [vars_of(r) for r in results]
        args.cache.write_text(json.dumps(rows, ensure_ascii=False))
    if args.show:
        for (text, want), r in zip(CASES, results, strict=True):
            ranked = ", ".join(f"{i} {c:.2f}" for i, c in r.ranking[:3])
            print(f"  {want:22} {text!r}: {ranked}")
    asks = [i for i, (_, want) in enumerate(CASES) if want != "greet"]
    plain = [i for i, (_, want) in enumerate(CASES) if want == "greet"]
    print(f"{len(asks)} greetings with a request, {len(plain)} plain greetings")
    first = sum(results[i].intent == CASES[i][1] for i in asks)
    print(f"  the first intent alone: requests read right {first}/{len(asks)}")
    for t in THRESHOLDS:
        read = [read_as(r, t) for r in results]
        right = sum(read[i] == CASES[i][1] for i in asks)
        kept = sum(read[i] == "greet" for i in plain)
        print(
            f"  threshold {t:.2f}: requests read right {right}/{len(asks)}, "
            f"plain greetings kept {kept}/{len(plain)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
