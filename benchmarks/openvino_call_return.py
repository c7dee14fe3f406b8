"""Where do the microseconds between OpenVINO's own timer and edgebench's clock go?

OpenVINO's `InferRequest.latency` (what `benchmark_app` reports) stops when the inference ends
inside the runtime; edgebench's clock stops when the call has returned to Python. On the
artifacts `edgebench run` builds (MobileNetV2, OpenVINO, fp32 and int8) this times, through
edgebench's own runtime (`CompiledRuntime.infer`, the call its harness times), for each run:

- `wall`: edgebench's clock around the call, and `engine`: OpenVINO's timer of the same run;
- `return`: wall minus engine, run by run (the binding's and the interpreter's way back);
- `cpu`: the calling thread's CPU time over the call, as a share of its wall time (near 100%:
  the caller computes through the inference itself, so no thread wakes it up at the end);
- `cold`: a trivial Python step (a CPU-clock read and an attribute read through the binding)
  right after the inference, and `warm`: the same step repeated at once. Their ratio says how
  far the inference pushed the interpreter's code and data out of the caches, which is what
  makes the way back cost tens of microseconds, more after a model with a bigger working set.

    .venv/bin/python benchmarks/openvino_call_return.py --runs 2000

Measured on a 2-core AMD EPYC VM, 2026-12-06, 2 threads: see the README ("What `latency_ms`
times").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vendor_agreement import edgebench_cells  # the script's folder is on sys.path


def measure(cell: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    from edgebench.compilers.openvino_runtime import CompiledRuntime
    from edgebench.models import resolve_model
    from edgebench.models.synthetic_inputs import make_inputs

    spec = resolve_model(args.model)
    runtime = CompiledRuntime(Path(cell["artifact_path"]), spec, 1, args.threads, {})
    runtime.stage(make_inputs(spec, 1))
    request = runtime.request
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(50):
        runtime.infer()
    wall, engine, cpu, cold, warm = [], [], [], [], []
    for _ in range(args.runs):
        c0 = cpu_clock()
        t0 = clock()
        runtime.infer()
        t1 = clock()
        c1 = cpu_clock()  # with the attribute read below, the step timed cold ...
        took = request.latency
        t2 = clock()
        cpu_clock()  # ... and the same two again, warm
        request.latency  # noqa: B018 - the step being timed
        t3 = clock()
        wall.append((t1 - t0) / 1e3)
        engine.append(took * 1e3)
        cpu.append((c1 - c0) / max(t1 - t0, 1))
        cold.append((t2 - t1) / 1e3)
        warm.append((t3 - t2) / 1e3)
    med = statistics.median
    return {
        "wall_us": med(wall),
        "engine_us": med(engine),
        "return_us": med(w - e for w, e in zip(wall, engine, strict=True)),
        "cpu_share": med(cpu),
        "cold_us": med(cold),
        "warm_us": med(warm),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--precision", default="fp32,int8")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    args.seconds = 0.2  # the cells only build the artifacts
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cells = edgebench_cells(args, Path(tmp) / "call_return.db", "openvino")
    print(
        f"{args.model}, batch 1, {args.threads} threads, {args.runs} runs each, load average "
        f"{load_before:.2f} before; medians"
    )
    print(
        f"{'cell':<16} {'wall us':>8} {'engine us':>9} {'return us':>9} {'return %':>8} "
        f"{'caller cpu':>10} {'cold us':>8} {'warm us':>8}"
    )
    for cell in cells:
        label = f"openvino {cell['precision']}"
        if cell["status"] != "ok":
            print(f"{label}: {cell['status']} ({cell['error']})")
            continue
        m = measure(cell, args)
        print(
            f"{label:<16} {m['wall_us']:>8.0f} {m['engine_us']:>9.0f} {m['return_us']:>9.1f} "
            f"{100 * m['return_us'] / m['wall_us']:>7.2f}% {100 * m['cpu_share']:>9.0f}% "
            f"{m['cold_us']:>8.2f} {m['warm_us']:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
