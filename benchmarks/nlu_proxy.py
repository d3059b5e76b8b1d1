"""A one-minute stand-in for `make nlu-eval`'s intent cross-validation, to find errors.

The shipped pipeline's 5-fold cross-validation takes about 45 minutes, most of it
fine-tuning the encoder once per fold. This runs the same kinds of features with the
encoder *not* fine-tuned (its sentence vectors computed once and cached), the word
and character n-grams, the lookup and regex matches weighted apart from them, and the
same logistic regression, in scikit-learn's 5 folds. Its macro-F1 runs about 1.5
points under the real one, but its errors are mostly the same messages: use it to see
which messages are misread and whether a data or feature change helps, then confirm
with `make nlu-eval`.

    .venv-rasa/bin/python benchmarks/nlu_proxy.py [--errors errors.txt]

Runs in the Rasa virtualenv (Rasa's data loader and lookup patterns, TensorFlow).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

import numpy as np
from rasa.nlu.utils import pattern_utils
from rasa.shared.nlu.training_data.loading import load_data
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report, f1_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "nlu"))
TOKENS = r"(?u)\b\w+\b|[^\w\s]"  # the WhitespaceTokenizer's pattern in nlu/config.yml


def embeddings(texts: list[str], cache_dir: Path) -> np.ndarray:
    """The pretrained encoder's mean-pooled, unit-length sentence vectors (cached)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cache = cache_dir / f"nlu-proxy-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from doorstep_nlu.sentence_embeddings import bundled_model_dir
    from transformers import BertTokenizerFast, TFBertModel

    model_dir = str(bundled_model_dir())
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    model = TFBertModel.from_pretrained(model_dir)
    out = []
    for start in range(0, len(texts), 64):
        enc = tokenizer(
            texts[start : start + 64],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="np",
        )
        hidden = model(enc["input_ids"], attention_mask=enc["attention_mask"])
        mask = enc["attention_mask"][..., None]
        vectors = (hidden.last_hidden_state.numpy() * mask).sum(1) / mask.sum(1)
        out.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    matrix = np.vstack(out)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, matrix)
    return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "nlu" / "data"))
    parser.add_argument("--errors", help="write the misread messages here")
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument("--pattern-weight", type=float, default=0.6)
    parser.add_argument("--class-weight", default="balanced", choices=["balanced", "none"])
    args = parser.parse_args()

    data = load_data(args.data)
    texts = [m.get("text") for m in data.intent_examples]
    gold = np.array([m.get("intent") for m in data.intent_examples])
    vectors = embeddings(texts, ROOT / ".cache")
    patterns = pattern_utils.extract_patterns(data, use_only_entities=False)
    matched = sparse.csr_matrix(
        [[float(bool(re.search(p["pattern"], t, re.IGNORECASE))) for p in patterns] for t in texts]
    )

    def features(rows: np.ndarray, words: CountVectorizer, chars: CountVectorizer, fit: bool):
        chosen = [texts[i] for i in rows]
        w = words.fit_transform(chosen) if fit else words.transform(chosen)
        c = chars.fit_transform(chosen) if fit else chars.transform(chosen)
        counts = sparse.hstack([w, c]).tocsr().astype(float)
        counts.data = np.log1p(counts.data)
        norms = np.sqrt(counts.multiply(counts).sum(1)).A.ravel()
        counts = sparse.diags(1 / np.where(norms == 0, 1, norms)) @ counts
        dense = sparse.csr_matrix(vectors[rows])
        return sparse.hstack([counts, args.pattern_weight * matched[rows], dense]).tocsr()

    predicted = np.empty(len(gold), dtype=object)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for train, test in folds.split(texts, gold):
        words = CountVectorizer(token_pattern=TOKENS)
        chars = CountVectorizer(analyzer="char_wb", ngram_range=(1, 4))
        weights = None if args.class_weight == "none" else "balanced"
        clf = LogisticRegression(C=args.C, max_iter=3000, class_weight=weights)
        clf.fit(features(train, words, chars, True), gold[train])
        predicted[test] = clf.predict(features(test, words, chars, False))
    predicted = predicted.astype(str)
    print(f"{len(texts)} examples, {len(patterns)} patterns")
    print(f"intent macro-F1 {f1_score(gold, predicted, average='macro'):.4f}")
    print(classification_report(gold, predicted, digits=3))
    if args.errors:
        wrong = sorted((g, p, t) for t, g, p in zip(texts, gold, predicted, strict=True) if g != p)
        lines = [f"{g:24s} -> {p:24s} {t}\n" for g, p, t in wrong]
        Path(args.errors).write_text("".join(lines))
        print(f"{len(wrong)} misread messages in {args.errors}")


if __name__ == "__main__":
    main()
