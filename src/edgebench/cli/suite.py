"""`edgebench suite ...`: list, check and run suites (YAML grids of settings)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgebench.cli.common import (
    DbOption,
    JsonOption,
    TlsOption,
    check_output_file,
    err,
    exit_if_nothing_measured,
    fleet_client,
    new_progress,
    out,
    print_cell,
    print_summary,
    split,
)

suite_app = typer.Typer(
    no_args_is_help=True,
    help="Standard suites: YAML grids of models, compilers, precisions and batch sizes.",
)
SuiteArgument = Annotated[str, typer.Argument(help="A suite file, or a built-in suite's name.")]


@suite_app.command("list")
def suite_list() -> None:
    """List the built-in suites."""
    from rich.table import Table

    from edgebench.suites import builtin_names, load_suite

    t = Table(title="suites")
    for col in ("name", "grids", "cells", "description"):
        t.add_column(col)
    for name in builtin_names():
        s = load_suite(name)
        t.add_row(name, str(len(s.spec.grids)), str(s.n_cells()), s.spec.description)
    out.print(t)


@suite_app.command("check")
def suite_check(suite: SuiteArgument) -> None:
    """Validate a suite (keys, types, every name, options, weights, datasets) without running
    it: what `suite run` would refuse, this refuses."""
    from edgebench.suites import load_suite

    s = load_suite(suite)
    for note in s.notes:
        err.print(f"note: {escape(note)}")
    err.print(f"suite {s.name}: {len(s.spec.grids)} grids, {s.n_cells()} cells: ok")


@suite_app.command("keys")
def suite_keys() -> None:
    """Every key a suite grid takes, with its `edgebench run` flag, default and meaning (as a
    Markdown table: the README's list is this output)."""
    from edgebench.settings import markdown_keys

    print(markdown_keys(), end="")


@suite_app.command("run")
def suite_run(
    suite: SuiteArgument,
    db: DbOption = Path("edgebench.db"),
    resume: Annotated[
        str | None,
        typer.Option(help="Run id to resume: only its cells without a completed row run."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write an HTML report of this run.")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Artifact cache \\[default: $EDGEBENCH_CACHE when set, else ~/.cache/edgebench]."
        ),
    ] = None,
    as_json: JsonOption = False,
    targets: Annotated[
        str | None,
        typer.Option(help="Measure every grid on these targets, comma separated."),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Dispatch the cells over a Dask cluster: local:N (workers on this machine) or a "
            "scheduler's address; one worker per device (see `edgebench fleet`)."
        ),
    ] = None,
    tls: TlsOption = None,
) -> None:
    """Run a suite into one run of the store (or resume one that stopped midway)."""
    from edgebench.api import GridInterrupted
    from edgebench.report.table import rich_table, to_json
    from edgebench.report.write import write_report
    from edgebench.suites import load_suite
    from edgebench.suites.execute import run_suite

    s = load_suite(suite)  # a bad suite stops here, with its line
    for note in s.notes:
        err.print(f"note: {escape(note)}")
    check_output_file(report, "--report")
    t0 = time.monotonic()
    cells: list[Any] = []
    progress = new_progress(err)
    task = progress.add_task("loading the suite", total=None)

    def on_cell(cell: Any) -> None:
        cells.append(cell)
        progress.advance(task)
        print_cell(progress.console, cell)

    def on_total(run_id: str, todo: int, done: int) -> None:
        progress.update(task, total=todo)
        again = f", {done} already completed" if resume else ""
        progress.console.print(f"run {run_id}: suite {s.name}, {todo} cells to run{again}")

    chosen = split(targets) if targets else None
    fleet_stats = {"builds": 0}

    def on_fleet(state: Any) -> None:
        fleet_stats["builds"] = state.builds
        progress.update(task, description=state.line())

    with progress, fleet_client(cluster, s, chosen, tls) as client:
        try:
            run_id = run_suite(
                s,
                db,
                resume=resume,
                cache_dir=cache_dir,
                on_cell=on_cell,
                on_progress=lambda text: progress.update(task, description=text),
                on_total=on_total,
                on_warning=lambda w: progress.console.print(f"[yellow]warning:[/] {escape(w)}"),
                on_note=lambda n: progress.console.print(f"note: {escape(n)}"),
                fleet=client,
                on_fleet=on_fleet,
                targets=chosen,
            )
        except GridInterrupted as stop:
            again = [f"--cluster {cluster}"] if cluster else []
            again += [f"--targets {targets}"] if targets else []
            err.print(
                f"interrupted: {stop.kept} cells kept in {db}; resume with "
                f"`edgebench suite run {suite} --db {db} --resume {stop.run_id}"
                + "".join(f" {flag}" for flag in again)
                + "`",
                soft_wrap=True,
            )
            raise typer.Exit(stop.exit_code) from None
    if client is not None:
        n = fleet_stats["builds"]
        err.print(f"fleet: {len(cells)} cells, {n} artifact{'s' * (n != 1)} built or found")
    if as_json:
        print(to_json(cells))
    elif cells:
        out.print(rich_table(cells, title=f"suite {s.name}, run {run_id}", width=out.width))
    print_summary(run_id, cells, db, f" in {time.monotonic() - t0:.0f} s")
    if report is not None:
        path, _ = write_report(db, [run_id], report)
        err.print(f"report written to {path}")
    if resume:  # a resumed run is judged whole: the cells measured before it stopped count
        from edgebench.store import ResultStore

        with ResultStore(db) as store:
            cells = store.cells(run_id, samples=False)
    exit_if_nothing_measured(cells)
