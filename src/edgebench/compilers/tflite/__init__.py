"""`tflite`: LiteRT (TensorFlow Lite) through `ai_edge_litert`.

Conversion uses TensorFlow's TFLiteConverter from a SavedModel; measuring needs only LiteRT, so
the measuring process never imports TensorFlow. On the CPU the classic interpreter runs it (with
XNNPACK); on the GPU and NPU accelerators, LiteRT's CompiledModel (accelerated.py), after an
ahead-of-time compile for the NPU's SoC (npu.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import (
    Ablation,
    Availability,
    CompileOutput,
    Compiler,
    CompileRequest,
    ExplainRequest,
    Findings,
    Runtime,
)
from edgebench.compilers.options import WEIGHT_OPTIONS, Option
from edgebench.compilers.registry import register
from edgebench.errors import BackendUnavailable
from edgebench.models import ModelSpec


class InterpreterRuntime(Runtime):
    def __init__(
        self, path: Path, model: ModelSpec, batch_size: int, threads: int, xnnpack: bool
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = (
            OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        self.interpreter = self._it = Interpreter(
            model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver
        )
        details = self._it.get_input_details()
        by_name = {d["name"]: d for d in details}
        ordered = [by_name.get(i.name) for i in model.inputs]
        self._inputs = ordered if all(ordered) and len(ordered) == len(details) else details
        for d, spec in zip(self._inputs, model.inputs, strict=False):
            # The model spec's shape fills dynamic dimensions (given with --input-shape); an
            # input without a batch dimension keeps its whole declared shape.
            wanted = list(spec.feed_shape(batch_size))
            if list(d["shape"]) != wanted:
                self._it.resize_tensor_input(d["index"], wanted)
        self._it.allocate_tensors()
        self._outputs = [d["index"] for d in self._it.get_output_details()]

    splits_io = True

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.stage(inputs)
        self.infer()
        return self.fetch()

    def stage(self, inputs: list[np.ndarray]) -> None:
        for d, x in zip(self._inputs, inputs, strict=True):
            self._it.set_tensor(d["index"], x)

    def infer(self) -> None:
        self._it.invoke()

    def fetch(self) -> list[np.ndarray]:
        return [self._it.get_tensor(i) for i in self._outputs]


@register
class TFLiteCompiler(Compiler):
    name = "tflite"
    description = "LiteRT / TensorFlow Lite interpreter (XNNPACK on by default)"
    extra = "tflite"
    precisions = ("fp32", "fp16", "int8-dynamic", "int8", "int8-weights", "int4-weights", "int8x16")
    input_formats = ("savedmodel", "tflite")
    # LiteRT alone measures a .tflite (a device host need not have TensorFlow); converting
    # to one needs TensorFlow, and says so when it is missing
    requires = ("ai_edge_litert",)
    runtime_modules = ("ai_edge_litert",)
    device_packages = ("ai-edge-litert==2.3.0",)
    packages = ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "litert-quantizer")
    accelerators = ("cpu", "gpu", "npu")
    declared_options = (
        Option("xnnpack", True, "the XNNPACK delegate (false: TFLite's own kernels)"),
        # The NPU's own step (npu.py) keys its artifact by these, not the .tflite's compile
        Option(
            "npu_target",
            "",
            "the SoC an NPU cell is compiled for (SM8650, MT6989, Tensor_G4, "
            "LNL, ...; `edgebench list accelerators`)",
            search=(),
            accelerators=("npu",),
        ),
        Option(
            "npu_graph_backend",
            "npu",
            "Intel's NPU compile: its NPU, or OpenVINO's CPU device (a software NPU)",
            choices=("npu", "cpu"),
            search=("npu",),
            accelerators=("npu",),
        ),
        *WEIGHT_OPTIONS,
    )
    needs_static_batch = True

    def probe_accelerator(self, accelerator: str, options: dict[str, Any]) -> Availability:
        from edgebench.cache import default_cache_dir

        if accelerator == "gpu":
            from edgebench.accelerators.vulkan import unavailable_reason

            why = unavailable_reason(default_cache_dir())
            return Availability(why is None, why or "")
        if accelerator == "npu":
            from edgebench.compilers.tflite.npu import sdk_problem, vendor_of

            target = str(options.get("npu_target") or "")
            if not target:
                return Availability(
                    False, "an NPU cell needs its SoC: -o npu_target=... (`edgebench list "
                    "accelerators` lists them, and which SDKs are installed)"
                )  # fmt: skip
            why = sdk_problem(
                vendor_of(target), default_cache_dir(), str(options.get("npu_graph_backend"))
            )
            return Availability(why is None, why or "")
        return Availability(True)

    def accelerator_step(self, accelerator: str, options: dict[str, Any]) -> Any:
        """An NPU's ahead-of-time compile, after the .tflite is built (cached per SoC)."""
        if accelerator != "npu":
            return None
        from edgebench.conversion.routes import Converter

        return Converter(
            "npu_compile", "tflite", "tflite_npu", "edgebench.compilers.tflite.npu:compile_for_npu",
            ("ai-edge-litert",), option_names=("npu_target", "npu_graph_backend"),
        )  # fmt: skip

    def load_on(
        self,
        accelerator: str,
        precision: str,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        if accelerator == "cpu":
            return self.load(artifact, model, batch_size, threads, options)
        from edgebench.compilers.tflite.accelerated import CompiledModelRuntime

        return CompiledModelRuntime(
            artifact, model, batch_size, threads, accelerator, precision, options
        )

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """XNNPACK switched off, then the quantization or float16 weights undone."""
        steps = []
        if options.get("xnnpack", True):
            steps.append(Ablation("XNNPACK off (TFLite's own kernels)", {"xnnpack": False}))
        if precision != "fp32":
            steps.append(Ablation(f"{precision} -> fp32", precision="fp32"))
        return steps

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        resolver = "" if options.get("xnnpack", True) else (
            ",\n    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES"
        )  # fmt: skip
        return (
            "from ai_edge_litert.interpreter import Interpreter, OpResolverType\n"
            f"it = Interpreter(model_path={artifact!r}, num_threads={threads}{resolver})\n"
            "it.allocate_tensors()\n"
            "it.set_tensor(it.get_input_details()[0]['index'], x)\n"
            "it.invoke()\n"
            "y = it.get_tensor(it.get_output_details()[0]['index'])"
        )

    def compile(self, request: CompileRequest) -> CompileOutput:
        """A .tflite at the cell's precision: TensorFlow's converter from a SavedModel (fp32,
        fp16, int8-dynamic, int8), litert-quantizer's recipe on a .tflite (a user's file at
        any precision but fp32, which is measured as it is; int8-weights, int4-weights and
        int8x16 from a SavedModel too, on its fp32 .tflite)."""
        from edgebench.compilers.tflite.quantize import RECIPE_NAMES

        out = request.out_dir / "model.tflite"
        precision = request.precision
        warnings: list[str] = []
        info: dict[str, Any] = {"io_dtype": "float32"}
        if request.source_format == "tflite":
            model = request.source.read_bytes()
        elif precision in ("int8-weights", "int4-weights", "int8x16"):
            model = self._converted(request, "fp32", warnings, info)
        else:
            out.write_bytes(self._converted(request, precision, warnings, info))
            return CompileOutput(out.name, warnings, info)
        if precision == "fp32":
            out.write_bytes(model)  # a .tflite file, measured as it is
            return CompileOutput(out.name, warnings, info)
        from edgebench.compilers.tflite.quantize import CALIBRATED, quantize

        calibrated = precision in CALIBRATED
        samples = request.calibration.batches() if calibrated else None
        out.write_bytes(quantize(model, precision, samples))
        info["recipe"] = f"litert-quantizer: {RECIPE_NAMES[precision]}"
        if calibrated:
            self._calibrated(request, warnings, info)
        return CompileOutput(out.name, warnings, info)

    @staticmethod
    def _calibrated(request: CompileRequest, warnings: list[str], info: dict[str, Any]) -> None:
        info["calibration"] = request.calibration.record()
        if request.calibration.is_random:
            warnings.append(
                f"{request.precision} calibrated on random inputs: speed figures hold, "
                "accuracy would not"
            )

    def _converted(
        self, request: CompileRequest, precision: str, warnings: list[str], info: dict[str, Any]
    ) -> bytes:
        """TensorFlow's TFLite converter on the SavedModel, at `precision`."""
        if importlib.util.find_spec("tensorflow") is None:
            raise BackendUnavailable(
                "converting to .tflite needs TensorFlow (pip install 'edgebench[tflite]'); "
                "a .tflite file runs without it"
            )
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(request.source))
        if precision == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif precision == "int8-dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif precision == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: request.calibration.batched(
                request.batch_size or 1
            )
            # Integer kernels wherever they exist; ops without one (e.g. NMS) stay float.
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
            self._calibrated(request, warnings, info)
        model: bytes = converter.convert()
        return model

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return InterpreterRuntime(
            artifact, model, batch_size, threads, bool(options.get("xnnpack", True))
        )

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.tflite.explain import explain

        return explain(request)
