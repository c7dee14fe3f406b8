"""How much does edgebench's harness add to a runtime's own latency?

For each compiler (TFLite, ONNX Runtime, OpenVINO) at batch 1 on a sub-millisecond model, this
measures the same artifact two ways, interleaved round by round:

- `edgebench`: `edgebench run --json` (its worker process, stop rule and clock);
- `bare`: a minimal loop written straight against the runtime's Python API, in its own process,
  with the same threads and settings, timing each call with `perf_counter_ns`. Two loops are
  timed: `e2e` does what edgebench's end-to-end figure does (copy inputs in, run, copy outputs
  out) and `infer` only runs the inference on buffers bound once (what vendor tools time).

The two sides are timed in paired blocks, edgebench then the bare loop then the bare loop then
edgebench (ABBA, `--pairs` blocks each, each block a process of its own), because a shared
host's speed drifts from minute to minute: each ABBA quad gives one ratio (edgebench / bare) in
which a drift common to both cancels (edgebench/paired.py), and the figure is the median ratio
with its 95% interval, "inconclusive" when that is wider than the 2% asked about. For these three
runtimes edgebench's `latency_ms` is the inference alone (its copies are `io_ms`), so `infer` is
the loop to hold it to (`--against infer`, the default); `--against e2e` shows what the copies
add.

    .venv/bin/python benchmarks/harness_overhead.py --pairs 12
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
TARGET = 0.02  # the harness may add at most 2% to the median

# A bare loop per runtime: reads argv (artifact, threads, runs, mode, shape) and prints the
# median ms of `runs` timed calls after 20 warm-up calls.
_BARE = {
    "tflite": """
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
path, threads, runs, mode, shape = sys.argv[1:6]
threads, runs = int(threads), int(runs)
it = Interpreter(model_path=path, num_threads=threads)
inp = it.get_input_details()[0]
shape = [int(d) for d in shape.split(",")]
if list(inp["shape"]) != shape:
    it.resize_tensor_input(inp["index"], shape)
it.allocate_tensors()
out = [d["index"] for d in it.get_output_details()]
x = np.random.default_rng(0).uniform(-1, 1, shape).astype(inp["dtype"])
it.set_tensor(inp["index"], x)
def e2e():
    it.set_tensor(inp["index"], x); it.invoke(); [it.get_tensor(i) for i in out]
call = e2e if mode == "e2e" else it.invoke
""",
    "onnxruntime": """
import sys, time, numpy as np, onnxruntime as ort
path, threads, runs, mode, shape = sys.argv[1:6]
threads, runs = int(threads), int(runs)
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
x = np.random.default_rng(0).uniform(-1, 1, [int(d) for d in shape.split(",")]).astype(np.float32)
binding = s.io_binding()
binding.bind_cpu_input(name, x)
for o in s.get_outputs():
    binding.bind_output(o.name, "cpu")
def e2e():
    [np.asarray(o) for o in s.run(None, {name: x})]
def infer():
    s.run_with_iobinding(binding)
call = e2e if mode == "e2e" else infer
""",
    "openvino": """
import sys, json, time, numpy as np, openvino as ov
from pathlib import Path
path, threads, runs, mode, shape = sys.argv[1:6]
threads, runs = int(threads), int(runs)
folder = Path(path)
precision = json.loads((folder / "edgebench.json").read_text())["precision"]
hint = {"fp32": "f32", "int8": "f32", "bf16": "bf16", "fp16": "f16"}[precision]
core = ov.Core()
ir = core.read_model(str(folder / "model.xml"))
dims = [int(d) for d in shape.split(",")]
ir.reshape({0: dims})
c = core.compile_model(ir, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint,
                                   "INFERENCE_NUM_THREADS": threads})
r = c.create_infer_request()
x = np.random.default_rng(0).uniform(-1, 1, dims).astype(np.float32)
n_out = len(c.outputs)
r.set_input_tensor(0, ov.Tensor(x))
def e2e():
    r.infer({0: x}, share_inputs=True); [r.get_output_tensor(i).data.copy() for i in range(n_out)]
call = e2e if mode == "e2e" else r.infer
""",
}
_LOOP = """
for _ in range(20):
    call()
samples = []
clock = time.perf_counter_ns
for _ in range(runs):
    t0 = clock(); call(); samples.append((clock() - t0) / 1e6)
samples.sort()
print(samples[len(samples) // 2] if len(samples) % 2 else
      (samples[len(samples) // 2 - 1] + samples[len(samples) // 2]) / 2)
"""


def edgebench_cell(args: argparse.Namespace, compiler: str, db: Path) -> dict[str, Any]:
    cmd = [
        str(BIN / "edgebench"), "run", "--model", args.model, "--compiler", compiler,
        "--precision", args.precision, "--batch", "1", "--weights", "random",
        "--threads", str(args.threads), "--min-runs", str(args.runs), "--min-duration", "0",
        "--no-fidelity", "--json", "--db", str(db),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"edgebench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    (cell,) = json.loads(done.stdout)
    if cell["status"] != "ok":
        sys.exit(f"{compiler}: {cell['status']}: {cell['error']}")
    return dict(cell)


def bare_median(compiler: str, artifact: str, args: argparse.Namespace, mode: str) -> float:
    from edgebench.models import resolve_model

    spec = resolve_model(args.model)
    shape = ",".join(str(d) for d in (1, *spec.inputs[0].shape))
    code = _BARE[compiler] + _LOOP
    cmd = [sys.executable, "-c", code, artifact, str(args.threads), str(args.runs), mode, shape]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bare {compiler} loop failed: {done.stderr.strip()[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from edgebench.paired import interleave, judge, ratios_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet_v2_035_96")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--compilers", default="tflite,onnxruntime,openvino")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2000, help="timed runs per block")
    parser.add_argument("--pairs", type=int, default=12, help="blocks of each side (ABBA)")
    parser.add_argument("--against", choices=("infer", "e2e"), default="infer")
    args = parser.parse_args()
    if args.pairs < 2:  # one ABBA quad at least, or there is no ratio to judge
        parser.error(f"--pairs {args.pairs}: give 2 or more (12 or more for a verdict)")
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: give 1 or more")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "overhead.db"
        for compiler in args.compilers.split(","):
            artifact = edgebench_cell(args, compiler, db)["artifact_path"]  # converts once
            io: list[float] = []

            def ours(compiler: str = compiler, io: list[float] = io) -> float:
                cell = edgebench_cell(args, compiler, db)
                io.append((cell.get("io_ms") or {}).get("p50") or 0.0)
                return float(cell["latency_ms"]["p50"])

            def bare(compiler: str = compiler, artifact: str = artifact) -> float:
                return bare_median(compiler, artifact, args, args.against)

            a, b = interleave(ours, bare, args.pairs)
            verdict = judge(ratios_of(b, a), TARGET)  # edgebench over the bare loop
            results.append((compiler, a, b, verdict, statistics.median(io)))
            print(f"{compiler}: edgebench / bare {args.against} {verdict.describe()}", flush=True)
    print(
        f"\n{args.model} {args.precision} b1, {args.threads} thread(s), {args.runs} runs a block, "
        f"{args.pairs} blocks a side (ABBA)"
    )
    print("compiler      against  edgebench ms  bare ms  io ms   ratio  95% CI       verdict")
    for compiler, a, b, v, io_ms in results:
        if v.verdict == "inconclusive":
            said = f"inconclusive: the interval is wider than {TARGET:.0%} (a busy host)"
        elif v.high <= 1 + TARGET:
            said = f"within {TARGET:.0%}"
        else:
            said = f"edgebench adds more than {TARGET:.0%}"
        print(
            f"{compiler:13} {args.against:8} {statistics.median(a):12.4f} "
            f"{statistics.median(b):8.4f} {io_ms:6.4f}  {v.ratio:.3f}  {v.low:.3f}-{v.high:.3f}  "
            f"{said}"
        )


if __name__ == "__main__":
    main()
