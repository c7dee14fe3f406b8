"""`edgebench tune`: the search on records, then the command on the real harness (tiny model,
TFLite, the session's shared artifact cache)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from edgebench.compilers import get_compiler
from edgebench.errors import UsageError
from edgebench.results import CellResult
from edgebench.settings import StopRuleSettings
from edgebench.store import ResultStore
from edgebench.tune.search import (
    BudgetTooSmall,
    Candidate,
    Tuner,
    build_space,
    parse_budget,
    parse_drop,
)


# --- the search, on records ----------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cell(cand: Candidate, ms: float, agreement: float, size: float = 5.0) -> CellResult:
    samples = [ms * (1 + 0.01 * (i % 5)) for i in range(40)]
    cell = CellResult("r", "m", "random", cand.compiler, cand.precision, cand.batch,
                      cand.threads, "ok", model_size_mb=size,
                      fidelity={"top1_agreement": agreement})  # fmt: skip
    cell.with_samples(samples, cand.batch, sum(samples) / 1000)
    return cell


def _fake_measure(clock: Clock, seconds: float, figures: dict):  # type: ignore[no-untyped-def]
    """A measurement that takes `seconds` of the fake clock; latency from `figures` by
    (compiler, precision), one thread 30% slower, xnnpack off ten times slower."""
    measured: list[tuple[Candidate, str]] = []

    def measure(cand, rule, round_name, left):  # type: ignore[no-untyped-def]
        clock.now += seconds
        ms, agree = figures[(cand.compiler, cand.precision)]
        ms *= 1.3 if cand.threads == 1 else 1.0
        ms *= 10 if ("xnnpack", False) in cand.options else 1.0
        measured.append((cand, round_name))
        return _cell(cand, ms, agree), None

    return measure, measured


FIGURES = {
    ("tflite", "fp32"): (2.0, 1.0),
    ("tflite", "int8"): (0.9, 1.0),
    ("tflite", "fp16"): (2.1, 1.0),
    ("tflite", "int8-dynamic"): (0.5, 0.6),  # fastest, but loses accuracy
}


def _space():  # type: ignore[no-untyped-def]
    tflite = get_compiler("tflite")
    return build_space([tflite], lambda c: ["fp32", "fp16", "int8-dynamic", "int8"], [1, 2], [1])


def test_the_search_keeps_the_accuracy_budget_and_halves_each_round() -> None:
    clock = Clock()
    measure, measured = _fake_measure(clock, 2.0, FIGURES)
    full = StopRuleSettings()
    result = Tuner(measure, "latency", 0.01, 600, full, clock=clock).run(_space())
    assert result.best is not None
    assert result.best.candidate == Candidate("tflite", "int8", 2, 1)  # not int8-dynamic
    assert result.best.round == "full"
    rounds = [r for _, r in measured]
    assert rounds.count("precisions") == 4
    # knobs only for the leading third (at least two) of the three that keep accuracy
    knobbed = {c.precision for c, r in measured if r == "knobs"}
    assert knobbed == {"int8", "fp32"}
    assert "significantly faster" in result.confirmation
    knobs = result.contributions()
    assert any(line.startswith("threads=1: latency +30.0%") for line in knobs), knobs
    assert any(line.startswith("xnnpack=False: latency +900.0%") for line in knobs), knobs
    front = [t.candidate for t in result.pareto()]
    assert front[0] == Candidate("tflite", "int8-dynamic", 2, 1)  # fastest, least accurate
    assert Candidate("tflite", "int8", 2, 1) in front


def test_a_budget_spent_early_still_names_a_winner_and_says_what_was_left_out() -> None:
    clock = Clock()
    measure, measured = _fake_measure(clock, 30.0, FIGURES)
    result = Tuner(measure, "latency", 0.01, 100, StopRuleSettings(), clock=clock).run(_space())
    assert len(measured) < 6
    assert any("raise --budget" in n for n in result.notes), result.notes
    assert result.best is not None  # from the screened ones


def test_every_compiler_gets_a_turn_before_the_budget_and_the_note_says_what_happened() -> None:
    """`--budget 3m` printed 'the budget allowed 13 of 18 candidates (about 5 s each)', ended
    after 97 s of 180, and never tried TFLite int8, TVM or torch."""
    clock = Clock()
    figures = {(c, p): (1.0 + i, 1.0) for i, (c, p) in enumerate(
        (c, p) for c in ("tflite", "onnxruntime", "openvino") for p in ("fp32", "int8", "fp16")
    )}  # fmt: skip
    measure, measured = _fake_measure(clock, 10.0, figures)
    compilers = [get_compiler(n) for n in ("tflite", "onnxruntime", "openvino")]
    space = build_space(compilers, lambda c: ["fp32", "int8", "fp16"], [2], [1])
    assert [(c.compiler, c.precision) for c in space.starts[:3]] == [
        ("tflite", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")
    ]  # fmt: skip
    result = Tuner(measure, "latency", 0.01, 75, StopRuleSettings(), clock=clock).run(space)
    tried = [(c.compiler, c.precision) for c, r in measured if r == "precisions"]
    assert {c for c, _ in tried} == {"tflite", "onnxruntime", "openvino"}
    assert len(tried) == 7  # 70 s of 75: the first round may take the whole budget
    (note,) = [n for n in result.notes if n.startswith("precisions round")]
    assert note.startswith("precisions round: 7 of 9 candidates measured; the 5 s left to it")
    assert "about 10 s each" in note


def test_a_budget_too_small_for_one_candidate_says_how_long_one_takes() -> None:
    clock = Clock()
    measure, _ = _fake_measure(clock, 50.0, FIGURES)
    with pytest.raises(BudgetTooSmall, match=r"--budget 20 s is too small: .* took 50 s"):
        Tuner(measure, "latency", 0.01, 20, StopRuleSettings(), clock=clock).run(_space())


def test_nothing_within_the_accuracy_budget_names_the_closest() -> None:
    clock = Clock()
    figures = {k: (ms, 0.5 if k[1] != "fp32" else 0.9) for k, (ms, _) in FIGURES.items()}
    measure, _ = _fake_measure(clock, 1.0, figures)
    result = Tuner(measure, "latency", 0.01, 600, StopRuleSettings(), clock=clock).run(_space())
    assert result.best is None
    assert result.notes[-1].startswith(
        "no candidate keeps the accuracy within 1.0% of the FP32 reference: the closest is "
        "tflite fp32 t2 b1 (agreement 0.900"
    )


def test_an_objective_without_figures_says_why() -> None:
    clock = Clock()
    measure, _ = _fake_measure(clock, 1.0, FIGURES)

    def no_meter(*args):  # type: ignore[no-untyped-def]
        cell, reused = measure(*args)
        cell.power_source = "none (no RAPL or battery sensor here)"
        return cell, reused

    result = Tuner(no_meter, "energy", 0.01, 600, StopRuleSettings(), clock=clock).run(_space())
    assert result.best is None
    assert result.notes[-1] == (
        "no candidate has a energy figure: none (no RAPL or battery sensor here)"
    )


def test_budget_and_drop_parsing() -> None:
    assert parse_budget("15m") == 900 and parse_budget("90s") == 90 and parse_budget("1h") == 3600
    assert parse_budget("45") == 45
    assert parse_drop("1%") == pytest.approx(0.01) and parse_drop("0.02") == 0.02
    for bad in ("ten minutes", "-5m", "0", "nan"):
        with pytest.raises(UsageError, match="--budget"):
            parse_budget(bad)
    for bad in ("one percent", "150%", "-1%"):
        with pytest.raises(UsageError, match="--max-accuracy-drop"):
            parse_drop(bad)


@pytest.mark.onnxruntime
def test_the_search_does_not_measure_the_default_int8_weights_twice() -> None:
    """`ort_int8_weights=auto` (the default) is s7 on an x86 host without VNNI. tune also tried
    `=s7`, the same artifact, and printed "s7 is significantly faster than onnxruntime int8
    (Mann-Whitney p<1e-6)": a minute's drift on a shared host, read as a knob."""
    from edgebench.compilers.onnx_runtime.int8 import host_lacks_vnni

    ort = get_compiler("onnxruntime")
    option = next(o for o in ort.declared_options if o.name == "ort_int8_weights")
    values = ort.search_values(option, "int8")
    assert values == (("s8",) if host_lacks_vnni() else ("s7",))
    assert ort.search_values(option, "fp32") == ()


def test_tune_spends_no_candidate_on_pruning_a_model_that_cannot_be_pruned(tmp_path: Path) -> None:
    """Pruning and clustering reach a Keras model only: for an ONNX file (a corpus model) the
    search tried `prune=0.5` and `clusters=16` on every compiler, and the exhaustive grid of
    benchmarks/tune_vs_grid.py stopped at them ("prune and clusters work on a Keras model")."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgebench.models import resolve_model
    from edgebench.tune.session import usable_space

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              tmp_path / "m.onnx")  # fmt: skip
    compilers = [get_compiler(name) for name in ("onnxruntime", "openvino")]

    def knobs(model: str) -> set[str]:
        space = usable_space(
            build_space(compilers, lambda c: ["fp32"], [1, 2], [1]), resolve_model(model),
            compilers,
        )  # fmt: skip
        return {name for s in space.starts for v in space.variants(s) for name, _ in v.options}

    assert {"prune", "clusters"} <= knobs("mobilenet_v2_035_96")  # a zoo model: Keras
    onnx_knobs = knobs(str(tmp_path / "m.onnx"))
    assert not {"prune", "clusters"} & onnx_knobs and onnx_knobs  # the other knobs stay


def test_pareto_keeps_only_undominated_points() -> None:
    from edgebench.tune.search import Trial, TuneResult

    a, b, c = (Candidate("x", p, 1) for p in ("fp32", "fp16", "int8"))
    r = TuneResult("latency", 0.01, 60)
    r.trials = [
        Trial(a, _cell(a, 2.0, 1.0, size=10), "full"),
        Trial(b, _cell(b, 2.5, 1.0, size=12), "full"),  # slower and bigger than a: dominated
        Trial(c, _cell(c, 1.0, 0.9, size=3), "full"),
    ]
    assert [t.candidate for t in r.pareto()] == [c, a]


def test_a_winner_the_side_by_side_timing_chose_is_on_the_pareto_front() -> None:
    """CI saw it: the separate cells put `t1` ahead, side by side `t2` won (the host had
    drifted between the cells), and the Pareto front left out the winner because `t1`'s drifted
    p50 dominated it on latency, at the same size and accuracy."""
    from edgebench.paired import PairedRatio

    clock = Clock()
    space = build_space([get_compiler("tflite")], lambda c: ["fp32"], [1, 2], [1])
    fastest = Candidate("tflite", "fp32", 2, 1)

    def measure(cand, rule, round_name, left):  # type: ignore[no-untyped-def]
        clock.now += 2.0
        return _cell(cand, 2.0 if cand == fastest else 2.2 + cand.threads, 1.0), None

    def pair(best, runner_up):  # type: ignore[no-untyped-def]
        return PairedRatio(0.9, 0.85, 0.95, 16, 0.02, "faster")  # the runner-up wins

    result = Tuner(measure, "latency", 0.01, 600, StopRuleSettings(), clock=clock,
                   pair=pair).run(space)  # fmt: skip
    assert result.best is not None and result.runner_up is not None
    assert "side by side" in result.confirmation, result.confirmation
    best_p50 = result.best.cell.latency_ms.p50  # type: ignore[union-attr]
    assert best_p50 > result.runner_up.cell.latency_ms.p50  # type: ignore[union-attr]
    front = [t.candidate for t in result.pareto()]
    assert result.best.candidate in front, (result.best.candidate, front)


# --- the command --------------------------------------------------------------------------
TUNE = ("tune", "--model", "mobilenet_v2_035_96", "--weights", "random", "--compiler", "tflite",
        "--precision", "fp32,int8", "--threads", "2", "--max-accuracy-drop", "50%")  # fmt: skip


@pytest.mark.tflite
def test_tune_stores_every_candidate_prints_a_runnable_winner_and_reuses_cells(
    tmp_path: Path, shared_cache: Path
) -> None:
    env = cli_env(shared_cache)
    r = run_cli(*TUNE, "--budget", "5m", "--json", "--db", "t.db", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"best", "pareto", "candidates", "budget_s", "spent_s"}
    assert out["budget_s"] == 300 and 0 < out["spent_s"] < 300
    labels = [c["candidate"] for c in out["candidates"]]
    assert "tflite fp32 t2 b1" in labels and "tflite fp32 t1 b1" in labels
    assert "tflite fp32 t2 b1 xnnpack=False" in labels
    assert {c["round"] for c in out["candidates"]} == {"precisions", "knobs", "full"}
    best = out["best"]
    assert best["status"] == "ok" and best["tune"]["round"] == "full"
    assert best["run_id"] == out["run_id"]
    assert any(p["tune"]["candidate"] == best["tune"]["candidate"] for p in out["pareto"])
    with ResultStore(tmp_path / "t.db", read_only=True) as store:
        stored = store.cells(out["run_id"])
        assert len(stored) == len(out["candidates"])  # every candidate is in the run
        assert store.run(out["run_id"]).config["tune"]["objective"] == "latency"
    # the reproduce line is a valid `edgebench run` of the same cell
    line = shlex.split(out["reproduce"])
    assert line[:2] == ["edgebench", "run"] and "--threads" in line
    again = run_cli(*line[1:], "--min-duration", "0.1", "--db", "t.db", "--json",
                    cwd=tmp_path, env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    (rerun,) = json.loads(again.stdout)
    assert (rerun["compiler"], rerun["precision"], rerun["threads"], rerun["options"]) == (
        best["compiler"], best["precision"], best["threads"], best["options"]
    )  # fmt: skip
    assert "Interpreter(model_path=" in out["api"]
    # a second tune measures nothing again: every candidate comes from the first run
    second = run_cli(*TUNE, "--budget", "5m", "--json", "--db", "t.db", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    reused = json.loads(second.stdout)
    assert reused["candidates"] and all(
        c["reused_from"] == out["run_id"] for c in reused["candidates"]
    )
    assert reused["best"]["tune"]["candidate"] == best["tune"]["candidate"]
    if out["paired"] is not None:  # nor times the winner against the runner-up again
        assert f"timed side by side in run {out['run_id']}" in reused["confirmation"]
        with ResultStore(tmp_path / "t.db", read_only=True) as store:
            (timed,) = store.run(out["run_id"]).config["tune"]["pairs"]
            assert timed["source"] == "measured"
    table = run_cli(*TUNE, "--budget", "5m", "--db", "t.db", cwd=tmp_path, env=env)
    shown = " ".join(table.stdout.split())
    assert "* = best latency, x = over the 50.0% accuracy budget" in shown, table.stdout
    assert "best: " + best["tune"]["candidate"] in shown


@pytest.mark.tflite
def test_tune_bad_input_is_one_line(tmp_path: Path, shared_cache: Path) -> None:
    env = cli_env(shared_cache)
    for args, message in (
        (("--budget", "ten"), "error: --budget 'ten': give a duration such as 90s, 15m or 1h"),
        (("--objective", "speed"), "error: --objective takes latency, throughput, energy, size"),
        (("--max-accuracy-drop", "150%"), "error: --max-accuracy-drop '150%': must be from 0%"),
    ):
        r = run_cli(*TUNE, *args, "--db", "t.db", cwd=tmp_path, env=env)
        assert r.returncode == 2 and r.stderr.startswith(message), r.stderr
        assert "Traceback" not in r.stderr
    r = run_cli(*TUNE, "--budget", "0.2s", "--db", "t.db", cwd=tmp_path, env=env)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --budget 0.2 s is too small for one candidate: each takes")
    assert not (tmp_path / "t.db").exists() or not ResultStore(tmp_path / "t.db").runs()
    two = run_cli("tune", "--model", "mobilenet_v2_035_96,resnet50_v2", "--weights", "random",
                  "--db", "t.db", cwd=tmp_path, env=env)  # fmt: skip
    assert two.returncode == 2 and "tune takes one --model, not 2" in two.stderr
