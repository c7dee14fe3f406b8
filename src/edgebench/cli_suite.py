"""`edgebench suite ...` and `edgebench compare`: registered on the main app by cli.py.

Light at import (typer only), like cli.py: suites, the runner and the report load on use.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edgebench.errors import UsageError

suite_app = typer.Typer(
    no_args_is_help=True,
    help="Standard suites: YAML grids of models, compilers, precisions and batch sizes.",
)

DbOption = Annotated[Path, typer.Option("--db", help="Results store (SQLite file).")]


def _consoles() -> tuple[Any, Any]:
    from edgebench.cli import err, out

    return out, err


@suite_app.command("list")
def suite_list() -> None:
    """List the built-in suites."""
    from rich.table import Table

    from edgebench.suites import builtin_names, load_suite

    out, _ = _consoles()
    t = Table(title="suites")
    for col in ("name", "grids", "cells", "description"):
        t.add_column(col)
    for name in builtin_names():
        s = load_suite(name)
        t.add_row(name, str(len(s.spec.grids)), str(s.n_cells()), s.spec.description)
    out.print(t)


@suite_app.command("check")
def suite_check(
    suite: Annotated[str, typer.Argument(help="A suite file, or a built-in suite's name.")],
) -> None:
    """Validate a suite (keys, types, model, compiler and precision names) without running it."""
    from edgebench.suites import load_suite

    s = load_suite(suite)
    _, err = _consoles()
    for note in s.notes:
        err.print(f"note: {note}")
    err.print(f"suite {s.name}: {len(s.spec.grids)} grids, {s.n_cells()} cells: ok")


@suite_app.command("run")
def suite_run(
    suite: Annotated[str, typer.Argument(help="A suite file, or a built-in suite's name.")],
    db: DbOption = Path("edgebench.db"),
    resume: Annotated[
        str | None,
        typer.Option(help="Run id to resume: only its cells without a completed row run."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write an HTML report of this run.")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Artifact cache \\[default: ~/.cache/edgebench].")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print this invocation's records as JSON.")
    ] = False,
) -> None:
    """Run a suite into one run of the store (or resume one that stopped midway)."""
    from rich.markup import escape

    from edgebench.cli import new_progress, print_cell
    from edgebench.report.table import rich_table, to_json
    from edgebench.store import ResultStore, check_writable, new_run_id
    from edgebench.suites import load_suite
    from edgebench.suites.execute import check_resumable, run_suite

    out, err = _consoles()
    s = load_suite(suite)  # a bad suite stops here, with its line
    for note in s.notes:
        err.print(f"note: {escape(note)}")
    check_writable(db)
    t0 = time.monotonic()
    cells: list[Any] = []
    with ResultStore(db) as store:
        if resume is not None:
            check_resumable(store, resume, s)
        run_id = resume or new_run_id()
        progress = new_progress(err)
        task = progress.add_task("loading the suite", total=None)

        def on_cell(cell: Any) -> None:
            cells.append(cell)
            progress.advance(task)
            print_cell(progress.console, cell)

        def on_total(todo: int, done: int) -> None:
            progress.update(task, total=todo)
            again = f", {done} already completed" if resume else ""
            progress.console.print(f"run {run_id}: suite {s.name}, {todo} cells to run{again}")

        with progress:
            try:
                run_suite(
                    s,
                    store,
                    run_id,
                    resume=resume is not None,
                    cache_dir=cache_dir,
                    on_cell=on_cell,
                    on_progress=lambda text: progress.update(task, description=text),
                    on_total=on_total,
                )
            except KeyboardInterrupt:
                err.print(
                    f"interrupted: {len(cells)} cells kept in {db}; resume with "
                    f"`edgebench suite run {suite} --db {db} --resume {run_id}`"
                )
                raise typer.Exit(130) from None
    wall = time.monotonic() - t0
    if as_json:
        print(to_json(cells))
    elif cells:
        out.print(rich_table(cells, title=f"suite {s.name}, run {run_id}"))
    counts = {
        st: sum(c.status == st for c in cells) for st in ("ok", "failed", "unsupported", "skipped")
    }
    summary = ", ".join(f"{n} {st}" for st, n in counts.items() if n) or "nothing left to run"
    err.print(f"run {run_id}: {summary} in {wall:.0f} s; stored in {db}")
    if report is not None:
        from edgebench.report.write import write_report

        write_report(db, [run_id], report)
        err.print(f"report written to {report}")


def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="The baseline run id.")],
    run_b: Annotated[str, typer.Argument(help="The run to judge against it.")],
    db: DbOption = Path("edgebench.db"),
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="METRIC:PCT%, e.g. p50:5%: exit 1 when a cell is worse by more than PCT and "
            "the difference is significant. Metrics: p50, p90, p99, mean, throughput.",
        ),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level of the tests.")] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Compare two runs cell by cell, with each difference's significance; gate a CI."""
    from rich.markup import escape
    from rich.table import Table

    from edgebench.report.compare import compare_cells, parse_fail_on, to_records, verdict
    from edgebench.store import ResultStore
    from edgebench.suites.execute import latest_cells

    out, err = _consoles()
    rules = [parse_fail_on(text) for text in fail_on or []]
    if not 0 < alpha < 1:
        raise UsageError("--alpha must lie between 0 and 1")
    if not db.exists():
        raise UsageError(f"{db}: no results store here (pass --db)")
    with ResultStore(db) as store:
        store.run(run_a), store.run(run_b)  # unknown ids: one line, exit 2
        cells_a = latest_cells(store.cells(run_a))
        cells_b = latest_cells(store.cells(run_b))
    comparison = compare_cells(cells_a, cells_b, rules, alpha)
    if not comparison.pairs and not comparison.newly_failed:
        raise UsageError(f"runs {run_a} and {run_b} have no cells in common")
    if as_json:
        print(json.dumps(to_records(comparison), indent=1))
    else:
        metrics = list(comparison.pairs[0].deltas) if comparison.pairs else ["p50"]
        t = Table(title=f"{run_a} -> {run_b}")
        for col in ("model", "compiler", "precision", "batch"):
            t.add_column(col)
        for m in metrics:
            unit = "img/s" if m == "throughput" else "ms"
            t.add_column(f"{m} {unit} A", justify="right")
            t.add_column("B", justify="right")
            t.add_column("\u0394", justify="right")
        for col in ("p (MW)", "CIs", "verdict"):
            t.add_column(col, justify="right" if col == "p (MW)" else "left")
        for p in comparison.pairs:
            row = [p.a.model, p.a.compiler, p.a.precision, str(p.a.batch_size)]
            for m in metrics:
                d = p.deltas[m]
                row += [
                    f"{d.a:.4g}" if d.a is not None else "-",
                    f"{d.b:.4g}" if d.b is not None else "-",
                    f"{d.pct:+.1f}%" if d.pct is not None else "-",
                ]
            cis = {True: "overlap", False: "apart", None: "-"}[p.ci_overlap]
            v = verdict(p)
            style = "red" if p.regressions else ("green" if v == "faster" else None)
            row += [f"{p.p_value:.2g}" if p.p_value is not None else "-", cis, v]
            t.add_row(*row, style=style)
        for p in comparison.newly_failed:
            t.add_row(
                p.a.model,
                p.a.compiler,
                p.a.precision,
                str(p.a.batch_size),
                *["-"] * (3 * len(metrics)),
                "-",
                "-",
                "NOW FAILED",
                style="red",
            )
        out.print(t)
    for p in comparison.pairs:
        for r in p.regressions:
            how = f"p={p.p_value:.2g}" if p.p_value is not None else "95% CIs apart"
            err.print(f"regression: {escape(p.label)}: {r} ({how})")
    for p in comparison.newly_failed:
        why = escape(p.b.error or "")
        err.print(f"regression: {escape(p.label)}: ok in {run_a}, failed in {run_b}: {why}")
    if comparison.only_a or comparison.only_b:
        n_a, n_b = len(comparison.only_a), len(comparison.only_b)
        err.print(f"{n_a} cells only in {run_a}, {n_b} only in {run_b}")
    if comparison.failed:
        rules_text = ", ".join(str(r) for r in rules)
        err.print(f"failed: significant regressions past {rules_text}")
        raise typer.Exit(1)
