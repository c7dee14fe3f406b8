"""`onnxruntime`: ONNX Runtime, CPU by default, CUDA and TensorRT execution providers where the
installed build has them.

INT8 is static QDQ quantization, per channel, calibrated on the run's calibration data. On x86
the default is unsigned 8-bit activations with signed 8-bit weights: ONNX Runtime's x86 kernels
run S8/S8 several times slower (`ort_int8_activation=s8` to measure that anyway; the choice is
recorded with the artifact).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import (
    Ablation,
    CompileOutput,
    Compiler,
    CompileRequest,
    ExplainRequest,
    Findings,
    Runtime,
)
from edgebench.compilers.options import WEIGHT_OPTIONS, Option
from edgebench.compilers.registry import register
from edgebench.errors import BackendUnavailable, UsageError
from edgebench.models import ModelSpec

GRAPH_LEVELS = ("disable", "basic", "extended", "all")
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _graph_level(name: str) -> Any:
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in levels:
        raise UsageError(f"ort_graph_opt '{name}': choose one of {', '.join(GRAPH_LEVELS)}")
    return levels[name]


def input_names(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [i.name for i in graph.input if i.name not in weights]


def session_options(threads: int, options: dict[str, Any]) -> tuple[Any, list[str]]:
    """The session options and providers a cell runs with (the explainer adds profiling to
    the same ones)."""
    import onnxruntime as ort

    provider = PROVIDERS.get(str(options.get("ort_provider", "cpu")))
    if provider is None:
        raise UsageError(f"ort_provider: choose one of {', '.join(PROVIDERS)}")
    available = ort.get_available_providers()
    if provider not in available:
        raise BackendUnavailable(
            f"{provider} is not in this onnxruntime build (it has {', '.join(available)})"
        )
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = _graph_level(str(options.get("ort_graph_opt", "all")))
    providers = [provider] if provider == "CPUExecutionProvider" else [provider, PROVIDERS["cpu"]]
    return so, providers


class _SessionRuntime(Runtime):
    def __init__(self, path: Path, threads: int, options: dict[str, Any]) -> None:
        import onnxruntime as ort

        so, providers = session_options(threads, options)
        self._session = ort.InferenceSession(str(path), so, providers=providers)
        self._names = [i.name for i in self._session.get_inputs()]
        # IO binding on the host: inputs bound once per batch, outputs kept in ORT's buffers.
        self.splits_io = providers[0] == PROVIDERS["cpu"]
        self._binding = self._session.io_binding()
        for output in self._session.get_outputs():
            self._binding.bind_output(output.name, "cpu")

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = self._session.run(None, dict(zip(self._names, inputs, strict=True)))
        return [np.asarray(o) for o in outs]

    def stage(self, inputs: list[np.ndarray]) -> None:
        for name, x in zip(self._names, inputs, strict=True):
            self._binding.bind_cpu_input(name, x)

    def infer(self) -> None:
        self._session.run_with_iobinding(self._binding)

    def fetch(self) -> list[np.ndarray]:
        return [np.asarray(o) for o in self._binding.copy_outputs_to_cpu()]


@register
class OnnxRuntimeCompiler(Compiler):
    name = "onnxruntime"
    description = "ONNX Runtime (CPU; CUDA/TensorRT providers where the build has them)"
    extra = "onnx"
    precisions = ("fp32", "fp16", "int8-dynamic", "int8")
    input_formats = ("onnx",)
    requires = ("onnxruntime", "onnx")  # tf2onnx only for models that are not ONNX yet
    runtime_modules = ("onnxruntime",)
    device_packages = ("onnxruntime==1.32.0",)
    packages = ("onnxruntime", "onnx", "tf2onnx")
    accelerators = ("cpu", "gpu")  # the CUDA and TensorRT providers, where the build has them
    declared_options = (
        Option(
            "ort_int8_activation",
            "u8",
            "activation type of static QDQ int8 (x86 runs s8/s8 several times slower)",
            choices=("u8", "s8"),
            stage="conversion",
            precisions=("int8",),
        ),
        Option(
            "ort_int8_weights",
            "auto",
            "weights of static QDQ int8: s8, or s7 (ORT's reduce_range), which x86 CPUs without "
            "VNNI need (their u8 x s8 dot products saturate); auto: s7 where this host lacks VNNI",
            choices=("auto", "s8", "s7"),
            stage="conversion",
            search=("s8", "s7"),
            precisions=("int8",),
        ),
        Option("ort_graph_opt", "all", "graph optimization level", choices=GRAPH_LEVELS),
        Option("ort_provider", "cpu", "execution provider", choices=tuple(PROVIDERS)),
        *WEIGHT_OPTIONS,
    )
    needs_static_batch = True

    def accelerator_of(self, options: dict[str, Any]) -> str:
        return "gpu" if options.get("ort_provider") in ("cuda", "tensorrt") else "cpu"

    def accelerator_options(self, accelerator: str) -> dict[str, Any]:
        return {"ort_provider": "cuda" if accelerator == "gpu" else "cpu"}

    def search_values(self, option: Option, precision: str) -> tuple[Any, ...]:
        """Execution providers only where this onnxruntime build has them; int8 weights but
        the kind `auto` (the default) already picks on this host, which would be the default
        cell measured twice (and its noise read as a difference)."""
        values = super().search_values(option, precision)
        if option.name == "ort_provider":
            import onnxruntime as ort

            have = ort.get_available_providers()
            values = tuple(v for v in values if PROVIDERS.get(str(v)) in have)
        if option.name == "ort_int8_weights":
            from edgebench.compilers.onnx_runtime.int8 import auto_weights

            values = tuple(v for v in values if v != auto_weights())
        return values

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        level = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                 "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}  # fmt: skip
        provider = PROVIDERS.get(str(options.get("ort_provider", "cpu")), PROVIDERS["cpu"])
        return (
            "import onnxruntime as ort\n"
            "so = ort.SessionOptions()\n"
            f"so.intra_op_num_threads = {threads}\n"
            "so.graph_optimization_level = "
            f"ort.GraphOptimizationLevel.{level[str(options.get('ort_graph_opt', 'all'))]}\n"
            f"session = ort.InferenceSession({artifact!r}, so, providers=[{provider!r}])\n"
            "y = session.run(None, {session.get_inputs()[0].name: x})[0]"
        )

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """Graph optimization stepped down level by level, then int8 and fp16 undone."""
        level = str(options.get("ort_graph_opt", "all"))
        lower = GRAPH_LEVELS[: GRAPH_LEVELS.index(level)] if level in GRAPH_LEVELS else ()
        steps = [
            Ablation(f"graph optimization {level} -> {down}", {"ort_graph_opt": down})
            for down in reversed(lower)
        ]
        if precision != "fp32":
            steps.append(Ablation(f"{precision} -> fp32 (no quantization)", precision="fp32"))
        return steps

    def compile(self, request: CompileRequest) -> CompileOutput:
        src, out = request.source, request.out_dir / "model.onnx"
        precision = request.precision
        info: dict[str, Any] = {}
        warnings: list[str] = []
        if precision == "fp32":
            shutil.copyfile(src, out)
        elif precision == "fp16":
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            # Inputs and outputs stay float32, so every compiler is fed the same tensors.
            model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
            onnx.save(model, str(out))
        elif precision == "int8-dynamic":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8)
        elif precision == "int8":
            from edgebench.compilers.onnx_runtime.int8 import quantize

            act = str(request.options.get("ort_int8_activation", "u8"))
            weights = str(request.options.get("ort_int8_weights", "auto"))
            done = quantize(request, Path(src), out, act, weights)
            warnings.extend(done.pop("warnings"))
            info.update(done)
            info["calibration"] = request.calibration.record()
            if request.calibration.is_random:
                warnings.append(
                    "int8 calibrated on random inputs: speed figures hold, accuracy would not"
                )
        else:
            raise ValueError(f"unhandled precision {precision}")
        return CompileOutput(out.name, warnings, info)

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _SessionRuntime(artifact, threads, options)

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.onnx_runtime.explain import explain

        return explain(request)
