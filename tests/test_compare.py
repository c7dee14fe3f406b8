"""`edgebench compare`: significance from raw samples, and its exit code as a CI gate."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import run_cli
from edgebench.report.compare import compare_cells, mann_whitney, parse_fail_on
from edgebench.results import CellResult
from edgebench.store import ResultStore


def _cell(
    run_id: str,
    precision: str,
    median: float,
    spread: float,
    seed: int,
    batch: int = 1,
    n: int = 60,
    samples: list[float] | None = None,
) -> CellResult:
    rng = random.Random(seed)
    samples = samples or [median * (1 + spread * (rng.random() - 0.5)) for _ in range(n)]
    cell = CellResult(run_id, "mobilenet_v2", "random", "tflite", precision, batch, 2, "ok")
    cell.with_samples(samples, batch, sum(samples) / 1000)
    return cell


def _store(path: Path, b_int8: float = 12.0) -> None:
    """Run A and run B: fp32 unchanged (fresh noise), int8 planted slower in B, fp16 1% slower
    (below a 5% threshold), and int8-dynamic 30% slower but so noisy it is not significant."""
    with ResultStore(path) as store:
        store.add_run("A", {}, {}, "0", None)
        store.add_run("B", {}, {}, "0", None)
        plan = {
            "fp32": ((10.0, 0.02), (10.0, 0.02)),
            "int8": ((10.0, 0.02), (b_int8, 0.02)),
            "fp16": ((10.0, 0.01), (10.1, 0.01)),
        }
        for i, (precision, ((ma, sa), (mb, sb))) in enumerate(plan.items()):
            store.add_cell(_cell("A", precision, ma, sa, seed=i))
            store.add_cell(_cell("B", precision, mb, sb, seed=100 + i))
        # Too few samples for the test: judged by the CIs (with 4 samples, their whole range),
        # which overlap, so a 30% slower median is not significant.
        store.add_cell(_cell("A", "int8-dynamic", 0, 0, 0, samples=[6.0, 9.0, 11.0, 14.0]))
        store.add_cell(_cell("B", "int8-dynamic", 0, 0, 0, samples=[8.0, 12.0, 14.0, 18.0]))
        broken = CellResult(
            "B",
            "mobilenet_v2",
            "random",
            "tflite",
            "fp32",
            8,
            2,
            "failed",
            error="worker killed by SIGKILL",
        )
        store.add_cell(_cell("A", "fp32", 40.0, 0.02, seed=9, batch=8))
        store.add_cell(broken)


def test_mann_whitney_against_known_values() -> None:
    # Completely separated samples of 10 and 10: exact two-sided p = 2/C(20,10) ~ 1.1e-5; the
    # continuity-corrected normal approximation gives ~1.8e-4.
    p = mann_whitney([float(i) for i in range(10)], [float(i) for i in range(10, 20)])
    assert 1e-4 < p < 3e-4
    assert mann_whitney([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = random.Random(3)
    a = [rng.gauss(10, 1) for _ in range(50)]
    b = [rng.gauss(10.5, 1) for _ in range(70)]
    ref = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").pvalue
    assert mann_whitney(a, b) == pytest.approx(ref, rel=1e-6)


def test_fail_on_parsing() -> None:
    assert str(parse_fail_on("p50:5%")) == "p50:5%"
    assert parse_fail_on("throughput:2.5").pct == 2.5
    for bad in ("p50", "p42:5%", "p50:five%"):
        with pytest.raises(Exception, match="--fail-on"):
            parse_fail_on(bad)


def test_planted_regression_is_found_and_noise_is_not(tmp_path: Path) -> None:
    _store(tmp_path / "r.db")
    with ResultStore(tmp_path / "r.db") as store:
        cmp = compare_cells(store.cells("A"), store.cells("B"), [parse_fail_on("p50:5%")])
    by = {p.a.precision: p for p in cmp.pairs}
    assert by["int8"].regressions and by["int8"].significant and by["int8"].ci_overlap is False
    assert by["int8"].deltas["p50"].pct == pytest.approx(20.0, abs=2.0)
    assert not by["fp32"].regressions and not by["fp32"].significant
    assert by["fp16"].significant and not by["fp16"].regressions  # real, but under 5%
    assert by["int8-dynamic"].p_value is None and not by["int8-dynamic"].significant
    assert [p.a.batch_size for p in cmp.newly_failed] == [8]
    assert cmp.failed


def test_compare_cli_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    _store(db)
    r = run_cli("compare", "A", "B", "--db", str(db), "--fail-on", "p50:5%", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REGRESSION" in r.stdout and "regression: mobilenet_v2 random tflite int8 b1" in r.stderr
    assert "NOW FAILED" in r.stdout

    # Without a gate the table is printed and the exit code is 0.
    r = run_cli("compare", "A", "B", "--db", str(db), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    assert {rec["precision"] for rec in records} == {"fp32", "int8", "fp16", "int8-dynamic"}

    # Only the planted regression: a 50% threshold passes, and so does the reverse direction
    # (B to A is an improvement) once the failed cell is out of the way.
    db2 = tmp_path / "r2.db"
    with ResultStore(db2) as store:
        store.add_run("A", {}, {}, "0", None)
        store.add_run("B", {}, {}, "0", None)
        store.add_cell(_cell("A", "int8", 10.0, 0.02, seed=1))
        store.add_cell(_cell("B", "int8", 12.0, 0.02, seed=2))
    ok = run_cli("compare", "A", "B", "--db", str(db2), "--fail-on", "p50:50%", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    rev = run_cli(
        "compare",
        "B",
        "A",
        "--db",
        str(db2),
        "--fail-on",
        "p50:5%",
        "--fail-on",
        "throughput:5%",
        cwd=tmp_path,
    )
    assert rev.returncode == 0, rev.stderr
    thr = run_cli("compare", "A", "B", "--db", str(db2), "--fail-on", "throughput:5%", cwd=tmp_path)
    assert thr.returncode == 1 and "throughput" in thr.stderr

    for args, needle in (
        (["A", "nope"], "no run with id 'nope'"),
        (["A", "B", "--fail-on", "p42:5%"], "unknown metric 'p42'"),
    ):
        bad = run_cli("compare", *args, "--db", str(db2), cwd=tmp_path)
        assert bad.returncode == 2 and needle in bad.stderr and "Traceback" not in bad.stderr


def test_a_noisy_cell_is_inconclusive_not_a_regression(tmp_path: Path) -> None:
    """A run measured at 32-75% foreign CPU against a quiet one: its slower p50 is reported
    as inconclusive, with each side's noise, and does not fail the gate unless --strict."""
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.add_run("quiet", {}, {}, "0", None)
        store.add_run("busy", {}, {}, "0", None)
        quiet = _cell("quiet", "fp32", 10.0, 0.02, seed=1)
        quiet.noise_cpu_pct = 2.0
        busy = _cell("busy", "fp32", 13.1, 0.02, seed=2)
        busy.noise_cpu_pct = 75.0
        store.add_cell(quiet)
        store.add_cell(busy)
    r = run_cli("compare", "quiet", "busy", "--db", str(db), "--fail-on", "p50:5%", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "inconclusive: noisy" in r.stdout and "A 2% / B 75%" in r.stdout
    assert "inconclusive: noisy: mobilenet_v2 random tflite fp32 b1" in r.stderr
    strict = run_cli(
        "compare", "quiet", "busy", "--db", str(db), "--fail-on", "p50:5%", "--strict",
        cwd=tmp_path,
    )  # fmt: skip
    assert strict.returncode == 1 and "regression:" in strict.stderr


def test_latency_and_throughput_moving_apart_is_explained() -> None:
    a = _cell("A", "fp32", 10.0, 0.02, seed=1)
    b = _cell("B", "fp32", 13.0, 0.02, seed=2)
    a.options = b.options = {"ov_hint": "THROUGHPUT"}
    b.throughput_ips = (a.throughput_ips or 0) * 1.045  # more images per second
    cmp = compare_cells([a], [b], [parse_fail_on("p50:5%")])
    (pair,) = cmp.pairs
    assert pair.notes and "THROUGHPUT hint" in pair.notes[0] and "throughput +4.5%" in pair.notes[0]
