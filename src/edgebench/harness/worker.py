"""The worker process: one conversion, measurement, explanation or inspection, then exit.

Each cell runs in a fresh process (after TorchBench): a crash, an abort or an out-of-memory kill
takes down only that cell; frameworks' thread pools and allocator state from one cell cannot skew
the next; and the peak RSS read at the end is this cell's alone.

Usage: python -m edgebench.harness.worker {convert|measure|predict|explain|inspect} JOB RESULT
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.cache import ArtifactCache
from edgebench.compilers import Calibration, CompileRequest, Runtime, get_compiler
from edgebench.conversion.routes import Plan, PlannedStep
from edgebench.errors import EdgebenchError
from edgebench.harness import noise
from edgebench.harness.inputs import make_inputs, random_calibration
from edgebench.harness.timing import StopRule, TimedWindow, time_async_runs, time_runs
from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def convert(job: dict[str, Any]) -> dict[str, Any]:
    """Builds every missing step of a plan, reusing cached ones, and reports their times."""
    from edgebench.conversion.routes import plan as make_plan

    model = ModelSpec.from_dict(job["model"])
    weights = ResolvedWeights(**job["weights"])
    compiler = get_compiler(job["compiler"])
    cache = ArtifactCache(Path(job["cache_dir"]))
    calib = job["calibration"]
    # The cache key knows the calibration set by name and size, not by where its file lies.
    calib_key = {k: v for k, v in calib.items() if k != "path"}
    the_plan: Plan = make_plan(
        model, weights, compiler, job["precision"], job["options"], job["batch_size"], calib_key
    )
    source: Path | None = Path(model.path) if model.path else None
    built: set[str] = set()
    step: PlannedStep
    for step in the_plan.steps:
        entry = cache.lookup(step.stage, step.key)
        if entry is None:
            scratch = cache.begin(step.stage, step.key)
            t = time.perf_counter()
            try:
                if step.converter is not None:
                    name = step.converter.run(source, scratch, model, weights, the_plan.batch)
                    meta: dict[str, Any] = {"step": step.name}
                else:
                    request = CompileRequest(
                        model=model,
                        source=source if source is not None else scratch,
                        source_format=the_plan.source_format(),
                        precision=job["precision"],
                        options=job["options"],
                        out_dir=scratch,
                        calibration=_calibration(model, calib, job.get("seed", 0) + 1),
                        batch_size=the_plan.compile_batch,
                        state_dir=cache.root / "state" / compiler.name,
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
    return {**the_plan.describe(cache, built), "peak_rss_mb": _peak_rss_mb()}


def _calibration(model: ModelSpec, calib: dict[str, Any], seed: int) -> Calibration:
    """Real calibration samples from a prepared .npz, or random inputs (marked as such)."""
    if not calib.get("path"):
        return random_calibration(model, calib["size"], seed)
    with np.load(calib["path"]) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]

    def batches() -> Iterator[list[np.ndarray]]:
        for j in range(arrays[0].shape[0]):
            yield [a[j : j + 1] for a in arrays]

    return Calibration(calib["source"], int(arrays[0].shape[0]), batches)


def predict_eval_set(runtime: Runtime, eval_path: str, batch: int, out_path: str) -> None:
    """Runs every evaluation sample through the runtime in batches of the measured size (the
    last one padded by repetition, for fixed-batch artifacts) and saves the outputs."""
    with np.load(eval_path) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    n = arrays[0].shape[0]
    collected: list[list[np.ndarray]] = []
    for start in range(0, n, batch):
        idx = [min(i, n - 1) for i in range(start, start + batch)]
        outs = runtime.predict([np.ascontiguousarray(a[idx]) for a in arrays])
        collected.append([np.asarray(o)[: min(batch, n - start)] for o in outs])
    merged = [np.concatenate(parts, axis=0) for parts in zip(*collected, strict=True)]
    np.savez(out_path, *merged)  # arr_0, arr_1, ... in output order


def predict(job: dict[str, Any]) -> dict[str, Any]:
    """Only loads and predicts the evaluation set: the FP32 reference of a model."""
    model = ModelSpec.from_dict(job["model"])
    compiler = get_compiler(job["compiler"])
    artifact = Path(job["artifact_path"]) if job.get("artifact_path") else Path()
    runtime = compiler.load(
        artifact, model, int(job["batch_size"]), int(job["threads"]), job["options"]
    )
    predict_eval_set(runtime, job["eval_path"], int(job["batch_size"]), job["outputs_path"])
    runtime.close()
    return {"outputs_path": job["outputs_path"]}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Loads an artifact and times it under the job's stop rule."""
    model = ModelSpec.from_dict(job["model"])
    compiler = get_compiler(job["compiler"])
    artifact = Path(job["artifact_path"]) if job.get("artifact_path") else Path()
    batch, threads = int(job["batch_size"]), int(job["threads"])
    t = time.perf_counter()
    runtime = compiler.load(artifact, model, batch, threads, job["options"])
    load_s = time.perf_counter() - t
    inputs = make_inputs(model, batch, seed=job.get("seed", 0))
    snaps: dict[str, noise.CpuSnapshot | None] = {}
    telemetry = None
    if job.get("telemetry") is not None:  # power, frequency and temperature around the window
        from edgebench.telemetry import Telemetry

        telemetry = Telemetry(**job["telemetry"])
        telemetry.idle()

    def on_window(event: str) -> None:
        snaps[event] = noise.snapshot()
        if telemetry is not None:
            telemetry.on_window(event)

    loadgen = None
    window: TimedWindow
    if job.get("scenario"):  # an MLPerf LoadGen scenario drives the runtime instead
        from edgebench.harness.loadgen_driver import run_loadgen

        window, loadgen = run_loadgen(runtime.predict, model, job, on_window)
    else:
        rule = StopRule(**job["stop_rule"])
        # A runtime that keeps several requests in flight (OpenVINO under the THROUGHPUT hint)
        # is timed by its asynchronous runs; the others one predict at a time.
        if runtime.in_flight > 0:
            window = time_async_runs(runtime, inputs, rule, on_window)
        else:
            window = time_runs(runtime.predict, inputs, rule, on_window)
    outputs = runtime.predict(inputs)
    if job.get("eval_path"):  # after the timed window: accuracy and fidelity outputs
        predict_eval_set(runtime, job["eval_path"], batch, job["outputs_path"])
    runtime.close()
    return {
        "samples_ms": window.samples_ms,
        "window_s": window.window_s,
        "first_inference_ms": window.first_inference_ms,
        "load_s": load_s,
        "peak_rss_mb": _peak_rss_mb(),
        "noise_cpu_pct": noise.others_cpu_pct(snaps.get("start"), snaps.get("stop")),
        "outputs": [{"shape": list(o.shape), "dtype": str(o.dtype)} for o in outputs],
        "loadgen": loadgen,
        "runtime_metrics": runtime.runtime_metrics() or None,
        **(telemetry.summary(batch * len(window.samples_ms), window.window_s) if telemetry else {}),
    }


def explain(job: dict[str, Any]) -> dict[str, Any]:
    """Explains a built cell: graphs before and after, fusions, placement, op time."""
    from edgebench.explain import ExplainRequest, explain_cell

    model = ModelSpec.from_dict(job["model"])
    batch, runs, warmup = int(job["batch_size"]), int(job["runs"]), int(job["warmup"])

    # The harness's own timed loop, for exactly `runs` timed runs after the warm-up.
    rule = StopRule(warmup_runs=warmup, min_runs=runs, min_duration_s=0.0, max_runs=runs)

    def clock(run: Callable[[], object]) -> list[float]:
        return time_runs(lambda _inputs: run(), [], rule).samples_ms

    request = ExplainRequest(
        compiler=get_compiler(job["compiler"]),
        artifact=Path(job["artifact_path"]) if job.get("artifact_path") else Path(),
        source=Path(job["source_path"]) if job.get("source_path") else None,
        source_format=job["source_format"],
        model=model,
        precision=job["precision"],
        batch=batch,
        threads=int(job["threads"]),
        options=job["options"],
        inputs=make_inputs(model, batch, seed=job.get("seed", 0)),
        time_runs=clock,
    )
    return explain_cell(request)


def inspect(job: dict[str, Any]) -> dict[str, Any]:
    from edgebench.models.inspect import inspect_inputs

    return {"inputs": inspect_inputs(Path(job["path"]), job["format"])}


# Phrases that mark the line of a framework's error that says what went wrong, best first.
_TELLING = (
    "not supported",
    "unsupported",
    "no conversion rule",
    "not a registered",
    "not implemented",
    "out of memory",
    "error",
)


def _error_line(exc: BaseException) -> str:
    """One line for a failure: frameworks bury the useful line among context and C++ source
    locations, so pick the line that says what went wrong."""
    if isinstance(exc, EdgebenchError):
        return str(exc)
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    useful = next(
        (ln for phrase in _TELLING for ln in reversed(lines) if phrase in ln.lower()),
        lines[0] if lines else "",
    )
    return f"{type(exc).__name__}: {useful[:400]}" if useful else type(exc).__name__


def main(argv: list[str]) -> int:
    mode, job_file, result_file = argv
    job = json.loads(Path(job_file).read_text())
    handlers = {
        "convert": convert,
        "measure": measure,
        "inspect": inspect,
        "predict": predict,
        "explain": explain,
    }
    try:
        result = handlers[mode](job)
        code = 0
    except BaseException as exc:  # the parent needs one line for any failure
        traceback.print_exc()
        result = {"error": _error_line(exc), "kind": type(exc).__name__}
        code = 1
    Path(result_file).write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
