"""Compilers that misbehave on purpose, registered only in tests (EDGEBENCH_PLUGINS).

`abort` kills its process with SIGABRT while loading, `hang` never finishes loading, and
`broken-convert` raises inside its conversion: the harness must record each as a failed cell
and go on with the next one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from edgebench.compilers import register
from edgebench.compilers.base import CompileOutput, Compiler, CompileRequest, Runtime
from edgebench.compilers.options import Option
from edgebench.errors import UnsupportedPrecision
from edgebench.models import ModelSpec


class _NoConvert(Compiler):
    precisions = ("fp32",)
    input_formats = ("*",)

    def compile(self, request: CompileRequest) -> CompileOutput:
        raise AssertionError("not routed")


@register
class AbortCompiler(_NoConvert):
    name = "abort"
    description = "test only: calls os.abort() while loading"

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        os.abort()


@register
class HangCompiler(_NoConvert):
    name = "hang"
    description = "test only: never finishes loading"

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        while True:
            time.sleep(1)


@register
class LateUnsupportedCompiler(_NoConvert):
    name = "late-unsupported"
    description = "test only: finds out while loading that it cannot run this precision"

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        raise UnsupportedPrecision("this device has no fp32 kernels (test)")


@register
class BrokenConvertCompiler(Compiler):
    name = "broken-convert"
    description = "test only: its conversion raises"
    precisions = ("fp32",)
    input_formats = ("savedmodel",)

    def compile(self, request: CompileRequest) -> CompileOutput:
        raise RuntimeError("deliberate conversion failure\nwith a second line")

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        raise AssertionError("never loaded")


@register
class KilledCompiler(_NoConvert):
    name = "killed"
    description = "test only: logs a line, then is killed by SIGKILL (as the OOM killer does)"

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        import signal

        print("an unrelated log line from the runtime", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class _Constant(Runtime):
    def __init__(self, value: float, batch_size: int) -> None:
        import numpy as np

        self.output = np.full((batch_size, 10), value, dtype=np.float32)

    def predict(self, inputs: list[Any]) -> list[Any]:
        return [self.output]


@register
class NanOutputsCompiler(_NoConvert):
    name = "nan-outputs"
    description = "test only: every output value is NaN (a broken artifact)"

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _Constant(float("nan"), batch_size)


class _Drifting(Runtime):
    """Each run sleeps `ms`, stretched by the host's simulated drift: `rate` more per second
    since EDGEBENCH_TEST_DRIFT_T0 (a wall-clock time every process shares), as a host that
    slows down over the minutes."""

    def __init__(self, ms: float, rate: float, batch_size: int) -> None:
        import numpy as np

        self.ms, self.rate = ms, rate
        self.t0 = float(os.environ.get("EDGEBENCH_TEST_DRIFT_T0", time.time()))
        self.output = np.zeros((batch_size, 10), dtype=np.float32)

    def predict(self, inputs: list[Any]) -> list[Any]:
        time.sleep(self.ms / 1000 * (1 + self.rate * (time.time() - self.t0)))
        return [self.output]


@register
class DriftingCompiler(_NoConvert):
    name = "drifting"
    description = "test only: the same speed every time, on a host that slows down steadily"
    runs_model = False

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _Drifting(2.0, float(os.environ.get("EDGEBENCH_TEST_DRIFT_RATE", "0.5")), batch_size)


class _Busy(Runtime):
    """Each run is `loops` rounds of integer arithmetic in the interpreter: CPU work, so a
    busy host slows it as it slows a real model."""

    def __init__(self, loops: int, batch_size: int) -> None:
        import numpy as np

        self.loops = loops
        self.output = np.zeros((batch_size, 10), dtype=np.float32)

    def predict(self, inputs: list[Any]) -> list[Any]:
        acc = 0
        for i in range(self.loops):
            acc = (acc + i * i) & 0xFFFF
        self.output[0, 0] = acc
        return [self.output]


def _loops(options: dict[str, Any]) -> int:
    return int(options.get("loops") or os.environ.get("EDGEBENCH_TEST_BUSY_LOOPS", "30000"))


@register
class BusyCompiler(_NoConvert):
    name = "busy"
    description = "test only: CPU work of -o loops=N (or EDGEBENCH_TEST_BUSY_LOOPS) rounds a run"
    runs_model = False
    declared_options = (Option("loops", 0, "rounds of work a run (0: the environment's)"),)

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _Busy(_loops(options), batch_size)


@register
class BusyTwiceCompiler(BusyCompiler):
    name = "busy-twice"
    description = "test only: twice the CPU work of `busy` per run"

    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        return _Busy(2 * _loops(options), batch_size)
