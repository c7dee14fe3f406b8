"""Plans and builds artifacts for the cells of a run, through the cache.

The plan is made once, here, and sent to the conversion worker as it is. An artifact already in
the cache is described without starting a worker; a plan that failed once in this run fails
again at once for every cell that needs it, with the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgebench.cache import ArtifactCache
from edgebench.compilers import Compiler
from edgebench.conversion.routes import BuiltArtifact, Plan, plan
from edgebench.harness.jobs import CalibrationSource, ConvertJob
from edgebench.harness.process import CellFailure, run_step
from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights


class ArtifactBuilder:
    def __init__(
        self,
        cache: ArtifactCache,
        workdir: Path,
        timeout_s: float,
        seed: int = 0,
        on_progress: Callable[[str], None] = lambda s: None,
    ) -> None:
        self.cache, self.workdir, self.timeout_s, self.seed = cache, workdir, timeout_s, seed
        self.on_progress = on_progress
        self._failed: dict[str, CellFailure] = {}
        cache.remove_stale_scratch()

    def plan(
        self,
        model: ModelSpec,
        weights: ResolvedWeights,
        compiler: Compiler,
        precision: str,
        options: dict[str, Any],
        batch: int,
        calibration: CalibrationSource,
        device: dict[str, Any] | None = None,
        accelerator: str = "cpu",
    ) -> Plan:
        """The steps that build the artifact (NoRoute when there is no way); `device` is a
        remote target's info, for compilers that build code for the CPU they run on; an
        accelerator may add a step of its own (an NPU's ahead-of-time compile)."""
        return plan(
            model, weights, compiler, precision, options, batch, calibration.key(), device,
            accelerator,
        )  # fmt: skip

    def build(self, the_plan: Plan, calibration: CalibrationSource) -> BuiltArtifact | None:
        """The plan's artifact, from the cache or built by a worker; None when the compiler
        needs none (null). Raises CellFailure with the conversion's reason."""
        if not the_plan.needs_artifact:
            return None
        key = the_plan.final.key
        if key in self._failed:
            raise self._failed[key]
        self.cache.warnings.clear()
        if the_plan.cached(self.cache) is not None:
            return the_plan.describe(self.cache)
        damaged = list(self.cache.warnings)  # found here; the worker rebuilds them
        job = ConvertJob(the_plan, str(self.cache.root), calibration, self.seed)
        try:
            built = run_step("convert", job, BuiltArtifact, self.timeout_s, self.workdir)
            return replace(built, warnings=(*damaged, *built.warnings))
        except CellFailure as exc:
            reason = str(exc) if exc.status != "failed" else f"conversion failed: {exc}"
            self._failed[key] = CellFailure(reason, exc.kind)
            raise self._failed[key] from None


__all__ = ["ArtifactBuilder"]
