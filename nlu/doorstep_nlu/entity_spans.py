"""The Rasa component that applies `spans` (the contract's span rules) after the tagger."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from doorstep_nlu.spans import normalise


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ContractSpans(GraphComponent):
    """Cuts the spans the extractors before it found to the contract's rules (`spans`)."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ContractSpans:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            entities = [dict(e) for e in message.get(ENTITIES) or []]
            final = normalise(text, entities)
            for entity in final:
                # The spans are this component's decision; the tagger that proposed one
                # is kept beside it. `rasa test` then scores the pipeline's output.
                entity.setdefault("tagger", entity.get("extractor"))
                entity["extractor"] = "ContractSpans"
            message.set(ENTITIES, final, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
