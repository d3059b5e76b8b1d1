"""Benchmark: parse latency through Doorstep's Rasa client, against the real server.

    python benchmarks/nlu.py [--n 400] [--concurrency 1 4] [--default-threads]

Uses RASA_URL/RASA_TOKEN when set (and RASA_PID, to measure its CPU); otherwise starts
`rasa run` on the trained model (`make nlu-model`) and waits for it. Prints, per
language (English, Spanish, French messages) and for all of them, p50/p99/max latency
in milliseconds and the Rasa process's CPU per parse: its utime+stime
(/proc/<pid>/stat) before and after the parses, divided by their number. For a server
it started, also its resident memory.

A server it starts gets the thread settings the service gives `rasa run` (README,
"Understanding replies"): TensorFlow's pools at one thread each, OpenMP at one,
unless `--default-threads` (the libraries' defaults: a pool per core that spins).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devrun import free_port  # noqa: E402
from bot.nlu.model import SERVING_THREADS, ensure_model, start_server, wait_ready  # noqa: E402
from integrations.rasa import RasaClient  # noqa: E402
from tests.load_kit import cpu_seconds, pct  # noqa: E402

# The thread pools of the `rasa run` process, as the service sets them (bot/nlu/model.py).
RASA_THREAD_ENV = SERVING_THREADS

MESSAGES_ES = [
    "¿dónde está mi paquete?",
    "¿pueden venir mañana por la tarde?",
    "déjelo en el porche",
    "el código del portal es 4471",
    "quiero devolver la silla",
    "hoy no estoy en casa",
    "cancélelo, por favor",
    "mejor envíelo a Calle Mayor 55",
    "la lámpara llegó rota",
    "dice entregado pero no está aquí",
    "¿puedo hablar con una persona?",
    "sí",
    "no, gracias",
    "hola",
    "¡gracias!",
    "dejen de enviarme mensajes",
    "5 estrellas, muy amable",
    "¿venden tarjetas regalo?",
    "el viernes por la mañana mejor",
    "déjelo con el vecino del 14",
]
MESSAGES_FR = [
    "où est mon colis ?",
    "vous pouvez passer demain après 17h ?",
    "laissez-le sur le paillasson",
    "le code du portail est 4471",
    "je voudrais renvoyer la chaise",
    "je ne serai pas là aujourd'hui",
    "annulez la livraison svp",
    "livrez plutôt au 55 rue de la Paix",
    "la lampe est arrivée cassée",
    "c'est marqué livré mais je n'ai rien",
    "je peux parler à quelqu'un ?",
    "oui",
    "non merci",
    "bonjour",
    "merci !",
    "arrêtez de m'envoyer des messages",
    "5 étoiles, livreur très sympa",
    "vous vendez des cartes cadeaux ?",
    "vendredi matin c'est mieux",
    "laissez-le chez la voisine du 12",
]
MESSAGES = [
    "where's my parcel?",
    "can you come tomorrow after 5 instead",
    "leave it by the side gate",
    "gate code is 4471",
    "I need to return the chair",
    "I won't be home today",
    "cancel it please",
    "deliver to 55 King St instead",
    "the lamp arrived broken",
    "says delivered but it's not here",
    "can I talk to someone",
    "yes",
    "no thanks",
    "hi",
    "thanks!",
    "stop texting me",
    "5 stars, lovely driver",
    "do you sell gift cards?",
    "friday morning is better",
    "pls leave it with my neighbour at no. 14",
]


async def run(
    url: str, token: str | None, n: int, concurrency: int, messages: list[str], pid: int | None
) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, token, timeout_s=5)
        for text in messages:  # warm-up
            await client.parse(text)
        latencies: list[float] = []
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                started = time.perf_counter()
                await client.parse(messages[i % len(messages)])
                latencies.append(time.perf_counter() - started)

        cpu_before = cpu_seconds(pid) if pid else float("nan")
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = (cpu_seconds(pid) - cpu_before) if pid else float("nan")
    ms = [x * 1000 for x in latencies]
    return {
        "p50": pct(ms, 50),
        "p99": pct(ms, 99),
        "max": max(ms),
        "mean": statistics.fmean(ms),
        "rate": n / elapsed,
        "cpu_ms": cpu * 1000 / n,
    }


def resident_mb(pid: int) -> float:
    """VmRSS of a process (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="parses per language")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--default-threads", action="store_true")
    args = parser.parse_args()
    url, token = os.environ.get("RASA_URL"), os.environ.get("RASA_TOKEN")
    pid = int(os.environ["RASA_PID"]) if os.environ.get("RASA_PID") else None
    server = None
    if not url:
        if not args.default_threads:
            os.environ.update(RASA_THREAD_ENV)  # inherited by the `rasa run` child
        server = start_server(ensure_model(), free_port())
        print("starting rasa run ...", flush=True)
        wait_ready(server)
        url, token, pid = server.url, server.token, server.process.pid
    print(f"machine load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    languages = {"en": MESSAGES, "es": MESSAGES_ES, "fr": MESSAGES_FR}
    try:
        for concurrency in args.concurrency:
            for name, messages in [
                *languages.items(),
                ("all", MESSAGES + MESSAGES_ES + MESSAGES_FR),
            ]:
                r = asyncio.run(run(url, token, args.n, concurrency, messages, pid))
                print(
                    f"nlu parse {name} x{args.n}, concurrency {concurrency}: "
                    f"p50 {r['p50']:.1f} ms, "
                    f"p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms, mean {r['mean']:.1f} ms, "
                    f"{r['rate']:.0f} parses/s, rasa CPU {r['cpu_ms']:.1f} ms a parse"
                )
        if server is not None:
            print(f"rasa server resident memory: {resident_mb(server.process.pid):.0f} MB")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
