"""`edgebench run` and `edgebench explain`: a grid of cells into the store.

Both take their grid options from settings.py (cli/common.py builds them), so a setting is
declared once for both commands, suites and the Python API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgebench.cli.common import (
    DbOption,
    JsonOption,
    check_output_file,
    err,
    exit_if_nothing_measured,
    grid_command,
    new_progress,
    out,
    own_option,
    print_cell,
    print_summary,
)

ReportOption = Annotated[Path | None, typer.Option(help="Also write an HTML report of this run.")]


def run_grid(settings: Any, db: Path) -> tuple[str, list[Any]]:
    """Runs a grid into the store with a progress line and a line per finished cell.

    Bad input fails before any work; once cells run, each is stored as it finishes, and an
    interrupt (Ctrl-C, SIGTERM) keeps them and says so."""
    from edgebench.api import GridInterrupted
    from edgebench.api import run_grid as run

    progress = new_progress(err)
    with progress:
        task = progress.add_task("checking models and weights", total=None)

        def on_cell(cell: Any) -> None:
            progress.advance(task)
            print_cell(progress.console, cell)

        try:
            return run(
                settings,
                db,
                on_cell=on_cell,
                on_progress=lambda s: progress.update(task, description=s),
                on_total=lambda n: progress.update(task, total=n),
                on_warning=lambda w: progress.console.print(f"[yellow]warning:[/] {w}"),
                on_note=lambda n: progress.console.print(f"note: {escape(n)}"),
            )
        except GridInterrupted as stop:
            kept = (
                f"{stop.kept} cells kept in {db} (run {stop.run_id})"
                if stop.kept
                else ("nothing was measured; no run stored")
            )
            err.print(f"interrupted: {kept}")
            raise typer.Exit(stop.exit_code) from None


def _run(settings: Any, db: Path, as_json: bool, report: Path | None) -> None:
    """Convert and measure models under compilers and precisions, cell by cell."""
    from edgebench.report.table import rich_table, to_json
    from edgebench.report.write import write_report

    check_output_file(report, "--report")
    run_id, cells = run_grid(settings, db)
    if as_json:
        print(to_json(cells))
    else:
        out.print(rich_table(cells, title=f"run {run_id}", width=out.width))
    print_summary(run_id, cells, db)
    if report is not None:
        path, _ = write_report(db, [run_id], report)
        err.print(f"report written to {path}")
    exit_if_nothing_measured(cells)


def _explain(settings: Any, db: Path, as_json: bool) -> None:
    """Explain what each compiler did: op counts before and after, fusions, where each op ran
    (delegated or fallback), and where the time goes, from each compiler's own profiler.

    Each cell is measured as by `run` and stored with its explanation.
    """
    from edgebench.explain.render import rich_explanation
    from edgebench.report.table import to_json

    run_id, cells = run_grid(settings, db)
    if as_json:
        print(to_json(cells))
    else:
        for cell in cells:
            out.print(rich_explanation(cell), highlight=False)
            out.print()
    print_summary(run_id, cells, db)
    if not any(c.explain and "error" not in c.explain for c in cells):
        err.print("nothing could be explained (see the lines above)")
        raise typer.Exit(1)


run_cmd = grid_command(
    "run",
    _run,
    [
        own_option("db", DbOption, Path("edgebench.db")),
        own_option("as_json", JsonOption, False),
        own_option("report", ReportOption, None),
    ],
)
explain_cmd = grid_command(
    "explain",
    _explain,
    [own_option("db", DbOption, Path("edgebench.db")), own_option("as_json", JsonOption, False)],
    # Graphs and op times do not depend on weights; a shorter window than `run`'s.
    defaults={("weights",): "random", ("stop_rule", "min_duration_s"): 1.0},
    fixed={"explain": True},
)

__all__ = ["explain_cmd", "run_cmd", "run_grid"]
