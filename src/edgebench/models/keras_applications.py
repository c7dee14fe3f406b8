"""Builders for Keras applications models. Imported only inside a worker: needs TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build(
    out: Path,
    weights: str | None = None,
    application: str = "MobileNetV2",
    size: int = 224,
    alpha: float | None = None,
) -> None:
    """Builds a Keras application and saves it as a `.keras` file.

    Args:
        out: where to write the `.keras` file.
        weights: path to a weights file, or None for random weights (seeded, so reproducible,
            with outputs that vary with the input: models/random_init.py).
        application: the class name in `keras.applications`.
        size: input height and width.
        alpha: width multiplier, for MobileNets.
    """
    import keras

    keras.utils.set_random_seed(0)
    kwargs: dict[str, Any] = {"input_shape": (size, size, 3), "weights": None}
    if alpha is not None:
        kwargs["alpha"] = alpha
    model = getattr(keras.applications, application)(**kwargs)
    if weights:
        model.load_weights(weights)
    else:
        from edgebench.models.random_init import lively_random_weights

        lively_random_weights(model)
    model.save(out)
