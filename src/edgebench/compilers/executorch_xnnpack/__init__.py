"""`executorch`: a PyTorch program lowered to ExecuTorch's XNNPACK backend (`.pte`), on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import (
    CompileOutput,
    Compiler,
    CompileRequest,
    ExplainRequest,
    Findings,
    Runtime,
)
from edgebench.compilers.registry import register
from edgebench.errors import UsageError
from edgebench.models import ModelSpec
from edgebench.models.torch_program import load_program


class _PteRuntime(Runtime):
    def __init__(self, path: Path) -> None:
        import torch
        from executorch.runtime import Runtime as ETRuntime

        self._torch = torch
        program = ETRuntime.get().load_program(str(path))
        self._method = program.load_method("forward")

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = self._method.execute([self._torch.from_numpy(x) for x in inputs])
        return [np.asarray(o) for o in outs]


@register
class ExecuTorchCompiler(Compiler):
    name = "executorch"
    description = "ExecuTorch .pte lowered to the XNNPACK backend (CPU)"
    extra = "executorch"
    precisions = ("fp32",)
    input_formats = ("torch",)
    requires = ("torch", "executorch")
    runtime_modules = ("executorch", "torch")
    packages = ("torch", "executorch")
    compiles_per_batch = True  # the .pte is lowered for one input shape

    def compile(self, request: CompileRequest) -> CompileOutput:
        import torch
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        batch = request.batch_size or 1
        if not all(spec.is_static for spec in request.model.inputs):
            raise UsageError("ExecuTorch needs static input sizes: give them with --input-shape")
        module = load_program(request.source).module()
        example = tuple(torch.zeros(*spec.feed_shape(batch)) for spec in request.model.inputs)
        program = torch.export.export(module, example)
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        out = request.out_dir / "model.pte"
        out.write_bytes(lowered.to_executorch().buffer)
        return CompileOutput(out.name, [], {"backend": "XNNPACK", "batch": batch})

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        return (
            "import torch\n"
            "from executorch.runtime import Runtime\n"
            f"method = Runtime.get().load_program({artifact!r}).load_method('forward')\n"
            "y = method.execute([torch.from_numpy(x)])[0]"
        )

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _PteRuntime(artifact)

    def explain(self, request: ExplainRequest) -> Findings:
        from edgebench.compilers.executorch_xnnpack.explain import explain

        return explain(request)
