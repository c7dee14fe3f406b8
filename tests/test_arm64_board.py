"""An emulated ARM64 board (qemu-user, an arm64 Debian root file system, its own sshd on
127.0.0.1) as a real target: `target setup` installs the agent's Python there from aarch64
wheels the host downloads, and the agent measures TFLite and ONNX Runtime cells in ARM code."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_env, run_cli

pytestmark = [pytest.mark.tflite, pytest.mark.onnxruntime, pytest.mark.slow]


def test_the_emulated_arm_board_measures_what_the_host_converts(
    tmp_path: Path, shared_cache: Path, arm64_board: Any
) -> None:
    env = cli_env(shared_cache, EDGEBENCH_CONFIG=str(tmp_path / "config"))
    r = run_cli("target", "add", "arm64", arm64_board.url, "--key", str(arm64_board.key_path),
                cwd=tmp_path, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    started = time.monotonic()
    r = run_cli("target", "setup", "arm64", "--runtime", "tflite,onnxruntime", cwd=tmp_path,
                env=env, timeout=1800)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ai_edge_litert" in r.stderr and "onnxruntime" in r.stderr, r.stderr
    installed = re.search(r"installed ([\d.]+) MB", r.stderr)
    assert installed and float(installed.group(1)) > 10, r.stderr
    print(f"setup: {time.monotonic() - started:.0f} s; {r.stderr.strip().splitlines()[-1]}")

    r = run_cli("target", "check", "arm64", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "aarch64 (emulated: the kernel is x86_64)" in r.stdout, r.stdout
    print(r.stdout)

    r = run_cli(
        "run", "--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler",
        "tflite,onnxruntime", "--precision", "fp32", "--target",
        "local,arm64", "--min-runs", "10", "--min-duration", "0.5", "--warmup", "2", "--json",
        "--db", "r.db", cwd=tmp_path, env=env, timeout=1800,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stderr)
    cells = json.loads(r.stdout)
    board = [c for c in cells if (c["target"] or {}).get("name") == "arm64"]
    assert len(board) == 2 and all(c["status"] == "ok" for c in board), [
        (c["compiler"], c["precision"], c["error"]) for c in board
    ]
    for cell in board:
        assert cell["target"]["arch"] == "aarch64" and cell["target"]["emulated"] is True
        assert cell["system"]["cpu"]["arch"] == "aarch64"
        assert any(w.startswith("emulated:") for w in cell["warnings"])
        assert cell["fidelity"]["n"] >= 1  # outputs of ARM code, scored against the host's
    fp32 = {c["compiler"]: c for c in board if c["precision"] == "fp32"}
    assert fp32["tflite"]["fidelity"]["top1_agreement"] == 1.0
    assert fp32["onnxruntime"]["fidelity"]["top1_agreement"] == 1.0
    local = {(c["compiler"], c["precision"]): c for c in cells if not c["target"]}
    # Emulation is slow; the same artifact measured on both is marked as such, never mixed up.
    assert fp32["tflite"]["latency_ms"]["p50"] > local["tflite", "fp32"]["latency_ms"]["p50"]
