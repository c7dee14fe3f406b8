"""`local`: this host. Each measure step runs in a fresh worker process here."""

from __future__ import annotations

from pathlib import Path

from edgebench.harness.jobs import MeasureJob, MeasureResult
from edgebench.harness.process import run_step
from edgebench.targets.base import LOCAL, Target, TargetInfo


class LocalTarget(Target):
    name = LOCAL
    kind = LOCAL

    def __init__(self) -> None:
        self._info: TargetInfo | None = None

    @property
    def is_local(self) -> bool:
        return True

    def info(self) -> TargetInfo:
        if self._info is None:
            from edgebench.targets.device import device_info

            self._info = TargetInfo(LOCAL, LOCAL, LOCAL, device_info())
        return self._info

    def measure(self, job: MeasureJob, timeout_s: float, workdir: Path) -> MeasureResult:
        return run_step("measure", job, MeasureResult, timeout_s, workdir)


__all__ = ["LocalTarget"]
