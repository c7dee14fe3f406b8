"""MLPerf LoadGen scenarios: the compiled model as a LoadGen SUT inside the measure worker.

LoadGen (the `mlcommons-loadgen` package, module `mlperf_loadgen`) owns the query schedule of
the four MLPerf scenarios; edgebench's runtime only predicts. A LoadGen *sample* is one input
(one image); the SUT gathers the samples it is sent into batches of the artifact's batch size
(padding the last one by repetition, since many artifacts have a fixed batch) and runs them
on one thread, in arrival order:

- single-stream: one sample per query, the next issued when the last completes;
- multi-stream: `samples_per_query` samples (MLPerf's 8) per query, back to back;
- server: single-sample queries arriving as a Poisson process at `target_qps`; samples that
  are waiting when a batch starts are batched together (dynamic batching);
- offline: every sample in one query, run in full batches.

LoadGen's own figures (percentiles, samples/s, VALID or INVALID and why) are parsed from its
`mlperf_log_detail.txt` and stored with the cell; the harness still times every `predict` call
with its own clock, so the cell's latency statistics are per batch, as in the default loop.

This module imports `mlperf_loadgen` only inside `run_loadgen`, so the scenario names and the
log parser are usable (and testable) without it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgebench.errors import UsageError
from edgebench.harness.timing import StopRule, TimedWindow
from edgebench.models import ModelSpec
from edgebench.models.synthetic_inputs import make_samples, sample_batch

if TYPE_CHECKING:
    from edgebench.harness.jobs import LoadGenSpec, ScenarioSpec

# edgebench's scenario names -> LoadGen's TestScenario members.
SCENARIOS: dict[str, str] = {
    "single-stream": "SingleStream",
    "multi-stream": "MultiStream",
    "server": "Server",
    "offline": "Offline",
}
MULTI_STREAM_SAMPLES = 8  # MLPerf's samples per query in the multi-stream scenario
POOL_SAMPLES = 64  # distinct inputs LoadGen draws samples from (its performance sample count)


def check_scenario(scenario: str | None) -> None:
    """Fails before any work starts on an unknown scenario or a missing LoadGen."""
    if scenario is None:
        return
    if scenario not in SCENARIOS:
        valid = ", ".join(SCENARIOS)
        raise UsageError(f"unknown scenario '{scenario}'; valid: {valid}")
    if importlib.util.find_spec("mlperf_loadgen") is None:
        raise UsageError(
            f"scenario '{scenario}' needs MLPerf LoadGen: pip install 'edgebench[loadgen]'"
        )


def parse_detail_log(text: str) -> dict[str, Any]:
    """The `:::MLLOG {json}` records of a LoadGen detail log as {key: value} (the last wins)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.startswith(":::MLLOG"):
            continue
        try:
            record = json.loads(line[len(":::MLLOG") :])
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "key" in record:
            out[record["key"]] = record.get("value")
    return out


def _ms(ns: Any) -> float | None:
    return round(float(ns) / 1e6, 6) if isinstance(ns, (int, float)) else None


def summarize_logs(outdir: Path, scenario: str) -> dict[str, Any]:
    """LoadGen's own result figures for a finished test, from the logs in `outdir`."""
    detail_file = outdir / "mlperf_log_detail.txt"
    summary_file = outdir / "mlperf_log_summary.txt"
    if not detail_file.is_file():
        raise RuntimeError(f"LoadGen wrote no detail log in {outdir}")
    d = parse_detail_log(detail_file.read_text(errors="replace"))
    per_query = scenario == "multi-stream"
    lat = (
        "result_{}_percentile_per_query_latency_ns"
        if per_query
        else "result_{}_percentile_latency_ns"
    )
    spq = d.get("effective_samples_per_query") or 1
    if scenario == "offline":
        samples_per_s = d.get("result_samples_per_second")
    elif scenario == "server":
        samples_per_s = d.get("result_completed_samples_per_sec")
    elif scenario == "single-stream":
        samples_per_s = d.get("result_qps_with_loadgen_overhead")
    else:  # multi-stream reports latency only: samples of a query over its mean latency
        mean_ns = d.get("result_mean_query_latency_ns") or d.get("result_mean_latency_ns")
        samples_per_s = spq * 1e9 / mean_ns if mean_ns else None
    validity = d.get("result_validity")
    summary = {
        "scenario": scenario,
        "valid": validity == "VALID",
        "validity": validity,
        "invalid_reason": (d.get("result_invalid_reason") or "").strip() or None,
        "samples_per_s": round(float(samples_per_s), 3) if samples_per_s else None,
        "p50_ms": _ms(d.get(lat.format("50.00"))),
        "p90_ms": _ms(d.get(lat.format("90.00"))),
        "p99_ms": _ms(d.get(lat.format("99.00"))),
        "mean_ms": _ms(
            d.get("result_mean_query_latency_ns" if per_query else "result_mean_latency_ns")
        ),
        "max_ms": _ms(d.get("result_max_latency_ns")),
        "query_count": d.get("result_query_count"),
        "samples_per_query": spq,
        "min_duration_met": d.get("result_min_duration_met"),
        "min_queries_met": d.get("result_min_queries_met"),
        "perf_constraints_met": d.get("result_perf_constraints_met"),
        "early_stopping_met": d.get("early_stopping_met"),
        "target_qps": d.get("effective_target_qps"),
        "target_latency_ms": _ms(d.get("effective_target_latency_ns")) or None,
        "min_duration_s": (d.get("effective_min_duration_ms") or 0) / 1000.0,
        "min_query_count": d.get("effective_min_query_count"),
        "num_errors": d.get("num_errors"),
        "loadgen_version": d.get("loadgen_version"),
    }
    if not summary["valid"] and not summary["invalid_reason"]:
        # LoadGen names a reason only for some failures; name the unmet conditions otherwise.
        unmet = [
            text
            for key, text in (
                ("min_duration_met", "min duration not met"),
                ("min_queries_met", "min query count not met"),
                ("perf_constraints_met", "latency constraint not met"),
                ("early_stopping_met", "early stopping not met (run more queries)"),
            )
            if summary.get(key) is False
        ]
        summary["invalid_reason"] = "; ".join(unmet) or None
    if summary_file.is_file():
        summary["summary_lines"] = _result_lines(summary_file.read_text(errors="replace"))
    return summary


def _result_lines(text: str) -> list[str]:
    """The 'MLPerf Results Summary' block of a summary log, for people reading the record."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    out = []
    for ln in lines[3:]:
        if ln.startswith("====="):
            break
        if ln.strip():
            out.append(ln.strip())
    return out[:20]


class _BatchingSUT:
    """Runs LoadGen's samples through `predict` in batches of `batch` on one thread."""

    def __init__(
        self,
        predict: Callable[[list[np.ndarray]], Any],
        pool: list[np.ndarray],
        batch: int,
        complete: Callable[[list[int]], None],
        model: ModelSpec,
    ) -> None:
        self.predict, self.pool, self.batch, self.complete = predict, pool, batch, complete
        self.model = model  # which inputs have a batch dimension (make_samples' pool)
        self.waiting: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self.samples_ms: list[float] = []
        self.real_samples = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="edgebench-sut", daemon=True)

    def issue(self, query_samples: list[Any]) -> None:  # called on LoadGen's threads
        for s in query_samples:
            self.waiting.put((s.id, s.index))

    def _loop(self) -> None:
        clock = time.perf_counter_ns
        while True:
            first = self.waiting.get()
            if first is None:
                return
            taken = [first]
            while len(taken) < self.batch:  # batch whatever is already waiting, never wait
                try:
                    nxt = self.waiting.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.waiting.put(None)
                    break
                taken.append(nxt)
            idx = [index for _, index in taken]
            idx += [idx[-1]] * (self.batch - len(idx))  # fixed-batch artifacts: pad
            inputs = sample_batch(self.model, self.pool, idx)
            try:
                t0 = clock()
                self.predict(inputs)
                self.samples_ms.append((clock() - t0) / 1e6)
            except BaseException as exc:  # reported after the test; LoadGen must still finish
                self.error = self.error or exc
            self.real_samples += len(taken)
            self.complete([sid for sid, _ in taken])

    def stop(self) -> None:
        self.waiting.put(None)
        self.thread.join()


def _settings(lg: Any, opts: LoadGenSpec, batch: int, rule: StopRule, warm_ms: float) -> Any:
    """LoadGen's TestSettings; unset targets come from the warm-up's latency."""
    scenario = opts.scenario
    s = lg.TestSettings()
    s.scenario = getattr(lg.TestScenario, SCENARIOS[scenario])
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = int(rule.min_duration_s * 1000)
    s.min_query_count = int(rule.min_runs)
    # Below ~0.1 ms a batch, LoadGen's and the Python SUT's own cost per query dominates: a
    # target derived from a faster warm-up would schedule more than the SUT can take.
    warm_ms = max(warm_ms, 0.1)
    capacity_qps = batch * 1000.0 / warm_ms  # samples/s the runtime managed in the warm-up
    target_latency_ms = opts.target_latency_ms
    target_qps = opts.target_qps
    if scenario == "single-stream":
        expected = target_latency_ms or warm_ms
        s.single_stream_expected_latency_ns = max(int(expected * 1e6), 1)
    elif scenario == "multi-stream":
        spq = int(opts.samples_per_query or MULTI_STREAM_SAMPLES)
        s.multi_stream_samples_per_query = spq
        expected = target_latency_ms or warm_ms * math.ceil(spq / batch)
        s.multi_stream_expected_latency_ns = max(int(expected * 1e6), 1)
    elif scenario == "server":
        # Without a target, offer half of what the warm-up managed, and allow a query ten
        # batches' worth of time (both are stored with the result).
        s.server_target_qps = float(target_qps or max(capacity_qps / 2.0, 0.1))
        s.server_target_latency_ns = max(int((target_latency_ms or 10 * warm_ms) * 1e6), 1)
    else:
        s.offline_expected_qps = float(target_qps or capacity_qps)
    return s


def run_loadgen(
    predict: Callable[[list[np.ndarray]], Any],
    model: ModelSpec,
    spec: ScenarioSpec,
    batch: int,
    seed: int = 0,
    on_window: Callable[[str], None] | None = None,
) -> tuple[TimedWindow, dict[str, Any]]:
    """Runs one LoadGen performance test on a loaded runtime.

    Args:
        predict: the runtime's predict, taking a full batch.
        model: the model (its input specs make the sample pool).
        spec: the scenario: its stop rule (LoadGen's minimums) and LoadGen settings (scenario,
            target_qps, target_latency_ms, samples_per_query, log_dir to keep the logs).
        batch: the artifact's batch size.
        seed: of the sample pool's random inputs.
        on_window: called with "start" and "stop" around the test, for noise sampling.

    Returns:
        The harness's own timings of every predict call (cold first call, then the test) and
        LoadGen's summary figures.
    """
    import mlperf_loadgen as lg

    opts = spec.loadgen
    assert opts is not None, "a LoadGen scenario has its settings"
    scenario, rule = opts.scenario, spec.stop_rule
    n_pool = max(POOL_SAMPLES, batch)
    pool = make_samples(model, n_pool, seed=seed)
    first = sample_batch(model, pool, list(range(batch)))
    clock = time.perf_counter_ns
    t = clock()
    predict(first)
    window = TimedWindow(first_inference_ms=(clock() - t) / 1e6)
    warm: list[float] = []
    for _ in range(max(rule.warmup_runs, 1)):
        t = clock()
        predict(first)
        warm.append((clock() - t) / 1e6)
    warm_ms = float(np.median(warm))

    def complete(ids: list[int]) -> None:
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])

    sut_impl = _BatchingSUT(predict, pool, batch, complete, model)
    settings = _settings(lg, opts, batch, rule, warm_ms)
    keep = opts.log_dir
    outdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="loadgen-"))
    outdir.mkdir(parents=True, exist_ok=True)
    log = lg.LogSettings()
    log.log_output.outdir = str(outdir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    sut = lg.ConstructSUT(sut_impl.issue, lambda: None)
    qsl = lg.ConstructQSL(n_pool, n_pool, lambda idx: None, lambda idx: None)
    sut_impl.thread.start()
    try:
        if on_window:
            on_window("start")
        start = clock()
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
        window.window_s = (clock() - start) / 1e9
        if on_window:
            on_window("stop")
    finally:
        sut_impl.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if sut_impl.error is not None:
        raise sut_impl.error
    window.samples_ms = sut_impl.samples_ms
    summary = summarize_logs(outdir, scenario)
    calls = len(sut_impl.samples_ms)
    summary["batch_fill"] = round(sut_impl.real_samples / (calls * batch), 4) if calls else None
    summary["warmup_latency_ms"] = round(warm_ms, 6)
    if keep:
        summary["log_dir"] = str(outdir)
    else:
        for f in outdir.iterdir():
            f.unlink()
        outdir.rmdir()
    return window, summary
