"""`torch`: PyTorch eager, or torch.compile (inductor, with freezing for inference), on CPU or
CUDA. fp32 everywhere; bf16 autocast on CPUs with native bf16 and on CUDA; fp16 autocast on CUDA.

torch.compile compiles on the first call with real inputs, so `load` runs that call and reports
its time (`runtime_metrics()["compile_s"]`); the harness moves it from load time to conversion
time, and the timed runs see only compiled code.
"""

from __future__ import annotations

import shutil
import time
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
from edgebench.compilers.options import Option
from edgebench.compilers.registry import register
from edgebench.errors import BackendUnavailable, UnsupportedPrecision, UsageError
from edgebench.models import ModelSpec
from edgebench.models.torch_program import load_program

MODES = ("none", "default", "reduce-overhead", "max-autotune")


def _cpu_has_bf16() -> bool:
    from edgebench.sysinfo import cpu_info

    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_info()["flags"]))


class ModuleRuntime(Runtime):
    def __init__(
        self, path: Path, batch: int, threads: int, precision: str, options: dict[str, Any]
    ) -> None:
        import torch

        self._torch = torch
        device = str(options.get("device", "cpu"))
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("CUDA is not available to this PyTorch build or host")
        if device not in ("cpu", "cuda"):
            raise UsageError(f"device '{device}': choose cpu or cuda")
        if precision == "fp16" and device != "cuda":
            raise UnsupportedPrecision("fp16 autocast is for CUDA; on CPU use bf16 or fp32")
        if precision == "bf16" and device == "cpu" and not _cpu_has_bf16():
            raise UnsupportedPrecision("this CPU has no native bf16 (avx512_bf16 or amx_bf16)")
        mode = str(options.get("torch_compile", "default"))
        if mode not in MODES:
            raise UsageError(f"torch_compile '{mode}': choose one of {', '.join(MODES)}")
        torch.set_num_threads(threads)
        self.device = torch.device(device)
        # Never torch.export.load: a .pt2 can run code as it loads (models/torch_program.py).
        module: Any = load_program(path).module().to(self.device)
        if mode != "none":
            import torch._inductor.config as inductor

            # Freezing folds the weights into the graph (inference only): on unless switched off.
            inductor.freezing = bool(options.get("torch_freezing", True))
            module = torch.compile(module, mode=None if mode == "default" else mode)
        self.module = module
        self.compiled = mode != "none"
        self.compile_s = 0.0
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            xs = [torch.from_numpy(x).to(self.device) for x in inputs]
            if self._dtype is not None:
                with torch.autocast(self.device.type, dtype=self._dtype):
                    out = self.module(*xs)
            else:
                out = self.module(*xs)
            outs = out if isinstance(out, (list, tuple)) else [out]
            # .cpu() waits for CUDA to finish, so the clock never measures only a launch.
            return [o.float().cpu().numpy() for o in outs]

    def runtime_metrics(self) -> dict[str, Any]:
        """torch.compile's time on the first call: the harness counts it as conversion time."""
        return {"compile_s": self.compile_s} if self.compiled else {}


@register
class TorchCompiler(Compiler):
    name = "torch"
    description = "PyTorch eager or torch.compile (inductor, frozen), CPU or CUDA"
    extra = "torch"
    accelerators = ("cpu", "gpu")
    precisions = ("fp32", "bf16", "fp16")
    input_formats = ("torch",)
    requires = ("torch",)
    runtime_modules = ("torch",)
    packages = ("torch",)
    declared_options = (
        Option("torch_compile", "default", "torch.compile mode (none: eager)", choices=MODES),
        Option("device", "cpu", "where the module runs", choices=("cpu", "cuda"), search=("cpu",)),
        Option("torch_freezing", True, "inductor freezing (folds weights into the graph)"),
    )

    def accelerator_of(self, options: dict[str, Any]) -> str:
        return "gpu" if options.get("device") == "cuda" else "cpu"

    def accelerator_options(self, accelerator: str) -> dict[str, Any]:
        return {"device": "cuda" if accelerator == "gpu" else "cpu"}

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        mode = str(options.get("torch_compile", "default"))
        lines = [
            "import torch",
            f"torch.set_num_threads({threads})",
            f"module = torch.export.load({artifact!r}).module()",
        ]
        if mode != "none":
            lines += [
                "import torch._inductor.config as inductor",
                f"inductor.freezing = {bool(options.get('torch_freezing', True))}",
                f"module = torch.compile(module{'' if mode == 'default' else f', mode={mode!r}'})",
            ]
        if precision == "bf16":
            lines.append("with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):")
        else:
            lines.append("with torch.no_grad():")
        lines.append("    y = module(torch.from_numpy(x))")
        return "\n".join(lines)

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """Inductor's freezing, then torch.compile itself, switched off."""
        if str(options.get("torch_compile", "default")) == "none":
            return []
        steps = []
        if bool(options.get("torch_freezing", True)):
            steps.append(Ablation("inductor freezing off", {"torch_freezing": False}))
        steps.append(Ablation("torch.compile off (eager)", {"torch_compile": "none"}))
        return steps

    def compile(self, request: CompileRequest) -> CompileOutput:
        # The exported program is the artifact; torch.compile happens where it runs.
        shutil.copyfile(request.source, request.out_dir / "model.pt2")
        (request.out_dir / "precision").write_text(request.precision)
        return CompileOutput("model.pt2", [], {"precision": request.precision})

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        precision = (artifact.parent / "precision").read_text().strip()
        runtime = ModuleRuntime(artifact, batch_size, threads, precision, options)
        from edgebench.models.synthetic_inputs import make_inputs

        t = time.perf_counter()
        runtime.predict(make_inputs(model, batch_size))  # torch.compile compiles on this call
        runtime.compile_s = time.perf_counter() - t if runtime.compiled else 0.0
        return runtime

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.torch_runtime.explain import explain

        return explain(request)
