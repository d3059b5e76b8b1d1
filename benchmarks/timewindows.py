"""Exact windows per language: how many time spans the resolver turns into the right window.

    .venv/bin/python benchmarks/timewindows.py [spans.jsonl ...] [--errors]

Each line of a spans file is `{"lang", "span", "reference", "timezone", "start",
"end"}` (local times, minutes), the format `doorstep resolve-time` reads plus the
expected window; `benchmarks/data/time_spans.jsonl` is ours: 443 spans written the way
customers write times in English, Spanish and French (with and without accents,
Québec words, hours in words and in 24-hour form), each with the window the NLU
contract's table gives. The last 135 (from "mañana por la tarde después de las 4")
were written after the word tables and measured once before any change: es 50/50,
fr 54/55, en 29/30; the two misses ("à la première heure", "after 3ish") were then
fixed. Counted twice: with the customer's language as the hint (what
the conversation engine passes) and with no hint at all (told from the words alone).
A span is exact only when both ends match; an error counts as a miss. Then the time
per span in this process, and the wall clock of `doorstep resolve-time` on 1000 lines
(a fresh process: its imports are most of it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.replies.timewindows import InvalidWindow, NotUnderstood, resolve  # noqa: E402

DEFAULT = ROOT / "benchmarks" / "data" / "time_spans.jsonl"


def _got(item: dict[str, str], hint: str | None) -> str:
    try:
        w = resolve(
            item["span"], datetime.fromisoformat(item["reference"]), item["timezone"], lang=hint
        )
    except (NotUnderstood, InvalidWindow) as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"{w.start:%Y-%m-%dT%H:%M}/{w.end:%Y-%m-%dT%H:%M}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--errors", action="store_true", help="list every miss")
    args = parser.parse_args()
    items = [json.loads(line) for f in args.files for line in f.read_text().splitlines() if line]
    started = time.perf_counter()
    for hinted in (True, False):
        total: Counter[str] = Counter()
        exact: Counter[str] = Counter()
        for item in items:
            lang = item.get("lang", "?")
            total[lang] += 1
            got = _got(item, lang if hinted else None)
            if got == f"{item['start']}/{item['end']}":
                exact[lang] += 1
            elif args.errors:
                print(f"  {'hint' if hinted else 'none'} {lang} {item['span']!r}: {got}")
        label = "with the customer's language as hint" if hinted else "with no hint"
        print(f"exact windows, {label}:")
        for lang in sorted(total):
            print(f"  {lang}: {exact[lang]}/{total[lang]} = {exact[lang] / total[lang]:.1%}")
    per_span = (time.perf_counter() - started) / (2 * len(items)) * 1000
    print(f"{per_span:.2f} ms per span")
    payload = "\n".join(json.dumps(item) for item in (items * 3)[:1000])
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "resolve-time"],
        input=payload,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    print(f"doorstep resolve-time, 1000 lines: {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
