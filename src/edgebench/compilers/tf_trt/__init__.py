"""`tf-trt`: TensorFlow-TensorRT (TrtGraphConverterV2), the study's GPU compiler.

TensorFlow dropped TensorRT from its builds after 2.17, so on current TensorFlow this compiler
reports itself unavailable and says which build to use instead. Where TensorFlow has TensorRT,
it converts a SavedModel at FP32, FP16 or calibrated INT8 and records how much of the graph
became TensorRT engines.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from edgebench.compilers.base import (
    Availability,
    CompileOutput,
    Compiler,
    CompileRequest,
    ExplainRequest,
    Findings,
    Runtime,
)
from edgebench.compilers.registry import register
from edgebench.compilers.tensorflow_native import TensorFlowCompiler
from edgebench.errors import BackendUnavailable
from edgebench.models import ModelSpec

_USE_INSTEAD = (
    "use TensorFlow <= 2.17 built with TensorRT (NVIDIA's TensorFlow containers, or JetPack on "
    "Jetson), or the tensorrt / onnxruntime (TensorRT provider) compilers"
)


def _tf_version() -> tuple[int, int] | None:
    for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu"):
        try:
            major, minor = metadata.version(dist).split(".")[:2]
            return int(major), int(minor)
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


@register
class TFTRTCompiler(Compiler):
    name = "tf-trt"
    description = "TensorFlow-TensorRT (TrtGraphConverterV2; TensorFlow <= 2.17 with TensorRT)"
    extra = None
    install_hint = "TensorFlow <= 2.17 built with TensorRT"
    accelerators = ("gpu",)
    precisions = ("fp32", "fp16", "int8")
    input_formats = ("savedmodel",)
    requires = ("tensorflow",)
    runtime_modules = ("tensorflow",)
    packages = ("tensorflow", "tensorflow-gpu", "tensorrt")

    @classmethod
    def probe(cls) -> Availability:
        version = _tf_version()
        if version is None:
            return Availability(False, f"TensorFlow is not installed; {_USE_INSTEAD}")
        if version >= (2, 18):
            return Availability(
                False,
                f"TensorFlow {version[0]}.{version[1]} has no TensorRT (removed after 2.17); "
                + _USE_INSTEAD,
            )
        return Availability(True)

    def compile(self, request: CompileRequest) -> CompileOutput:
        from tensorflow.python.compiler.tensorrt import trt_convert as trt
        from tensorflow.python.compiler.tensorrt import utils as trt_utils

        if not trt_utils.is_tensorrt_enabled():
            raise BackendUnavailable(f"this TensorFlow was built without TensorRT; {_USE_INSTEAD}")
        mode = {"fp32": "FP32", "fp16": "FP16", "int8": "INT8"}[request.precision]
        converter = trt.TrtGraphConverterV2(
            input_saved_model_dir=str(request.source),
            precision_mode=getattr(trt.TrtPrecisionMode, mode),
            use_calibration=request.precision == "int8",
        )
        batch = request.batch_size or 1

        def calibration_input() -> Any:
            yield from (tuple(b) for b in request.calibration.batched(batch))

        if request.precision == "int8":
            converter.convert(calibration_input_fn=calibration_input)
        else:
            converter.convert()
        out = request.out_dir / "saved_model"
        converter.save(str(out))
        return CompileOutput(out.name, [], {"tf_trt": engine_counts(out)})

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return TensorFlowCompiler().load(artifact, model, batch_size, threads, options)

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.tf_trt.explain import explain

        return explain(request)


def engine_counts(saved_model: Path) -> dict[str, int]:
    """How much of the graph TensorRT took: TRTEngineOp segments and the other nodes left."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model))
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    engines = sum(n.op == "TRTEngineOp" for n in nodes)
    return {"trt_segments": engines, "nodes_outside_trt": len(nodes) - engines}
