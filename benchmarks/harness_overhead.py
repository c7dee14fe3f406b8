"""How much does edgebench's harness add to a runtime's own latency?

For each compiler (TFLite, ONNX Runtime, OpenVINO) at batch 1 on a sub-millisecond model, this
measures the same artifact two ways, interleaved round by round:

- `edgebench`: `edgebench run --json` (its worker process, stop rule and clock);
- `bare`: a minimal loop written straight against the runtime's Python API, in its own process,
  with the same threads and settings, timing each call with `perf_counter_ns`. Two loops are
  timed: `e2e` does what edgebench's end-to-end figure does (copy inputs in, run, copy outputs
  out) and `infer` only runs the inference on buffers bound once (what vendor tools time).

Each round measures edgebench, then both bare loops; the ratio that counts is the median over
rounds of edgebench's median against the bare loop's median, printed with its range, because a
shared host's speed drifts from minute to minute. For these three runtimes edgebench's
`latency_ms` is the inference alone (its copies are `io_ms`, printed per round), so `infer` is
the loop to hold it to; `e2e` shows what the copies add.

    .venv/bin/python benchmarks/harness_overhead.py --rounds 5
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet_v2_035_96")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--compilers", default="tflite,onnxruntime,openvino")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2000, help="timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    ratios: dict[tuple[str, str], list[float]] = {}
    figures: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "overhead.db"
        for r in range(args.rounds):
            for compiler in args.compilers.split(","):
                cell = edgebench_cell(args, compiler, db)
                ours = cell["latency_ms"]["p50"]
                figures.setdefault((compiler, "edgebench"), []).append(ours)
                for mode in ("e2e", "infer"):
                    bare = bare_median(compiler, cell["artifact_path"], args, mode)
                    figures.setdefault((compiler, mode), []).append(bare)
                    ratios.setdefault((compiler, mode), []).append(ours / bare)
                io = (cell.get("io_ms") or {}).get("p50")
                extra = f" io {io:.4f}" if io is not None else ""
                print(
                    f"round {r + 1} {compiler}: edgebench {ours:.4f} ms{extra}, bare e2e "
                    f"{figures[(compiler, 'e2e')][-1]:.4f}, bare infer "
                    f"{figures[(compiler, 'infer')][-1]:.4f}",
                    flush=True,
                )
    print(f"\n{args.model} {args.precision} b1, {args.threads} thread(s), {args.runs} runs a round")
    print("compiler      against     edgebench ms  bare ms   ratio (median, range)")
    for (compiler, mode), values in ratios.items():
        med = statistics.median(values)
        ours = statistics.median(figures[(compiler, "edgebench")])
        bare = statistics.median(figures[(compiler, mode)])
        flag = "" if abs(med - 1) <= TARGET else f"  (outside {TARGET:.0%})"
        print(
            f"{compiler:13} {mode:10} {ours:12.4f} {bare:8.4f}   {med:.3f} "
            f"({min(values):.3f}-{max(values):.3f}){flag}"
        )


if __name__ == "__main__":
    main()
