"""The `null` compiler: returns its input. It measures the harness's own overhead per call.

After MLPerf LoadGen's null SUT: a latency floor to read every other row against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compilers.base import CompileOutput, Compiler, CompileRequest, Runtime
from edgebench.compilers.registry import register
from edgebench.models import ModelSpec


class _Identity(Runtime):
    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return inputs


@register
class NullCompiler(Compiler):
    name = "null"
    description = "identity: the harness's own overhead per call"
    precisions = ("fp32", "fp16", "bf16", "int8-dynamic", "int8")
    input_formats = ("*",)  # needs no model file, only the input shapes
    runs_model = False

    def compile(self, request: CompileRequest) -> CompileOutput:
        raise NotImplementedError("the null compiler builds nothing")  # never routed here

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _Identity()
