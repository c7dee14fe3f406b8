"""Converters into ONNX (tf2onnx, opset 17). Imported only inside a worker process."""

from __future__ import annotations

import re
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

    from edgebench.conversion.tensorflow_steps import load_keras_model, signature_shape

    assert source is not None
    keras_model = load_keras_model(source)
    signature = [
        tf.TensorSpec(
            signature_shape(t.name.split(":")[0], t.shape, model, batch),
            t.dtype,
            name=t.name.split(":")[0],
        )
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

    from edgebench.conversion.tensorflow_steps import signature_shape

    assert source is not None
    loaded = tf.saved_model.load(str(source))
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    signature = [
        tf.TensorSpec(signature_shape(name, spec.shape, model, batch), spec.dtype, name=name)
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
) -> tuple[str, dict[str, Any]]:
    """An ONNX graph to a TensorFlow SavedModel through onnx2tf, run from its own venv
    (conversion/tools.py); TFLite's converter takes it from there, at every precision. Inputs
    keep their NCHW layout (`-k`), so every compiler is fed the same tensors; the sizes come
    from the model's inputs (dynamic ones from --input-shape), the batch from the plan (1
    where it is free).

    onnx2tf gets the graph cleaned up first: onnxslim fixes its input shapes and folds the
    shape arithmetic (onnx2tf gave up on all three PaddleOCR graphs without it: 'Dimension -1
    must be >= 0'), and names TensorFlow refuses for an op are replaced."""
    import shutil
    import subprocess

    import numpy as np
    import onnx

    from edgebench.cache import default_cache_dir
    from edgebench.conversion.onnx_cleanup import (
        cleanup_note,
        slimmed,
        static_shapes,
        tf_safe_names,
    )
    from edgebench.conversion.tools import require
    from edgebench.errors import ConversionError

    assert source is not None
    program = require("onnx2tf", default_cache_dir())
    onnx_model = onnx.load(str(source))
    static = static_shapes(onnx_model, model, batch or 1, "ONNX -> TensorFlow (onnx2tf)")
    clean = slimmed(onnx_model, static)
    renamed = tf_safe_names(clean)
    shapes = [f"{name}:{','.join(map(str, shape))}" for name, shape in static.items()]
    work = out_dir / "onnx2tf"
    # onnx2tf writes its simplified graph over its input: it gets a copy, never the user's file.
    copy = out_dir / "input.onnx"
    onnx.save(clean, str(copy))
    cmd = [str(program), "-i", str(copy), "-o", str(work), "-n", "-ois", *shapes]
    # -k keeps an input NCHW; onnx2tf takes it only for the 3-5-D inputs it would transpose
    # (it asserted on a 2-D audio input and a scalar).
    kept = [spec.name for spec in model.inputs if 3 <= len(spec.full_shape(1)) <= 5]
    if kept:
        cmd += ["-k", *kept]
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
        reason = onnx2tf_reason(done.stdout + done.stderr) or f"exit code {done.returncode}"
        raise ConversionError(f"onnx2tf: {reason}")
    out = out_dir / "saved_model"
    out.mkdir()
    for part in ("saved_model.pb", "variables", "assets", "fingerprint.pb"):
        if (work / part).exists():
            (work / part).rename(out / part)
    shutil.rmtree(work)  # onnx2tf's own .tflite files: edgebench builds its own
    copy.unlink()
    note = cleanup_note(onnx_model, clean, "before onnx2tf")
    if renamed:
        note += f"; {renamed} names TensorFlow refuses for an op replaced"
    return out.name, {"onnx_cleanup": note}


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RAISED = re.compile(r"[A-Za-z_][\w.]*(Error|Exception): ")


def onnx2tf_reason(output: str) -> str:
    """The line of onnx2tf's output that says why it gave up: the exception a traceback ends
    with, else onnx2tf's own first `ERROR:` line (the ones after it are its general advice), else
    the last line; without the terminal colours onnx2tf writes even into a pipe."""
    lines = [_ANSI.sub("", ln).strip() for ln in output.splitlines()]
    lines = [ln for ln in lines if ln]
    raised = [ln for ln in lines if _RAISED.match(ln)]
    own = [ln.removeprefix("ERROR:").strip() for ln in lines if ln.startswith("ERROR:")]
    own = [ln for ln in own if ln and ln != "The trace log is below."]
    found = raised[-1] if raised else own[0] if own else lines[-1] if lines else ""
    return found[:300]
