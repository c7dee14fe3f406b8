"""Does `edgebench tune` find what the exhaustive grid finds, in less time?

For each model, in one process: `tune` (the Python API `run_tune`, its own results store and
artifact cache, every available compiler at each of its precisions as `edgebench tune` searches
by default) and then the exhaustive grid over the same space: each compiler at each precision
tune starts from, times every combination of the thread counts, batch sizes and option values
tune varies (the Cartesian product, where tune changes one knob at a time and then combines
the ones that helped), less the combinations the model refuses before any work (pruning a
model file that is not Keras). The grid prepares the model once, as tune does, and measures
every cell under the full stop rule with an artifact cache of its own, so neither side reuses
the other's conversions or cells. The grid's best cell is the fastest within the same accuracy
budget (tune's rule: top-1 agreement with the FP32 reference, or SNR, on the same data).

The two winners are then timed side by side in one worker, the same minute, in ABBA blocks
(edgebench/paired.py): the figure that counts is that paired ratio, tune's winner over the
grid's best, with its 95% interval, because the grid's cells and tune's were measured minutes
apart on a host whose speed drifts. Wall times are each side's whole time, conversions
included.

    .venv/bin/python benchmarks/tune_vs_grid.py --models mobilenet_v2.tv_in1k,corpus:ppocr-cls \
        --budget 10m [--compilers tflite,onnxruntime,openvino] [--precisions fp32,int8] [--json]
    .venv/bin/python benchmarks/tune_vs_grid.py --count   # only how many cells the grid holds

On TFLite, ONNX Runtime and OpenVINO the grid holds 400 cells for mobilenet_v2.tv_in1k (pruning
and clustering included) and 100 for corpus:ppocr-cls (an ONNX file: neither).
Measured on this 2-core VM (quiet, --budget 10m, those three compilers, 49 min in all):
corpus:ppocr-cls tune 112.6 s (23 cells) against the grid's 367.3 s (100), 31%; tune's winner
(tflite fp32 t1) over the grid's best (openvino fp32 t1) 1.033 (95% 1.020-1.042).
mobilenet_v2.tv_in1k tune 422.5 s (39 cells) against 2009.0 s (400), 21%; openvino int8 t2
against the grid's openvino int8 t2 clusters=16: 0.980 (95% 0.829-1.063, inconclusive).
Again for mobilenet_v2.tv_in1k alone, quiet (load average 1.18 before, from the run before it),
36 min: tune 370.9 s (39) against 1799.6 s (400), 21%; openvino int8 t2 clusters=16 against
openvino int8 t2: 1.003 (95% 0.966-1.016, "same").

Targets (issue 29): tune's winner p50 <= 1.05 x the grid's best within-budget p50 (paired), and
tune's wall time <= 40% of the grid's. `--json` prints one object:
{"models": [{"model", "tune_p50_ms", "grid_best_p50_ms", "ratio", "ratio_ci95",
"verdict", "tune_wall_s", "grid_wall_s", "grid_cells", "tune_cells", "tune_winner",
"grid_best"}]}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.05
TARGET_WALL = 0.40
PAIRS = 16  # blocks a side in the final side-by-side timing
BLOCK_MS = 200.0


def grid_candidates(settings: Any, model: Any, objective: str) -> list[Any]:
    """Every combination in tune's space: each start (compiler x precision) with every thread
    count, batch size and value of each option tune varies at that precision, all at once."""
    from edgebench.conversion.weight_optimization import check_model
    from edgebench.errors import UsageError
    from edgebench.tune.search import Candidate
    from edgebench.tune.session import (
        batch_sizes,
        search_space,
        searched_compilers,
        thread_counts,
    )

    compilers, _ = searched_compilers(settings)
    by_name = {c.name: c for c in compilers}
    space = search_space(settings, objective, compilers, model)
    out = []
    for start in space.starts:
        compiler = by_name[start.compiler]
        axes = []
        for option in compiler.declared_options:
            values = compiler.search_values(option, start.precision)
            if option.name in settings.options or not values:
                continue
            axes.append([(option.name, v) for v in dict.fromkeys((option.default, *values))])
        defaults = {o.name: o.default for o in compiler.declared_options}
        for threads, batch, *chosen in itertools.product(
            thread_counts(settings.threads), batch_sizes(settings, objective), *axes
        ):
            changed = dict(kv for kv in chosen if kv[1] != defaults[kv[0]])
            try:
                check_model(model.spec, changed)
            except UsageError:
                continue  # tune leaves it out too (session.usable_space)
            out.append(
                Candidate(
                    start.compiler, start.precision, threads, batch, tuple(sorted(changed.items()))
                )  # fmt: skip
            )
    return list(dict.fromkeys(out))


def run_grid_search(
    settings: Any, objective: str, max_drop: float
) -> tuple[Any, str, list[Any], float]:
    """The exhaustive grid: (its best cell within the budget, that cell's candidate label as tune
    prints one, every cell, its wall time). The model and its reference outputs are prepared
    once and each candidate is a cell through the pipeline tune's candidates go through
    (tune/session.py), so the two sides differ only in which cells they measure and under what
    stop rule."""
    from edgebench.compilers import get_compiler
    from edgebench.harness.pipeline import CellPipeline, CellSpec
    from edgebench.harness.runner import Runner
    from edgebench.store import new_run_id
    from edgebench.tune.search import TuneResult, objective_value

    t0 = time.monotonic()
    run_id = new_run_id()
    measured = []  # (candidate, its cell)
    with Runner(settings, run_id) as runner:
        (prepared,) = runner.prepare()
        runner.prepare_references([prepared])
        target = next(iter(runner.targets.values()))
        candidates = grid_candidates(settings, prepared, objective)
        for i, cand in enumerate(candidates):
            compiler = get_compiler(cand.compiler)
            options = compiler.options(settings.options | dict(cand.options))
            grid = settings.model_copy(update={"threads": cand.threads})
            pipeline = CellPipeline(grid, run_id, runner.builder, runner.workdir,
                                    waiter=runner.pipeline.waiter)  # fmt: skip
            spec = CellSpec(prepared, compiler, cand.precision, cand.batch, options, False,
                            target, compiler.accelerator_of(options))  # fmt: skip
            cell = pipeline.run(spec)
            measured.append((cand, cell))
            print(f"  grid {i + 1}/{len(candidates)}: {cand.label}: {cell.status}",
                  file=sys.stderr, flush=True)  # fmt: skip
    judge = TuneResult(objective, max_drop, 0.0)
    good = [(cand, c) for cand, c in measured
            if judge.keeps_accuracy(c) and objective_value(c, objective)]  # fmt: skip
    wall = time.monotonic() - t0
    cells = [c for _, c in measured]
    if not good:
        return None, "", cells, wall
    cand, best = min(good, key=lambda pair: objective_value(pair[1], objective) or 0.0)
    return best, cand.label, cells, wall


def side_by_side(settings: Any, tune_cell: Any, grid_cell: Any) -> Any:
    """tune's winner against the grid's best, timed alternately in one worker: the paired
    ratio of tune's time over the grid's."""
    from edgebench.harness.runner import Runner
    from edgebench.harness.side_by_side import time_side_by_side
    from edgebench.store import new_run_id

    with Runner(settings, new_run_id()) as runner:
        (prepared,) = runner.prepare()
    return time_side_by_side(grid_cell, tune_cell, prepared.spec, TARGET_RATIO - 1.0,
                             settings.cell_timeout_s, pairs=PAIRS, block_ms=BLOCK_MS)  # fmt: skip


def model_settings(model: str, args: argparse.Namespace, cache: Path) -> Any:
    """The grid settings both sides run `model` with (tune's: settings.py, tune_settings)."""
    from edgebench.settings import GridSettings
    from edgebench.tune.session import tune_settings

    base: dict[str, Any] = {
        "models": [model],
        "weights": args.weights,
        "precisions": args.precisions.split(","),
        "cache_dir": cache,
    }
    if args.compilers:
        base["compilers"] = args.compilers.split(",")
    return tune_settings(GridSettings(**base))


def count_grid(model: str, args: argparse.Namespace, work: Path) -> int:
    from edgebench.harness.runner import Runner
    from edgebench.store import new_run_id

    settings = model_settings(model, args, work / "count-cache")
    with Runner(settings, new_run_id()) as runner:
        (prepared,) = runner.prepare()
    return len(grid_candidates(settings, prepared, args.objective))


def one_model(model: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from edgebench.tune.search import parse_budget, parse_drop
    from edgebench.tune.session import run_tune

    max_drop, budget_s = parse_drop(args.max_accuracy_drop), parse_budget(args.budget)
    tag = model.replace(":", "_").replace("/", "_")
    tune_settings_ = model_settings(model, args, work / f"{tag}-tune-cache")
    t0 = time.monotonic()
    tuned = run_tune(
        tune_settings_, work / f"{tag}-tune.db", args.objective, max_drop, budget_s,
        on_progress=lambda s: print(f"  tune: {s}", file=sys.stderr, flush=True),
    )  # fmt: skip
    tune_wall = time.monotonic() - t0
    grid_settings = model_settings(model, args, work / f"{tag}-grid-cache")
    grid_best, grid_label, grid_cells, grid_wall = run_grid_search(
        grid_settings, args.objective, max_drop
    )
    winner = tuned.result.best.cell if tuned.result.best else None
    row: dict[str, Any] = {
        "model": model,
        "tune_wall_s": round(tune_wall, 1),
        "grid_wall_s": round(grid_wall, 1),
        "tune_cells": len(tuned.result.trials),
        "grid_cells": len(grid_cells),
        "tune_winner": tuned.result.best.candidate.label if tuned.result.best else None,
        "grid_best": None,
        "tune_p50_ms": None,
        "grid_best_p50_ms": None,
        "ratio": None,
        "ratio_ci95": None,
        "verdict": "no winner on one side",
    }
    if grid_best is not None:
        row["grid_best"] = grid_label
    if winner is None or grid_best is None:
        return row
    paired = side_by_side(grid_settings, winner, grid_best)
    grid_p50 = grid_best.latency_ms.p50 if grid_best.latency_ms else None
    row.update(
        tune_p50_ms=round(grid_p50 * paired.ratio, 4) if grid_p50 else None,
        grid_best_p50_ms=grid_p50,
        ratio=round(paired.ratio, 4),
        ratio_ci95=[round(paired.low, 4), round(paired.high, 4)],
        verdict=paired.verdict,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mobilenet_v2.tv_in1k,corpus:ppocr-cls")
    parser.add_argument("--compilers", default="", help="default: every available compiler")
    parser.add_argument(
        "--precisions", default="*", help="default: each compiler's own, as tune searches"
    )
    parser.add_argument("--weights", default="pretrained")
    parser.add_argument("--objective", default="latency")
    parser.add_argument("--max-accuracy-drop", default="1%")
    parser.add_argument("--budget", default="10m", help="tune's budget")
    parser.add_argument("--work-dir", type=Path, default=None, help="stores and caches (kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--count", action="store_true", help="only print how many cells the grid holds"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for model in args.models.split(","):
            if args.count:
                print(f"{model}: the grid holds {count_grid(model, args, work)} cells")
                continue
            print(f"{model}: tune, then the grid", file=sys.stderr, flush=True)
            rows.append(one_model(model, args, work))
            # each model's figures as soon as they exist: a later model's failure loses none
            print(f"{model}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    if args.count:
        return 0
    if args.json:
        print(json.dumps({"models": rows}, indent=2))
        return 0
    print(
        f"\nobjective {args.objective}, accuracy within {args.max_accuracy_drop}, tune budget "
        f"{args.budget}; ratio = tune's winner / the grid's best, side by side"
    )
    met = True
    for r in rows:
        if r["ratio"] is None:
            print(f"{r['model']}: {r['verdict']} (tune {r['tune_winner']}, grid {r['grid_best']})")
            met = False
            continue
        wall = r["tune_wall_s"] / r["grid_wall_s"] if r["grid_wall_s"] else float("nan")
        ratio_ok, wall_ok = r["ratio_ci95"][1] <= TARGET_RATIO, wall <= TARGET_WALL
        met &= ratio_ok and wall_ok
        print(
            f"{r['model']}: tune {r['tune_winner']} {r['tune_p50_ms']:.4g} ms against the grid's "
            f"{r['grid_best']} {r['grid_best_p50_ms']:.4g} ms: ratio {r['ratio']:.3f} "
            f"(95% {r['ratio_ci95'][0]:.3f}-{r['ratio_ci95'][1]:.3f}, {r['verdict']}); wall "
            f"{r['tune_wall_s']:.0f} s ({r['tune_cells']} cells) against {r['grid_wall_s']:.0f} "
            f"s ({r['grid_cells']} cells) = {wall:.0%}; ratio (its 95% bound) <= "
            f"{TARGET_RATIO:g}x: {'met' if ratio_ok else 'missed'}; wall <= {TARGET_WALL:.0%}: "
            f"{'met' if wall_ok else 'missed'}"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
