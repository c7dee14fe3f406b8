"""Each accelerator this host has, against its CPU: the study's delegate question, measured.

Runs `edgebench run --json` on every accelerator given (cpu, gpu, npu) for LiteRT model files
(`--tflite`) and for the PyTorch twin of a zoo model (`--torch`, where a CUDA GPU runs torch),
then prints, per model, compiler and precision: each accelerator's median latency, throughput,
power and energy where a meter reads them (NVML on an NVIDIA GPU), fidelity against the CPU
reference, what the accelerator was (its adapter, `software` for a CPU standing in for one) and
its ratio to the CPU.

    .venv/bin/python benchmarks/accelerators.py --tflite model_fp32.tflite,model_fp16.tflite \
        --torch mobilenet_v2.tv_in1k --accelerators cpu,gpu

On a host without Vulkan, `edgebench tools install vulkan-cpu` first gives a software GPU (marked
as such: its times say nothing about a real one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run(args: list[str], db: Path) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "edgebench", "run", *args, "--json", "--db", str(db)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    print(done.stderr.strip()[-4000:], file=sys.stderr)
    if done.returncode not in (0, 3):
        sys.exit(f"edgebench failed ({done.returncode})")
    cells: list[dict[str, Any]] = json.loads(done.stdout)
    return cells


def figure(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite", default="", help="LiteRT model files, comma separated")
    parser.add_argument("--torch", default="", help="zoo models for PyTorch, comma separated")
    parser.add_argument("--accelerators", default="cpu,gpu")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed window per cell")
    parser.add_argument("--batch", default="1")
    args = parser.parse_args()
    common = ["--accelerator", args.accelerators, "--min-duration", str(args.seconds),
              "--batch", args.batch]  # fmt: skip
    cells: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "accelerators.db"
        if args.tflite:
            cells += run(["--model", args.tflite, "--compiler", "tflite", *common], db)
        if args.torch:
            cells += run(["--model", args.torch, "--compiler", "torch", "--weights", "random",
                          "--precision", "fp32,fp16", "--no-fidelity", *common], db)  # fmt: skip
    print("| model | compiler | precision | batch | accelerator | device | status | p50 ms | "
          "img/s | power W | J/img | SNR dB | / CPU |")  # fmt: skip
    print("|" + " --- |" * 13)
    cpu = {(c["model"], c["compiler"], c["precision"], c["batch_size"]): c for c in cells
           if c["accelerator"] == "cpu" and c["status"] == "ok"}  # fmt: skip
    for c in cells:
        info = c.get("accelerator_info") or {}
        device = info.get("device") or ((c.get("system") or {}).get("cpu") or {}).get("model")
        if info.get("software"):
            device = f"{device} (software)"
        if c["accelerator"] == "gpu" and c["compiler"] == "torch":
            gpus = (c.get("system") or {}).get("gpus") or [{}]
            device = gpus[0].get("name", "CUDA")
        p50 = (c.get("latency_ms") or {}).get("p50")
        base = cpu.get((c["model"], c["compiler"], c["precision"], c["batch_size"]))
        ratio = p50 / base["latency_ms"]["p50"] if p50 and base else None
        power = (c.get("power_w") or {}).get("avg")
        print(f"| {c['model']} | {c['compiler']} | {c['precision']} | {c['batch_size']} | "
              f"{c['accelerator']} | {device} | {c['status']} | {figure(p50)} | "
              f"{figure(c.get('throughput_ips'), 4)} | {figure(power)} | "
              f"{figure(c.get('energy_j_per_inf'))} | "
              f"{figure((c.get('fidelity') or {}).get('snr_db'))} | "
              f"{figure(ratio, 2) + 'x' if ratio else '-'} |")  # fmt: skip
        if c["status"] != "ok":
            print(f"|  |  |  |  |  | {c.get('error')} |" + " |" * 7)


if __name__ == "__main__":
    main()
