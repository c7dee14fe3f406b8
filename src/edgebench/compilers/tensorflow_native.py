"""`tensorflow`: the native TensorFlow baseline, a SavedModel called through `tf.function`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import CompileOutput, Compiler, CompileRequest, Runtime
from edgebench.compilers.options import WEIGHT_OPTIONS
from edgebench.compilers.registry import register
from edgebench.models import ModelSpec


def configure_tensorflow_threads(threads: int) -> None:
    """Pins TensorFlow's thread pools; must run before TensorFlow executes any op."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


class _SavedModelRuntime(Runtime):
    def __init__(self, path: Path, input_names: list[str]) -> None:
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(path))
        serve = getattr(self._loaded, "serve", None)
        if serve is not None:
            # Keras exports: a tf.function taking positional tensors.
            self._call = lambda xs: serve(*xs)
        else:
            fn = self._loaded.signatures["serving_default"]
            names = sorted(fn.structured_input_signature[1]) or input_names
            self._call = lambda xs: fn(**dict(zip(names, xs, strict=True)))

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        out = self._call([self._tf.constant(x) for x in inputs])
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        elif not isinstance(out, list | tuple):
            out = [out]
        # .numpy() waits for the result, so the clock stops after the work, not the launch.
        return [t.numpy() for t in out]


@register
class TensorFlowCompiler(Compiler):
    name = "tensorflow"
    description = "native TensorFlow (SavedModel through tf.function): the baseline"
    extra = "tflite"
    precisions = ("fp32",)
    input_formats = ("savedmodel",)
    requires = ("tensorflow",)
    runtime_modules = ("tensorflow",)
    packages = ("tensorflow", "tensorflow-cpu", "keras")
    declared_options = WEIGHT_OPTIONS  # a pruned or clustered model's own SavedModel

    def compile(self, request: CompileRequest) -> CompileOutput:
        # The artifact is the SavedModel itself, copied so that its size and path are its own.
        shutil.copytree(request.source, request.out_dir / "saved_model")
        return CompileOutput("saved_model")

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        return (
            "import tensorflow as tf\n"
            f"tf.config.threading.set_intra_op_parallelism_threads({threads})\n"
            f"model = tf.saved_model.load({artifact!r})\n"
            "y = model.serve(tf.constant(x)).numpy()"
        )

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        configure_tensorflow_threads(threads)
        return _SavedModelRuntime(artifact, [i.name for i in model.inputs])
