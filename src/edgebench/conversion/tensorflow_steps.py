"""Converters that need TensorFlow/Keras. Imported only inside a worker process."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from edgebench.errors import ModelLoadError
from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights


def load_keras_model(path: Path) -> Any:
    """Loads a `.keras` file, with edgebench's own layers (the detector's NMS) registered."""
    import keras

    from edgebench.models import ssd_mobilenet_v2

    ssd_mobilenet_v2.register_custom_objects()
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ModelLoadError(f"{path}: cannot load as a Keras model ({exc})") from exc


def materialize_zoo_model(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """Runs a zoo model's builder, with its weights, into `model.keras`."""
    if model.builder is None:
        raise ModelLoadError(f"model {model.name} has no builder")
    module, _, func = model.builder.partition(":")
    build = getattr(importlib.import_module(module), func)
    build(out_dir / "model.keras", weights=weights.path, **model.builder_kwargs)
    return "model.keras"


def keras_to_savedmodel(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """Exports a Keras model as a SavedModel; with `batch`, the batch size is fixed."""
    import tensorflow as tf

    assert source is not None
    keras_model = load_keras_model(source)
    signature = None
    if batch is not None:
        signature = [
            tf.TensorSpec([batch, *i.shape[1:]], i.dtype, name=i.name.split(":")[0])
            for i in keras_model.inputs
        ]
    keras_model.export(str(out_dir / "saved_model"), input_signature=signature, verbose=False)
    return "saved_model"
