"""`edgebench tune`: the fastest way to run one model here, within an accuracy budget.

Its grid options (model, weights, compilers, precisions, threads, data, target) come from
settings.py as for `run`; here they bound the search: `--compiler` and `--precision` the
candidates (default: every available compiler at each of its precisions), `--threads` the most
threads tried, `--batch` the batch sizes tried for throughput and energy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from edgebench.cli.common import (
    DbOption,
    err,
    grid_command,
    new_progress,
    out,
    own_option,
    print_cell,
    print_summary,
)

ObjectiveOption = Annotated[
    str,
    typer.Option(
        "--objective", help="What to minimize: latency (p50), throughput (maximized), energy, size."
    ),
]
DropOption = Annotated[
    str,
    typer.Option(
        "--max-accuracy-drop",
        help="Top-1 drop allowed against the FP32 reference (labelled data), else the share of "
        "top-1 answers that may change: 1% or 0.01.",
    ),
]
BudgetOption = Annotated[
    str, typer.Option("--budget", help="Wall time for the whole search: 90s, 15m, 1h.")
]
TuneJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print one object: {"best", "pareto", "candidates", "budget_s", "spent_s", ...}.',
    ),
]


def _tune(
    settings: Any, db: Path, objective: str, max_drop: str, budget: str, as_json: bool
) -> None:
    """Find the fastest way to run a model here: every available compiler, precision, option,
    thread count (and batch size, for throughput) within an accuracy budget, by successive
    halving; prints the Pareto front, what each knob did, and how to run the winner.

    Every measurement is a cell of one stored run, so `edgebench report` shows the whole search.
    """
    from edgebench.api import GridInterrupted
    from edgebench.tune.search import check_objective, parse_budget, parse_drop
    from edgebench.tune.session import run_tune

    check_objective(objective)
    drop, budget_s = parse_drop(max_drop), parse_budget(budget)
    progress = new_progress(err)
    with progress:
        task = progress.add_task("checking the model, weights and data", total=None)

        def on_cell(cell: Any) -> None:
            tune = cell.tune or {}
            reused = f" (from run {tune['reused_from']})" if tune.get("reused_from") else ""
            progress.console.print(f"[dim]{tune.get('round')}{escape(reused)}:[/] ", end="")
            print_cell(progress.console, cell, tune.get("candidate"))

        try:
            tuned = run_tune(
                settings, db, objective, drop, budget_s,
                on_progress=lambda s: progress.update(task, description=s),
                on_cell=on_cell,
            )  # fmt: skip
        except GridInterrupted as stop:
            err.print(f"interrupted: {stop.kept} cells kept in {db} (run {stop.run_id})")
            raise typer.Exit(stop.exit_code) from None
    result = tuned.result
    if as_json:
        print(_json(tuned))
    else:
        _print(tuned)
    cells = [t.cell for t in result.trials]
    print_summary(tuned.run_id, cells, db, f", {len(cells)} measurements in {result.spent_s:.0f} s")
    if result.best is None:
        raise typer.Exit(1)


def _json(tuned: Any) -> str:
    from edgebench.report.table import dumps
    from edgebench.tune.reproduce import api_snippet, run_line

    r = tuned.result
    best = r.best.cell if r.best else None
    return dumps(
        {
            "best": best.to_dict(samples=False) if best else None,
            "pareto": [t.cell.to_dict(samples=False) for t in r.pareto()],
            "candidates": [
                {
                    "candidate": t.candidate.label,
                    "round": t.round,
                    "reused_from": t.reused,
                    "record": t.cell.to_dict(samples=False),
                }  # fmt: skip
                for t in r.trials
            ],
            "budget_s": r.budget_s,
            "spent_s": round(r.spent_s, 1),
            "objective": r.objective,
            "max_accuracy_drop": r.max_drop,
            "run_id": tuned.run_id,
            "confirmation": r.confirmation,
            "paired": r.paired,
            "contributions": r.contributions(),
            "reproduce": run_line(best, tuned.settings) if best else None,
            "api": api_snippet(best) if best else None,
            "notes": r.notes + tuned.skipped,
        }
    )


def _print(tuned: Any) -> None:
    from edgebench.tune.reproduce import api_snippet, run_line
    from edgebench.tune.search import agreement, shown_value

    r = tuned.result
    data = tuned.model.eval_set
    judged = (
        f"accuracy judged on {data.n} samples of {data.dataset.spec}"
        if data is not None
        else "no accuracy check (--no-fidelity)"
    )
    table = Table(
        title=f"Pareto front: latency, size, agreement ({judged}; * = best {r.objective}, "
        f"x = over the {r.max_drop:.1%} accuracy budget)",
        width=out.width,
    )
    for col in ("", "candidate", "p50 ms", "p99 ms", "size MB", "agreement", r.objective):
        table.add_column(col, justify="left" if col in ("", "candidate") else "right")
    for t in r.pareto():
        c = t.cell
        assert c.latency_ms is not None
        table.add_row(
            "*" if t is r.best else ("" if r.keeps_accuracy(c) else "x"),
            escape(t.candidate.label),
            f"{c.latency_ms.p50:.3f}",
            f"{c.latency_ms.p99:.3f}",
            f"{c.model_size_mb:.2f}" if c.model_size_mb is not None else "-",
            f"{agreement(c):.3f}",
            shown_value(c, r.objective),
        )
    out.print(table)
    for note in r.notes + tuned.skipped:
        out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if r.best is None:
        err.print("no configuration found within the budget (see the notes above)")
        return
    best = r.best.cell
    shown = shown_value(best, r.objective)
    out.print(f"\n[bold]best:[/] {escape(r.best.candidate.label)}: {shown}")
    out.print(escape(r.confirmation), soft_wrap=True)
    lines = r.contributions()
    if lines:
        out.print("\nwhat each knob did:")
        for line in lines:
            out.print(f"  {escape(line)}", soft_wrap=True)
    out.print(f"\nartifact: {escape(best.artifact_path or '-')}", soft_wrap=True)
    out.print("reproduce:", soft_wrap=True)
    print(f"  {run_line(best, tuned.settings)}")
    snippet = api_snippet(best)
    if snippet:
        out.print("with its runtime's own API (x: a batch of inputs):")
        print("\n".join(f"  {line}" for line in snippet.splitlines()))


tune_cmd = grid_command(
    "tune",
    _tune,
    [
        own_option("db", DbOption, Path("edgebench.db")),
        own_option("objective", ObjectiveOption, "latency"),
        own_option("max_drop", DropOption, "1%"),
        own_option("budget", BudgetOption, "15m"),
        own_option("as_json", TuneJsonOption, False),
    ],
    defaults={("precisions",): ["*"]},
)

__all__ = ["tune_cmd"]
