"""`openvino`: OpenVINO on CPU (GPU/NPU where present), from ONNX or straight from `.tflite`.

With no setting OpenVINO runs bf16 on CPUs that have it, which would make an fp32 row dishonest:
every precision here sets INFERENCE_PRECISION_HINT explicitly (f32 for fp32 and for what int8
leaves in float; bf16 and f16 only as their own precisions, on devices whose
OPTIMIZATION_CAPABILITIES list them). INT8 is NNCF post-training quantization on the run's
calibration data. Under the THROUGHPUT hint, throughput is measured as OpenVINO recommends, with
a queue of asynchronous infer requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers import register
from edgebench.compilers.base import CompileOutput, Compiler, CompileRequest, Runtime
from edgebench.errors import BackendUnavailable, UnsupportedPrecision, UsageError
from edgebench.harness.timing import StopRule, TimedWindow
from edgebench.models import ModelSpec

_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
_CAPABILITY = {"bf16": "BF16", "fp16": "FP16"}


class _CompiledRuntime(Runtime):
    def __init__(self, path: Path, precision: str, threads: int, options: dict[str, Any]) -> None:
        import openvino as ov

        device = str(options.get("ov_device", "CPU"))
        hint = str(options.get("ov_hint", "LATENCY")).upper()
        if hint not in ("LATENCY", "THROUGHPUT"):
            raise UsageError(f"ov_hint '{hint}': choose LATENCY or THROUGHPUT")
        core = ov.Core()
        if device not in core.available_devices:
            raise BackendUnavailable(
                f"OpenVINO device {device} not found (have {', '.join(core.available_devices)})"
            )
        needed = _CAPABILITY.get(precision)
        capabilities = core.get_property(device, "OPTIMIZATION_CAPABILITIES")
        if needed and needed not in capabilities:
            raise UnsupportedPrecision(
                f"OpenVINO {device} has no {needed} support on this host "
                f"(capabilities: {', '.join(capabilities)})"
            )
        config = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": _HINTS[precision]}
        if device == "CPU":
            config["INFERENCE_NUM_THREADS"] = str(threads)
        self.compiled = core.compile_model(str(path), device, config)
        self.hint = hint
        self._request = self.compiled.create_infer_request()
        self._n_outputs = len(self.compiled.outputs)

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self._request.infer(dict(enumerate(inputs)))
        return [self._request.get_output_tensor(i).data.copy() for i in range(self._n_outputs)]

    def timed_async(
        self, inputs: list[np.ndarray], rule: StopRule, on_window: Callable[[str], None]
    ) -> TimedWindow | None:
        """Under THROUGHPUT: keeps OpenVINO's optimal number of requests in flight until the
        stop rule is met. Samples are per-request latencies; throughput is requests x batch
        over the wall time of the window. None under LATENCY (the harness's own loop runs)."""
        if self.hint != "THROUGHPUT":
            return None
        import openvino as ov

        queue = ov.AsyncInferQueue(self.compiled)  # sized by OPTIMAL_NUMBER_OF_INFER_REQUESTS
        feed = dict(enumerate(inputs))
        clock = time.perf_counter_ns
        t = clock()
        self.predict(inputs)
        window = TimedWindow(first_inference_ms=(clock() - t) / 1e6)
        for _ in range(max(rule.warmup_runs, len(queue))):
            queue.start_async(feed)
        queue.wait_all()
        samples = window.samples_ms
        on_window("start")
        queue.set_callback(lambda _request, started: samples.append((clock() - started) / 1e6))
        start = clock()
        submitted = 0
        while True:
            queue.start_async(feed, clock())  # blocks while every request is busy
            submitted += 1
            elapsed = clock() - start
            if submitted >= rule.max_runs or (
                submitted >= rule.min_runs and elapsed >= rule.min_duration_s * 1e9
            ):
                break
        queue.wait_all()
        window.window_s = (clock() - start) / 1e9
        on_window("stop")
        return window


@register
class OpenVINOCompiler(Compiler):
    name = "openvino"
    description = "OpenVINO (CPU; explicit f32/bf16/f16 precision hints; NNCF int8)"
    extra = "openvino"
    precisions = ("fp32", "bf16", "fp16", "int8")
    input_formats = ("onnx", "tflite")
    requires = ("openvino", "nncf")
    packages = ("openvino", "nncf")
    runtime_options = {"ov_hint": "LATENCY", "ov_device": "CPU"}
    needs_static_batch = True

    def compile(self, request: CompileRequest) -> CompileOutput:
        import openvino as ov

        model = ov.convert_model(str(request.source))
        info: dict[str, Any] = {"inference_precision_hint": _HINTS[request.precision]}
        warnings: list[str] = []
        if request.precision == "int8":
            import nncf

            samples = list(request.calibration.batched(request.batch_size or 1))
            dataset = nncf.Dataset(samples, lambda batch: dict(enumerate(batch)))
            model = nncf.quantize(model, dataset, subset_size=len(samples))
            info["calibration"] = {
                "source": request.calibration.source,
                "size": request.calibration.size,
            }
            if request.calibration.is_random:
                warnings.append(
                    "int8 calibrated on random inputs: speed figures hold, accuracy would not"
                )
        folder = request.out_dir / "ir"
        folder.mkdir()
        # fp32 keeps fp32 weights (OpenVINO would store fp16 by default); the others may halve them.
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
        precision = json.loads((artifact / "edgebench.json").read_text())["precision"]
        return _CompiledRuntime(artifact / "model.xml", precision, threads, options)
