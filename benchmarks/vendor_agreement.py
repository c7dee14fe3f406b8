"""Do edgebench's medians agree with the vendors' own benchmark tools on the same artifacts?

Runs `edgebench run --json` for OpenVINO and TFLite, then, on each artifact edgebench measured,
OpenVINO's `benchmark_app` (in the openvino wheel; sync API, one stream as under the LATENCY
hint, the same threads and inference precision) and LiteRT's `benchmark_litert_model` (bundled
with ai-edge-litert; same threads), each for as many runs as edgebench timed. Prints each pair
of medians and their ratio (vendor / edgebench), and edgebench's `io_ms` (the copies in and out
that its `latency_ms`, like the tools, leaves out). The target is agreement within 2%; a gap
above that on a quiet machine is a harness bug to explain or fix.

The two tools cannot time the same runs, only runs one after the other, and a shared host's speed
shifts between them (other tenants' load, which the VM's own noise figure does not see): on this
machine MobileNetV2 fp32 flipped between about 1.7 and 2.3 ms from one minute to the next. So
each of `--repeats` rounds measures edgebench and then each tool, and the ratio that counts is the
median over the rounds, printed with its range.

    .venv/bin/python benchmarks/vendor_agreement.py --model mobilenet_v2 --precision fp32,int8

ONNX Runtime ships no benchmark tool in its wheel (onnxruntime_perf_test is built from source)
and TVM has none, so they have no pair here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
LIMIT = 0.02  # relative gap that counts as disagreement
# edgebench precision -> the inference precision edgebench's OpenVINO runtime asks for
OV_PRECISION = {"fp32": "f32", "int8": "f32", "bf16": "bf16", "fp16": "f16"}


def edgebench_cells(args: argparse.Namespace, db: Path) -> list[dict[str, Any]]:
    cmd = [
        str(BIN / "edgebench"), "run", "--model", args.model, "--compiler", "openvino,tflite",
        "--precision", args.precision, "--batch", "1", "--weights", "random",
        "--threads", str(args.threads), "--min-duration", str(args.seconds),
        "--no-fidelity", "--json", "--db", str(db),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"edgebench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    cells: list[dict[str, Any]] = json.loads(done.stdout)
    return cells


def input_shapes(model: str) -> str:
    """benchmark_app's -shape for batch 1 (edgebench's IR keeps a free batch dimension)."""
    from edgebench.models import resolve_model

    spec = resolve_model(model)
    return ",".join(
        f"{i.name}[{','.join(str(d) for d in (1, *i.shape))}]"
        if len(spec.inputs) > 1
        # one input: no name needed, and names differ between the ONNX export and the spec
        else f"[{','.join(str(d) for d in (1, *i.shape))}]"
        for i in spec.inputs
    )


def benchmark_app(cell: dict[str, Any], args: argparse.Namespace) -> float:
    cmd = [
        str(BIN / "benchmark_app"), "-m", str(Path(cell["artifact_path"]) / "model.xml"),
        # One stream and the same threads, as edgebench's LATENCY hint runs: benchmark_app takes
        # explicit streams and threads only with -hint none.
        "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync",
        "-nthreads", str(args.threads),
        "-infer_precision", OV_PRECISION[cell["precision"]], "-shape", input_shapes(args.model),
        "-niter", str(cell["n_runs"]),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    # benchmark_app prints the median in us below a millisecond, in ms above.
    found = re.search(r"Median:\s+([\d.]+) (ms|us)", done.stdout)
    if done.returncode != 0 or not found:
        output = done.stdout + done.stderr
        errors = [ln for ln in output.splitlines() if "[ ERROR ]" in ln]
        raise RuntimeError(f"benchmark_app failed: {errors[-1] if errors else output[-500:]}")
    return float(found.group(1)) / (1000.0 if found.group(2) == "us" else 1.0)


def litert_benchmark(cell: dict[str, Any], args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model",
            "--model", cell["artifact_path"], "--num_threads", str(args.threads),
            "--warmup_runs", "10", "--num_runs", str(cell["n_runs"]), "--result_json", str(out),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"benchmark_litert_model failed: {done.stderr[-1500:]}")
        return float(json.loads(out.read_text())["latency"]["median_ms"])


TOOLS = {"openvino": ("benchmark_app", benchmark_app), "tflite": ("litert", litert_benchmark)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--precision", default="fp32,int8")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=3.0, help="edgebench's minimum window")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of edgebench then each tool")
    args = parser.parse_args()
    # label -> per-round (tool, edgebench median, tool median, noise %)
    rounds: dict[str, list[tuple[str, float, float, float | None]]] = {}
    io_ms: dict[str, list[float]] = {}  # label -> edgebench's copies per round
    for _ in range(max(args.repeats, 1)):
        with tempfile.TemporaryDirectory() as tmp:
            cells = edgebench_cells(args, Path(tmp) / "agreement.db")
        for cell in cells:
            label = f"{cell['compiler']} {cell['precision']}"
            if cell["status"] != "ok":
                print(f"{label}: {cell['status']} ({cell['error']})")
                continue
            tool, measure = TOOLS[cell["compiler"]]
            try:
                theirs = measure(cell, args)
            except RuntimeError as exc:
                print(f"{label}: {exc}")
                continue
            ours = cell["latency_ms"]["p50"]
            rounds.setdefault(label, []).append((tool, ours, theirs, cell.get("noise_cpu_pct")))
            io_ms.setdefault(label, []).append((cell.get("io_ms") or {}).get("p50") or 0.0)
    print(
        f"\n{args.model}, batch 1, {args.threads} threads, {args.repeats} rounds: medians in ms;"
        " ratio = tool / edgebench, median over rounds (range)"
    )
    print(
        f"{'cell':<16} {'tool':<14} {'edgebench':>9} {'tool':>8} {'ratio':>6}  range        "
        f"{'io ms':>6}  noise%"
    )
    gaps = 0
    for label, results in rounds.items():
        ratios = sorted(theirs / ours for _, ours, theirs, _ in results)
        ratio = statistics.median(ratios)
        flag = f"  <- gap > {LIMIT:.0%}" if abs(ratio - 1) > LIMIT else ""
        gaps += bool(flag)
        noises = [n for *_, n in results if n is not None]
        noise_txt = f"{max(noises):.0f}" if noises else "-"
        ours = statistics.median(r[1] for r in results)
        theirs = statistics.median(r[2] for r in results)
        spread = f"{ratios[0]:.3f}-{ratios[-1]:.3f}"
        copies = statistics.median(io_ms[label])
        print(
            f"{label:<16} {results[0][0]:<14} {ours:>9.3f} {theirs:>8.3f} {ratio:>6.3f}"
            f"  {spread:<12} {copies:>6.3f}  {noise_txt}{flag}"
        )
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
