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
        # safe_mode (Keras's default, said so it stays): no Lambda layer's Python code, no
        # vocabulary file or SavedModel from outside the archive, no callable outside Keras.
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ModelLoadError(f"{path}: {_keras_refusal(exc)}") from exc


# What a user can do with a .keras file that holds code edgebench will not run.
_AS_SAVEDMODEL = "export it as a SavedModel (model.export(FOLDER)) and give that folder"


def _keras_refusal(exc: Exception) -> str:
    """Keras's error as one line. Keras nests the config of every enclosing object in its
    message ("... Exception encountered: ..."), several paragraphs deep; the innermost cause
    says what went wrong. Its advice to pass safe_mode=False is not edgebench's to follow."""
    text = str(exc).strip()
    cause = text.rsplit("Exception encountered:", 1)[-1].strip().split("\n")[0] if text else ""
    if "`Lambda` layer" in cause and "safe_mode" in cause:
        return (
            "a Keras Lambda layer holds Python code, which edgebench does not run (safe_mode); "
            + _AS_SAVEDMODEL
        )
    if "safe_mode" in cause:  # a TFSMLayer, a vocabulary file outside the archive
        first = cause.split(". ")[0].removeprefix("Requested the ")
        return f"Keras's safe_mode refuses {first}, and so does edgebench; {_AS_SAVEDMODEL}"
    if cause.startswith("Could not locate"):  # a custom layer or function by name
        first = cause.split(". ")[0]
        return f"{first}: edgebench loads no Python code beside Keras's own; {_AS_SAVEDMODEL}"
    return f"cannot load as a Keras model ({cause[:300] or type(exc).__name__})"


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


def signature_shape(name: str, declared: Any, model: ModelSpec, batch: Any) -> list[Any]:
    """An input's shape in a fixed signature: the batch set on its first dimension, or its
    whole declared shape where the model gives it no batch dimension (a state, a scalar)."""
    spec = next((i for i in model.inputs if i.name == name), None)
    if spec is not None and not spec.batched:
        return list(spec.shape)
    return [batch, *list(declared)[1:]]


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
            tf.TensorSpec(
                signature_shape(i.name.split(":")[0], i.shape, model, batch),
                i.dtype,
                name=i.name.split(":")[0],
            )
            for i in keras_model.inputs
        ]
    keras_model.export(str(out_dir / "saved_model"), input_signature=signature, verbose=False)
    return "saved_model"
