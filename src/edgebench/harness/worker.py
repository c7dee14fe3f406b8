"""The worker process: one conversion, measurement, explanation or inspection, then exit.

Each cell runs in a fresh process (after TorchBench): a crash, an abort or an out-of-memory kill
takes down only that cell; frameworks' thread pools and allocator state from one cell cannot skew
the next; and the peak RSS read at the end is this cell's alone.

Usage: python -m edgebench.harness.worker {convert|measure|predict|explain|inspect} JOB RESULT
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgebench.errors import error_detail, error_line
from edgebench.harness.jobs import (
    ConvertJob,
    ExplainJob,
    ExplainResult,
    InspectJob,
    InspectResult,
    MeasureJob,
    PairJob,
    PredictJob,
    WorkerError,
    decode,
    encode,
)


def convert(job: ConvertJob) -> Any:
    from edgebench.harness.convert import convert as build

    return build(job)


def measure(job: MeasureJob) -> Any:
    from edgebench.harness.measure import measure as run

    return run(job)


def pair(job: PairJob) -> Any:
    from edgebench.harness.measure import measure_pair

    return measure_pair(job)


def predict(job: PredictJob) -> Any:
    from edgebench.harness.measure import predict as run

    return run(job)


def explain(job: ExplainJob) -> ExplainResult:
    """Explains a built cell: graphs before and after, fusions, placement, op time."""
    from edgebench.compilers import get_compiler
    from edgebench.explain import ExplainRequest, explain_cell
    from edgebench.harness.timing import StopRule, time_runs
    from edgebench.models.synthetic_inputs import make_inputs

    spec = job.runtime
    # The harness's own timed loop, for exactly `runs` timed runs after the warm-up.
    rule = StopRule(
        warmup_runs=job.warmup, min_runs=job.runs, min_duration_s=0.0, max_runs=job.runs
    )

    def clock(run: Callable[[], object]) -> list[float]:
        return time_runs(lambda _inputs: run(), [], rule).samples_ms

    request = ExplainRequest(
        compiler=get_compiler(spec.compiler),
        artifact=Path(spec.artifact_path) if spec.artifact_path else Path(),
        source=Path(job.source_path) if job.source_path else None,
        source_format=job.source_format,
        model=spec.model,
        precision=job.precision,
        batch=spec.batch_size,
        threads=spec.threads,
        options=spec.options,
        inputs=make_inputs(spec.model, spec.batch_size, seed=job.seed),
        time_runs=clock,
        accelerator=spec.accelerator,
    )
    return ExplainResult(explain_cell(request))


def inspect(job: InspectJob) -> InspectResult:
    from edgebench.models import InputSpec
    from edgebench.models.inspect import inspect_inputs, inspect_outputs

    found = inspect_inputs(Path(job.path), job.format)
    preprocessing = None
    if job.format == "tflite":
        from edgebench.datasets.images import norm_mode
        from edgebench.models.tflite_metadata import input_normalization

        stated = input_normalization(Path(job.path))
        if stated and stated[0].get("mean") and stated[0].get("std"):
            preprocessing = norm_mode(stated[0]["mean"], stated[0]["std"])
    inputs = tuple(
        InputSpec(i["name"], tuple(i["shape"]), i["dtype"], batched=i["batched"]) for i in found
    )
    return InspectResult(inputs, preprocessing, tuple(inspect_outputs(Path(job.path), job.format)))


# Each mode: its job type and its handler.
STEPS: dict[str, tuple[type, Callable[[Any], Any]]] = {
    "convert": (ConvertJob, convert),
    "measure": (MeasureJob, measure),
    "pair": (PairJob, pair),
    "predict": (PredictJob, predict),
    "explain": (ExplainJob, explain),
    "inspect": (InspectJob, inspect),
}


def main(argv: list[str]) -> int:
    from edgebench.harness.process import watch_parent, watch_stdin

    watch_parent()
    watch_stdin()
    mode, job_file, result_file = argv
    job_type, handler = STEPS[mode]
    try:
        job = decode(job_type, json.loads(Path(job_file).read_text()))
        result = encode(handler(job))
        code = 0
    except BaseException as exc:  # the parent needs one line for any failure
        traceback.print_exc()
        result = encode(WorkerError(error_line(exc), type(exc).__name__, error_detail(exc)))
        code = 1
    Path(result_file).write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
