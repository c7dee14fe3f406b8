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


ONNX2TF_SAMPLES = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx_to_savedmodel(
    source: Path | None, out_dir: Path, model: ModelSpec, weights: ResolvedWeights, batch: Any
) -> str:
    """An ONNX graph to a TensorFlow SavedModel through onnx2tf, run from its own venv
    (conversion/tools.py); TFLite's converter takes it from there, at every precision. Inputs
    keep their NCHW layout (`-k`), so every compiler is fed the same tensors; the sizes come
    from the model's inputs (dynamic ones from --input-shape), the batch from the plan (1
    where it is free)."""
    import shutil
    import subprocess

    import numpy as np

    from edgebench.cache import default_cache_dir
    from edgebench.conversion.tools import require
    from edgebench.errors import ConversionError

    assert source is not None
    program = require("onnx2tf", default_cache_dir())
    shapes = [
        f"{spec.name}:{','.join(str(d) for d in (batch or 1, *spec.shape))}"
        for spec in model.inputs
    ]
    work = out_dir / "onnx2tf"
    # onnx2tf writes its simplified graph over its input: it gets a copy, never the user's file.
    copy = out_dir / "input.onnx"
    shutil.copyfile(source, copy)
    cmd = [str(program), "-i", str(copy), "-o", str(work), "-n", "-ois", *shapes]
    cmd += ["-k", *(spec.name for spec in model.inputs)]
    # For image inputs onnx2tf checks its output on sample images that it downloads from
    # GitHub unless a copy is in its working folder: it finds edgebench's there (seeded noise in
    # [0, 1]), so a conversion never needs the network.
    run_in = out_dir / "onnx2tf-run"
    run_in.mkdir()
    samples = np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)
    np.save(run_in / ONNX2TF_SAMPLES, samples)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=run_in)
    shutil.rmtree(run_in)
    if done.returncode != 0 or not (work / "saved_model.pb").is_file():
        lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines
        raise ConversionError(f"onnx2tf: {errors[-1][:300] if errors else done.returncode}")
    out = out_dir / "saved_model"
    out.mkdir()
    for part in ("saved_model.pb", "variables", "assets", "fingerprint.pb"):
        if (work / part).exists():
            (work / part).rename(out / part)
    shutil.rmtree(work)  # onnx2tf's own .tflite files: edgebench builds its own
    copy.unlink()
    return out.name
