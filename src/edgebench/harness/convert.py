"""The convert step of a cell, as a worker process runs it: the plan's missing steps, built.

The harness plans once (conversion/routes.py) and sends the plan here as it is. Each step not
in the cache is built in a scratch folder and moved into place; cached steps are reused.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.cache import ArtifactCache
from edgebench.compilers import Calibration, CompileRequest, get_compiler
from edgebench.conversion.routes import BuiltArtifact, Converter
from edgebench.errors import ConversionError, EdgebenchError, error_line
from edgebench.harness.inputs import random_calibration
from edgebench.harness.jobs import CalibrationSource, ConvertJob
from edgebench.harness.measure import peak_rss_mb
from edgebench.models import ModelSpec
from edgebench.models.saved_model_check import check_saved_model
from edgebench.models.synthetic_inputs import sample_batch
from edgebench.models.weights import ResolvedWeights


def convert(job: ConvertJob) -> BuiltArtifact:
    """Builds every missing step of the job's plan, reusing cached ones, and reports them."""
    plan = job.plan
    compiler = get_compiler(plan.compiler)
    cache = ArtifactCache(Path(job.cache_dir))
    source: Path | None = Path(plan.model.path) if plan.model.path else None
    if source is not None and plan.model.source_format == "savedmodel":
        # Loading a SavedModel runs its graph code, and the first step loads it (tf2onnx, the
        # TFLite converter, TensorFlow): checked here as in the input inspection, which
        # --input-shape can skip.
        check_saved_model(source)
    built: set[str] = set()
    for step in plan.steps:
        entry = cache.lookup(step.stage, step.key)
        if entry is None:
            scratch = cache.begin(step.stage, step.key)
            t = time.perf_counter()
            try:
                if step.converter is not None:
                    batch = step.batch if step.batch is not None else plan.batch
                    data = None
                    if step.converter.takes_data:
                        data = calibration(plan.model, job.calibration, job.seed + 1)
                    name, info = converted(
                        step.name, step.converter, source, scratch, plan.model, plan.weights,
                        batch, plan.options, data,
                    )  # fmt: skip
                    warnings = info.pop("warnings", [])
                    meta: dict[str, Any] = {"step": step.name, "info": info, "warnings": warnings}
                else:
                    request = CompileRequest(
                        model=plan.model,
                        source=source if source is not None else scratch,
                        source_format=plan.source_format(),
                        precision=plan.precision,
                        options=plan.options,
                        out_dir=scratch,
                        calibration=calibration(plan.model, job.calibration, job.seed + 1),
                        batch_size=plan.compile_batch,
                        state_dir=cache.root / "state" / compiler.name,
                        device=plan.device,
                    )
                    output = compiler.compile(request)
                    name = output.artifact
                    meta = {"step": step.name, "warnings": output.warnings, "info": output.info}
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)  # no half-built entry in the cache
                raise
            meta["seconds"] = time.perf_counter() - t
            entry = cache.commit(step.stage, step.key, scratch, name, meta)
            built.add(step.key)
        source = entry.path
    return plan.describe(cache, built, peak_rss_mb())


def converted(
    step: str,
    converter: Converter,
    source: Path | None,
    scratch: Path,
    model: ModelSpec,
    weights: ResolvedWeights,
    batch: Any,
    options: dict[str, Any] | None = None,
    data: Any = None,
) -> tuple[str, dict[str, Any]]:
    """A converter step's output; its failure names the step, so a cell (and the coverage
    matrix) says which converter of the route gave up (`tflite_to_onnx: IndexError: ...`)."""
    try:
        return converter.run(source, scratch, model, weights, batch, options, data)
    except ConversionError as exc:
        raise ConversionError(f"{step}: {exc}") from exc
    except EdgebenchError:  # a missing route, tool or input size: said as it is
        raise
    except Exception as exc:  # noqa: BLE001 - a third-party converter's own error types
        raise ConversionError(f"{step}: {error_line(exc)}") from exc


def calibration(model: ModelSpec, source: CalibrationSource, seed: int) -> Calibration:
    """Real calibration samples from a prepared .npz, or random inputs (marked as such)."""
    if not source.path:
        return random_calibration(model, source.size, seed)
    with np.load(source.path) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]

    def batches() -> Iterator[list[np.ndarray]]:
        for j in range(arrays[0].shape[0]):
            yield sample_batch(model, arrays, [j])

    first = arrays[0].astype(np.float64) if arrays[0].size else np.zeros(1)
    seen = (float(first.min()), float(first.max()))
    return Calibration(source.source, int(arrays[0].shape[0]), batches, seen)


__all__ = ["calibration", "convert", "converted"]
