"""`tensorrt`: an ONNX model built into a serialized TensorRT engine (TensorRT 10 Python API).

Needs an NVIDIA GPU, the `tensorrt` package and PyTorch with CUDA (for device memory and
streams). Where any is missing, the compiler reports itself unavailable with the reason.
Timing follows trtexec: host-to-device copies, GPU compute (CUDA events) and device-to-host
copies are recorded separately (`runtime_metrics`), and `predict` returns host arrays, so the
harness's end-to-end clock includes the copies and a synchronize.
"""

from __future__ import annotations

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
from edgebench.compilers.options import Option
from edgebench.compilers.registry import register
from edgebench.errors import ConversionError
from edgebench.models import ModelSpec


def _onnx_input_names(path: Path) -> list[str]:
    from edgebench.compilers.onnx_runtime import input_names

    return input_names(path)


class EngineRuntime(Runtime):
    def __init__(self, path: Path) -> None:
        import tensorrt as trt
        import torch

        self._torch = torch
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(path.read_bytes())
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self._trt = trt
        self._buffers: dict[str, Any] = {}
        self.h2d_ms: list[float] = []
        self.compute_ms: list[float] = []
        self.d2h_ms: list[float] = []

    def _buffer(self, name: str, shape: tuple[int, ...]) -> Any:
        torch = self._torch
        dtype = torch.from_numpy(
            np.zeros(0, dtype=self._trt.nptype(self.engine.get_tensor_dtype(name)))
        ).dtype
        buf = self._buffers.get(name)
        if buf is None or tuple(buf.shape) != shape:
            buf = torch.empty(shape, dtype=dtype, device="cuda")
            self._buffers[name] = buf
            self.context.set_tensor_address(name, buf.data_ptr())
        return buf

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        events = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        with torch.cuda.stream(self.stream):
            events[0].record()
            for name, x in zip(self.inputs, inputs, strict=True):
                self.context.set_input_shape(name, x.shape)
                self._buffer(name, x.shape).copy_(torch.from_numpy(x), non_blocking=True)
            events[1].record()
            outs = [self._buffer(n, tuple(self.context.get_tensor_shape(n))) for n in self.outputs]
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            events[2].record()
            host = [o.cpu() for o in outs]
            events[3].record()
        self.stream.synchronize()
        self.h2d_ms.append(events[0].elapsed_time(events[1]))
        self.compute_ms.append(events[1].elapsed_time(events[2]))
        self.d2h_ms.append(events[2].elapsed_time(events[3]))
        return [h.numpy() for h in host]

    def runtime_metrics(self) -> dict[str, Any]:
        """trtexec's split of the latency, medians in ms, and GPU memory in use."""
        med = lambda v: float(np.median(v)) if v else None  # noqa: E731
        return {
            "h2d_ms": med(self.h2d_ms),
            "gpu_compute_ms": med(self.compute_ms),
            "d2h_ms": med(self.d2h_ms),
            "gpu_memory_mb": self._torch.cuda.memory_allocated() / 2**20,
        }


def _entropy_calibrator(batches: list[list[np.ndarray]], batch: int, cache_file: Path) -> Any:
    """TensorRT's IInt8EntropyCalibrator2 fed with the calibration batches, copied to the GPU
    one batch at a time."""
    import tensorrt as trt
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self._batches = iter(batches)
            self._on_device: list[Any] = []

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            arrays = next(self._batches, None)
            if arrays is None:
                return None
            self._on_device = [torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in arrays]
            return [int(t.data_ptr()) for t in self._on_device]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.exists() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_file.write_bytes(bytes(cache))

    return EntropyCalibrator()


@register
class TensorRTCompiler(Compiler):
    name = "tensorrt"
    description = "NVIDIA TensorRT engine from ONNX (GPU)"
    extra = "tensorrt"
    accelerators = ("gpu",)
    precisions = ("fp32", "fp16", "int8", "best")
    input_formats = ("onnx",)
    requires = ("tensorrt", "torch")
    runtime_modules = ("tensorrt", "torch")
    packages = ("tensorrt", "onnx", "tf2onnx")
    declared_options = (
        Option(
            "trt_workspace_mb",
            4096,
            "builder workspace memory pool, MB",
            stage="conversion",
            minimum=1,
            search=(4096,),
        ),
    )
    compiles_per_batch = True  # one optimization profile per measured batch size
    builds_for_host = True  # an engine is tuned for the GPU it was built on

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """Reduced precision undone: fp16, int8 and best each against an fp32 engine."""
        return [Ablation(f"{precision} -> fp32", precision="fp32")] if precision != "fp32" else []

    @classmethod
    def probe(cls) -> Availability:
        base = super().probe()
        if not base.available:
            return Availability(False, f"{base.reason}; TensorRT needs an NVIDIA GPU and CUDA")
        from edgebench.sysinfo import gpus

        if not gpus():  # nvidia-smi: no CUDA import just to list compilers
            return Availability(False, "no NVIDIA GPU found (nvidia-smi lists none)")
        return base

    def compile(self, request: CompileRequest) -> CompileOutput:
        import tensorrt as trt

        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(0)  # explicit batch, the only mode in TensorRT 10
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(Path(request.source).read_bytes()):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ConversionError(f"TensorRT ONNX parser: {'; '.join(errors)[:400]}")
        config = builder.create_builder_config()
        # Layer types, tactics, precisions and fused node names for `edgebench explain`.
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        workspace = int(request.options.get("trt_workspace_mb", 4096)) * 2**20
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
        precision = request.precision
        if precision in ("fp16", "best"):
            config.set_flag(trt.BuilderFlag.FP16)
        batch = request.batch_size or 1
        if precision in ("int8", "best"):
            # INT8 from the QDQ nodes of a quantized ONNX model (explicit quantization), else
            # from TensorRT's entropy calibration on the cell's calibration data.
            config.set_flag(trt.BuilderFlag.INT8)
            layers = (network.get_layer(i).type for i in range(network.num_layers))
            if trt.LayerType.QUANTIZE not in set(layers):
                cache_file = request.out_dir / "int8.calibration_cache"
                config.int8_calibrator = _entropy_calibrator(
                    list(request.calibration.batched(batch)), batch, cache_file
                )
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = (batch, *tuple(tensor.shape)[1:])
            profile.set_shape(tensor.name, shape, shape, shape)
        config.add_optimization_profile(profile)
        # The timing cache lives beside the ONNX artifact in the cache: later builds reuse it.
        cache_file = Path(request.source).parent / "tensorrt.timing_cache"
        cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.exists() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ConversionError(
                "TensorRT engine build failed (see TensorRT's log: unsupported layer or "
                f"workspace of {workspace // 2**20} MB too small; raise trt_workspace_mb)"
            )
        cache_file.write_bytes(bytes(config.get_timing_cache().serialize()))
        out = request.out_dir / "model.engine"
        out.write_bytes(bytes(serialized))
        return CompileOutput(out.name, [], {"tensorrt": trt.__version__, "batch": batch})

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return EngineRuntime(artifact)

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.tensorrt_engine.explain import explain

        return explain(request)
