"""LiteRT's GPU and NPU accelerators, through its CompiledModel API (`ai_edge_litert`).

The classic interpreter (compilers/tflite/__init__.py) stays the CPU path: it has the op
profiler `explain` reads, and the CompiledModel's CPU path measured the same here (a ratio of
0.90-1.02 at two threads, interleaved). GPU: WebGPU over Vulkan (accelerators/vulkan.py), in
fp16 by default, fp32 enforced for an fp32 cell. NPU: a model compiled ahead of time for a
vendor's SoC (compilers/tflite/npu.py) runs through that vendor's dispatch library.

What ran is measured, never assumed: the GPU adapter LiteRT selected (its name and type, from
LiteRT's own log), whether LiteRT reports every op accelerated, the device the NPU dispatch
used; a software device is marked as such. `run_by_index` returns once the work is queued: the
output read is the only completion signal the Python API gives, so an inference is timed
through its read, never as a launch alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import Runtime
from edgebench.errors import BackendUnavailable, ConversionError
from edgebench.models import ModelSpec

READ_RETRIES = 3  # "TensorBufferWrapper error: code=7" (a completion wait that timed out)
_ADAPTER = re.compile(r"Selected adapter:\s*(?P<name>.*?),\s*arch=.*?adapterType=(?P<type>[^,\n]+)")
_BACKEND = re.compile(r"backend=(?P<backend>[A-Za-z0-9]+)")
_DISPATCH = re.compile(r"Dispatch: using device '(?P<device>[^']+)'")


@contextlib.contextmanager
def native_log() -> Iterator[list[str]]:
    """What native code writes to standard error (file descriptor 2) meanwhile, as lines;
    written back to standard error afterwards, so the worker's log keeps it. LiteRT says which
    GPU adapter and NPU dispatch device it chose only there."""
    lines: list[str] = []
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            os.write(2, text.encode())
            lines.extend(text.splitlines())


def adapter_of(lines: list[str]) -> dict[str, Any]:
    """The GPU adapter LiteRT's WebGPU accelerator selected: name, type, backend, and whether
    it is a software device (llvmpipe: `adapterType=CPU / Software`)."""
    for line in lines:
        match = _ADAPTER.search(line)
        if match:
            kind = match["type"].strip()
            backend = _BACKEND.search(line)
            return {
                "device": match["name"].strip(),
                "adapter_type": kind,
                "backend": backend["backend"] if backend else None,
                "software": "software" in kind.lower() or kind.upper().startswith("CPU"),
            }
    return {}


def _why(lines: list[str]) -> str:
    """The line of LiteRT's log that says why creating the model failed."""
    telling = [ln for ln in lines if re.search(r"ERROR|Failed|failed|No adapters", ln)]
    for ln in reversed(telling):
        if "litert_compiled_model.h" not in ln and "compiled_model.cc" not in ln:
            return re.sub(r"^.*?\] ", "", ln.strip())[:300]
    return (telling or lines or ["no reason logged"])[-1].strip()[:300]


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


class CompiledModelRuntime(Runtime):
    """A .tflite on LiteRT's GPU or NPU accelerator, through the CompiledModel API."""

    splits_io = True

    def __init__(
        self,
        path: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        accelerator: str,
        precision: str,
        options: dict[str, Any],
    ) -> None:
        from ai_edge_litert.compiled_model import CompiledModel

        self.accelerator = accelerator
        self.info: dict[str, Any] = {}
        self.read_retries = 0
        litert_options = self._options(accelerator, precision, threads, options)
        with native_log() as lines:
            try:
                self.model = CompiledModel.from_file(str(path), options=litert_options)
            except RuntimeError:
                raise BackendUnavailable(
                    f"LiteRT's {accelerator.upper()} accelerator could not load it: {_why(lines)}"
                ) from None
        self._check_placement(path, lines, options)
        key = next(iter(self.model.get_signature_list()))
        inputs = self.model.get_input_tensor_details(key)
        by_tensor = {d["name"]: d for d in inputs.values()}
        ordered = [by_tensor[i.name] for i in model.inputs if i.name in by_tensor]
        same = len(ordered) == len(inputs) == len(model.inputs)
        self._inputs: list[dict[str, Any]] = ordered if same else list(inputs.values())
        for i, detail in enumerate(self._inputs):
            if detail["shape"][:1] != [batch_size]:
                self._resize(i, [batch_size, *detail["shape"][1:]])
        self._outputs = list(self.model.get_output_tensor_details(key).values())
        self._in = self.model.create_input_buffers(0)
        self._out = self.model.create_output_buffers(0)
        self._last: list[np.ndarray] = []
        self.info["fully_accelerated"] = bool(self.model.is_fully_accelerated())

    def _options(
        self, accelerator: str, precision: str, threads: int, options: dict[str, Any]
    ) -> Any:
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, GpuOptions, Options

        cpu = CpuOptions(num_threads=threads)  # without it LiteRT's CPU part runs one thread
        if accelerator == "gpu":
            from edgebench.accelerators.vulkan import use_software_vulkan
            from edgebench.cache import default_cache_dir

            use_software_vulkan(default_cache_dir())
            # fp32 cells compute in fp32 (LiteRT's GPU default is fp16); int8 models' quantized
            # convolutions and fully connected layers are dequantized on the GPU
            gpu = GpuOptions(enforce_f32=precision == "fp32", allow_src_quantized_fc_conv_ops=True)
            self.info["precision"] = "fp32" if precision == "fp32" else "fp16"
            return Options(
                hardware_accelerators=HardwareAccelerator.GPU, cpu_options=cpu, gpu_options=gpu
            )
        from edgebench.compilers.tflite.npu import npu_options

        return npu_options(cpu, options, self.info)

    def _check_placement(self, path: Path, lines: list[str], options: dict[str, Any]) -> None:
        """What LiteRT chose, from its log; an NPU model that did not reach the vendor's
        dispatch ran on XNNPACK, however `is_fully_accelerated()` reads."""
        if self.accelerator == "gpu":
            self.info.update(adapter_of(lines))
            return
        from edgebench.compilers.tflite.npu import dispatch_ops

        dispatch = next((m for ln in lines if (m := _DISPATCH.search(ln))), None)
        if dispatch is None:
            n, _ = dispatch_ops(path)
            why = "it holds no NPU-compiled op" if not n else "the vendor's dispatch never ran"
            raise ConversionError(
                f"the NPU path fell back to the CPU (XNNPACK): {why}, though LiteRT reports "
                "the model fully accelerated; not measured as an NPU"
            )
        device = dispatch["device"]
        vendor = str(self.info.get("vendor") or "the vendor")
        self.info.update({
            "device": f"{device} (through {vendor}'s dispatch)",
            "software": device.upper() == "CPU",
        })  # fmt: skip
        if device.upper() == "CPU" and _cpu_has_bf16():
            self.info["note"] = (
                "OpenVINO's CPU device computes in bf16 on this CPU (AVX512_BF16 or AMX): "
                "fp32 figures carry bf16's rounding"
            )

    def _resize(self, index: int, dims: list[int]) -> None:
        try:
            self.model.resize_input_tensor(index, dims)
        except (RuntimeError, ValueError) as exc:
            raise BackendUnavailable(
                f"LiteRT's {self.accelerator.upper()} path cannot run batch {dims[0]} of this "
                f"model ({str(exc).splitlines()[0][:120]})"
            ) from None

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.stage(inputs)
        self.infer()
        return self.fetch()

    def stage(self, inputs: list[np.ndarray]) -> None:
        for buffer, detail, x in zip(self._in, self._inputs, inputs, strict=True):
            buffer.write(np.ascontiguousarray(x, dtype=np.dtype(detail["dtype"])))

    def infer(self) -> None:
        """Runs and reads the outputs: `run_by_index` returns once the work is queued, and
        reading an output is what waits for the accelerator to finish."""
        self.model.run_by_index(0, self._in, self._out)
        self._last = [
            self._read(buffer, detail)
            for buffer, detail in zip(self._out, self._outputs, strict=True)
        ]

    def _read(self, buffer: Any, detail: dict[str, Any]) -> np.ndarray:
        shape = [int(d) for d in detail["shape"]]
        for attempt in range(READ_RETRIES + 1):
            try:
                return np.asarray(
                    buffer.read(int(np.prod(shape)), np.dtype(detail["dtype"]))
                ).reshape(shape)
            except RuntimeError as exc:  # code=7: the wait for completion timed out
                if "code=7" not in str(exc) or attempt == READ_RETRIES:
                    raise
                self.read_retries += 1
        raise AssertionError("unreachable")

    def fetch(self) -> list[np.ndarray]:
        return self._last

    def accelerator_info(self) -> dict[str, Any]:
        return {**self.info, "read_retries": self.read_retries}

    def close(self) -> None:
        self.model.close()


__all__ = ["CompiledModelRuntime", "adapter_of", "native_log"]
