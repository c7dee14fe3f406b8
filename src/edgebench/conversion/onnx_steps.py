"""Converters into ONNX (tf2onnx, opset 17). Imported only inside a worker process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights

OPSET = 17


def keras_to_onnx(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """A Keras model to ONNX through tf2onnx's `from_keras` (in-process: the tf2onnx CLI on a
    SavedModel needs several GB of memory). With `batch`, the batch size is fixed."""
    import tensorflow as tf
    import tf2onnx

    from edgebench.conversion.tensorflow_steps import load_keras_model

    assert source is not None
    keras_model = load_keras_model(source)
    signature = [
        tf.TensorSpec([batch, *t.shape[1:]], t.dtype, name=t.name.split(":")[0])
        for t in keras_model.inputs
    ]
    out = out_dir / "model.onnx"
    tf2onnx.convert.from_keras(
        keras_model, input_signature=signature, opset=OPSET, output_path=str(out)
    )
    return out.name


def savedmodel_to_onnx(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """A SavedModel's serving signature to ONNX through tf2onnx's `from_function`."""
    import tensorflow as tf
    import tf2onnx

    assert source is not None
    loaded = tf.saved_model.load(str(source))
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    signature = [
        tf.TensorSpec([batch, *spec.shape[1:]], spec.dtype, name=name)
        for name, spec in sorted(specs.items())
    ]
    out = out_dir / "model.onnx"
    tf2onnx.convert.from_function(fn, input_signature=signature, opset=OPSET, output_path=str(out))
    return out.name


def tflite_to_onnx(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """A user's `.tflite` file to ONNX through tf2onnx's `from_tflite`, for the compilers that
    take only ONNX. The batch stays as the file has it (a free batch where its signature has
    one)."""
    import tf2onnx

    assert source is not None
    out = out_dir / "model.onnx"
    tf2onnx.convert.from_tflite(str(source), opset=OPSET, output_path=str(out))
    return out.name
