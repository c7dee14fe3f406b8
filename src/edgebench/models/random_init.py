"""Random weights whose outputs depend on the input, for speed runs that still check fidelity.

Keras initializes BatchNormalization as the identity (mean 0, variance 1) whatever its input,
so a deep random network's activations fade layer by layer: a random MobileNetV2 outputs 0.001
for every class whatever the image (std 1e-10), and any artifact, however broken, "agrees" with
it. Here every BatchNormalization takes its moving statistics from the network's own
activations on a batch of seeded random inputs (one forward pass in training mode with the
momentum at 0), as training would leave them, so activations stay alive through the depth; a
classifier's last layer is then scaled so its logits spread like a trained one's. Imported only
inside a worker (needs Keras).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SAMPLES = 8  # random inputs the statistics are taken from
LOGIT_STD = 3.0  # the spread of a classifier's logits across classes after scaling


def lively_random_weights(
    model: Any, value_range: tuple[float, float] = (-1.0, 1.0), seed: int = 0
) -> None:
    """Sets `model`'s BatchNormalization statistics (and a softmax classifier's scale) so
    its outputs vary with its input; seeded, so a model is rebuilt the same every time."""
    import keras

    rng = np.random.default_rng(seed)
    shapes = [tuple(int(d) for d in i.shape[1:]) for i in model.inputs]
    batch = [rng.uniform(*value_range, (SAMPLES, *s)).astype("float32") for s in shapes]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(batch if len(batch) > 1 else batch[0], training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    _sharpen_classifier(model, batch)


def _sharpen_classifier(model: Any, batch: list[np.ndarray]) -> None:
    """Scales a final softmax Dense layer so its logits spread by about LOGIT_STD."""
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.activation is not keras.activations.softmax:
        return
    probs = np.asarray(model(batch if len(batch) > 1 else batch[0], training=False))
    logits = np.log(np.clip(probs, 1e-30, None))
    spread = float(np.mean(np.std(logits, axis=1)))
    if spread <= 0:
        return
    kernel, bias = last.get_weights()
    scale = LOGIT_STD / spread
    last.set_weights([kernel * scale, bias * scale])


__all__ = ["lively_random_weights"]
