"""`openvino`: OpenVINO on CPU (GPU/NPU where present), from ONNX or straight from `.tflite`.

With no setting OpenVINO runs bf16 on CPUs that have it, which would make an fp32 row dishonest:
every precision here sets INFERENCE_PRECISION_HINT explicitly (f32 for fp32 and for what int8
leaves in float; bf16 and f16 only as their own precisions, on devices whose
OPTIMIZATION_CAPABILITIES list them). INT8 is NNCF post-training quantization on the run's
calibration data. Under the THROUGHPUT hint the runtime keeps OpenVINO's optimal number of
infer requests in flight (an AsyncInferQueue) and the harness times those asynchronous runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
from edgebench.errors import BackendUnavailable, ConversionError, UnsupportedPrecision, UsageError
from edgebench.models import ModelSpec

# The inference precision each edgebench precision runs at. int8 runs its quantized layers in
# int8 whatever the hint; f32 keeps the layers NNCF left in float out of bf16.
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
_CAPABILITY = {"bf16": "BF16", "fp16": "FP16"}
_PERF_HINTS = ("LATENCY", "THROUGHPUT")


def _core_with(device: str) -> Any:
    """An OpenVINO Core, after checking that `device` is present."""
    import openvino as ov

    core = ov.Core()
    if device not in core.available_devices:
        raise BackendUnavailable(
            f"OpenVINO device {device} not found (this host has "
            f"{', '.join(core.available_devices) or 'none'})"
        )
    return core


def _check_precision(core: Any, device: str, precision: str) -> None:
    needed = _CAPABILITY.get(precision)
    capabilities = list(core.get_property(device, "OPTIMIZATION_CAPABILITIES"))
    if needed and needed not in capabilities:
        raise UnsupportedPrecision(
            f"OpenVINO {device} has no {needed} support on this host "
            f"(its capabilities: {', '.join(capabilities)})"
        )


def _check_reshape(ir: Any, model: ModelSpec, shapes: dict[int, list[int]]) -> None:
    """Refuses a reshape that would change a size the model fixes (only a batch dimension
    may change): OpenVINO reshaped a recurrent state [2,1,128] to [1,1,128] without a word,
    and measured a different model.

    Raises:
        ConversionError: the IR would run at other sizes than the model declares.
    """
    for i, wanted in shapes.items():
        declared = ir.inputs[i].get_partial_shape()
        spec = model.inputs[i]
        if declared.rank.is_dynamic or declared.rank.get_length() != len(wanted):
            raise ConversionError(
                f"OpenVINO's input {i} ('{spec.name}') has shape {declared}; edgebench would "
                f"feed {'x'.join(map(str, wanted))}"
            )
        for k, (dim, size) in enumerate(zip(declared, wanted, strict=True)):
            # A batch may be set where the model leaves it free or fixes it at 1 (exported
            # for one sample); a first dimension of 2 is no batch, whatever the spec says.
            if dim.is_dynamic:
                continue
            batch = spec.batched and k == 0 and dim.get_length() == 1
            if dim.get_length() != size and not batch:
                raise ConversionError(
                    f"OpenVINO would reshape input '{spec.name}' from {declared} to "
                    f"[{','.join(map(str, wanted))}]: the model fixes that size (refused, it "
                    "would measure another model)"
                )


class CompiledRuntime(Runtime):
    def __init__(
        self,
        folder: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
        perf_count: bool = False,
    ) -> None:
        import openvino as ov

        precision = json.loads((folder / "edgebench.json").read_text())["precision"]
        device = str(options.get("ov_device", "CPU")).upper()
        hint = str(options.get("ov_hint", "LATENCY")).upper()
        if hint not in _PERF_HINTS:
            raise UsageError(f"ov_hint '{hint}': choose {' or '.join(_PERF_HINTS)}")
        core = _core_with(device)
        _check_precision(core, device, precision)
        ir = core.read_model(str(folder / "model.xml"))
        # Static shapes for the measured batch: dynamic dimensions (a free batch, or sizes given
        # with --input-shape) would otherwise be resolved on every call.
        shapes = {
            i: list(spec.feed_shape(batch_size))
            for i, spec in enumerate(model.inputs)
            if spec.is_static
        }
        _check_reshape(ir, model, shapes)
        if shapes:
            ir.reshape(shapes)
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": hint,
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
        }
        if device == "CPU":
            config["INFERENCE_NUM_THREADS"] = threads
        if perf_count:  # per-layer counters, for explain
            config["PERF_COUNT"] = True
        self.compiled = core.compile_model(ir, device, config)
        self.request = self._request = self.compiled.create_infer_request()
        self._n_outputs = len(self.compiled.outputs)
        self._engine_ms: list[float] = []
        self._queue: Any = None
        self.splits_io = hint == "LATENCY"  # one request: fill it, infer, read it
        if hint == "THROUGHPUT":
            self._queue = ov.AsyncInferQueue(self.compiled)  # OPTIMAL_NUMBER_OF_INFER_REQUESTS
            self._queue.set_callback(lambda _request, done: done())
            self.in_flight = len(self._queue)

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self._request.infer(dict(enumerate(inputs)), share_inputs=True)
        return [self._request.get_output_tensor(i).data.copy() for i in range(self._n_outputs)]

    def stage(self, inputs: list[np.ndarray]) -> None:
        for i, x in enumerate(inputs):
            self._request.get_input_tensor(i).data[...] = x

    def infer(self) -> None:
        # Outputs shared, not copied: `fetch` copies them, outside the timed inference
        self._request.infer(share_outputs=True)

    def fetch(self) -> list[np.ndarray]:
        # OpenVINO's own timer of the inference just run, read outside the timed call
        self._engine_ms.append(float(self._request.latency))
        return [self._request.get_output_tensor(i).data.copy() for i in range(self._n_outputs)]

    def runtime_metrics(self) -> dict[str, Any]:
        """OpenVINO's own timer of each timed run (`InferRequest.latency`, what `benchmark_app`
        reports): the inference inside the runtime, without the call's return through the
        Python binding that edgebench's clock, like any Python application, also waits for."""
        if not self._engine_ms:
            return {}
        ms = np.asarray(self._engine_ms)
        return {
            "engine_ms": {
                "p50": float(np.median(ms)),
                "mean": float(ms.mean()),
                "p99": float(np.percentile(ms, 99)),
                "runs": len(ms),
            },
            "engine_timer": "OpenVINO InferRequest.latency",
        }

    def wait_idle(self) -> None:
        self._queue.get_idle_request_id()

    def submit(self, inputs: list[np.ndarray], done: Callable[[], None]) -> None:
        self._queue.start_async(dict(enumerate(inputs)), done, share_inputs=True)

    def wait_all(self) -> None:
        self._queue.wait_all()


@register
class OpenVINOCompiler(Compiler):
    name = "openvino"
    description = "OpenVINO (CPU; explicit f32/bf16/f16 precision hints; NNCF int8)"
    extra = "openvino"
    precisions = ("fp32", "bf16", "fp16", "int8")
    input_formats = ("onnx", "tflite")
    requires = ("openvino", "nncf")
    runtime_modules = ("openvino",)
    device_packages = ("openvino==2026.4.1",)
    packages = ("openvino", "nncf")
    accelerators = ("cpu", "gpu", "npu")  # OpenVINO's own devices (Intel GPUs and NPUs)
    declared_options = (
        Option(
            "ov_hint",
            "LATENCY",
            "performance hint (THROUGHPUT keeps several requests in flight)",
            choices=_PERF_HINTS,
        ),
        Option("ov_device", "CPU", "OpenVINO device (CPU, GPU, NPU, ...)", search=("CPU",)),
        *WEIGHT_OPTIONS,
    )
    needs_static_batch = True

    def accelerator_of(self, options: dict[str, Any]) -> str:
        device = str(options.get("ov_device", "CPU")).upper()
        return "gpu" if device.startswith("GPU") else "npu" if device.startswith("NPU") else "cpu"

    def accelerator_options(self, accelerator: str) -> dict[str, Any]:
        return {"ov_device": accelerator.upper()}

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        config = {
            "PERFORMANCE_HINT": str(options.get("ov_hint", "LATENCY")).upper(),
            "INFERENCE_PRECISION_HINT": _HINTS.get(precision, "f32"),
            "INFERENCE_NUM_THREADS": threads,
        }
        return (
            "import openvino as ov\n"
            "core = ov.Core()\n"
            f"model = core.read_model({str(Path(artifact) / 'model.xml')!r})\n"
            f"compiled = core.compile_model(model, {str(options.get('ov_device', 'CPU'))!r}, "
            f"{config!r})\n"
            "request = compiled.create_infer_request()\n"
            "y = request.infer([x])[0]"
        )

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """The other performance hint, then the precision stepped back to f32."""
        hint = str(options.get("ov_hint", "LATENCY")).upper()
        other = "THROUGHPUT" if hint == "LATENCY" else "LATENCY"
        steps = [Ablation(f"performance hint {hint} -> {other}", {"ov_hint": other})]
        if precision != "fp32":
            steps.append(
                Ablation(f"{precision} -> fp32 (f32 inference precision)", precision="fp32")
            )
        return steps

    def compile(self, request: CompileRequest) -> CompileOutput:
        import openvino as ov

        device = str(request.options.get("ov_device", "CPU")).upper()
        # Refuse early a precision the device cannot run, before any quantization work.
        _check_precision(_core_with(device), device, request.precision)
        model = ov.convert_model(str(request.source))
        info: dict[str, Any] = {"inference_precision_hint": _HINTS[request.precision]}
        warnings: list[str] = []
        if request.precision == "int8":
            import nncf

            samples = list(request.calibration.batched(request.batch_size or 1))
            dataset = nncf.Dataset(samples, lambda batch: dict(enumerate(batch)))
            model = nncf.quantize(model, dataset, subset_size=len(samples))
            info["int8"] = {"tool": "nncf.quantize", "preset": "performance"}
            info["calibration"] = request.calibration.record()
            if request.calibration.is_random:
                warnings.append(
                    "int8 calibrated on random inputs: speed figures hold, accuracy would not"
                )
        folder = request.out_dir / "ir"
        folder.mkdir()
        # fp32 and int8 keep fp32 weights (OpenVINO stores fp16 by default); bf16/fp16 halve them.
        compress = request.precision in ("fp16", "bf16")
        ov.save_model(model, str(folder / "model.xml"), compress_to_fp16=compress)
        # The precision travels with the artifact: loading must set the same hint.
        (folder / "edgebench.json").write_text(json.dumps({"precision": request.precision}))
        return CompileOutput(folder.name, warnings, info)

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return CompiledRuntime(artifact, model, batch_size, threads, options)

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.openvino_runtime.explain import explain

        return explain(request)
