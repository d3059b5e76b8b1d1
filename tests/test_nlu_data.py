"""The training data keeps the NLU contract: its names, its minimums, one label per text.

These run without Rasa: they read nlu/data/ and nlu/heldout/ as YAML. A text under two
intents, an entity the contract does not name or a held-out message that leaked into
the training data would each make the model's numbers lie.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from tests.test_nlu_spans import spans

NLU = Path(__file__).resolve().parent.parent / "nlu"
INTENTS = {
    "ask_eta", "reschedule", "set_safe_place", "delivery_instructions",
    "request_return_pickup", "not_home", "cancel_delivery", "change_address",
    "report_damaged", "report_missing", "talk_to_human", "affirm", "deny", "greet",
    "thank", "opt_out", "rate_delivery", "out_of_scope",
}  # fmt: skip
ENTITIES = {"time", "place", "access_code", "address", "rating"}
# The minimums: 60 for the six request intents, 25 for every other.
MINIMUM = {
    **dict.fromkeys(INTENTS, 25),
    **dict.fromkeys(
        ["ask_eta", "reschedule", "set_safe_place", "delivery_instructions",
         "request_return_pickup", "not_home"],
        60,
    ),
}  # fmt: skip
# Spanish and French (nlu/data/es_*.yml, fr_*.yml): nine tenths of the English count of
# each intent when these were set (3,602 English examples), so that no language is read
# from a fraction of the others' examples.
MINIMUM_ES_FR = {
    "affirm": 196, "ask_eta": 198, "cancel_delivery": 100, "change_address": 111,
    "delivery_instructions": 311, "deny": 140, "greet": 119, "not_home": 167, "opt_out": 86,
    "out_of_scope": 320, "rate_delivery": 140, "report_damaged": 174, "report_missing": 178,
    "request_return_pickup": 122, "reschedule": 323, "set_safe_place": 276,
    "talk_to_human": 117, "thank": 155,
}  # fmt: skip
SPAN = re.compile(r"\[([^\]]+)\]\((\w+)\)")


def examples(folder: Path) -> list[tuple[str, str, str]]:
    """(file, intent, annotated text) for every example in the folder's YAML files."""
    found = []
    for path in sorted(folder.glob("*.yml")):
        for block in yaml.safe_load(path.read_text())["nlu"]:
            if "intent" in block:
                for line in block["examples"].splitlines():
                    if line.strip().startswith("- "):
                        found.append((path.name, block["intent"], line.strip()[2:]))
    return found


def language(name: str) -> str:
    """A data file's language by its name: es_*.yml, fr_*.yml (heldout_es.yml...), else en."""
    for code in ("es", "fr"):
        if name.startswith((f"{code}_", f"heldout_{code}")):
            return code
    return "en"


def plain(text: str) -> str:
    return " ".join(SPAN.sub(r"\1", text).lower().split())


TRAINING = examples(NLU / "data")
HELDOUT = examples(NLU / "heldout")


@pytest.mark.parametrize("code", ["en", "es", "fr"])
def test_every_intent_is_the_contracts_and_has_its_minimum(code: str) -> None:
    counts = Counter(intent for name, intent, _ in TRAINING if language(name) == code)
    if code != "en" and not counts:
        pytest.skip(f"no {code}_*.yml training data yet")
    assert set(counts) == INTENTS
    minimum = MINIMUM if code == "en" else MINIMUM_ES_FR
    short = {i: counts[i] for i in INTENTS if counts[i] < minimum[i]}
    assert not short, f"{code}: below the minimum: {short}"


def test_the_language_reader_labels_examples_as_the_tests_do() -> None:
    """doorstep_nlu.language (Rasa side) and this file name a file's language alike."""
    source = (NLU / "doorstep_nlu" / "language.py").read_text()
    assert 'name.startswith(f"{code}_") or name.startswith(f"heldout_{code}")' in source
    assert [language(n) for n in ("es_a.yml", "fr_b.yml", "heldout_es.yml", "nlu_x.yml")] == [
        "es",
        "fr",
        "es",
        "en",
    ]


def test_entities_are_the_contracts_and_spans_are_well_formed() -> None:
    for name, _, text in TRAINING + HELDOUT:
        labels = {label for _, label in SPAN.findall(text)}
        assert labels <= ENTITIES, (name, text)
        rest = SPAN.sub("", text)
        assert "](" not in rest and "[" not in rest, (name, text)


def test_no_text_is_labelled_with_two_intents() -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for _, intent, text in TRAINING:
        seen[plain(text)].add(intent)
    conflicts = {text: sorted(intents) for text, intents in seen.items() if len(intents) > 1}
    assert not conflicts


def parse(annotated: str) -> tuple[str, list[dict[str, object]]]:
    """'leave it [by the door](place)' -> its plain text and entity offsets."""
    text, entities, pos = "", [], 0
    for m in SPAN.finditer(annotated):
        text += annotated[pos : m.start()]
        start = len(text)
        text += m.group(1)
        entities.append({"entity": m.group(2), "start": start, "end": len(text)})
        pos = m.end()
    return text + annotated[pos:], entities


def test_spans_are_marked_by_the_rules_the_model_applies() -> None:
    """One convention ("on [friday]", "[by the door]"), or the tagger learns two.

    The model's ContractSpans component cuts every span it finds by these rules, so
    a training span that breaks them would be marked one way and predicted another.
    """
    off = []
    for name, _, annotated in TRAINING + HELDOUT:
        text, entities = parse(annotated)
        expected = [(e["start"], e["end"]) for e in entities]
        ruled = spans.normalise(text, [dict(e) for e in entities])
        if [(e["start"], e["end"]) for e in ruled] != expected:
            off.append((name, annotated))
    assert not off


@pytest.mark.parametrize("kind", ["training", "heldout"])
def test_no_duplicates(kind: str) -> None:
    data = TRAINING if kind == "training" else HELDOUT
    counts = Counter(plain(text) for _, _, text in data)
    assert not [t for t, n in counts.items() if n > 1]


def test_heldout_messages_are_not_in_the_training_data() -> None:
    trained = {plain(text) for _, _, text in TRAINING}
    assert HELDOUT
    leaked = [text for _, _, text in HELDOUT if plain(text) in trained]
    assert not leaked
