"""Fine-tune the sentence encoder on the intents before it featurises anything.

Why: the pretrained all-MiniLM-L6-v2 places sentences by general meaning, so "please
don't leave it with a neighbour" sits next to "leave it with a neighbour", and "return
to sender" next to "I'm returning the chair". A few epochs of classification on our
labelled replies move such pairs apart. Cross-validated on our data the fine-tuned
encoder raised the intent classifier's macro-F1 (README, "Understanding replies");
the classification head used here is thrown away, the intent classifier after it
reads the encoder's new sentence vectors together with the n-grams.

The loop is written out (no Keras `fit`) so that it runs as one traced `tf.function`
per step on any batch shape, with the masked-mean pooling the encoder was trained with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# The scale of the cosine logits: unit-length sentence vectors times 20 gives logits
# in [-20, 20], wide enough for a softmax to become confident.
LOGIT_SCALE = 20.0


def fine_tune(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    max_pieces: int,
    seed: int,
) -> float | None:
    """Train `model` (a TFBertModel) in place to tell the intents of `texts` apart.

    Returns the last epoch's mean loss (None when there was nothing to learn)."""
    import tensorflow as tf

    classes = sorted(set(labels))
    if epochs <= 0 or len(classes) < 2:
        return None
    tf.keras.utils.set_random_seed(seed)
    target = np.array([classes.index(label) for label in labels], dtype=np.int32)
    head = tf.keras.layers.Dense(len(classes))
    steps = epochs * -(-len(texts) // batch_size)
    schedule = tf.keras.optimizers.schedules.PolynomialDecay(learning_rate, steps, 0.0)
    optimizer = tf.keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.01)
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec, tf.TensorSpec([None], tf.int32)])
    def step(ids: Any, mask: Any, gold: Any) -> Any:
        with tf.GradientTape() as tape:
            hidden = model(ids, attention_mask=mask, training=True).last_hidden_state
            weights = tf.cast(mask, tf.float32)[..., None]
            sentence = tf.reduce_sum(hidden * weights, 1) / tf.reduce_sum(weights, 1)
            logits = head(tf.math.l2_normalize(sentence, -1) * LOGIT_SCALE)
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(gold, logits, from_logits=True)
            )
        variables = model.trainable_variables + head.trainable_variables
        # autograph's zip takes no strict=; gradient() returns one entry per variable.
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))  # noqa: B905
        return loss

    rng = np.random.default_rng(seed)
    lengths = np.array(
        [
            len(ids)
            for ids in tokenizer(list(texts), truncation=True, max_length=max_pieces)["input_ids"]
        ]
    )
    mean_loss = float("nan")
    for epoch in range(1, epochs + 1):
        started, losses = time.perf_counter(), []
        for batch in _batches(rng, lengths, batch_size):
            enc = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=max_pieces,
                return_tensors="np",
            )
            loss = step(
                enc["input_ids"].astype(np.int32),
                enc["attention_mask"].astype(np.int32),
                target[batch],
            )
            losses.append(float(loss))
        mean_loss = float(np.mean(losses))
        logger.info(
            "fine-tuning the sentence encoder: epoch %d/%d, loss %.3f, %.0f s",
            epoch,
            epochs,
            mean_loss,
            time.perf_counter() - started,
        )
    return mean_loss


def _batches(rng: Any, lengths: np.ndarray, batch_size: int, pool: int = 16) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: a batch is padded to its longest message, so
    one long message among short ones made most of a batch padding. The examples are
    shuffled, sorted by length within pools of `pool` batches, cut into batches, and
    the batches shuffled again (each epoch differently)."""
    order = rng.permutation(len(lengths))
    size = batch_size * pool
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
