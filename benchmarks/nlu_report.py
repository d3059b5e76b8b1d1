"""Summarise `rasa test nlu --cross-validation` reports: intent macro-F1, entity F1."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(results: Path) -> None:
    intents = json.loads((results / "intent_report.json").read_text())
    print(
        f"intent macro-F1 {intents['macro avg']['f1-score']:.3f} "
        f"(weighted {intents['weighted avg']['f1-score']:.3f}, "
        f"accuracy {intents.get('accuracy', float('nan')):.3f})"
    )
    worst = sorted(
        (v["f1-score"], k)
        for k, v in intents.items()
        if isinstance(v, dict)
        and "support" in v
        and k not in ("macro avg", "weighted avg", "micro avg")
    )[:5]
    print("lowest intents: " + ", ".join(f"{k} {f:.2f}" for f, k in worst))
    # ContractSpans is the last entity step: its report is the pipeline's output.
    for name in (
        "ContractSpans_report.json",
        "DIETClassifier_report.json",
        "CRFEntityExtractor_report.json",
    ):
        path = results / name
        if path.exists():
            ents = json.loads(path.read_text())
            key = "micro avg" if "micro avg" in ents else "weighted avg"
            print(
                f"entity F1 ({name.split('_')[0]}, {key}) {ents[key]['f1-score']:.3f}; per "
                "entity: "
                + ", ".join(
                    f"{k} {v['f1-score']:.2f}"
                    for k, v in ents.items()
                    if isinstance(v, dict) and "avg" not in k
                )
            )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "nlu/results"))
