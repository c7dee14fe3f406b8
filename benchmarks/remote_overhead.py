"""Does measuring through an SSH target change the figure, and what does going remote cost?

Starts a real sshd on 127.0.0.1 with a throwaway key (tests/support/sshd.py; Debian's
openssh-server, installed when missing), adds it as a target, and measures the same artifact
through the local harness and through the target, interleaved round by round. The device's
agent owns the clock as the local worker does, so the two medians should agree (target: within
2%). The remote cell's cost besides its timed window is printed apart: connecting, copying the
artifact (the first round only: a device keeps artifacts by content) and the agent's start
(its whole run on the device less the load and the timed window).

    .venv/bin/python benchmarks/remote_overhead.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
BIN = Path(sys.executable).parent
TARGET = 0.02


def measure(args: argparse.Namespace, where: str, env: dict[str, str], db: Path) -> dict[str, Any]:
    cmd = [
        str(BIN / "edgebench"), "run", "--model", args.model, "--compiler", args.compiler,
        "--precision", args.precision, "--weights", "random", "--threads", str(args.threads),
        "--min-runs", str(args.runs), "--min-duration", "0", "--no-fidelity", "--target", where,
        "--json", "--db", str(db),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"edgebench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    (cell,) = json.loads(done.stdout)
    if cell["status"] != "ok":
        sys.exit(f"{where}: {cell['status']}: {cell['error']}")
    return dict(cell)


def main() -> None:
    from support.sshd import LoopbackSshd, ensure_openssh

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet_v2_035_96")
    parser.add_argument("--compiler", default="tflite")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2000, help="timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    ensure_openssh()
    with tempfile.TemporaryDirectory() as tmp, LoopbackSshd() as sshd:
        env = {**os.environ, "EDGEBENCH_CONFIG": str(Path(tmp) / "config")}
        add = [str(BIN / "edgebench"), "target", "add", "loop", sshd.url, "--key",
               str(sshd.key_path), "--python", sys.executable,
               "--workdir", f"{tmp}/device"]  # fmt: skip
        subprocess.run(add, check=True, env=env, capture_output=True)
        db = Path(tmp) / "r.db"
        local, remote, ratios, costs = [], [], [], []
        for r in range(args.rounds):
            here = measure(args, "local", env, db)["latency_ms"]["p50"]
            cell = measure(args, "loop", env, db)
            there = cell["latency_ms"]["p50"]
            local.append(here)
            remote.append(there)
            ratios.append(there / here)
            c = cell["target"]["costs"]
            start = c["agent_s"] - cell["load_s"] - cell["duration_s"]
            costs.append((c["connect_s"], c["copy_s"], c["copied_bytes"], start))
            print(
                f"round {r + 1}: local {here:.4f} ms, ssh {there:.4f} ms, ratio "
                f"{there / here:.3f}; connect {c['connect_s']:.3f} s, copy {c['copy_s']:.3f} s "
                f"({c['copied_bytes'] / 2**20:.1f} MB), agent start {start:.2f} s",
                flush=True,
            )
    med = statistics.median(ratios)
    flag = "" if abs(med - 1) <= TARGET else f"  (outside {TARGET:.0%})"
    print(f"\n{args.model} {args.compiler} {args.precision} b1, {args.threads} thread(s)")
    print(
        f"median p50: local {statistics.median(local):.4f} ms, ssh "
        f"{statistics.median(remote):.4f} ms; ratio {med:.3f} "
        f"({min(ratios):.3f}-{max(ratios):.3f}){flag}"
    )
    print(
        "cost of going remote per cell, outside the timed window: connect "
        f"{statistics.median(c[0] for c in costs):.3f} s, agent start "
        f"{statistics.median(c[3] for c in costs):.2f} s; copy {costs[0][1]:.3f} s for "
        f"{costs[0][2] / 2**20:.1f} MB the first time, then "
        f"{statistics.median(c[1] for c in costs[1:]) if len(costs) > 1 else 0:.3f} s"
    )


if __name__ == "__main__":
    main()
