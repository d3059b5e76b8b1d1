"""Summarise `rasa test nlu` reports: intent macro-F1 and entity F1, per language and overall.

    python benchmarks/nlu_report.py nlu/results [--data nlu/data nlu/heldout]

Needs the run's per-message predictions (`rasa test nlu ... --successes --errors`):
`intent_successes.json` + `intent_errors.json`, and the last entity step's
`ContractSpans_successes.json` + `ContractSpans_errors.json`. Each message's language
is its data file's (`es_*.yml` Spanish, `fr_*.yml` French, `heldout_es.yml`..., the
rest English). Entity F1 is computed as Rasa computes it (token-level, micro-averaged
over the entity labels, a token belongs to the entity whose span covers it), so the
"all" row matches Rasa's own report; the exact-span F1 is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPAN = re.compile(r"\[([^\]]+)\]\((?:\w+|\{[^}]*\})\)")
TOKENS = re.compile(r"(?u)\b\w+\b|[^\w\s]")  # the WhitespaceTokenizer's pattern
LANGUAGES = ("en", "es", "fr")
NO_ENTITY = "no_entity"


def file_language(path: Path) -> str:
    """As `doorstep_nlu.language.file_language` (which needs Rasa to import)."""
    name = path.name.lower()
    for code in ("es", "fr"):
        if name.startswith((f"{code}_", f"heldout_{code}")):
            return code
    return "en"


def language_map(folders: list[Path]) -> dict[str, str]:
    """Each example's plain text (lower-cased) -> its file's language."""
    import yaml

    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yml")):
            for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
                if "intent" not in block:
                    continue
                for line in str(block.get("examples") or "").splitlines():
                    if line.strip().startswith("- "):
                        found[key(SPAN.sub(r"\1", line.strip()[2:]))] = file_language(path)
    return found


def key(text: str) -> str:
    return " ".join(text.lower().split())


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    labels = sorted({g for g, _ in pairs})
    scores = []
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else float("nan")


def token_labels(text: str, entities: list[dict]) -> list[str]:
    labels = []
    for m in TOKENS.finditer(text):
        label = NO_ENTITY
        for e in entities:
            if int(e["start"]) < m.end() and m.start() < int(e["end"]):
                label = e["entity"]
                break
        labels.append(label)
    return labels


def entity_scores(rows: list[dict]) -> tuple[float, float, Counter]:
    """(token-level micro F1, exact-span F1, per-label token F1 counts)."""
    tp = fp = fn = 0
    per: Counter = Counter()
    s_tp = s_fp = s_fn = 0
    for row in rows:
        gold = token_labels(row["text"], row["entities"])
        pred = token_labels(row["text"], row["predicted_entities"])
        for g, p in zip(gold, pred, strict=True):
            if g != NO_ENTITY and g == p:
                tp += 1
                per[(g, "tp")] += 1
            else:
                if p != NO_ENTITY:
                    fp += 1
                    per[(p, "fp")] += 1
                if g != NO_ENTITY:
                    fn += 1
                    per[(g, "fn")] += 1
        gold_spans = {(e["entity"], int(e["start"]), int(e["end"])) for e in row["entities"]}
        pred_spans = {
            (e["entity"], int(e["start"]), int(e["end"])) for e in row["predicted_entities"]
        }
        s_tp += len(gold_spans & pred_spans)
        s_fp += len(pred_spans - gold_spans)
        s_fn += len(gold_spans - pred_spans)
    token_f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    span_f1 = 2 * s_tp / (2 * s_tp + s_fp + s_fn) if s_tp + s_fp + s_fn else float("nan")
    return token_f1, span_f1, per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=str(ROOT / "nlu" / "results"))
    parser.add_argument(
        "--data", nargs="+", default=[str(ROOT / "nlu" / "data"), str(ROOT / "nlu" / "heldout")]
    )
    args = parser.parse_args()
    results = Path(args.results)
    languages = language_map([Path(d) for d in args.data])

    intents = load(results / "intent_successes.json") + load(results / "intent_errors.json")
    by_lang: dict[str, list[tuple[str, str]]] = defaultdict(list)
    unknown = 0
    for row in intents:
        lang = languages.get(key(row["text"]))
        if lang is None:
            unknown += 1
            lang = "en"
        pair = (row["intent"], row["intent_prediction"]["name"])
        by_lang[lang].append(pair)
        by_lang["all"].append(pair)

    extractor = next(
        (
            name
            for name in ("ContractSpans", "DIETClassifier", "CRFEntityExtractor")
            if (results / f"{name}_errors.json").exists()
            or (results / f"{name}_successes.json").exists()
        ),
        None,
    )
    ents: dict[str, list[dict]] = defaultdict(list)
    if extractor is not None:
        seen = set()
        for row in load(results / f"{extractor}_successes.json") + load(
            results / f"{extractor}_errors.json"
        ):
            if row["text"] in seen:
                continue
            seen.add(row["text"])
            lang = languages.get(key(row["text"]), "en")
            ents[lang].append(row)
            ents["all"].append(row)

    if not intents:
        sys.exit(
            f"no intent_successes.json / intent_errors.json in {results} (run with --successes)"
        )
    print(
        f"{results}: {len(intents)} messages"
        + (f" ({unknown} of unknown language)" if unknown else "")
    )
    print(f"{'language':8s} {'messages':>8s} {'intent macro-F1':>16s} {'accuracy':>9s} "
          f"{'entity F1':>10s} {'(exact spans)':>14s}")  # fmt: skip
    for lang in (*LANGUAGES, "all"):
        pairs = by_lang.get(lang) or []
        if not pairs:
            continue
        accuracy = sum(g == p for g, p in pairs) / len(pairs)
        token_f1, span_f1, _ = entity_scores(ents.get(lang) or [])
        print(f"{lang:8s} {len(pairs):8d} {macro_f1(pairs):16.3f} {accuracy:9.3f} "
              f"{token_f1:10.3f} {span_f1:14.3f}")  # fmt: skip
    for lang in (*LANGUAGES, "all"):
        pairs = by_lang.get(lang) or []
        if not pairs:
            continue
        labels = sorted({g for g, _ in pairs})
        worst = sorted((_label_f1(pairs, label), label) for label in labels)
        _, _, per = entity_scores(ents.get(lang) or [])
        entity_f1 = {
            label: 2
            * per[(label, "tp")]
            / max(1, 2 * per[(label, "tp")] + per[(label, "fp")] + per[(label, "fn")])
            for label in sorted({k for k, _ in per})
        }
        print(
            f"{lang}: lowest intents "
            + ", ".join(f"{label} {f:.2f}" for f, label in worst[:4])
            + "; entities "
            + ", ".join(f"{label} {f:.2f}" for label, f in entity_f1.items())
        )
    rasa_report = results / "intent_report.json"
    if rasa_report.exists():
        macro = json.loads(rasa_report.read_text())["macro avg"]["f1-score"]
        print(f"(Rasa's own intent report, all languages: macro-F1 {macro:.3f})")


def _label_f1(pairs: list[tuple[str, str]], label: str) -> float:
    tp = sum(1 for g, p in pairs if g == label and p == label)
    fp = sum(1 for g, p in pairs if g != label and p == label)
    fn = sum(1 for g, p in pairs if g == label and p != label)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


if __name__ == "__main__":
    main()
