"""The measure and predict steps of a cell, as a worker process (or a device's agent) runs them.

The runtime only loads and predicts. This module owns the clock: load (timed), then the
scenario's timed window (cold call, warm-up, timed runs), with the CPU noise share and the
telemetry sampled around that window, then, after it, the predictions for accuracy and fidelity.
It needs only numpy and the compiler's runtime, so a device-side agent runs the same code.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np

from edgebench.accuracy.metrics import non_finite
from edgebench.compilers import Runtime, get_compiler
from edgebench.harness import noise
from edgebench.harness.jobs import (
    MeasureJob,
    MeasureResult,
    OutputInfo,
    PairJob,
    PairResult,
    PredictJob,
    PredictResult,
    RuntimeSpec,
)
from edgebench.harness.scenarios import scenario_for
from edgebench.harness.timing import StopRule, time_runs, time_split_runs
from edgebench.models import ModelSpec
from edgebench.models.synthetic_inputs import make_inputs, sample_batch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def load_runtime(spec: RuntimeSpec) -> Runtime:
    artifact = Path(spec.artifact_path) if spec.artifact_path else Path()
    compiler = get_compiler(spec.compiler)
    return compiler.load_on(
        spec.accelerator, spec.precision, artifact, spec.model, spec.batch_size, spec.threads,
        spec.options,
    )  # fmt: skip


def predict_eval_set(
    runtime: Runtime, model: ModelSpec, eval_path: str, batch: int, out_path: str
) -> None:
    """Runs every evaluation sample through the runtime in batches of the measured size (the
    last one padded by repetition, for fixed-batch artifacts) and saves the outputs."""
    with np.load(eval_path) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    n = arrays[0].shape[0]
    collected: list[list[np.ndarray]] = []
    for start in range(0, n, batch):
        rows = [min(i, n - 1) for i in range(start, start + batch)]
        outs = runtime.predict(sample_batch(model, arrays, rows))
        collected.append([np.asarray(o)[: min(batch, n - start)] for o in outs])
    merged = [np.concatenate(parts, axis=0) for parts in zip(*collected, strict=True)]
    np.savez(out_path, *merged)  # arr_0, arr_1, ... in output order


def predict(job: PredictJob) -> PredictResult:
    """Only loads and predicts the evaluation set: the FP32 reference of a model."""
    runtime = load_runtime(job.runtime)
    predict_eval_set(
        runtime, job.runtime.model, job.eval_path, job.runtime.batch_size, job.outputs_path
    )
    runtime.close()
    return PredictResult(job.outputs_path)


def measure(job: MeasureJob) -> MeasureResult:
    """Loads an artifact and times it under the job's scenario."""
    spec = job.runtime
    t = time.perf_counter()
    runtime = load_runtime(spec)
    load_s = time.perf_counter() - t
    inputs = make_inputs(spec.model, spec.batch_size, seed=job.seed)
    snaps: dict[str, noise.CpuSnapshot | None] = {}
    telemetry = None
    if job.telemetry is not None:  # power, frequency and temperature around the window
        from edgebench.telemetry import Telemetry

        telemetry = Telemetry(job.telemetry.hz, job.telemetry.power_cmd, job.telemetry.idle_s)
        telemetry.idle()

    def on_window(event: str) -> None:
        snaps[event] = noise.snapshot()
        if telemetry is not None:
            telemetry.on_window(event)

    scenario = scenario_for(job.scenario)
    reference_before = noise.reference_ms()  # the host's speed, around the window
    timed = scenario.run(runtime, spec.model, inputs, spec.batch_size, job.seed, on_window)
    reference_after = noise.reference_ms()
    window = timed.window
    outputs = runtime.predict(inputs)
    bad, values = non_finite(outputs)
    if job.eval_path and job.outputs_path:  # after the timed window: accuracy and fidelity
        predict_eval_set(runtime, spec.model, job.eval_path, spec.batch_size, job.outputs_path)
    accelerator = runtime.accelerator_info() or None
    runtime.close()
    summary = (
        telemetry.summary(spec.batch_size * len(window.samples_ms), window.window_s)
        if telemetry
        else None
    )
    return MeasureResult(
        samples_ms=window.samples_ms,
        window_s=window.window_s,
        first_inference_ms=window.first_inference_ms,
        load_s=load_s,
        peak_rss_mb=peak_rss_mb(),
        noise_cpu_pct=noise.others_cpu_pct(snaps.get("start"), snaps.get("stop")),
        outputs=tuple(OutputInfo(tuple(o.shape), str(o.dtype)) for o in outputs),
        loadgen=timed.loadgen,
        drift=scenario.drift(timed, summary),
        runtime_metrics=runtime.runtime_metrics() or None,
        telemetry=summary,
        io_samples_ms=window.io_samples_ms,
        non_finite=bad,
        output_values=values,
        accelerator=accelerator,
        host_speed={
            "reference_ms": [round(reference_before, 3), round(reference_after, 3)],
            "steal_pct": noise.steal_pct(snaps.get("start"), snaps.get("stop")),
        },
    )


def measure_pair(job: PairJob) -> PairResult:
    """Loads both artifacts, warms both, then times them alternately in blocks (ABBA), so a
    drift of the host hits both sides alike (paired.py)."""
    import statistics

    from edgebench.paired import interleave

    sides = []
    for spec in (job.a, job.b):
        runtime = load_runtime(spec)
        inputs = make_inputs(spec.model, spec.batch_size, seed=job.seed)
        sides.append((runtime, inputs, spec.batch_size))
    block_rule = StopRule(warmup_runs=0, min_runs=job.block_runs, min_duration_s=0)
    for runtime, inputs, _ in sides:
        for _ in range(job.warmup_runs):
            runtime.predict(inputs)

    def block(side: int) -> float:
        runtime, inputs, batch = sides[side]
        if getattr(runtime, "splits_io", False):
            window = time_split_runs(runtime, inputs, block_rule)
        else:
            window = time_runs(runtime.predict, inputs, block_rule)
        return statistics.median(window.samples_ms) / batch

    a, b = interleave(lambda: block(0), lambda: block(1), job.pairs)
    for runtime, _, _ in sides:
        runtime.close()
    return PairResult(a, b)


__all__ = [
    "load_runtime",
    "measure",
    "measure_pair",
    "peak_rss_mb",
    "predict",
    "predict_eval_set",
]
