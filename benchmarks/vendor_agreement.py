"""Do edgebench's medians agree with the vendors' own benchmark tools on the same artifacts?

Runs `edgebench run --json` for OpenVINO and TFLite, then, on each artifact edgebench measured,
OpenVINO's `benchmark_app` (in the openvino wheel; sync API, one stream as under the LATENCY
hint, the same threads, inference precision and input types) and LiteRT's
`benchmark_litert_model` (bundled with ai-edge-litert; same threads), each for as many runs as
edgebench timed. Prints each pair of medians and their ratio (vendor / edgebench), and
edgebench's `io_ms` (the copies in and out that its `latency_ms`, like the tools, leaves out).
The target is agreement within 2%; a gap above that on a quiet machine is a harness bug to
explain or fix.

The two tools cannot time the same runs, only runs one after the other, and a shared host's speed
shifts between them (other tenants' load, which the VM's own noise figure does not see): on this
machine MobileNetV2 fp32 flipped between about 1.7 and 2.3 ms from one minute to the next, and
rounds of one comparison ranged +-25-30%. So the two sides are timed in short paired blocks,
edgebench then the tool then the tool then edgebench (ABBA, `--pairs` blocks each, every block
a process of its own on the artifact edgebench built once), and each ABBA quad gives one ratio
(tool / edgebench) in which a drift common to both cancels (edgebench/paired.py). The figure is
the median ratio with its 95% interval; when that interval is wider than the 2% asked about
(a busy host), the line says "inconclusive" rather than a figure.

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


def input_types(model: str) -> list[str]:
    """benchmark_app's -ip (or -iop): each input at the element type the model declares. Left to
    itself, benchmark_app turns an image-shaped input into u8 and adds a conversion to the graph it
    times (its log: `input (node: input) : u8 / [N,H,W,C]`), so it timed another graph than
    the f32 one edgebench runs."""
    import numpy as np

    from edgebench.models import resolve_model

    names = {"float32": "f32", "float16": "f16", "uint8": "u8", "int8": "i8", "int32": "i32",
             "int64": "i64", "bool": "boolean"}  # fmt: skip
    spec = resolve_model(model)
    types = [names[np.dtype(i.dtype).name] for i in spec.inputs]
    if len(types) == 1:  # no name needed (as for -shape)
        return ["-ip", types[0]]
    return ["-iop", ",".join(f"{i.name}:{t}" for i, t in zip(spec.inputs, types, strict=True))]


def benchmark_app(cell: dict[str, Any], args: argparse.Namespace) -> float:
    cmd = [
        str(BIN / "benchmark_app"), "-m", str(Path(cell["artifact_path"]) / "model.xml"),
        # One stream and the same threads, as edgebench's LATENCY hint runs: benchmark_app takes
        # explicit streams and threads only with -hint none.
        "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync",
        "-nthreads", str(args.threads),
        "-infer_precision", OV_PRECISION[cell["precision"]], "-shape", input_shapes(args.model),
        *input_types(args.model), "-niter", str(cell["n_runs"]),
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


def edgebench_block(cell: dict[str, Any], args: argparse.Namespace, db: Path) -> float:
    """One short edgebench window on the cell's cached artifact: its median."""
    cmd = [
        str(BIN / "edgebench"), "run", "--model", args.model, "--compiler", cell["compiler"],
        "--precision", cell["precision"], "--batch", "1", "--weights", "random",
        "--threads", str(args.threads), "--min-duration", str(args.seconds),
        "--no-fidelity", "--json", "--db", str(db),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"edgebench failed ({done.returncode}): {done.stderr[-1500:]}")
    (again,) = json.loads(done.stdout)
    if again["status"] != "ok":
        raise RuntimeError(f"edgebench: {again['status']}: {again['error']}")
    return float(again["latency_ms"]["p50"])


def main() -> int:
    from edgebench.paired import interleave, judge, ratios_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--precision", default="fp32,int8")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=1.0, help="each edgebench block's window")
    parser.add_argument("--pairs", type=int, default=12, help="blocks of each side (ABBA)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "agreement.db"
        for cell in edgebench_cells(args, db):  # converts once; the blocks reuse the artifacts
            label = f"{cell['compiler']} {cell['precision']}"
            if cell["status"] != "ok":
                print(f"{label}: {cell['status']} ({cell['error']})")
                continue
            tool, measure = TOOLS[cell["compiler"]]
            try:
                ours, theirs = interleave(
                    lambda c=cell: edgebench_block(c, args, db),
                    lambda c=cell, m=measure: m(c, args),
                    args.pairs,
                )
            except RuntimeError as exc:
                print(f"{label}: {exc}")
                continue
            verdict = judge(ratios_of(ours, theirs), LIMIT)
            io = (cell.get("io_ms") or {}).get("p50") or 0.0
            results.append((label, tool, ours, theirs, verdict, io, cell.get("noise_cpu_pct")))
            print(f"{label}: {tool} / edgebench {verdict.describe()}", flush=True)
    load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(
        f"\n{args.model}, batch 1, {args.threads} threads, {args.pairs} blocks a side (ABBA), "
        f"{load}: medians in ms; ratio = tool / edgebench, median of the paired ratios, 95% CI"
    )
    print(
        f"{'cell':<16} {'tool':<14} {'edgebench':>9} {'tool':>8} {'ratio':>6}  95% CI       "
        f"{'io ms':>6}  verdict"
    )
    gaps = 0
    for label, tool, ours, theirs, v, io, _noise in results:
        if v.verdict == "inconclusive":
            said = f"inconclusive: the interval is wider than {LIMIT:.0%} (a busy host)"
        elif v.low >= 1 - LIMIT and v.high <= 1 + LIMIT:
            said = f"agree within {LIMIT:.0%}"
        else:
            said = f"gap: the interval leaves {1 - LIMIT:.2f}-{1 + LIMIT:.2f}"
            gaps += 1
        print(
            f"{label:<16} {tool:<14} {statistics.median(ours):>9.3f} "
            f"{statistics.median(theirs):>8.3f} {v.ratio:>6.3f}  {v.low:.3f}-{v.high:.3f}  "
            f"{io:>6.3f}  {said}"
        )
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
