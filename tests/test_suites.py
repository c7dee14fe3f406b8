"""Suites: validation with line numbers, the built-in suites, and resuming a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.results import CellResult, latest_cells
from edgebench.store import ResultStore
from edgebench.suites import SuiteError, builtin_names, load_suite, parse_suite
from edgebench.suites.execute import completed_keys

GOOD = """\
name: tiny
grids:
  - models: [mobilenet_v2_035_96]
    compilers: [null]
    precisions: [fp32, int8]
    batch_sizes: [1, 4]
    weights: random
"""


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (
            GOOD.replace("[null]", "[tflight]"),
            4,
            "grids[0].compilers[0]: unknown compiler 'tflight'",
        ),
        (
            GOOD.replace("[mobilenet_v2_035_96]", "[mobilenet_v9]"),
            3,
            "unknown model 'mobilenet_v9'",
        ),
        (
            GOOD.replace("[fp32, int8]", "[fp32, int4]"),
            5,
            "precisions[1]: unknown precision 'int4'",
        ),
        (
            GOOD.replace("batch_sizes", "batchsizes"),
            6,
            "unknown key 'batchsizes' (did you mean 'batch_sizes'?)",
        ),
        (
            GOOD.replace("[1, 4]", "[1, four]"),
            6,
            "grids[0].batch_sizes[1]: Input should be a valid integer",
        ),
        (GOOD.replace("[1, 4]", "[1, 0]"), 6, "batch sizes must be whole numbers of at least 1"),
        (GOOD + "    threads: 2.5\n", 8, "grids[0].threads: Input should be a valid integer"),
        (
            GOOD + "    stop_rule:\n      min_runs: 3\n      min_duraton_s: 1\n",
            10,
            "unknown key 'min_duraton_s' (did you mean 'min_duration_s'?)",
        ),
        (GOOD + "    scenario: streaming\n", 8, "grids[0].scenario: unknown scenario 'streaming'"),
        (GOOD + "    weights: random\n", 8, "grids[0].weights: key given twice"),
        (GOOD.replace("    compilers: [null]\n", ""), 3, "grids[0]: missing key 'compilers'"),
        (
            GOOD.replace("name: tiny\n", "nme: tiny\n"),
            1,
            "unknown key 'nme' (did you mean 'name'?)",
        ),
        (GOOD.replace("[1, 4]", "[1, 4"), 7, "not valid YAML"),
        (GOOD.replace("[null]", '[null, "snpe"]'), 4, "compilers[1]: unknown compiler 'snpe'"),
        (
            GOOD.replace("[null]", "[null, tflite]") + "    options: {xnnpak: false}\n",
            8,
            "grids[0].options: unknown option 'xnnpak' for null, tflite (did you mean "
            "'xnnpack'?); their options: clusters, finetune_steps, npu_graph_backend, npu_target, "
            "prune, xnnpack",
        ),
        (
            GOOD.replace("[null]", "[tflite]") + "    options: {xnnpack: maybe}\n",
            8,
            "grids[0].options: option xnnpack=maybe: takes true or false (for tflite)",
        ),
    ],
)
def test_bad_suites_name_the_line_and_key(text: str, line: int, needle: str) -> None:
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "s.yaml")
    message = str(info.value)
    assert message.startswith(f"s.yaml:{line}:"), message
    assert needle in message
    assert "\n" not in message


def test_optional_and_wildcard_compilers() -> None:
    s = parse_suite(GOOD.replace("[null]", '[null, "snpe?"]'), "s.yaml")
    assert [g.compiler_names() for g in s.grids()] == [["null"]]
    assert any("snpe" in n for n in s.notes)
    s = parse_suite(GOOD.replace("[null]", '"*"').replace("[fp32, int8]", '"*"'), "s.yaml")
    (grid,) = s.grids()
    assert "null" not in grid.compiler_names() and "tflite" in grid.compiler_names()
    # each compiler measures its own precisions
    assert grid.precisions_of("tflite") == [
        "fp32", "fp16", "int8-dynamic", "int8", "int8-weights", "int4-weights", "int8x16"
    ]  # fmt: skip
    assert grid.precisions_of("tensorflow") == ["fp32"]


def test_builtin_suites_validate() -> None:
    assert {"quick", "paise2021", "edge-cpu"} <= set(builtin_names())
    quick = load_suite("quick")
    baseline, tflite, onnx_family, tvm = quick.grids()
    for cfg in (baseline, tflite):
        assert cfg.models == ["mobilenet_v2", "resnet50_v2", "ssd_mobilenet_v2"]
        assert cfg.batch_sizes == [1, 8] and cfg.weights == "random"
    assert baseline.compilers == ["tensorflow"] and baseline.precisions == ["fp32"]
    assert tflite.precisions == ["fp32", "fp16", "int8-dynamic", "int8"]
    assert onnx_family.compilers == ["onnxruntime", "openvino"]
    assert onnx_family.precisions == ["fp32", "int8"] and onnx_family.calib_size == 20
    assert tvm.compilers == ["tvm"] and tvm.models == ["mobilenet_v2"]
    paise = load_suite("paise2021")
    assert all(c.batch_sizes == [1, 2, 4, 8, 16, 32, 64, 128] for c in paise.grids())
    assert {p for c in paise.grids() for p in c.precisions} == {"fp32", "fp16", "int8"}


def test_suite_cli_rejects_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("[fp32, int8]", "[fp32, int4]"))
    r = run_cli("suite", "run", str(bad), "--db", str(tmp_path / "r.db"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [
        f"error: {bad}:5: grids[0].precisions[1]: unknown precision 'int4'; "
        "valid: best, bf16, fp16, fp32, int4-weights, int8, int8-dynamic, int8-weights, int8x16"
    ]
    assert not (tmp_path / "r.db").exists() or not ResultStore(tmp_path / "r.db").runs()
    r = run_cli("suite", "run", "nosuch", cwd=tmp_path)
    assert r.returncode == 2 and "unknown suite 'nosuch'; valid: edge-cpu" in r.stderr
    r = run_cli("suite", "list", cwd=tmp_path)
    assert r.returncode == 0 and "paise2021" in r.stdout


def _cell(status: str, precision: str = "fp32", batch: int = 1) -> CellResult:
    return CellResult("run", "m", "random", "null", precision, batch, 2, status)  # type: ignore[arg-type]


def test_failed_cells_are_not_completed_and_the_latest_row_wins(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.db") as store:
        store.add_run("run", {}, {"suite": {"name": "tiny"}}, "0", None)
        for c in (
            _cell("ok"),
            _cell("failed", "int8"),
            _cell("skipped", "fp16"),
            _cell("ok", "int8"),
        ):
            store.add_cell(c)
        keys = completed_keys(store, "run")
        assert {k[3] for k in keys} == {"fp32", "fp16", "int8"}
        latest = latest_cells(store.cells("run"))
    assert [(c.precision, c.status) for c in latest] == [
        ("fp32", "ok"),
        ("int8", "ok"),
        ("fp16", "skipped"),
    ]


RESUMABLE = """\
name: resumable
grids:
  - models: [mobilenet_v2_035_96]
    compilers: [null, abort]
    precisions: [fp32, fp16, int8]
    batch_sizes: [1, 2]
    weights: random
    stop_rule: {warmup_runs: 1, min_runs: 5, min_duration_s: 0.4}
    fidelity: false  # no FP32 reference to build: only the harness is under test
"""


def _rows(db: Path) -> list[tuple[int, CellResult]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM cells ORDER BY id")]
    with ResultStore(db) as store:
        return list(zip(ids, store.cells(samples=False), strict=True))


def test_resume_after_a_killed_run_runs_each_missing_cell_once(tmp_path: Path) -> None:
    suite = tmp_path / "resumable.yaml"
    suite.write_text(RESUMABLE)
    db = tmp_path / "r.db"
    env = cli_env(tmp_path / "cache", plugins=True)
    cmd = [sys.executable, "-m", "edgebench", "suite", "run", str(suite), "--db", str(db)]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if db.exists():
                with ResultStore(db) as store:
                    n = len(store.cells(samples=False))
            if n >= 3:
                break
        assert proc.poll() is None, "the suite finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = _rows(db)
    assert 3 <= len(before) < 12
    with ResultStore(db) as store:
        (run,) = store.runs()
    r = run_cli(
        "suite",
        "run",
        str(suite),
        "--db",
        str(db),
        "--resume",
        run.run_id,
        "--json",
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert f"run {run.run_id}: suite resumable" in r.stderr
    after = _rows(db)
    assert after[: len(before)] == before  # nothing stored before the kill was touched
    new = [c for _, c in after[len(before) :]]
    assert {c.run_id for _, c in after} == {run.run_id}
    done_before = {c.key() for _, c in before if c.status != "failed"}
    assert not done_before & {c.key() for c in new}, "a completed cell ran twice"
    completed = Counter(c.key() for _, c in after if c.status != "failed")
    assert len(completed) == 10 and set(completed.values()) == {1}  # each cell once
    assert sum(c.status == "ok" for _, c in after) == 6  # null: all of its cells
    failed = Counter(c.key() for _, c in after if c.status == "failed")
    assert len(failed) == 2  # abort fp32 b1, b2 (its other precisions are unsupported)
    assert all(failed[c.key()] == 2 for _, c in before if c.status == "failed")
    assert len(json.loads(r.stdout)) == len(new)
    # Resuming a finished run has nothing but failed cells left to run.
    r = run_cli(
        "suite", "run", str(suite), "--db", str(db), "--resume", run.run_id, cwd=tmp_path, env=env
    )
    assert r.returncode == 0
    assert all(c.compiler == "abort" for _, c in _rows(db)[len(after) :])
    r = run_cli("suite", "run", "quick", "--db", str(db), "--resume", run.run_id, cwd=tmp_path)
    assert r.returncode == 2 and "not suite 'quick'" in r.stderr
    r = run_cli(
        "suite", "run", str(suite), "--db", str(db), "--resume", "nope", cwd=tmp_path, env=env
    )
    assert r.returncode == 2 and "no run with id 'nope'" in r.stderr
